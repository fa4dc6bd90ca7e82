"""What metrics cost: a Prometheus scrape on a large database, and the request middleware.

Fills a throwaway database (SQLite, and PostgreSQL with ``--postgres``) with ``--events``
rows in ``events``, ``--outbox`` outbox rows (most sent, some pending), a few dead
letters, and processor offsets part-way through the log, then times
``core.metrics.exposition`` (every probe in one read transaction, plus the process
metrics) ``--scrapes`` times. Then it times the HTTP metrics middleware alone: the same
FastAPI route called in-process through ASGI with and without ``RequestMetrics``, in
alternating rounds so that a busy machine disturbs both alike.

    .venv/bin/python bench/metrics_scrape.py
    .venv/bin/python bench/metrics_scrape.py --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from sqlalchemy import create_engine, text

from _common import (
    announce,
    bench_home,
    common_arguments,
    console,
    percentile,
    print_table,
    use_home,
    write_json,
)

# One statement per table, as a recursive count so that SQLite and PostgreSQL run it
# alike. Times go back one millisecond per row from now: the oldest row is the first.
FILL = {
    "events": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
        INSERT INTO events (seq, source_id, message_id, type, name, occurred_at, received_at,
                            payload)
        SELECT i, 1, 'm-' || i, 'track', 'Page Viewed', :now, :now, '{}' FROM n
    """,
    "outbox": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
        INSERT INTO outbox (id, kind, payload, status, attempts, next_attempt_at, created_at)
        SELECT i, 'webhook', '{}', CASE WHEN i % 50 = 0 THEN 'pending' ELSE 'sent' END,
               1, :now, :now FROM n
    """,
    "dead_letters": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
        INSERT INTO dead_letters (processor, event_seq, reason, attempts, status, created_at)
        SELECT 'customers', i, 'ValueError', 1, 'open', :now FROM n
    """,
}


def fill(url: str, events: int, outbox: int) -> None:
    from omnicx.core.database import make_engine
    from omnicx.core.time import utcnow

    engine = make_engine(url)
    now = utcnow()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            now_value: Any = now.replace(tzinfo=None).isoformat(sep=" ")
        else:
            now_value = now
        for table, rows in (("events", events), ("outbox", outbox), ("dead_letters", 20)):
            conn.execute(text(FILL[table]), {"rows": rows, "now": now_value})
        conn.execute(
            text(
                "INSERT INTO processor_offsets (processor, position, updated_at) "
                "VALUES ('customers', :a, :now), ('consent', :b, :now), ('analytics', 0, :now)"
            ),
            {"a": events // 2, "b": events, "now": now_value},
        )
    engine.dispose()


def measure(url: str, scrapes: int) -> list[float]:
    from omnicx.core.database import Database
    from omnicx.core.metrics import exposition

    database = Database(url)
    exposition(database)  # connections opened, pages warm: the steady state of a scraper
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        body = exposition(database)
        times.append(time.perf_counter() - started)
    assert b'omnicx_processor_lag_events{processor="customers"}' in body
    database.dispose()
    return sorted(times)


def middleware_cost(calls: int, rounds: int = 10) -> tuple[float, float]:
    """Microseconds per request of a bare FastAPI route, without and with the middleware."""
    import asyncio

    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from omnicx.web.metrics import RequestMetrics

    def application(with_metrics: bool) -> Any:
        app = FastAPI()

        @app.post("/v1/batch")
        async def batch() -> JSONResponse:
            return JSONResponse({"success": True, "accepted": 5, "rejected": []})

        if with_metrics:
            app.add_middleware(RequestMetrics)
        return app

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/batch",
        "raw_path": b"/v1/batch",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def timed(app: Any) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await app(dict(scope), receive, send)
        return time.perf_counter() - started

    async def run() -> tuple[float, float]:
        plain, metered = application(False), application(True)
        await timed(plain)  # warm both (the middleware stack is built on first call)
        await timed(metered)
        without = with_ = 0.0
        for _ in range(rounds):
            without += await timed(plain)
            with_ += await timed(metered)
        per_call = 1e6 / (calls * rounds)
        return without * per_call, with_ * per_call

    return asyncio.run(run())


def run_postgres(base_url: str, events: int, outbox: int, scrapes: int) -> list[float]:
    from omnicx.core.migrate import upgrade

    name = f"omnicx_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        "postgresql+psycopg://" + base_url.removeprefix("postgresql://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        fill(url, events, outbox)
        with create_engine(
            "postgresql+psycopg://" + url.removeprefix("postgresql://")
        ).begin() as c:
            c.execute(text("ANALYZE"))
        return measure(url, scrapes)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="rows in events")
    parser.add_argument("--outbox", type=int, default=200_000, help="rows in outbox (2%% pending)")
    parser.add_argument("--scrapes", type=int, default=50, help="scrapes to time")
    parser.add_argument("--postgres", default=None, help="also measure on this PostgreSQL server")
    parser.add_argument("--calls", type=int, default=2000, help="requests per middleware round")
    common_arguments(parser)
    args = parser.parse_args()
    announce("Metrics scrape", args)
    rows, figures = [], {}
    with bench_home("metrics", args.workdir, args.keep) as home:
        from omnicx.core.migrate import upgrade

        settings = use_home(home)
        url = settings.resolved_database_url
        upgrade(url)
        started = time.perf_counter()
        fill(url, args.events, args.outbox)
        console.print(f"filled SQLite in {time.perf_counter() - started:.1f} s")
        backends = {"SQLite": measure(url, args.scrapes)}
    if args.postgres:
        backends["PostgreSQL"] = run_postgres(args.postgres, args.events, args.outbox, args.scrapes)
    for backend, times in backends.items():
        p50, p99 = percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000
        rows.append(
            (
                f"{backend}: one scrape, p50 / p99",
                f"{p50:.1f} / {p99:.1f} ms",
                f"{args.events:,} events, {args.outbox:,} outbox rows, {args.scrapes} scrapes",
            )
        )
        figures[backend] = {"p50_ms": p50, "p99_ms": p99}
    without, with_ = middleware_cost(args.calls)
    rows.append(
        (
            "HTTP middleware: µs per request",
            f"+{with_ - without:.1f} µs",
            f"{without:.1f} µs without, {with_:.1f} µs with (in-process ASGI, bare route)",
        )
    )
    figures["middleware_us"] = {"without": without, "with": with_}
    print_table("What metrics cost", rows, ["what", "figure", "detail"])
    write_json(args.json, {"events": args.events, "outbox": args.outbox, **figures})


if __name__ == "__main__":
    main()
