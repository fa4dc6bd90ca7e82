"""A real ``omnicx serve`` in a subprocess, for tests that need a live server.

The server gets its own data directory (and, for PostgreSQL, its own throwaway
database), a source and an API token created through the CLI before it starts, and a
free port. ``kill()`` sends SIGKILL, as a crash or the OOM killer would; ``restart()``
starts it again on the same port and data. Every server started here is stopped when its
context ends, and at interpreter exit as a last resort, so none outlives the test run.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text

from omnicx.core.database import make_engine
from tests.conftest import POSTGRES_URL, require_service

# The installed ``omnicx`` command beside this interpreter (``python -m omnicx`` otherwise).
_SCRIPT = Path(sys.executable).with_name("omnicx")
OMNICX = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "omnicx"]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

_running: set[subprocess.Popen[bytes]] = set()

# ``LiveServer.cli_each``'s runner: the commands as JSON in argv[1], each command's output
# followed by a marker line; the exit code of the first that fails.
_BETWEEN = "\n--- omnicx command done ---\n"
_EACH = f"""
import json, sys
from typer.main import get_command
from omnicx.cli.main import app
command = get_command(app)
for args in json.loads(sys.argv[1]):
    try:
        code = command.main(args=args, prog_name="omnicx", standalone_mode=False)
    except SystemExit as exit:
        code = exit.code
    except Exception as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from error
    if code:  # click hands back an Exit's code when not standalone
        raise SystemExit(code)
    print({_BETWEEN!r}, end="", flush=True)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """One ``omnicx serve`` subprocess with its data directory, write key and token."""

    def __init__(
        self,
        home: Path,
        database_url: str | None = None,
        *,
        source: str = "live-test",
        settings: dict[str, str] | None = None,
    ):
        """``settings``: extra ``OMNICX_*`` environment for the server and its CLI."""
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{(home / 'omnicx.db').resolve()}"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = self._environment(database_url) | (settings or {})
        _, made_source, made_token = self.cli_each(
            ["migrate"], ["sources", "create", source], ["tokens", "create", "--name", "live-test"]
        )
        self.write_key = made_source.splitlines()[-1].strip()
        self.token = made_token.splitlines()[-1].strip()

    def _environment(self, database_url: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNICX_")}
        env.update(
            OMNICX_ENV="test",
            OMNICX_HOME=str(self.home),
            OMNICX_EVENT_LOG="table",
            OMNICX_ADMIN_PASSWORD="live-server-admin-password",
            PYTHONUNBUFFERED="1",
        )
        if database_url:
            env["OMNICX_DATABASE_URL"] = database_url
        return env

    # -- the command line ------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        """Run ``omnicx ARGS`` against this server's data; return its standard output."""
        done = subprocess.run(
            [*OMNICX, *args],
            env=self.env,
            cwd=self.home,  # no stray .env from the caller's directory
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"omnicx {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def cli_each(self, *commands: list[str]) -> list[str]:
        """Several ``omnicx`` commands, in order, in one process: each parses its arguments
        and runs as from the shell, but the start-up (about 2 s) is paid once. Returns each
        one's standard output; raises at the first that fails."""
        done = subprocess.run(
            [sys.executable, "-c", _EACH, json.dumps(commands)],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=60 * len(commands),
            check=False,
        )
        outputs = done.stdout.split(_BETWEEN)
        if done.returncode != 0:
            failed = commands[len(outputs) - 1]
            raise RuntimeError(f"omnicx {' '.join(failed)} failed:\n{outputs[-1]}\n{done.stderr}")
        return outputs[:-1]

    # -- the process -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server and return once ``/healthz`` answers."""
        if self.running:
            raise RuntimeError("the server is already running")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*OMNICX, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not this
            )
        _running.add(self.process)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"omnicx serve exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"omnicx serve not healthy after {START_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Shut down gracefully (SIGTERM), or SIGKILL if that takes too long."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._forget()

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing; whatever was in flight is cut off."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._forget()

    def restart(self) -> None:
        """Start again on the same port and data (stopping first if still running)."""
        self.stop()
        self.start()

    def _forget(self) -> None:
        if self.process is not None:
            _running.discard(self.process)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- clients ---------------------------------------------------------------------------

    def api(self) -> httpx.Client:
        """An HTTP client for ``/api/v1`` with this server's bearer token, reading English
        (the tests that assert wording were written in English)."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Language": "en"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def engine(self) -> Engine:
        """An engine on the server's database, to inspect it directly."""
        return make_engine(self.database_url, immediate=False)


def eventually(read: Callable[[], Any], timeout: float = 30.0) -> Any:
    """What ``read`` returns once it is something (a row placed, a message delivered by
    the server's worker), polled; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := read()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return found


@contextmanager
def live_server(
    home: Path, database_url: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """A started server; stopped (killed if need be) when the block ends."""
    server = LiveServer(home, database_url, settings=settings)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def throwaway_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (skips if the server is unreachable); dropped after."""
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    name = f"omnicx_live_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        "postgresql+psycopg://" + POSTGRES_URL.removeprefix("postgresql://"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def live_server_on(
    backend: str, home: Path, settings: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """A live server on ``sqlite`` (a file in ``home``) or ``postgres`` (its own database)."""
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_postgres_database()) if backend == "postgres" else None
        yield stack.enter_context(live_server(home, url, settings))


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_running):
        if process.poll() is None:
            process.kill()
            process.wait()
