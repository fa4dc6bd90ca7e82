"""``omnicx customers``: search and export customers, masked for a role; rebuild the name
search index."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from omnicx.cli.operator import operator
from omnicx.cli.progress import bar, rebuild_in_chunks
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.time import parse_timestamp
from omnicx.customers.directory import list_customers
from omnicx.customers.export import csv_stream, open_export
from omnicx.customers.models import CustomerProfile
from omnicx.customers.search import reindex_names
from omnicx.governance.audit import commit_entry
from omnicx.governance.models import ROLES
from omnicx.governance.service import Principal

console = Console(stderr=True)
customers = typer.Typer(help="Customers: search, export, name index.", no_args_is_help=True)


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


@customers.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="An identifier, or 2+ characters of a name")],
    role: Annotated[str, typer.Option(help="See the data as this role sees it")] = "agent",
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
) -> None:
    """Find customers by any identifier or by name, masked as ROLE sees them (audited as
    customers.list)."""
    principal = _principal(role)
    database = get_database()
    try:
        with database.read() as session:
            page, entry = list_customers(session, principal, q=query, limit=limit)
        commit_entry(database, entry)
    except OmniError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=1) from exc
    table = Table("id", "name", "matched by", "channels", "events", "last seen")
    for item in page.items:
        table.add_row(
            str(item.id),
            item.name or "",
            item.matched_by or "",
            ", ".join(item.channels),
            str(item.event_count),
            item.last_seen_at.strftime("%Y-%m-%d %H:%M") if item.last_seen_at else "",
        )
    Console().print(table)
    console.print(f"{len(page.items)} customers found")


@customers.command("reindex-names")
def reindex_names_command() -> None:
    """Rebuild the name search index from the profiles (after the blind-index key changed,
    or for data stored before the index existed)."""
    database = get_database()
    with database.read() as session:
        total = session.scalar(select(func.count()).select_from(CustomerProfile)) or 0
    rebuild_in_chunks(database, "index names", total, reindex_names)
    console.print(f"names of {total} customers indexed")
