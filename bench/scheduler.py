"""The scheduler at scale: 1M scheduled jobs, 100k falling due within one minute.

Loads ``--jobs`` jobs into a fresh database (SQLite file, or a throwaway PostgreSQL
database with ``--backend postgres``): ``--due`` of them due at random moments within a
``--window``-second window that opens shortly after loading, the rest later in the
month. ``--workers`` runner processes fire them; each firing inserts a row (job key, due
time, fire time) in the same transaction that marks the job done. Halfway through the
window one worker is SIGKILLed and started again. Then it checks that every due job
fired exactly once and no later job fired, and reports lateness (fire time minus due
time) p50/p99/max against the bars (p99 < 1 s, max < 60 s), and the throughput of a
``--burst`` of jobs all due at once.

    .venv/bin/python bench/scheduler.py                          # 1M jobs, 100k due, SQLite
    .venv/bin/python bench/scheduler.py --backend postgres       # the same on PostgreSQL
    .venv/bin/python bench/scheduler.py --jobs 100000 --due 10000   # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session

from _common import (
    ROOT,
    _system_busy_seconds,
    announce,
    background_note,
    bench_home,
    common_arguments,
    console,
    percentile,
    print_table,
    server_environment,
    verdict,
    write_json,
)

LATENESS_P99_BAR = 1.0  # seconds
LATENESS_MAX_BAR = 60.0  # seconds
POSTGRES_URL = os.environ.get(
    "OMNICX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
LOAD_CHUNK = 20_000
# The window opens this long after the due jobs are loaded (workers are already running).
LEAD_SECONDS = 10.0
FIRINGS = (
    "CREATE TABLE bench_firings (job_key VARCHAR(200) NOT NULL, due_epoch DOUBLE PRECISION"
    " NOT NULL, fired_epoch DOUBLE PRECISION NOT NULL, worker VARCHAR(100) NOT NULL)"
)


# -- the worker process ----------------------------------------------------------------------


def record_firing(session: Session, job: Any) -> None:
    """The bench's handler: one row per firing, committed with the job (doubles would show)."""
    session.execute(
        text(
            "INSERT INTO bench_firings (job_key, due_epoch, fired_epoch, worker)"
            " VALUES (:key, :due, :fired, :worker)"
        ),
        {
            "key": job.key,
            "due": job.due_at.timestamp(),
            "fired": time.time(),
            "worker": str(os.getpid()),
        },
    )


def run_worker(lease: float) -> None:
    """A runner process for the database of the environment, until SIGTERM or SIGKILL."""
    from omnicx.core.database import get_database
    from omnicx.core.scheduler import Registry, Runner

    jobs = Registry()
    for kind in ("bench.due", "bench.later", "bench.burst"):
        jobs.register(kind, record_firing, lease=timedelta(seconds=lease))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Runner(get_database(), jobs).run_forever(stop)


# -- the database ----------------------------------------------------------------------------


@contextlib.contextmanager
def database_url(backend: str, home: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{home / 'omnicx.db'}"
        return
    name = f"omnicx_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        "postgresql+psycopg://" + POSTGRES_URL.removeprefix("postgresql://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from omnicx.core.database import reset_database

        reset_database()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def environment(home: Path, url: str) -> dict[str, str]:
    env = server_environment(home)
    env["OMNICX_DATABASE_URL"] = url
    return env


def use_database(home: Path, url: str) -> Any:
    from omnicx.core.database import get_database, reset_database
    from omnicx.core.settings import reset_settings

    for key in [k for k in os.environ if k.startswith("OMNICX_")]:
        del os.environ[key]
    os.environ.update(environment(home, url))
    reset_settings()
    reset_database()
    return get_database()


def load(database: Any, kind: str, prefix: str, dues: list[datetime]) -> float:
    """Insert jobs as ``schedule`` stores them (payload sealed); returns seconds taken."""
    from omnicx.core.database import table_of
    from omnicx.core.scheduler import ScheduledJob
    from omnicx.core.serialization import dumps

    jobs, now = table_of(ScheduledJob), datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, len(dues), LOAD_CHUNK):
        rows = [
            {
                "kind": kind,
                "key": f"{prefix}:{i}",
                "due_at": dues[i],
                "payload": dumps({"conversation_id": i, "note": "首次响应提醒"}),
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(start + LOAD_CHUNK, len(dues)))
        ]
        with database.write() as session:
            session.execute(insert(jobs), rows)
    return time.perf_counter() - started


# -- the run ---------------------------------------------------------------------------------


class Workers:
    def __init__(self, home: Path, url: str, count: int, lease: float):
        self.home, self.env, self.lease = home, environment(home, url), lease
        self.processes = [self._start(i) for i in range(count)]

    def _start(self, index: int) -> subprocess.Popen[bytes]:
        log = (self.home / f"worker-{index}.log").open("ab")
        command = [sys.executable, str(Path(__file__)), "--worker", "--lease", str(self.lease)]
        return subprocess.Popen(
            command, cwd=ROOT / "bench", env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def kill_and_restart(self, index: int) -> None:
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait()
        self.processes[index] = self._start(index)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


class CpuShare:
    """Cores used by this process and its workers (reaped: counted once they are waited
    for), and by everything else on the machine, between start and ``stop``."""

    def __init__(self) -> None:
        self.busy, self.ours, self.started = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        return _system_busy_seconds(), ours, time.perf_counter()

    def stop(self) -> tuple[float, float]:
        busy, ours, now = self._sample()
        wall = now - self.started
        own = ours - self.ours
        return own / wall, max(0.0, (busy - self.busy - own) / wall)


def count(database: Any, sql: str) -> int:
    with database.read() as session:
        return int(session.execute(text(sql)).scalar() or 0)


def wait_fired(database: Any, kind: str, expected: int, deadline: float) -> float:
    """Wait until ``expected`` jobs of ``kind`` are done; returns when (monotonic)."""
    sql = f"SELECT count(*) FROM scheduled_jobs WHERE kind = '{kind}' AND status = 'done'"
    while True:
        if count(database, sql) >= expected:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {count(database, sql):,} of {expected:,} {kind} done")
        time.sleep(0.25)


def measure(args: argparse.Namespace, home: Path, url: str) -> dict[str, Any]:
    database = use_database(home, url)
    from omnicx.core.migrate import upgrade

    upgrade(url)
    with database.write() as session:
        session.execute(text(FIRINGS))
    rng = random.Random(args.seed)
    later = args.jobs - args.due
    now = datetime.now(UTC)
    later_dues = [now + timedelta(days=1 + rng.random() * 29) for _ in range(later)]
    console.print(f"loading {later:,} jobs due later in the month…")
    later_seconds = load(database, "bench.later", "later", later_dues)
    cpu = CpuShare()
    workers = Workers(home, url, args.workers, args.lease)
    # Loading the due jobs must end before the window opens: allow twice the time the
    # later jobs took per row.
    loading = 2 * later_seconds * args.due / max(later, 1)
    try:
        window_opens = datetime.now(UTC) + timedelta(seconds=loading + LEAD_SECONDS)
        dues = sorted(
            window_opens + timedelta(seconds=rng.random() * args.window) for _ in range(args.due)
        )
        console.print(
            f"loading {args.due:,} jobs due within {args.window:.0f} s from "
            f"{window_opens:%H:%M:%S} UTC ({args.workers} worker(s), lease {args.lease:.0f} s)…"
        )
        due_seconds = load(database, "bench.due", "due", dues)
        assert datetime.now(UTC) < window_opens, "loading took longer than the lead"
        killed_at = None
        if args.kill:
            kill_at = window_opens + timedelta(seconds=args.window / 2)
            time.sleep(max(0.0, (kill_at - datetime.now(UTC)).total_seconds()))
            running = count(
                database, "SELECT count(*) FROM scheduled_jobs WHERE status = 'running'"
            )
            workers.kill_and_restart(0)
            killed_at = datetime.now(UTC)
            console.print(
                f"worker 0 SIGKILLed at {killed_at:%H:%M:%S} UTC ({running} jobs leased "
                "at that moment) and started again"
            )
        deadline = time.monotonic() + loading + LEAD_SECONDS + args.window + args.lease + 120
        wait_fired(database, "bench.due", args.due, deadline)
        # Throughput: a burst of jobs all due now, timed until the last is done.
        burst_due = datetime.now(UTC)
        started = time.monotonic()
        load(database, "bench.burst", "burst", [burst_due] * args.burst)
        burst_done = wait_fired(database, "bench.burst", args.burst, started + 600)
        burst_seconds = burst_done - started
    finally:
        workers.stop()
    own_cores, other_cores = cpu.stop()
    return analyse(database, args, later, later_seconds + due_seconds, killed_at, burst_seconds) | {
        "bench_and_worker_cores": round(own_cores, 2),
        "other_cores": round(other_cores, 2),
    }


def analyse(
    database: Any,
    args: argparse.Namespace,
    later: int,
    load_seconds: float,
    killed_at: datetime | None,
    burst_seconds: float,
) -> dict[str, Any]:
    with database.read() as session:
        rows = session.execute(
            text(
                "SELECT job_key, due_epoch, fired_epoch FROM bench_firings"
                " WHERE job_key LIKE 'due:%'"
            )
        ).all()
        doubles = int(
            session.execute(
                text(
                    "SELECT count(*) FROM (SELECT job_key FROM bench_firings"
                    " GROUP BY job_key HAVING count(*) > 1) d"
                )
            ).scalar()
            or 0
        )
        early_later = int(
            session.execute(
                text("SELECT count(*) FROM bench_firings WHERE job_key LIKE 'later:%'")
            ).scalar()
            or 0
        )
        not_done = int(
            session.execute(
                text(
                    "SELECT count(*) FROM scheduled_jobs WHERE kind IN ('bench.due', "
                    "'bench.burst') AND status <> 'done'"
                )
            ).scalar()
            or 0
        )
    fired = {key for key, _, _ in rows}
    lateness = sorted(fired_at - due for _, due, fired_at in rows)
    early = sum(1 for value in lateness if value < 0)
    first = min(fired_at for _, _, fired_at in rows)
    last = max(fired_at for _, _, fired_at in rows)
    after_kill = (
        sorted(f - d for _, d, f in rows if killed_at and d >= killed_at.timestamp() - 1)
        if killed_at
        else []
    )
    return {
        "backend": args.backend,
        "jobs": args.jobs,
        "due": args.due,
        "window_seconds": args.window,
        "workers": args.workers,
        "lease_seconds": args.lease,
        "killed_one_worker": killed_at is not None,
        "load_rate": round(args.jobs / load_seconds),
        "fired": len(rows),
        "fired_distinct": len(fired),
        "lost": args.due - len(fired),
        "doubled": doubles,
        "fired_early": early,
        "later_jobs_fired": early_later,
        "later_jobs": later,
        "not_done": not_done,
        "lateness_p50_ms": round(percentile(lateness, 0.50) * 1000, 1),
        "lateness_p99_ms": round(percentile(lateness, 0.99) * 1000, 1),
        "lateness_max_s": round(lateness[-1], 2),
        "lateness_p99_after_kill_ms": round(percentile(after_kill, 0.99) * 1000, 1)
        if after_kill
        else None,
        "window_rate": round(len(rows) / (last - first)),
        "burst": args.burst,
        "burst_seconds": round(burst_seconds, 2),
        "burst_rate": round(args.burst / burst_seconds),
    }


def report(figures: dict[str, Any]) -> None:
    exactly_once = (
        figures["lost"] == 0
        and figures["doubled"] == 0
        and figures["fired_early"] == 0
        and figures["later_jobs_fired"] == 0
        and figures["not_done"] == 0
    )
    rows = [
        (
            "every due job fired exactly once, none early",
            f"{figures['fired_distinct']:,} of {figures['due']:,}; lost {figures['lost']}, "
            f"doubled {figures['doubled']}, early {figures['fired_early']}, later jobs fired "
            f"{figures['later_jobs_fired']} of {figures['later_jobs']:,}",
            "[green]met[/]" if exactly_once else "[red]not met[/]",
        ),
        (
            "lateness p99 < 1 s",
            f"p50 {figures['lateness_p50_ms']} ms, p99 {figures['lateness_p99_ms']} ms",
            verdict(figures["lateness_p99_ms"] / 1000, LATENESS_P99_BAR, lower_is_better=True),
        ),
        (
            "lateness max < 60 s",
            f"{figures['lateness_max_s']} s"
            + (" (a worker SIGKILLed mid-window)" if figures["killed_one_worker"] else ""),
            verdict(figures["lateness_max_s"], LATENESS_MAX_BAR, lower_is_better=True),
        ),
        (
            "throughput",
            f"window {figures['window_rate']:,} jobs/s (as they fall due); burst of "
            f"{figures['burst']:,} due at once: {figures['burst_rate']:,} jobs/s",
            "",
        ),
        ("load", f"{figures['load_rate']:,} jobs/s inserted (payload sealed)", ""),
    ]
    print_table(
        f"Scheduler — {figures['backend']}, {figures['jobs']:,} jobs, {figures['due']:,} due "
        f"within {figures['window_seconds']:.0f} s, {figures['workers']} worker(s)",
        rows,
        ["bar", "measured", "verdict"],
    )
    console.print(
        f"this script and its workers used {figures['bench_and_worker_cores']:.2f} cores; "
        + background_note(figures["other_cores"])
        + (
            " (PostgreSQL's own processes count as other programs)"
            if figures["backend"] == "postgres"
            else ""
        )
    )
    if not exactly_once:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs scheduled in all")
    parser.add_argument("--due", type=int, default=100_000, help="of which due in the window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds the due jobs span")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=None, help="runner processes")
    parser.add_argument("--lease", type=float, default=30.0, help="lease of a claim (s)")
    parser.add_argument("--burst", type=int, default=20_000, help="jobs due at once, at the end")
    parser.add_argument(
        "--no-kill", dest="kill", action="store_false", help="do not SIGKILL a worker"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    common_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.lease)
        return
    if args.due > args.jobs:
        parser.error("--due cannot exceed --jobs")
    args.workers = args.workers or 2
    announce("Scheduler", args)
    with (
        bench_home("scheduler", args.workdir, args.keep) as home,
        database_url(args.backend, home) as url,
    ):
        figures = measure(args, home, url)
    write_json(args.json, figures)
    report(figures)


if __name__ == "__main__":
    main()
