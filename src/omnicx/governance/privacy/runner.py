"""Running a privacy request: the boundary that opens and commits its own transactions.

An erasure commits in one transaction, then removes what the database alone cannot:
the JetStream copies of the events, SQLite's old page images (secure_delete during the
erasure, then a WAL checkpoint) and PostgreSQL's dead tuples (VACUUM). The request is
completed only once all of that is done: while readers keep SQLite's WAL from being
truncated it stays ``in_progress`` and ``finish_waiting_erasures`` (run by the workers)
completes it when a checkpoint finally truncates the WAL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.database import Database
from omnicx.core.errors import Conflict
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps
from omnicx.core.settings import get_settings
from omnicx.governance.models import PrivacyRequest
from omnicx.governance.privacy.erasure import erase_subject
from omnicx.governance.privacy.export import compile_export
from omnicx.governance.privacy.registry import Erasure, Progress, no_progress
from omnicx.governance.privacy.requests import (
    complete_request,
    fail_request,
    get_request,
    result_of,
    start_request,
)
from omnicx.governance.service import Principal

CHECKPOINT_ATTEMPTS = 10
# ``result.storage`` of an erasure whose old page images may still be in SQLite's WAL.
WAL_WAITING = "waiting: readers kept the WAL from being truncated; retried until it is"

log = logging.getLogger(__name__)


def run_request(
    database: Database, request_id: int, actor: Principal, progress: Progress = no_progress
) -> PrivacyRequest:
    """Process a request to completed (or failed, with the reason, and raise)."""
    with database.write() as session:
        request = get_request(session, request_id, lock=True)
        start_request(session, request)
        kind = request.kind
    try:
        if kind == "export":
            with database.write() as session:
                request = get_request(session, request_id, lock=True)
                _ensure_runnable(request)
                complete_request(session, request, {"bundle": compile_export(session, request)})
                return request
        erasure = _erase(database, request_id, actor, progress)
    except Conflict:
        raise  # another run finished it meanwhile: nothing failed
    except Exception as exc:
        with database.write() as session:
            fail_request(session, get_request(session, request_id), _describe(exc))
        raise
    cleaned, problem = _after_erasure(database, erasure)
    with database.write() as session:
        request = get_request(session, request_id, lock=True)
        result = {**result_of(request), **cleaned}
        request.result = dumps(result)
        if problem:
            fail_request(session, request, problem)
        elif result.get("storage") != WAL_WAITING:
            complete_request(session, request, result)
        return request


def finish_waiting_erasures(database: Database) -> list[int]:
    """Complete the erasures that wait for SQLite's WAL to be truncated, if a checkpoint
    truncates it now; returns their ids (none when the WAL is still held by readers)."""
    if not database.sqlite:
        return []
    with database.read() as session:
        waiting = _waiting_erasures(session)
    if not waiting or not _checkpoint(database):
        return []
    finished = []
    with database.write() as session:
        for request_id in waiting:
            request = get_request(session, request_id, lock=True)
            result = result_of(request)
            if request.status == "in_progress" and result.get("storage") == WAL_WAITING:
                complete_request(session, request, {**result, "storage": "checkpointed"})
                finished.append(request_id)
    return finished


def _waiting_erasures(session: Session) -> list[int]:
    running = session.scalars(
        select(PrivacyRequest).where(
            PrivacyRequest.kind == "erase", PrivacyRequest.status == "in_progress"
        )
    )
    return [r.id for r in running if result_of(r).get("storage") == WAL_WAITING]


def _ensure_runnable(request: PrivacyRequest) -> None:
    # A second run that waited for the row lock finds the first one's outcome.
    if request.status == "completed":
        raise Conflict(
            msg("privacy request {id} is already completed", id=request.id), field="status"
        )


def _erase(database: Database, request_id: int, actor: Principal, progress: Progress) -> Erasure:
    with database.write() as session:
        connection = session.connection()
        if database.sqlite:
            # Deleted and overwritten cells are zeroed in the page, not left as free space.
            connection.exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            request = get_request(session, request_id, lock=True)
            _ensure_runnable(request)
            erasure = erase_subject(session, request, actor, progress)
            # Still in progress: completed once the clean-up after the commit is done.
            request.result = dumps({"counts": erasure.counts})
            session.flush()
        finally:
            if database.sqlite:
                connection.exec_driver_sql("PRAGMA secure_delete=OFF")
    return erasure


def _after_erasure(database: Database, erasure: Erasure) -> tuple[dict[str, Any], str | None]:
    """Post-commit clean-up: (what was done, for the result; a problem that fails the
    request so that it is run again, or None)."""
    done: dict[str, Any] = {}
    problem = None
    settings = get_settings()
    if erasure.stream_seqs and settings.uses_nats:
        from omnicx.core.eventlog.jetstream import delete_messages

        try:
            deleted, missing = asyncio.run(
                delete_messages(settings.event_log, settings.nats_stream, erasure.stream_seqs)
            )
            done["stream_messages"] = {"deleted": deleted, "already_gone": missing}
        except Exception as exc:
            log.exception("deleting erased events from the JetStream stream failed")
            problem = (
                f"erased in the database, but deleting {len(erasure.stream_seqs)} stream "
                f"messages failed ({_describe(exc)}); run the request again"
            )
    try:
        done["storage"] = reclaim_storage(database, sorted(erasure.touched_tables))
    except Exception as exc:
        log.exception("reclaiming storage after an erasure failed")
        if database.sqlite:
            # Old page images may still be in the WAL: the erasure is not done yet.
            done["storage"] = WAL_WAITING
        else:
            # Not fatal: the data is gone from every live row; VACUUM runs again later.
            done["storage"] = f"not reclaimed: {_describe(exc)}"
    return done, problem


def reclaim_storage(database: Database, tables: Sequence[str]) -> str:
    """Remove old copies of erased rows from the database files.

    SQLite: checkpoint the WAL into the main file and truncate it (secure_delete already
    zeroed the old cells). PostgreSQL: VACUUM the touched tables so their dead tuples
    become free space (``pg_dump`` shows only live rows anyway; WAL archives and backups
    keep the old rows until they expire, see docs/security.md).
    """
    if database.sqlite:
        for _ in range(CHECKPOINT_ATTEMPTS):
            if _checkpoint(database):
                return "checkpointed"
            time.sleep(0.2)  # a reader (the pipeline, a page) holds an old snapshot
        return WAL_WAITING
    known = [t for t in tables if t.isidentifier()]
    if not known:
        return "nothing to vacuum"
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM " + ", ".join(known))
    return "vacuumed " + ", ".join(known)


def _checkpoint(database: Database) -> bool:
    """Copy the WAL into the main file and truncate it. False if a reader prevented it."""
    # On the DB-API connection: a checkpoint cannot run inside SQLAlchemy's BEGIN
    # IMMEDIATE (the connection is in autocommit mode, see core.database).
    dbapi = database.engine.raw_connection()
    try:
        cursor = dbapi.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = (cursor.fetchone() or (1,))[0]
        cursor.close()
    finally:
        dbapi.close()
    return not busy


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]
