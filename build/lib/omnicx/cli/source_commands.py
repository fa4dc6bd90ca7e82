"""``omnicx sources``: create sources, rotate their write keys, set their browser origins.

Each change is audited as the operator at the terminal (``user:cli:<os user>``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from omnicx.cli.errors import fail
from omnicx.cli.operator import operator
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.ingest.sources import (
    DEFAULT_GRACE,
    create_source,
    list_sources,
    old_key_valid_until,
    origins_of,
    rotate_write_key,
    set_origins,
)

console = Console()
sources = typer.Typer(help="Event sources and their write keys.", no_args_is_help=True)

ORIGIN_HELP = (
    "Web origin a browser may send this source's events from, e.g. https://shop.example.cn "
    "(repeat for several; * for any)"
)


@sources.command("create")
def sources_create(
    name: str,
    kind: Annotated[str, typer.Option(help="segment, wechat, sms, ...")] = "segment",
    origin: Annotated[list[str] | None, typer.Option("--origin", help=ORIGIN_HELP)] = None,
) -> None:
    """Create a source and print its write key (shown once, on the last line)."""
    try:
        with get_database().write() as session:
            source, key = create_source(session, name, kind, origins=origin or [], actor=operator())
            source_id, origins = source.id, origins_of(source)
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(f"source [bold]{name}[/] (id {source_id}) write key:")
    if origins:
        console.print(f"browsers may send from: {', '.join(origins)}")
    typer.echo(key)


@sources.command("list")
def sources_list() -> None:
    """List sources with their key prefix, browser origins and any key still in grace."""
    table = Table("id", "name", "kind", "write key", "origins", "old key until", "created")
    with get_database().read() as session:
        for s in list_sources(session):
            until = old_key_valid_until(s)
            table.add_row(
                str(s.id),
                s.name,
                s.kind,
                s.write_key_prefix + "…",
                " ".join(origins_of(s)),
                until.strftime("%Y-%m-%d %H:%M") if until else "",
                str(s.created_at)[:19],
            )
    console.print(table)


@sources.command("rotate-key")
def sources_rotate_key(
    name: str,
    grace_hours: Annotated[
        float,
        typer.Option(help="How long the old key keeps working (0: it stops now)"),
    ] = DEFAULT_GRACE.total_seconds() / 3600,
) -> None:
    """Give a source a new write key (printed on the last line); the old one works for the
    grace period, so the senders can be switched over without losing events."""
    try:
        with get_database().write() as session:
            source, key = rotate_write_key(session, operator(), name, timedelta(hours=grace_hours))
            until = source.previous_key_expires_at
    except OmniError as exc:
        raise fail(exc.message) from exc
    when = until.strftime("%Y-%m-%d %H:%M UTC") if until else "now"
    console.print(f"source [bold]{name}[/]: the old key works until {when}; new write key:")
    typer.echo(key)


@sources.command("set-origins")
def sources_set_origins(
    name: str,
    origin: Annotated[list[str] | None, typer.Option("--origin", help=ORIGIN_HELP)] = None,
    none: Annotated[
        bool, typer.Option("--none", help="Accept no browser origin (a server-only source)")
    ] = False,
) -> None:
    """Replace the web origins browsers may send this source's events from."""
    if not origin and not none:
        raise fail("name the origins with --origin (repeatable), or --none to remove them all")
    if origin and none:
        raise fail("--origin and --none cannot go together")
    try:
        with get_database().write() as session:
            source = set_origins(session, operator(), name, origin or [])
            origins = origins_of(source)
    except OmniError as exc:
        raise fail(exc.message) from exc
    shown = ", ".join(origins) if origins else "none (server-side senders only)"
    console.print(f"source [bold]{name}[/] accepts browser events from: {shown}")
