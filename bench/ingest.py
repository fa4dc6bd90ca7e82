"""Ingest end to end: Segment batches over HTTP until every event is resolved and projected.

Starts ``omnicx serve`` (embedded default: SQLite, with its pipeline process), sends
``--events`` realistic calls as ``/v1/batch`` requests of ``--batch`` calls from
``--connections`` concurrent HTTP connections, and times from the first request until
the customer processor's offset reaches the last event (read from the database file,
read-only). Then, in the same run, inserts the very same rows into a fresh database of
the same schema with a plain executemany, which is the ceiling the ratio is taken to.

    .venv/bin/python bench/ingest.py                    # 100,000 events
    .venv/bin/python bench/ingest.py --events 20000     # quicker
    .venv/bin/python bench/ingest.py --backend postgres --workers 1,4   # production mode
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from _common import (
    CallFactory,
    CpuWatch,
    MemoryWatch,
    announce,
    app_connection,
    background_note,
    bench_home,
    common_arguments,
    console,
    create_source_and_token,
    database_path,
    migrate,
    percentile,
    print_table,
    readonly_connection,
    running_server,
    verdict,
    write_json,
)

ISSUE_BAR = 8_000  # events/s end to end, embedded (the processing issue's bar)
PRODUCTION_BAR = 3_000  # events/s end to end, production mode with 4 workers
MISSION_BAR = 10_000  # mission: at least
MISSION_GOAL = 25_000  # mission: the goal
RUDDERSTACK = 2_500  # events/s per node, RudderStack's published figure
SEGMENT_REQUESTS = 1_000  # requests/s, Segment's recommended maximum per source


def build_bodies(events: int, batch: int, seed: int) -> list[bytes]:
    factory = CallFactory(seed=seed, new_share=0.3)
    bodies = []
    for start in range(0, events, batch):
        calls = factory.calls(min(batch, events - start))
        bodies.append(orjson.dumps({"batch": calls, "sentAt": calls[-1]["timestamp"]}))
    return bodies


class Progress:
    """Polls the server's database (read-only) for how far the customer processor got."""

    def __init__(self, path: Path):
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self.conn is None:
            self.conn = readonly_connection(self.path)
        return self.conn

    def position(self) -> int:
        row = (
            self._connection()
            .execute("SELECT position FROM processor_offsets WHERE processor = 'customers'")
            .fetchone()
        )
        return int(row[0]) if row else 0

    def last_seq(self) -> int:
        row = self._connection().execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


async def send_all(
    url: str, write_key: str, bodies: list[bytes], connections: int
) -> tuple[list[float], int, float, float]:
    """POST every body; returns (request latencies, events accepted, first send, last ack)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    accepted = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=url, auth=(write_key, ""), limits=limits, timeout=120
    ) as client:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                body = queue.get_nowait()
                sent = time.perf_counter()
                response = await client.post(
                    "/v1/batch", content=body, headers={"content-type": "application/json"}
                )
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 200:
                    raise RuntimeError(f"batch refused: {response.status_code} {response.text}")
                accepted += response.json()["accepted"]

        first = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        last = time.perf_counter()
    return latencies, accepted, first, last


def watch_processing(progress: Progress, started: float, stop: threading.Event) -> None:
    """Print how far the pipeline is every few seconds while the client sends."""
    while not stop.wait(5):
        try:
            done, last = progress.position(), progress.last_seq()
        except sqlite3.Error:
            continue
        moment = time.perf_counter() - started
        console.print(f"[dim]  {moment:6.1f} s: {last:,} accepted, {done:,} processed[/]")


def wait_processed(progress: Progress, target: int, timeout: float) -> float:
    """Poll until the customer processor has passed ``target``; returns when it did."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            if progress.position() >= target:
                return time.perf_counter()
        except sqlite3.Error:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"not processed within {timeout:.0f} s")
        time.sleep(0.02)


def state_counts(path: Path) -> dict[str, int]:
    conn = readonly_connection(path)
    try:
        queries = {
            "events": "SELECT count(*) FROM events",
            "customers (live)": "SELECT count(*) FROM customers WHERE merged_into_id IS NULL",
            "merges": "SELECT count(*) FROM customer_merges",
            "identifiers": "SELECT count(*) FROM identifiers",
            "timeline rows": "SELECT count(*) FROM customer_timeline",
            "dead letters": "SELECT count(*) FROM dead_letters",
        }
        return {name: int(conn.execute(sql).fetchone()[0]) for name, sql in queries.items()}
    finally:
        conn.close()


EVENT_COLUMNS = "source_id, message_id, type, name, occurred_at, received_at, payload"


def raw_bulk_insert(source: Path, target: Path, batch: int) -> tuple[int, float, float]:
    """Insert the server's event rows into a fresh database of the same schema.

    Returns (rows, seconds with one transaction per ``batch`` rows, seconds with one
    transaction for all of them).
    """
    reader = readonly_connection(source)
    rows = reader.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY seq").fetchall()
    reader.close()
    timings = []
    for per_batch in (True, False):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        migrate(target.parent)
        conn = app_connection(target)
        sql = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        started = time.perf_counter()
        if per_batch:
            for start in range(0, len(rows), batch):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows[start : start + batch])
                conn.execute("COMMIT")
        else:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        timings.append(time.perf_counter() - started)
        conn.close()
    return len(rows), timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to send")
    parser.add_argument("--batch", type=int, default=500, help="calls per /v1/batch request")
    parser.add_argument("--connections", type=int, default=3, help="concurrent connections")
    parser.add_argument("--timeout", type=float, default=900, help="give up after (s)")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="embedded default, or production mode (PostgreSQL + JetStream, processes)",
    )
    parser.add_argument(
        "--workers", default="1,4", help="production mode: worker counts to compare, e.g. 1,4"
    )
    parser.add_argument(
        "--worker-batch", type=int, default=1000, help="production mode: events per batch"
    )
    common_arguments(parser)
    args = parser.parse_args()
    if args.backend == "postgres":
        production(args)
        return

    announce("Ingest end to end", args)
    bodies = build_bodies(args.events, args.batch, args.seed)
    payload_bytes = sum(len(b) for b in bodies)
    console.print(
        f"{args.events:,} calls in {len(bodies):,} requests of {args.batch} "
        f"({payload_bytes / len(bodies) / 1024:.0f} KiB each), {args.connections} connections"
    )

    with bench_home("ingest", args.workdir, args.keep) as home:
        migrate(home)
        _, write_key, _ = create_source_and_token(home)
        with running_server(home, pipeline=True) as server, MemoryWatch(server) as memory:
            progress = Progress(database_path(home))
            watch = CpuWatch(server)
            cpu_before = server.cpu_seconds()
            stop = threading.Event()
            started = time.perf_counter()
            watcher = threading.Thread(
                target=watch_processing, args=(progress, started, stop), daemon=True
            )
            watcher.start()
            latencies, accepted, first, last_ack = asyncio.run(
                send_all(server.url, write_key, bodies, args.connections)
            )
            stop.set()
            watcher.join()
            target = progress.last_seq()
            done = wait_processed(progress, target, args.timeout)
            progress.close()
            other_cores = watch.other_cores()
            cpu = server.cpu_seconds() - cpu_before
        rss = memory.peak["rss"]
        counts = state_counts(database_path(home))
        raw_rows, raw_batched, raw_single = raw_bulk_insert(
            database_path(home), home / "raw" / "omnicx.db", args.batch
        )

    accept_seconds = last_ack - first
    total_seconds = done - first
    accept_rate = accepted / accept_seconds
    end_to_end = accepted / total_seconds
    raw_rate = raw_rows / raw_batched
    raw_single_rate = raw_rows / raw_single
    request_rate = len(bodies) / accept_seconds
    latencies.sort()
    figures: dict[str, Any] = {
        "events": accepted,
        "requests": len(bodies),
        "batch": args.batch,
        "connections": args.connections,
        "accept_seconds": round(accept_seconds, 2),
        "end_to_end_seconds": round(total_seconds, 2),
        "accept_rate": round(accept_rate),
        "end_to_end_rate": round(end_to_end),
        "requests_per_second": round(request_rate, 1),
        "request_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "request_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "raw_insert_rate_per_batch_tx": round(raw_rate),
        "raw_insert_rate_one_tx": round(raw_single_rate),
        "ratio_to_raw": round(end_to_end / raw_rate, 3),
        "server_peak_rss_mib": round(rss),
        "server_peak_pss_mib": round(memory.peak["pss"]),
        "server_cpu_seconds": round(cpu, 1),
        "state": counts,
        "other_programs_cores": round(other_cores, 2),
    }

    if accepted != args.events or counts["events"] != args.events:
        console.print(f"[red]expected {args.events} events, stored {counts['events']}[/]")
    print_table(
        f"Ingest: {accepted:,} events over HTTP",
        [
            (
                "accepted (acknowledged, durable)",
                f"{accept_rate:,.0f} events/s",
                f"{accept_seconds:.1f} s, {request_rate:,.1f} requests/s",
            ),
            (
                "end to end (accepted + resolved + projected)",
                f"{end_to_end:,.0f} events/s",
                f"{total_seconds:.1f} s from first request to last event processed",
            ),
            (
                "request latency p50 / p99",
                f"{figures['request_p50_ms']:.0f} / {figures['request_p99_ms']:.0f} ms",
                f"{args.batch} calls per request",
            ),
            (
                "raw executemany, same rows, same schema",
                f"{raw_rate:,.0f} rows/s",
                f"one transaction per {args.batch} rows ({raw_single_rate:,.0f} rows/s in one)",
            ),
            ("end to end ÷ raw insert", f"{end_to_end / raw_rate:.3f}", ""),
            (
                "server peak RSS, CPU (API + its pipeline process)",
                f"{rss:,.0f} MiB",
                f"{cpu:.0f} CPU s in {total_seconds:.0f} s ({cpu / total_seconds:.2f} cores)",
            ),
        ],
        ("what", "figure", "detail"),
    )
    print_table(
        "Compared with",
        [
            (
                "this issue: 8,000 events/s end to end",
                f"{end_to_end:,.0f}/s",
                verdict(end_to_end, ISSUE_BAR),
            ),
            (
                "mission: at least 10,000 events/s",
                f"{end_to_end:,.0f}/s",
                verdict(end_to_end, MISSION_BAR),
            ),
            (
                "mission goal: 25,000 events/s",
                f"{end_to_end:,.0f}/s",
                verdict(end_to_end, MISSION_GOAL),
            ),
            (
                "RudderStack: ~2,500 events/s per node (published)",
                f"{end_to_end:,.0f}/s",
                f"{end_to_end / RUDDERSTACK:.2f}×",
            ),
            (
                "Segment: at most 1,000 requests/s recommended",
                f"{request_rate:,.1f} req/s",
                f"{args.batch} events each → {accept_rate:,.0f} events/s accepted",
            ),
        ],
        ("bar", "measured", "verdict"),
    )
    console.print(background_note(other_cores))
    console.print("state after the run: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    write_json(args.json, figures)


def production(args: argparse.Namespace) -> None:
    from _production import report, run_production

    announce("Ingest end to end, production mode", args)
    bodies = build_bodies(args.events, args.batch, args.seed)
    counts = [int(n) for n in args.workers.split(",")]
    console.print(
        f"{args.events:,} calls in {len(bodies):,} requests of {args.batch}, "
        f"{args.connections} connections; workers: {counts}"
    )
    runs = []
    with bench_home("ingest-production", args.workdir, args.keep) as home:
        for workers in counts:
            runs.append(
                run_production(
                    home,
                    bodies,
                    workers,
                    args.connections,
                    args.worker_batch,
                    send_all,
                    args.timeout,
                )
            )
            console.print(
                f"[dim]{workers} workers: {runs[-1].accepted / runs[-1].seconds:,.0f}/s[/]"
            )
    figures = report(runs, print_table, verdict, PRODUCTION_BAR)
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
