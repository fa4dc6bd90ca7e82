"""``omnicx serve`` on a port that is taken says so, and how to pick another, before it
serves anything; ``make run PORT=…`` and ``OMNICX_PORT`` choose the port."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.live_server import OMNICX

ROOT = Path(__file__).resolve().parents[2]


def serve(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OMNICX_")}
    environment |= {"OMNICX_ENV": "test", "OMNICX_HOME": str(home), "COLUMNS": "200", **env}
    return subprocess.run(
        [*OMNICX, "serve", *args],
        env=environment,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_busy_port_is_named_with_the_ways_to_choose_another(tmp_path, taken_port):
    done = serve(tmp_path, "--port", str(taken_port))
    assert done.returncode == 1
    assert f"cannot serve on 127.0.0.1:{taken_port}" in done.stdout
    assert "already in use" in done.stdout
    assert "make run PORT=" in done.stdout and "OMNICX_PORT=" in done.stdout
    assert "OmniCX on" not in done.stdout and "Traceback" not in done.stderr
    assert not (tmp_path / "omnicx.db").exists()  # stopped before touching anything


def test_omnicx_port_in_the_environment_is_the_port_served(tmp_path, taken_port):
    done = serve(tmp_path, OMNICX_PORT=str(taken_port))
    assert done.returncode == 1
    assert f"127.0.0.1:{taken_port}" in done.stdout


def make_plan(*args: str) -> str:
    """What ``make run`` would run (``-n``), also when the tests themselves run under make."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return planned.stdout


def test_make_run_passes_port_to_serve():
    assert "omnicx serve --port 8123" in make_plan("PORT=8123")
    assert make_plan().rstrip().endswith("omnicx serve")
