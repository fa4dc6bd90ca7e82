"""The signed-user recipes in docs/channels.md, run as written (Python, and Node if it is
installed), must produce the hash the server accepts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from omnicx.channels.webchat.signatures import user_vouched

DOC = Path(__file__).resolve().parents[2] / "docs" / "channels.md"
SECRET, USER = "f" * 64, "crm-张伟-1001"


def _recipe(language: str) -> str:
    found = re.search(
        rf"<!-- recipe: {language} -->\n```\w+\n(.*?)```", DOC.read_text("utf-8"), re.S
    )
    assert found, f"no {language} recipe in {DOC}"
    return found.group(1)


def test_the_python_recipe_signs_what_the_server_checks():
    scope: dict[str, object] = {}
    exec(_recipe("python"), scope)
    signed = scope["user_hash"](SECRET, USER)  # type: ignore[operator]
    assert user_vouched(SECRET, USER, signed)


def test_the_node_recipe_signs_what_the_server_checks():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    program = (
        _recipe("node")
        + f"\nprocess.stdout.write(userHash({json.dumps(SECRET)}, {json.dumps(USER)}))\n"
    )
    signed = subprocess.run([node, "-e", program], capture_output=True, text=True, check=True)
    assert user_vouched(SECRET, USER, signed.stdout)
