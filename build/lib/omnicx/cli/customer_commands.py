"""``omnicx customers``: export customers as CSV, masked for a role."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console

from omnicx.cli.operator import operator
from omnicx.cli.progress import bar
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.time import parse_timestamp
from omnicx.customers.export import csv_stream, open_export
from omnicx.governance.models import ROLES
from omnicx.governance.service import Principal

console = Console(stderr=True)
customers = typer.Typer(help="Customers: export.", no_args_is_help=True)


def _principal(role: str) -> Principal:
    """The command acts as the operator (named in the audit log) with ``role``."""
    if role not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")
    return operator(role=role)


def _no_progress(_done: int) -> None:
    return None


@customers.command("export")
def export_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV file (default: standard output)")
    ] = None,
    role: Annotated[str, typer.Option(help="See the data as this role sees it")] = "agent",
    ids: Annotated[str | None, typer.Option(help="Comma-separated customer ids")] = None,
    since: Annotated[str | None, typer.Option(help="Seen at or after (ISO-8601)")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many customers")] = 100_000,
) -> None:
    """Write customers as CSV, masked as ROLE sees them (audited as customers.export)."""
    principal = _principal(role)
    try:
        seen_since: datetime | None = parse_timestamp(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter("not an ISO-8601 time", param_hint="--since") from exc
    database = get_database()
    try:
        view, chosen = open_export(
            database, principal, ids=ids, since=seen_since, limit=limit, via="cli"
        )
    except OmniError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=1) from exc
    stream: TextIO = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        # The bar draws on standard output, so only when the CSV goes to a file.
        progress = bar(f"export as {role}", len(chosen)) if output else nullcontext(_no_progress)
        with progress as advance:
            stream.writelines(csv_stream(database, view, chosen, advance))
    finally:
        if output:
            stream.close()
    console.print(
        f"{len(chosen)} customers exported as {role}" + (f" to {output}" if output else "")
    )
