"""``omnicx channels create phone``: the channel, its webhook URL and secret (shown once)
and how the PBX signs its call events."""

from __future__ import annotations

import typer
from rich.console import Console

from omnicx.channels.phone.setup import create_phone_channel, webhook_url
from omnicx.cli.errors import fail
from omnicx.cli.operator import operator
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError

console = Console()


def create_phone(
    name: str, auth: str, region: str, extensions: dict[str, str], server_url: str
) -> None:
    """Create the phone channel and print what the PBX needs."""
    try:
        with get_database().write() as session:
            channel, secret = create_phone_channel(
                session, name, auth=auth, region=region, extensions=extensions,
                server_url=server_url, actor=operator(),
            )  # fmt: skip
            channel_id, url = channel.id, webhook_url(channel, server_url)
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(
        f"channel [bold]{name}[/] (id {channel_id}, {auth}); the PBX posts call events to:"
    )
    typer.echo(url)
    console.print("webhook secret (shown once; stored encrypted):")
    typer.echo(secret)
    if auth == "token":
        console.print("send it as: Authorization: Bearer <secret>")
    else:
        console.print(
            "sign each request: X-OmniCX-Timestamp: <unix seconds> and X-OmniCX-Signature: "
            "sha256=<hex HMAC-SHA256(secret, timestamp + '.' + body)> (docs/channels.md, Phone)"
        )
