"""Commands that move data: import, demo, dead letters."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from omnicx.cli.errors import fail
from omnicx.cli.processing_commands import drain
from omnicx.cli.progress import bar
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.models import DeadLetter, EventRow
from omnicx.core.eventlog.table import TableEventLog
from omnicx.core.migrate import upgrade
from omnicx.core.processing import replay_dead_letter
from omnicx.core.settings import get_settings
from omnicx.core.time import utcnow
from omnicx.ingest.imports import (
    ImportReport,
    check_encoding,
    check_mapping,
    count_rows,
    import_file,
    parse_mapping,
    write_jsonl,
    write_rejects,
)
from omnicx.ingest.sources import ensure_source
from omnicx.ingest.tracking import to_log_event
from omnicx.runtime.processors import processor_named

console = Console()
deadletter = typer.Typer(help="Events a processor could not handle.", no_args_is_help=True)


def ensure_schema() -> None:
    """Migrate first: a fresh machine's first command must not fail on a missing table."""
    upgrade(get_settings().resolved_database_url)


def _append_sync() -> tuple[Callable[[list[LogEvent]], None], Callable[[], object] | None]:
    """A synchronous append into whichever log is configured."""
    settings = get_settings()
    if not settings.uses_nats:
        log = TableEventLog(get_database())
        return log.append_sync, None
    import asyncio

    from omnicx.core.eventlog.jetstream import JetStreamEventLog

    loop = asyncio.new_event_loop()
    jet = JetStreamEventLog(settings.event_log, settings.nats_stream)
    return (lambda events: loop.run_until_complete(jet.append(events))), (
        lambda: (loop.run_until_complete(jet.close()), loop.close())
    )


def import_command(
    path: Annotated[Path, typer.Argument(help="A .jsonl file of Segment calls or a .csv file")],
    source: Annotated[str, typer.Option(help="Source name the rows are recorded under")] = "import",
    kind: Annotated[str | None, typer.Option(help="events (JSONL) or customers (CSV)")] = None,
    map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="CSV COLUMN=field, e.g. Mobile=phone (COLUMN=- skips it); Email, Phone, "
            "Mobile, Name, 邮箱, 手机, 手机号, 姓名 map themselves",
        ),
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Where to write rejected rows (JSONL)")
    ] = None,
    warnings: Annotated[
        Path | None,
        typer.Option(help="Where to write warnings about imported rows (JSONL)"),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="The file's text encoding, e.g. gb18030")
    ] = "utf-8-sig",
) -> None:
    """Import a JSONL file of Segment calls or a CSV file of customers."""
    if not path.is_file():
        raise fail(f"{path} is a directory" if path.is_dir() else f"no file at {path}")
    kind = kind or ("customers" if path.suffix.lower() == ".csv" else "events")
    if kind not in ("events", "customers"):
        raise fail("--kind is events or customers")
    try:
        mapping = parse_mapping(map or [])
        check_encoding(path, encoding)
        if kind == "customers":
            check_mapping(path, mapping, encoding)
    except (ValueError, csv.Error) as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from exc
    ensure_schema()
    try:
        with get_database().write() as session:
            source_id = ensure_source(session, source, kind="import").id
    except OmniError as exc:
        raise fail(f"--source: {exc.message}") from exc
    append, close = _append_sync()
    region = get_settings().default_phone_region
    try:
        with bar(f"importing {path.name}", count_rows(path)) as advance:
            report = import_file(
                path,
                source_id,
                append,
                kind=kind,
                mapping=mapping,
                progress=advance,
                region=region,
                encoding=encoding,
            )
    except (ValueError, csv.Error) as exc:
        raise fail(f"{path.name}: {exc}") from exc
    finally:
        if close:
            close()
    processed = drain("resolving identities")
    _print_summary(path, report, processed, rejects, warnings)
    if report.rejected:
        raise typer.Exit(code=1 if report.accepted == 0 else 0)


def _print_summary(
    path: Path,
    report: ImportReport,
    processed: int,
    rejects: Path | None,
    warnings: Path | None,
) -> None:
    if report.columns:
        console.print(
            "columns: "
            + ", ".join(
                f"{c.column} → {'skipped' if c.target == '-' else c.target} ({c.how})"
                for c in report.columns
            ),
            soft_wrap=True,
        )
    table = Table("read", "accepted", "rejected", "processed", "warnings")
    table.add_row(
        str(report.read),
        str(report.accepted),
        str(report.rejected),
        str(processed),
        str(report.warned_rows),
    )
    console.print(table)
    if report.warnings:
        warnings_path = warnings or path.with_name(path.name + ".warnings.jsonl")
        write_jsonl(report.warnings, warnings_path)
        console.print(
            f"[yellow]{report.warned_rows} rows imported with warnings "
            f"(a value kept as a trait only):[/] {warnings_path}",
            soft_wrap=True,
        )
    if report.rejected:
        rejects_path = rejects or path.with_name(path.name + ".rejects.jsonl")
        write_rejects(report, rejects_path)
        console.print(f"[yellow]rejected rows with reasons:[/] {rejects_path}", soft_wrap=True)


def demo_command(
    customers: Annotated[int, typer.Option(help="How many people")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    if_empty: Annotated[bool, typer.Option(help="Only if there are no events yet")] = False,
) -> None:
    """Load a realistic demo data set (Chinese and English customers across channels)."""
    from omnicx.ingest.demo import demo_calls

    ensure_schema()
    database = get_database()
    with database.write() as session:
        if if_empty and session.scalar(select(EventRow.seq).limit(1)) is not None:
            console.print("demo data: events exist already, skipped")
            return
        source_id = ensure_source(session, "demo", kind="demo").id
    append, close = _append_sync()
    pending: list[LogEvent] = []
    received = utcnow()
    calls = list(demo_calls(customers, seed))
    with bar("loading demo events", len(calls)) as advance:
        for call in calls:
            pending.append(
                to_log_event(
                    source_id, call, event_type=None, prefix="", received_at=received, sent_at=None
                )
            )
            if len(pending) >= 1000:
                append(pending)
                advance(len(pending))
                pending = []
        if pending:
            append(pending)
            advance(len(pending))
    if close:
        close()
    drain("resolving identities")
    console.print(f"[green]demo data loaded:[/] {len(calls)} events for {customers} people")
    from omnicx.cli.desk_commands import seed_desk

    seed_desk()


@deadletter.command("list")
def deadletter_list(
    all: Annotated[bool, typer.Option("--all", help="Include resolved ones")] = False,
) -> None:
    """List dead-lettered events with their reasons."""
    table = Table("id", "processor", "event", "attempts", "status", "reason")
    with get_database().read() as session:
        stmt = select(DeadLetter).order_by(DeadLetter.id)
        if not all:
            stmt = stmt.where(DeadLetter.status == "open")
        for letter in session.scalars(stmt):
            reason = letter.reason.strip().splitlines()[-1] if letter.reason.strip() else ""
            table.add_row(
                str(letter.id),
                letter.processor,
                str(letter.event_seq),
                str(letter.attempts),
                letter.status,
                reason[:120],
            )
    console.print(table)


@deadletter.command("replay")
def deadletter_replay(
    letter_id: Annotated[int | None, typer.Option("--id", help="Only this one")] = None,
) -> None:
    """Run the processor again on dead-lettered events (after a fix)."""
    fixed = failed = 0
    with get_database().write() as session:
        stmt = select(DeadLetter).where(DeadLetter.status == "open").order_by(DeadLetter.id)
        if letter_id is not None:
            stmt = stmt.where(DeadLetter.id == letter_id)
        for letter in session.scalars(stmt).all():
            group, processor = processor_named(letter.processor)
            if replay_dead_letter(session, letter, processor, group.enrich):
                fixed += 1
            else:
                failed += 1
    console.print(f"replayed: {fixed} fixed, {failed} still failing")
    if failed:
        raise typer.Exit(code=1)
