"""``omnicx scheduler``: the jobs waiting to fire, what fired or failed, and cancelling one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from omnicx.core import scheduler
from omnicx.core.database import get_database
from omnicx.core.time import as_utc

console = Console()
scheduler_app = typer.Typer(
    help="Jobs due at a time (retention, SLA clocks).", no_args_is_help=True
)


@scheduler_app.command("list")
def list_command(
    status: Annotated[
        list[str] | None,
        typer.Option(help="pending, running, done, failed or cancelled (repeatable)"),
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """Scheduled jobs and counts per status: pending and running ones soonest first,
    otherwise the latest changes first. Times are UTC."""
    statuses = status or []
    for value in statuses:
        if value not in scheduler.STATUSES:
            raise typer.BadParameter(
                f"one of {', '.join(scheduler.STATUSES)}", param_hint="--status"
            )
    # 80 columns: the key (with its kind when the key does not start with it) folds;
    # status, due time and tries never wrap; the outcome is cut to what is left.
    table = Table()
    table.add_column("key (kind)", overflow="fold", min_width=14)
    table.add_column("status", no_wrap=True)
    table.add_column("due (UTC)", no_wrap=True)
    table.add_column("tries", no_wrap=True, justify="right")
    table.add_column("fired / last error")
    room = max(12, console.width - 62)
    with get_database().read() as session:
        counts = scheduler.status_counts(session, kind)
        rows = scheduler.list_jobs(session, statuses=statuses, kind=kind, limit=limit)
    for job in rows:
        outcome = job.last_error or (f"fired {_when(job.fired_at)}" if job.fired_at else "")
        if job.status == "running" and job.lease_owner:
            outcome = f"leased by {job.lease_owner}"
        name = job.key if job.key.startswith(job.kind) else f"{job.key} ({job.kind})"
        if len(outcome) > room:
            outcome = outcome[: room - 1] + "…"
        table.add_row(name, job.status, _when(job.due_at), str(job.attempts), outcome)
    console.print(table)
    console.print("  ".join(f"{s}: {counts.get(s, 0)}" for s in scheduler.STATUSES))


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{as_utc(value):%m-%d %H:%M:%S}"


@scheduler_app.command("cancel")
def cancel_command(
    key: Annotated[str, typer.Argument(help="The job's key, as `omnicx scheduler list` shows it")],
) -> None:
    """Cancel a job that has not fired yet (a re-schedule by its owner revives it)."""
    with get_database().write() as session:
        cancelled = scheduler.cancel(session, key)
        status = None if cancelled else scheduler.job_status(session, key)
    if cancelled:
        console.print(f"[green]cancelled[/] {key}")
        return
    reason = "no such job" if status is None else f"it is already {status}"
    console.print(f"[red]nothing to cancel:[/] {key} ({reason})")
    raise typer.Exit(code=1)
