"""Every package the application imports is a declared dependency (not only a dev extra),
so ``pip install .`` in a fresh virtualenv gives a server that starts."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def imported_top_levels() -> dict[str, str]:
    """Top-level module → a file that imports it, over src/omnicx."""
    found: dict[str, str] = {}
    for path in (ROOT / "src" / "omnicx").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def normalised(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_every_imported_package_is_a_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {normalised(Requirement(r).name) for r in project["dependencies"]}
    distributions = packages_distributions()
    missing = {}
    for module, where in imported_top_levels().items():
        if module == "omnicx" or module in sys.stdlib_module_names or module == "__future__":
            continue
        owners = {normalised(d) for d in distributions.get(module, [])}
        assert owners, f"{module} (imported by {where}) is not installed"
        if not owners & declared:
            missing[module] = (where, sorted(owners))
    assert missing == {}, f"imported but not in [project] dependencies: {missing}"
