"""``omnicx channels``: create channels (printing the embed snippet) and list them.

Each creation is audited as the operator at the terminal (``user:cli:<os user>``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from omnicx.channels.service import create_channel, list_channels, origins_of, snippet
from omnicx.cli.errors import fail
from omnicx.cli.operator import operator
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError

console = Console()
channels = typer.Typer(help="Channels: web chat (WeChat, SMS and email to come).")
SERVER_HELP = "The address visitors' browsers reach OmniCX at (goes into the snippet)"


@channels.command("create")
def channels_create(
    kind: Annotated[str, typer.Argument(help="webchat")],
    name: Annotated[str, typer.Option("--name", help="A name people recognise")],
    origin: Annotated[
        list[str] | None,
        typer.Option("--origin", help="The site's origin, e.g. https://shop.example.cn (repeat)"),
    ] = None,
    identity_secret_generate: Annotated[
        bool,
        typer.Option(
            "--identity-secret-generate",
            help="Generate the secret the site's server signs its users' ids with",
        ),
    ] = False,
    prechat: Annotated[
        bool, typer.Option("--prechat", help="Ask name, phone and email before the first message")
    ] = False,
    server_url: Annotated[str, typer.Option(help=SERVER_HELP)] = "http://localhost:8000",
) -> None:
    """Create a channel; print its embed snippet (and identity secret, shown once)."""
    try:
        with get_database().write() as session:
            channel, secret = create_channel(
                session,
                kind,
                name,
                origins=origin or [],
                identity_secret=identity_secret_generate,
                prechat=prechat,
                actor=operator(),
            )
            channel_id, tag = channel.id, snippet(channel, server_url)
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(f"channel [bold]{name}[/] (id {channel_id}); paste into the site's pages:")
    if secret:
        console.print("identity secret (sign user ids with HMAC-SHA256; shown once):")
        typer.echo(secret)
    typer.echo(tag)


@channels.command("list")
def channels_list() -> None:
    """List channels with their origins and whether they accept signed users."""
    table = Table("id", "kind", "name", "origins", "token", "source", "enabled", "created")
    with get_database().read() as session:
        for c in list_channels(session):
            table.add_row(
                str(c.id),
                c.kind,
                c.name,
                " ".join(origins_of(c)),
                c.public_token,
                str(c.source_id),
                "yes" if c.enabled else "no",
                str(c.created_at)[:19],
            )
    console.print(table)
