"""Engines, sessions and the declarative base, for SQLite (WAL) and PostgreSQL.

SQLite allows one writer at a time. Write transactions therefore start with
``BEGIN IMMEDIATE`` so that two writers queue on the lock (bounded by the busy
timeout) instead of failing when a read transaction tries to upgrade; reads use a
second engine with plain deferred transactions, which WAL lets run beside a writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import BigInteger, Engine, Integer, MetaData, Table, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from omnicx.core.settings import Settings, get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RawStatements:
    """DB-API access on a session's own connection (same transaction) for hot paths.

    Identity resolution and the profile projection run a few statements over hundreds of
    rows per batch; SQLAlchemy's per-parameter compilation and type processing cost more
    than SQLite's work there. SQL is written with ``?`` placeholders and ``{in}`` where
    an IN list goes; timestamps are passed through ``time()``, which stores them exactly
    as SQLAlchemy's DateTime does, so ORM reads and comparisons keep working.
    """

    def __init__(self, session: Session):
        self.connection = session.connection()
        self.sqlite = self.connection.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    def _sql(self, sql: str) -> str:
        return sql if self.sqlite else sql.replace("?", "%s")

    def _cursor(self) -> Any:
        return self.connection.connection.cursor()

    def time(self, value: datetime | None) -> datetime | str | None:
        if value is None or not self.sqlite:
            return value
        utc = value.astimezone(UTC) if value.tzinfo else value
        return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def select_in(self, sql: str, values: Sequence[Any], chunk: int = 500) -> list[Any]:
        """Rows (tuples) of ``sql`` for every value, in chunks of the IN list."""
        rows: list[Any] = []
        if not values:
            return rows
        cursor = self._cursor()
        try:
            for start in range(0, len(values), chunk):
                part = tuple(values[start : start + chunk])
                cursor.execute(self._sql(sql.replace("{in}", ",".join("?" * len(part)))), part)
                rows.extend(cursor.fetchall())
        finally:
            cursor.close()
        return rows

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cursor = self._cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        cursor = self._cursor()
        try:
            cursor.executemany(self._sql(sql), rows)
        finally:
            cursor.close()


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items (IN lists, bulk statements)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def select_in(session: Session, sql: str, values: Sequence[Any], chunk: int = 500) -> list[Any]:
    """Rows of ``sql`` (``{in}`` marks the IN list) for every value; see RawStatements."""
    return RawStatements(session).select_in(sql, values, chunk)


def transaction_memo(session: Session, name: str) -> dict[Any, Any]:
    """A dict in ``session.info`` that lasts for the session's current transaction only.
    What a batch asks many times (which SLA policy applies to a new conversation) is read
    once, and never outlives the transaction, so the next one sees what others changed.
    Code that changes what a memo holds calls ``forget_memo`` in the same transaction."""
    transaction = session.get_transaction()
    held = session.info.get(name)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        session.info[name] = held
    memo: dict[Any, Any] = held[1]
    return memo


def forget_memo(session: Session, name: str) -> None:
    session.info.pop(name, None)


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, for bulk statements without the ORM's per-row work."""
    return cast(Table, model.__table__)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


LOCK_WAIT_SECONDS = 30


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin,
        # so that BEGIN IMMEDIATE and SAVEPOINT behave as written.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Writers wait for the lock in _on_begin (below); readers rarely wait at all in WAL.
        cursor.execute(f"PRAGMA busy_timeout={1 if immediate else LOCK_WAIT_SECONDS * 1000}")
        # Identifier lookups are random (blind indexes): keep the hot B-tree pages in memory.
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.execute("PRAGMA mmap_size=1073741824")
        # Checkpoint every ~40 MB of WAL instead of 4 MB: pages rewritten by consecutive
        # batches are copied back once.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if not immediate:
            connection.exec_driver_sql("BEGIN")
            return
        # SQLite's own busy handler sleeps in growing steps (up to 100 ms), so a writer
        # waiting behind the pipeline's batches misses the moments the lock is free and
        # requests stall for seconds. Poll for the write lock every millisecond instead.
        raw = connection.connection.driver_connection
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not locked or time.monotonic() > deadline:
                    raise
                time.sleep(0.001)


def make_engine(url: str, *, immediate: bool = True, **kwargs: Any) -> Engine:
    if is_sqlite(url):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(engine, immediate=immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


class Database:
    """The engines and session factories of one database."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite = is_sqlite(url)
        self.engine = make_engine(url, immediate=True)
        self.read_engine = make_engine(url, immediate=False) if self.sqlite else self.engine
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._writer.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (never commits)."""
        with self._reader() as session:
            try:
                yield session
            finally:
                session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


_database: Database | None = None


def get_database(settings: Settings | None = None) -> Database:
    """The process-wide database, created on first use."""
    global _database
    settings = settings or get_settings()
    url = settings.resolved_database_url
    if _database is None or _database.url != url:
        if _database is not None:
            _database.dispose()
        _database = Database(url)
    return _database


def reset_database() -> None:
    global _database
    if _database is not None:
        _database.dispose()
    _database = None
