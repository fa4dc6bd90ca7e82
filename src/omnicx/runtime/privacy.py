"""Wiring of privacy requests and retention, and the retention schedule.

Governance runs privacy requests and the retention job but cannot import the domains
that hold personal data; this module registers their handlers (``wire``). Retention runs
as the recurring scheduler job ``retention.run`` (``run_scheduled_retention``), which
each run re-schedules one interval later; the worker makes sure it exists at start, and
completes erasures that wait for SQLite's WAL to be truncated (``erasure_finisher``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from omnicx.channels.email.privacy import EmailThreadsHandler
from omnicx.channels.sms.privacy import SmsTextsHandler
from omnicx.channels.webchat.privacy import WebchatTranscriptHandler
from omnicx.channels.wechat.privacy import WechatContactsHandler
from omnicx.core import scheduler
from omnicx.core.database import Database
from omnicx.core.scheduler import FiredJob
from omnicx.core.settings import Settings
from omnicx.core.time import utcnow
from omnicx.customers.privacy import IdentityGraphLocator, handlers
from omnicx.customers.privacy.events import forget_timeline_entries
from omnicx.desk.attachments.privacy import DeskAttachmentsHandler
from omnicx.desk.privacy import DeskConversationsHandler
from omnicx.desk.review.privacy import ReviewQueuesHandler
from omnicx.governance import privacy, retention
from omnicx.governance.service import SYSTEM

log = logging.getLogger(__name__)

# The first scheduled run waits this long after start-up, so starting is not slowed.
FIRST_RUN_DELAY_SECONDS = 60.0
# The job's kind and key: one recurring job per deployment.
RETENTION_JOB = "retention.run"
# A worker that dies during a run lets another take the job after this long (which then
# skips the run, as one started within the interval, and only re-schedules).
RETENTION_LEASE = timedelta(hours=1)
# How often an erasure that waits for the WAL to be truncated tries the checkpoint again.
ERASURE_RETRY_SECONDS = 5.0


def wire() -> None:
    """Register the domains' privacy handlers and retention dependents (idempotent)."""
    privacy.registry.locator = IdentityGraphLocator()
    for handler in handlers():
        privacy.registry.register(handler)
    privacy.registry.register(WebchatTranscriptHandler())
    privacy.registry.register(WechatContactsHandler())
    privacy.registry.register(SmsTextsHandler())
    privacy.registry.register(EmailThreadsHandler())
    privacy.registry.register(DeskAttachmentsHandler())
    privacy.registry.register(DeskConversationsHandler())
    privacy.registry.register(ReviewQueuesHandler())
    retention.event_dependents["customer_timeline"] = forget_timeline_entries


def run_scheduled_retention(settings: Settings, database: Database, job: FiredJob) -> None:
    """The ``retention.run`` job: run retention unless a run started within the interval
    (a re-run after a crash, or a manual run), then schedule the next run."""
    interval = timedelta(hours=settings.retention_interval_hours)
    if interval <= timedelta(0):
        return  # the schedule was turned off: not re-scheduled
    wire()
    run = retention.run_retention(database, settings, SYSTEM, skip_if_run_within=interval)
    if run is not None:
        log.info("retention run %s: %s", run.id, run.report)
    with database.write() as session:
        scheduler.schedule(session, RETENTION_JOB, RETENTION_JOB, utcnow() + interval)


def schedule_retention(database: Database, settings: Settings) -> None:
    """Make sure the recurring retention job exists (worker start; idempotent by key).

    Its first run is due one interval after the last real run, and not sooner than
    ``FIRST_RUN_DELAY_SECONDS`` from now; ``OMNICX_RETENTION_INTERVAL_HOURS=0`` cancels it.
    """
    interval = timedelta(hours=settings.retention_interval_hours)
    with database.write() as session:
        if interval <= timedelta(0):
            scheduler.cancel(session, RETENTION_JOB)
            return
        soonest = utcnow() + timedelta(seconds=FIRST_RUN_DELAY_SECONDS)
        last = retention.last_run_started(session)
        due = soonest if last is None else max(soonest, last + interval)
        scheduler.ensure_scheduled(session, RETENTION_JOB, RETENTION_JOB, due)


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
