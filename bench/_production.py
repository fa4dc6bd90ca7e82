"""Ingest end to end in production mode: PostgreSQL + NATS JetStream, the API and N
workers as separate processes (used by ``ingest.py --backend postgres``).

For each worker count: a fresh PostgreSQL database and JetStream stream, one
``omnicx serve --no-worker`` API process and N ``omnicx worker`` processes; the same
Segment batches are sent and the time is taken from the first request until every
processor group has processed the last event. The customers each run built are compared
(as sets of identifiers' blind indexes): more workers must not change who is who.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
from nats.js.errors import NotFoundError

from _common import console, free_port

POSTGRES_URL = os.environ.get(
    "OMNICX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NATS_URL = os.environ.get("OMNICX_BENCH_NATS_URL", "nats://127.0.0.1:4222")
GROUP_PROCESSORS = ("customers", "consent")


@dataclass
class ProductionRun:
    workers: int
    accepted: int
    seconds: float
    accept_seconds: float
    customers: frozenset[frozenset[bytes]]
    counts: dict[str, int]


def environment(home: Path, database_url: str, stream: str, batch: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNICX_")}
    env.update(
        {
            "OMNICX_ENV": "development",
            "OMNICX_HOME": str(home),
            "OMNICX_DATABASE_URL": database_url,
            "OMNICX_EVENT_LOG": NATS_URL,
            "OMNICX_NATS_STREAM": stream,
            "OMNICX_PROCESSOR_BATCH_SIZE": str(batch),
        }
    )
    return env


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    name = f"omnicx_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _delete_stream(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def omnicx(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "omnicx", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"omnicx {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def progress(database_url: str) -> tuple[int, int, int]:
    """(events recorded, last seq, position of the slowest group)."""
    with psycopg.connect(database_url) as conn:
        count, head = conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone()
        rows = conn.execute(
            "SELECT processor, position FROM processor_offsets WHERE processor = ANY(%s)",
            (list(GROUP_PROCESSORS),),
        ).fetchall()
    positions = dict(rows)
    return count, head, min(positions.get(p, 0) for p in GROUP_PROCESSORS)


def customers_of(database_url: str) -> tuple[frozenset[frozenset[bytes]], dict[str, int]]:
    with psycopg.connect(database_url) as conn:
        groups: dict[int, set[bytes]] = {}
        for customer_id, key in conn.execute("SELECT customer_id, key_hash FROM identifiers"):
            groups.setdefault(customer_id, set()).add(bytes(key))
        counts = {
            name: conn.execute(sql).fetchone()[0]
            for name, sql in {
                "events": "SELECT count(*) FROM events",
                "customers (live)": "SELECT count(*) FROM customers WHERE merged_into_id IS NULL",
                "timeline rows": "SELECT count(*) FROM customer_timeline",
                "dead letters": "SELECT count(*) FROM dead_letters",
            }.items()
        }
    return frozenset(frozenset(g) for g in groups.values()), counts


def run_production(
    home: Path,
    bodies: list[bytes],
    workers: int,
    connections: int,
    batch: int,
    send_all: Any,
    timeout: float,
) -> ProductionRun:
    stream = f"OMNICX_BENCH_{uuid.uuid4().hex[:8].upper()}"
    run_home = home / f"workers-{workers}"
    run_home.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    with fresh_database() as database_url:
        env = environment(run_home, database_url, stream, batch)
        try:
            omnicx(env, "migrate")
            write_key = omnicx(env, "sources", "create", "bench").strip().splitlines()[-1]
            port = free_port()
            log = (run_home / "api.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "omnicx", "serve", "--no-worker", "--host",
                     "127.0.0.1", "--port", str(port)],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
            for n in range(workers):
                worker_log = (run_home / f"worker-{n}.log").open("wb")
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "omnicx", "worker"],
                        env=env, stdout=worker_log, stderr=subprocess.STDOUT,
                    )
                )  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, processes[0])
            time.sleep(2.0)  # workers connected and leading their groups
            _, accepted, first, last_ack = asyncio.run(
                send_all(url, write_key, bodies, connections)
            )
            deadline = time.perf_counter() + timeout
            while True:
                count, head, slowest = progress(database_url)
                if count == accepted and slowest >= head:
                    done = time.perf_counter()
                    break
                dead = [p.args for p in processes if p.poll() is not None]
                if dead or time.perf_counter() > deadline:
                    raise RuntimeError(f"workers stopped or too slow ({count}/{accepted}): {dead}")
                time.sleep(0.05)
            customers, counts = customers_of(database_url)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
            asyncio.run(_delete_stream(stream))
    return ProductionRun(
        workers=workers,
        accepted=accepted,
        seconds=done - first,
        accept_seconds=last_ack - first,
        customers=customers,
        counts=counts,
    )


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the API process exited early")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the API did not become healthy")


def report(runs: list[ProductionRun], print_table: Any, verdict: Any, bar: int) -> dict[str, Any]:
    base = runs[0]
    rows = []
    for run in runs:
        rate = run.accepted / run.seconds
        rows.append(
            (
                f"{run.workers} worker{'s' if run.workers > 1 else ''}",
                f"{rate:,.0f} events/s",
                f"{run.accepted / run.accept_seconds:,.0f}/s accepted; "
                f"{rate / (base.accepted / base.seconds):.2f}× of {base.workers}; "
                f"same customers as {base.workers}: {run.customers == base.customers}",
            )
        )
    print_table(
        "Production mode (PostgreSQL + JetStream): end to end by workers",
        rows,
        ("workers", "end to end", "detail"),
    )
    best = max(runs, key=lambda r: r.workers)
    best_rate = best.accepted / best.seconds
    print_table(
        "Compared with",
        [
            (
                f"this issue: 3,000 events/s with {best.workers} workers",
                f"{best_rate:,.0f}/s",
                verdict(best_rate, bar),
            )
        ],
        ("bar", "measured", "verdict"),
    )
    for run in runs:
        console.print(
            f"{run.workers} workers: " + ", ".join(f"{k} {v:,}" for k, v in run.counts.items())
        )
    return {
        f"workers_{r.workers}": {
            "end_to_end_rate": round(r.accepted / r.seconds),
            "accept_rate": round(r.accepted / r.accept_seconds),
            "seconds": round(r.seconds, 2),
            "same_customers_as_first": r.customers == base.customers,
            "state": r.counts,
        }
        for r in runs
    }
