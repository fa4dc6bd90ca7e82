"""Wiring of privacy requests and retention, and the retention schedule.

Governance runs privacy requests and the retention job but cannot import the domains
that hold personal data; this module registers their handlers (``wire``), and the
worker runs the retention job on a timer (``retention_timer``) and completes erasures
that wait for SQLite's WAL to be truncated (``erasure_finisher``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from omnicx.core.database import Database
from omnicx.core.settings import Settings
from omnicx.core.time import utcnow
from omnicx.customers.privacy import IdentityGraphLocator, handlers
from omnicx.customers.privacy.events import forget_timeline_entries
from omnicx.governance import privacy, retention
from omnicx.governance.service import SYSTEM

log = logging.getLogger(__name__)

# The first scheduled run waits this long after start-up, so starting is not slowed.
FIRST_RUN_DELAY_SECONDS = 60.0
# A sleeping schedule wakes at least this often to notice a run made elsewhere.
MAX_SLEEP_SECONDS = 3600.0
# How often an erasure that waits for the WAL to be truncated tries the checkpoint again.
ERASURE_RETRY_SECONDS = 5.0


def wire() -> None:
    """Register the domains' privacy handlers and retention dependents (idempotent)."""
    privacy.registry.locator = IdentityGraphLocator()
    for handler in handlers():
        privacy.registry.register(handler)
    retention.event_dependents["customer_timeline"] = forget_timeline_entries


def retention_timer(
    database: Database, settings: Settings, stop: threading.Event
) -> Callable[[], None]:
    """The worker's retention loop: runs the job when the last run is older than
    ``OMNICX_RETENTION_INTERVAL_HOURS`` (every worker checks; one runs)."""
    interval = timedelta(hours=settings.retention_interval_hours)

    def loop() -> None:
        if interval <= timedelta(0):
            return
        wire()
        stop.wait(FIRST_RUN_DELAY_SECONDS)
        while not stop.is_set():
            try:
                wait = _seconds_until_due(database, interval)
                if wait <= 0:
                    run = retention.run_retention(
                        database, settings, SYSTEM, skip_if_run_within=interval
                    )
                    if run is not None:
                        log.info("retention run %s: %s", run.id, run.report)
                    continue
            except Exception:
                log.exception("the retention job failed; trying again later")
                wait = MAX_SLEEP_SECONDS
            stop.wait(min(wait, MAX_SLEEP_SECONDS))

    return loop


def erasure_finisher(
    database: Database, stop: threading.Event, every: float = ERASURE_RETRY_SECONDS
) -> Callable[[], None]:
    """The worker's loop that retries the WAL checkpoint of waiting erasures until it
    truncates the WAL, then completes them."""

    def loop() -> None:
        if not database.sqlite:
            return
        while not stop.wait(every):
            try:
                for request_id in privacy.finish_waiting_erasures(database):
                    log.info("privacy request %s: WAL truncated, erasure completed", request_id)
            except Exception:
                log.exception("completing waiting erasures failed; trying again")

    return loop


def _seconds_until_due(database: Database, interval: timedelta) -> float:
    with database.read() as session:
        last = retention.last_run_started(session)
    if last is None:
        return 0.0
    return (last + interval - utcnow()).total_seconds()
