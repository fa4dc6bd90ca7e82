"""``omnicx channels create email`` (its options and checks) and ``omnicx channels
smtp``, the SMTP listener that takes mail for the mailbox channels."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

from omnicx.channels.email.imap import MailboxPoller, poll_once, polled_channels
from omnicx.channels.email.listener import DEFAULT_MAX_BYTES, serve_smtp
from omnicx.channels.email.setup import MailServer, create_email_channel
from omnicx.cli.errors import fail
from omnicx.cli.operator import operator
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.eventlog.base import make_event_log
from omnicx.core.migrate import upgrade
from omnicx.core.settings import get_settings
from omnicx.runtime.media import wire as wire_media

console = Console()


def mail_server(
    kind: str,
    host: str | None,
    port: int | None,
    user: str | None,
    password: str | None,
    *,
    starttls: bool = False,
    ssl: bool = False,
) -> MailServer | None:
    """The ``--smtp-*`` or ``--imap-*`` options as a server (None without a host)."""
    if not host:
        if port or user or password:
            raise fail(f"--{kind}-port, --{kind}-user and --{kind}-password need --{kind}-host")
        return None
    default = {"smtp": 465 if ssl else (587 if starttls else 25), "imap": 993 if ssl else 143}
    return MailServer(host, port or default[kind], user, password, starttls=starttls, ssl=ssl)


def create_email(
    name: str, address: str | None, smtp: MailServer | None, imap: MailServer | None
) -> None:
    """Create the mailbox channel and say where its mail comes from."""
    if not address:
        raise fail("an email channel needs --address (the mailbox, e.g. support@shop.cn)")
    try:
        with get_database().write() as session:
            channel = create_email_channel(
                session, name, address=address, smtp=smtp, imap=imap, actor=operator()
            )
            channel_id, mailbox = channel.id, address.strip().lower()
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(
        f"channel [bold]{name}[/] (id {channel_id}); passwords are stored encrypted, not shown "
        "again. Mail for this address reaches it through `omnicx channels smtp` (point the "
        "domain's MX or a forwarding rule at it)"
        + (" or IMAP polling (`omnicx channels imap`)" if imap else "")
        + ":"
    )
    typer.echo(mailbox)


def smtp_command(
    host: Annotated[str | None, typer.Option(help="Interface (default OMNICX_SMTP_HOST)")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default OMNICX_SMTP_PORT or 2525)")
    ] = None,
    max_bytes: Annotated[
        int | None, typer.Option(min=1024, help="Largest mail taken; larger ones get 552")
    ] = None,
) -> None:
    """Take mail for the email channels over SMTP (until Ctrl-C or SIGTERM)."""
    settings = get_settings()
    host = host or settings.smtp_host
    port = port or settings.smtp_port or 2525
    limit = max_bytes or settings.smtp_max_bytes or DEFAULT_MAX_BYTES
    logging.basicConfig(level=logging.INFO)
    upgrade(settings.resolved_database_url)
    wire_media()

    async def main() -> None:
        event_log = make_event_log(settings)
        server = await serve_smtp(event_log, get_database(), host, port, max_bytes=limit)
        console.print(f"SMTP listener on [bold]{host}:{port}[/] (mail up to {limit} bytes)")
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        try:
            await done.wait()
        finally:
            server.close()
            await server.wait_closed()
            await event_log.close()

    asyncio.run(main())


def imap_command(
    once: Annotated[bool, typer.Option(help="Poll each mailbox once, then exit")] = False,
    interval: Annotated[
        float, typer.Option(min=1, help="Seconds between polls (IDLE wakes up earlier)")
    ] = 60.0,
) -> None:
    """Fetch mail of the email channels that have an IMAP server (until Ctrl-C or
    SIGTERM; with --once a single pass)."""
    settings = get_settings()
    logging.basicConfig(level=logging.INFO)
    upgrade(settings.resolved_database_url)
    wire_media()
    database = get_database()
    channel_ids = polled_channels(database)
    if not channel_ids:
        raise fail(
            "no email channel has an IMAP server (omnicx channels create email --imap-host …)"
        )

    async def main() -> None:
        event_log = make_event_log(settings)
        try:
            if once:
                for channel_id in channel_ids:
                    read = await poll_once(event_log, database, channel_id)
                    console.print(f"channel {channel_id}: {read} mail(s) read")
                return
            stop = threading.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            console.print(f"polling {len(channel_ids)} mailbox(es) over IMAP")
            pollers = [MailboxPoller(event_log, database, c, loop) for c in channel_ids]
            await asyncio.gather(*(asyncio.to_thread(p.run, stop, interval) for p in pollers))
        finally:
            await event_log.close()

    asyncio.run(main())
