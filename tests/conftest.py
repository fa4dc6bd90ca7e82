"""Shared fixtures: every test that asks for ``settings`` runs on SQLite and on PostgreSQL.

PostgreSQL (``OMNICX_TEST_POSTGRES_URL``) and NATS (``OMNICX_TEST_NATS_URL``) are used when
reachable and skipped with a clear reason when not, except in CI
(``OMNICX_TEST_REQUIRE_SERVICES=1``) where a missing service fails the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import nats
import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import create_engine, text

from omnicx.core.database import Database, get_database, reset_database
from omnicx.core.migrate import upgrade
from omnicx.core.settings import Settings, get_settings, reset_settings

# pytest-xdist's workers export COLUMNS=80 and LINES=24: the CLI's Rich consoles, made at
# import, would keep that width whatever a test's CliRunner(env=...) asks for.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

POSTGRES_URL = os.environ.get(
    "OMNICX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
NATS_URL = os.environ.get("OMNICX_TEST_NATS_URL", "nats://127.0.0.1:4222")
REQUIRE_SERVICES = os.environ.get("OMNICX_TEST_REQUIRE_SERVICES") == "1"

SKIP_REASON = " not reachable at "


def require_service(name: str, url: str, port: int) -> None:
    if _reachable(url, port):
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{name} is required here but not reachable at {url}")
    pytest.skip(f"{name}{SKIP_REASON}{url}")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Read from the skip reports, which parallel workers (pytest -n) send back here.
    missing = set()
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        if SKIP_REASON in reason:
            missing.add(reason.removeprefix("Skipped: ").replace(SKIP_REASON, " (", 1) + ")")
    if missing:
        terminalreporter.write_line(
            "SKIPPED tests that need: "
            + ", ".join(sorted(missing))
            + " — start them to run the whole suite (see README, Development).",
            yellow=True,
        )


# -- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test is slower)."""
    path = tmp_path_factory.mktemp("template") / "omnicx.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database, migrated once for the session."""
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    name = f"omnicx_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_sqlalchemy_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    reset_database()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


def _truncate_postgres(url: str) -> None:
    engine = create_engine(_sqlalchemy_url(url))
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        # The audit chain's genesis row is data the migration provides.
        conn.execute(text(f"INSERT INTO audit_head VALUES (1, 0, '{'0' * 64}')"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """Settings for an empty, migrated database of the test's backend."""
    monkeypatch.setenv("OMNICX_ENV", "test")
    monkeypatch.setenv("OMNICX_HOME", str(tmp_path))
    monkeypatch.delenv("OMNICX_EVENT_LOG", raising=False)
    if backend == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "omnicx.db")
        monkeypatch.delenv("OMNICX_DATABASE_URL", raising=False)
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate_postgres(url)
        monkeypatch.setenv("OMNICX_DATABASE_URL", url)
    reset_settings()
    reset_database()
    yield get_settings()
    reset_database()
    reset_settings()


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings)


@pytest.fixture
def nats_url() -> str:
    require_service("NATS JetStream", NATS_URL, 4222)
    return NATS_URL


@pytest.fixture
def stream(nats_url: str) -> Iterator[str]:
    """A JetStream stream name of the test's own (subjects are per stream), deleted after."""
    name = f"OMNICX_TEST_{uuid.uuid4().hex[:12].upper()}"
    yield name

    async def delete() -> None:
        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().delete_stream(name)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    # In a thread of its own: a test that drives a browser (Playwright's sync API) holds a
    # running event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, delete()).result()


# -- the application -----------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings) -> Iterator[object]:
    """The ASGI app over real HTTP semantics (TestClient), without background workers:
    tests run the pipeline themselves (``tests.factories.process``) to be deterministic.
    It reads English (``Accept-Language: en``): the tests that assert wording were written
    in English; tests/web/test_i18n.py covers Chinese."""
    from fastapi.testclient import TestClient

    from omnicx.web.app import create_app

    english = {"Accept-Language": "en"}
    with TestClient(create_app(settings, background=False), headers=english) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright, one per test module (``tests/browser.py``)."""
    from tests.browser import CHROMIUM, launch_chromium

    if not os.path.exists(CHROMIUM):
        if REQUIRE_SERVICES:
            pytest.fail("chromium is required here (scripts/ensure-chromium installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    with launch_chromium() as chromium:
        yield chromium
