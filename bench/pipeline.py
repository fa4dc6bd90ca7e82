"""The pipeline's CPU per event at a given batch size: what a batch's bookkeeping costs
against the processors' own work.

Events are bulk-loaded into the log first (identity traffic from ``identity.py``'s
generator, or web chat messages of many visitors into the demo desk: teams, routing rules,
SLA policies), then ``make_pipeline(...).run_until_idle()`` runs in this process with every
group's batch size set to each ``--batch-sizes`` value in turn, on a fresh database each
time. Batches of 1 are live traffic (a message at a time), 1,000 a backlog. The figure is
CPU time per event (``time.process_time``), steadier than wall time on a shared machine.

    .venv/bin/python bench/pipeline.py --kind identity --events 5000 --batch-sizes 1,20,1000
    .venv/bin/python bench/pipeline.py --kind messages --events 1500 --batch-sizes 1,20
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import (
    CallFactory,
    CpuWatch,
    announce,
    app_connection,
    background_note,
    bench_home,
    common_arguments,
    console,
    create_source_and_token,
    database_path,
    migrate,
    print_table,
    sqlite_time,
    use_home,
    write_json,
)

INSERT = (
    "INSERT INTO events (source_id, message_id, type, name, occurred_at, received_at, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def identity_calls(count: int, seed: int) -> list[dict[str, Any]]:
    return CallFactory(seed=seed, new_share=0.2).calls(count)


def message_calls(count: int) -> list[dict[str, Any]]:
    """Web chat messages, four per visitor, a second apart."""
    from omnicx.desk.messages import Sender, message_call

    start = datetime.now(UTC) - timedelta(hours=1)
    visitors = max(1, count // 4)
    return [
        message_call(
            direction="in",
            channel="webchat",
            thread=f"v-{n % visitors}",
            text=f"你好，我的空调第{n}次不制冷了，发票也没收到",
            message_id=uuid.uuid4().hex,
            sender=Sender(anonymous_id=f"visitor-{n % visitors}"),
            timestamp=start + timedelta(seconds=n),
        )
        for n in range(count)
    ]


def load(home: Path, source_id: int, calls: list[dict[str, Any]]) -> None:
    """Validate as the tracking API does and bulk-insert into the log."""
    from omnicx.core.eventlog.codec import encode_payload
    from omnicx.ingest.tracking import validate_batch

    received = datetime.now(UTC)
    accepted, rejected = validate_batch(source_id, calls, received, None)
    if rejected:
        raise RuntimeError(f"generated calls were rejected: {rejected[:3]}")
    conn = app_connection(database_path(home))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        INSERT,
        [
            (
                e.source_id,
                e.message_id,
                e.type,
                e.name,
                sqlite_time(e.occurred_at),
                sqlite_time(e.received_at),
                encode_payload(e.payload),
            )
            for e in accepted
        ],
    )
    conn.execute("COMMIT")
    conn.close()


def run(args: argparse.Namespace, batch_size: int) -> dict[str, Any]:
    with bench_home("pipeline", args.workdir, args.keep) as home:
        migrate(home)
        source_id, _, _ = create_source_and_token(home)
        settings = use_home(home)
        from omnicx.core.database import get_database, reset_database
        from omnicx.runtime.processors import make_pipeline

        if args.kind == "messages":
            from omnicx.cli.desk_commands import seed_desk

            seed_desk()  # teams, agents, routing rules, SLA policies
            calls = message_calls(args.events)
        else:
            calls = identity_calls(args.events, args.seed)
        load(home, source_id, calls)
        pipeline = make_pipeline(get_database(settings), settings)
        for runner in pipeline.runners:
            runner.batch_size = batch_size
        watch = CpuWatch()
        cpu, wall = time.process_time(), time.perf_counter()
        processed = pipeline.run_until_idle()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        other = watch.other_cores()
        reset_database()
    return {
        "batch_size": batch_size,
        "events": processed,
        "cpu_ms_per_event": round(1000 * cpu / processed, 3),
        "wall_ms_per_event": round(1000 * wall / processed, 3),
        "other_cores": round(other, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("identity", "messages"), default="identity")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch-sizes", default="1,20,1000", help="comma-separated")
    common_arguments(parser)
    args = parser.parse_args()
    announce(f"The pipeline per event ({args.kind})", args)
    results = [run(args, int(size)) for size in args.batch_sizes.split(",")]
    print_table(
        f"{args.kind} events through every group, in-process",
        [
            [
                f"{r['batch_size']:,}",
                f"{r['events']:,}",
                f"{r['cpu_ms_per_event']:.3f} ms",
                f"{r['wall_ms_per_event']:.3f} ms",
                f"{r['other_cores']:.2f}",
            ]
            for r in results
        ],
        ["batch size", "events", "CPU per event", "wall per event", "other cores"],
    )
    console.print(background_note(max(r["other_cores"] for r in results)))
    write_json(args.json, {"kind": args.kind, "runs": results})


if __name__ == "__main__":
    main()
