"""The SMTP listener (``aiosmtpd``): mail for our mailboxes, straight from the sending
MTA (the domain's MX, or a relay that forwards to it).

Each recipient must be a mailbox channel's address (550 otherwise, at ``RCPT``). A mail
is answered 250 only once its event is durable on the log; a failure to store it is a
451, so the sending MTA queues it and tries again (the Message-ID makes the retry a
no-op). A mail over the size limit is refused with 552 by ``aiosmtpd`` itself.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession

from omnicx.channels.email.inbound import take_mail
from omnicx.channels.email.parsing import address_of
from omnicx.channels.email.setup import email_channel_for
from omnicx.channels.limits import TokenBuckets
from omnicx.channels.service import ChannelView, view_of
from omnicx.core.database import Database
from omnicx.core.errors import InvalidInput
from omnicx.core.eventlog.base import EventLog

log = logging.getLogger(__name__)
CHANNEL_CACHE_SECONDS = 30.0
DEFAULT_MAX_BYTES = 25 * 1024 * 1024  # what large providers take (Gmail, QQ Mail: 25 MB)
# Mails per sending address: a burst, then a steady rate; past it the MTA is told 451
# and queues the mail (nothing is lost). In-process, like every channel's buckets.
MAIL_BURST, MAILS_PER_SECOND = 200.0, 50.0


class Mailboxes:
    """Email channels by address, kept 30 s per process (a new or disabled mailbox
    takes effect within that time); unknown addresses are cached too."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._views: dict[str, tuple[float, ChannelView | None]] = {}

    def get(self, address: str) -> ChannelView | None:
        now = time.monotonic()
        cached = self._views.get(address)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self.database.read() as session:
            channel = email_channel_for(session, address)
            view = view_of(channel) if channel is not None else None
        if len(self._views) > 1000:
            self._views.clear()
        self._views[address] = (now + CHANNEL_CACHE_SECONDS, view)
        return view


class MailboxHandler:
    """The ``aiosmtpd`` handler: recipients routed at RCPT, the mail taken at DATA."""

    def __init__(
        self,
        event_log: EventLog,
        database: Database,
        rate: tuple[float, float] = (MAIL_BURST, MAILS_PER_SECOND),
    ) -> None:
        self.event_log = event_log
        self.database = database
        self.mailboxes = Mailboxes(database)
        self.senders = TokenBuckets(*rate)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        mailbox = address_of(address)
        channel = await asyncio.to_thread(self.mailboxes.get, mailbox) if mailbox else None
        if channel is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        if not self.senders.take(str(peer)):
            log.warning("email: mail from a busy address deferred (451)")
            return "451 4.7.1 Too many mails from your address; try again later"
        data = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not data:
            data = envelope.content
        sender = envelope.mail_from or ""
        seen: set[int] = set()
        try:
            for address in envelope.rcpt_tos:
                mailbox = address_of(address)
                channel = await asyncio.to_thread(self.mailboxes.get, mailbox or "")
                if channel is None or channel.id in seen:
                    continue
                seen.add(channel.id)
                await take_mail(self.event_log, self.database, channel, data, envelope_from=sender)
        except InvalidInput as exc:  # a mail the log cannot hold as it is: bounce it
            log.warning("email: a mail refused: %s (%s)", exc.message, exc.field)
            return "554 5.6.0 The mail cannot be read"
        except Exception:
            log.exception("email: a mail for %d mailbox(es) not stored", len(envelope.rcpt_tos))
            return "451 4.3.0 The mail could not be stored; try again later"
        return "250 2.0.0 Message accepted"


def smtp_server(handler: MailboxHandler, max_bytes: int = DEFAULT_MAX_BYTES) -> SMTP:
    """One SMTP session's protocol object (``loop.create_server`` makes one per client)."""
    return SMTP(
        handler,
        data_size_limit=max_bytes,
        enable_SMTPUTF8=True,
        decode_data=False,
        hostname=None,
        ident="OmniCX ESMTP",
    )


async def serve_smtp(
    event_log: EventLog,
    database: Database,
    host: str,
    port: int,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    rate: tuple[float, float] = (MAIL_BURST, MAILS_PER_SECOND),
) -> asyncio.Server:
    """Start listening on ``host:port`` (the server runs on the calling loop); ``rate``
    is each sending address's (burst, mails per second)."""
    handler = MailboxHandler(event_log, database, rate)
    loop = asyncio.get_running_loop()
    server: asyncio.Server = await loop.create_server(
        lambda: smtp_server(handler, max_bytes), host, port
    )
    return server
