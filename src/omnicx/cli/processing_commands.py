"""Commands about processing: ``replay``, ``status``, and draining the log in-process."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from omnicx.cli.progress import bar
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.processing import GroupRunner, ProcessorGroup
from omnicx.core.processing.offsets import read_positions
from omnicx.core.processing.replay import refuse_while_workers_run, rewind
from omnicx.core.processing.status import processing_status
from omnicx.core.settings import get_settings
from omnicx.runtime.processors import all_groups, groups_named

console = Console()


def drain(label: str, groups: list[ProcessorGroup] | None = None) -> int:
    """Run the groups until they reach the end of the table log, with a progress bar.

    Returns how many events the first group processed. With JetStream, events reach the
    table through the workers, so an import or the demo leaves processing to them.
    """
    settings = get_settings()
    if settings.uses_nats and groups is None:
        console.print("events are in JetStream; the workers (`omnicx worker`) process them")
        return 0
    database = get_database()
    groups = groups or all_groups()
    runners = [GroupRunner(database, g, settings.processor_batch_size) for g in groups]
    with database.read() as session:
        head = session.execute(text("SELECT max(seq) FROM events")).scalar() or 0
        low = min(p for g in groups for p, _ in read_positions(session, g.processor_names).values())
    first = 0
    with bar(label, max(head - low, 0) * len(runners)) as advance:
        while True:
            moved = [runner.run_until_idle(progress=advance) for runner in runners]
            first += moved[0]
            if not any(moved):
                break
    return first


def replay_command(
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            help="Only this group and those after it (repeatable); default: every group",
        ),
    ] = None,
    start: Annotated[
        int, typer.Option("--from", min=1, help="Start at this event seq (a group added later)")
    ] = 1,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Rebuild state from the event log (both modes; refused while workers run)."""
    try:
        groups = groups_named(group)
    except KeyError as exc:
        known = ", ".join(g.name for g in all_groups())
        console.print(f"[red]unknown group {exc.args[0]}[/] (groups: {known})")
        raise typer.Exit(code=2) from exc
    names = ", ".join(g.name for g in groups)
    database = get_database()
    try:
        with database.read() as session:
            refuse_while_workers_run(session)  # before asking, not after
        if not yes:
            typer.confirm(
                f"Delete the state of {names} and rebuild it from the log (from seq {start})?",
                abort=True,
            )
        with database.write() as session:
            rewind(session, groups, start=start - 1)
    except OmniError as exc:
        console.print(f"[red]replay refused:[/] {exc.message}")
        raise typer.Exit(code=1) from exc
    processed = drain(f"replaying {names}", groups)
    console.print(f"[green]replayed[/] {processed} events ({names})")


def status_command() -> None:
    """Where each processor group stands: position, lag, dead letters; outbox; workers."""
    with get_database().read() as session:
        status = processing_status(session, all_groups())
    table = Table("group", "position", "lag (events)", "lag (s)", "dead letters", "after")
    for g in status.groups:
        table.add_row(
            g.name,
            str(g.position),
            str(g.lag_events),
            f"{g.lag_seconds:.1f}",
            str(g.dead_letters),
            g.after or "—",
        )
    console.print(f"event log: {status.head} events")
    console.print(table)
    due = (
        f", oldest due {status.outbox_oldest_due:%Y-%m-%d %H:%M:%S}"
        if status.outbox_oldest_due
        else ""
    )
    console.print(f"outbox: {status.outbox_pending} pending{due}, {status.outbox_dead} dead")
    late = (
        f", the oldest due since {status.scheduler_oldest_due:%Y-%m-%d %H:%M:%S}"
        if status.scheduler_oldest_due
        else ""
    )
    console.print(
        f"scheduler: {status.scheduler_due} jobs due{late}, {status.scheduler_failed} failed"
    )
    if not status.workers:
        console.print("workers: none running")
    for w in status.workers:
        console.print(
            f"worker {w.host}:{w.pid} (groups {w.groups}), "
            f"up since {w.started_at:%Y-%m-%d %H:%M:%S}"
        )
