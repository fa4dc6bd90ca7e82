"""Metrics in Prometheus' text format, for ``GET /metrics`` and the metrics port.

Two kinds live here. Counters and histograms that only the process serving a request
can know (HTTP traffic, events accepted at ingest) are kept in ``REGISTRY`` by the
modules that count them. Everything about the pipeline and the outbox is read from the
database at scrape time by ``DatabaseCollector``: it is then the same in every process
(API or worker, table log or JetStream), survives restarts, and needs no coordination
between processes. Its queries are indexed reads in a read-only transaction, so a
scrape never takes SQLite's write lock nor a row lock in PostgreSQL.

See ``docs/operations.md`` for what each metric means.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from omnicx.core import scheduler
from omnicx.core.database import Database
from omnicx.core.eventlog.models import DeadLetter, EventRow, ProcessorOffset
from omnicx.core.outbox import STATUSES, OutboxMessage
from omnicx.core.time import as_utc, utcnow

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE_LATEST", "REGISTRY", "DatabaseCollector", "exposition", "serve_port"]

# No *_created series: they double the output and no dashboard of ours reads them.
disable_created_metrics()

# The process's own metrics (counters of what it served), and its CPU, memory and GC.
REGISTRY = CollectorRegistry()
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

# A scrape waits at most this long for PostgreSQL; a slow database must not pile up
# scrapes (Prometheus' default scrape timeout is 10 s).
STATEMENT_TIMEOUT_MS = 5000

# A probe reads one part of the state in the scrape's read transaction.
Probe = Callable[[Session, datetime], Iterable[Metric]]


def processor_progress(session: Session, now: datetime) -> Iterator[Metric]:
    """Position and lag of every row of ``processor_offsets`` (a processor or a group).

    Whatever rows exist are reported: the names are not known here. Lag in seconds is
    the age of the oldest event past the position (its ``received_at``), found through
    the primary key of ``events``; 0 when the processor has caught up.
    """
    head = session.scalar(select(func.max(EventRow.seq))) or 0
    oldest_unread = (
        select(EventRow.received_at)
        .where(EventRow.seq > ProcessorOffset.position)
        .order_by(EventRow.seq)
        .limit(1)
        .correlate(ProcessorOffset)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            ProcessorOffset.processor,
            ProcessorOffset.position,
            ProcessorOffset.updated_at,
            oldest_unread,
        ).order_by(ProcessorOffset.processor)
    ).all()
    yield GaugeMetricFamily(
        "omnicx_events_head_seq", "Highest sequence number in the events table.", value=head
    )
    position = GaugeMetricFamily(
        "omnicx_processor_position",
        "Last event sequence number the processor has committed.",
        labels=["processor"],
    )
    lag_events = GaugeMetricFamily(
        "omnicx_processor_lag_events",
        "Events in the log the processor has not processed yet (head - position).",
        labels=["processor"],
    )
    lag_seconds = GaugeMetricFamily(
        "omnicx_processor_lag_seconds",
        "Age of the oldest event the processor has not processed yet (0 when caught up).",
        labels=["processor"],
    )
    committed = GaugeMetricFamily(
        "omnicx_processor_last_commit_timestamp_seconds",
        "When the processor last committed a batch (Unix time).",
        labels=["processor"],
    )
    for name, at, updated_at, unread_since in rows:
        position.add_metric([name], at)
        lag_events.add_metric([name], max(0, head - at))
        age = (now - as_utc(unread_since)).total_seconds() if unread_since else 0.0
        lag_seconds.add_metric([name], max(0.0, age))
        if updated_at is not None:
            committed.add_metric([name], as_utc(updated_at).timestamp())
    yield from (position, lag_events, lag_seconds, committed)


def open_dead_letters(session: Session, now: datetime) -> Iterator[Metric]:
    """Open dead letters per processor (ix_dead_letters_status); 0 for a known processor."""
    counts = dict.fromkeys(session.scalars(select(ProcessorOffset.processor)), 0)
    counts.update(
        (name, count)
        for name, count in session.execute(
            select(DeadLetter.processor, func.count())
            .where(DeadLetter.status == "open")
            .group_by(DeadLetter.processor)
        ).all()
    )
    family = GaugeMetricFamily(
        "omnicx_dead_letters_open",
        "Events a processor failed on and that wait for a fix and a replay.",
        labels=["processor"],
    )
    for name, count in sorted(counts.items()):
        family.add_metric([name], count)
    yield family


def outbox_backlog(session: Session, now: datetime) -> Iterator[Metric]:
    """Outbox rows by status, the pending ones due now, and the oldest pending one's age.

    Counting by status reads the (status, next_attempt_at) index only; finished rows are
    bounded by retention (``outbox_messages``).
    """
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(
        (name, count)
        for name, count in session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    by_status = GaugeMetricFamily(
        "omnicx_outbox_messages",
        "Outbox rows by status: pending (backlog), sent, dead (gave up), refused (consent).",
        labels=["status"],
    )
    for status, count in counts.items():
        by_status.add_metric([status], count)
    yield by_status
    due = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now
        )
    )
    yield GaugeMetricFamily(
        "omnicx_outbox_due_messages",
        "Pending outbox rows whose next attempt is due (not waiting for a retry or a lease).",
        value=due or 0,
    )
    oldest = session.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "pending")
    )
    age = (now - as_utc(oldest)).total_seconds() if oldest else 0.0
    yield GaugeMetricFamily(
        "omnicx_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox row (0 when none is pending).",
        value=max(0.0, age),
    )


def scheduler_backlog(session: Session, now: datetime) -> Iterator[Metric]:
    """Scheduled jobs by status, the pending ones already due, and how late the oldest is."""
    by_status = GaugeMetricFamily(
        "omnicx_scheduler_jobs",
        "Scheduled jobs by status: pending, running (leased), done, failed, cancelled.",
        labels=["status"],
    )
    for status, count in sorted(scheduler.status_counts(session).items()):
        by_status.add_metric([status], count)
    yield by_status
    due, oldest = scheduler.due_backlog(session, now)
    yield GaugeMetricFamily(
        "omnicx_scheduler_due_jobs",
        "Pending jobs whose due time has come (the scheduler's backlog).",
        value=due,
    )
    yield GaugeMetricFamily(
        "omnicx_scheduler_oldest_due_lateness_seconds",
        "How long the oldest due job has waited past its due time (0 when none waits).",
        value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
    )


# What a scrape reads from the database, in order.
DATABASE_PROBES: list[Probe] = [
    processor_progress,
    open_dead_letters,
    outbox_backlog,
    scheduler_backlog,
]


class DatabaseCollector:
    """Reads the pipeline's and the outbox's state from the database at each scrape."""

    def __init__(self, database: Database, probes: Iterable[Probe] | None = None):
        self.database = database
        self.probes = list(DATABASE_PROBES if probes is None else probes)

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            families = self._read()
            up = 1
        except Exception as exc:
            # A scrape still answers (process metrics, this gauge) when the database is
            # down; one line per scrape, not a traceback every 15 seconds.
            log.warning("reading metrics from the database failed: %s", exc)
            families, up = [], 0
        yield from families
        yield GaugeMetricFamily(
            "omnicx_database_up", "Whether the last scrape could read the database.", value=up
        )
        yield GaugeMetricFamily(
            "omnicx_metrics_database_seconds",
            "Time the last scrape spent reading the database.",
            value=time.perf_counter() - started,
        )

    def _read(self) -> list[Metric]:
        now = utcnow()
        with self.database.read() as session:
            if not self.database.sqlite:
                session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
            return [family for probe in self.probes for family in probe(session, now)]


class _Scrape:
    """The process registry followed by the database collector, as one collector."""

    def __init__(self, *collectors: Collector):
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def exposition(database: Database) -> bytes:
    """Every metric of this process and of the database, in the text format."""
    return generate_latest(_Scrape(REGISTRY, DatabaseCollector(database)))


def serve_port(database: Database, port: int, host: str = "127.0.0.1") -> threading.Thread:
    """Serve the metrics on ``host:port`` (no authentication: bind to loopback) in a
    daemon thread. Raises OSError when the port cannot be bound."""
    _, thread = start_http_server(
        port, addr=host, registry=_Scrape(REGISTRY, DatabaseCollector(database))
    )
    return thread
