"""What the email tests share: a mailbox channel, the SMTP listener running on a real
port (its own thread and event loop, as ``omnicx channels smtp`` runs it), mail built
with the stdlib ``email`` package and sent with ``smtplib``, and a receiving MTA
(``aiosmtpd``) that records what our replies carry."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession

from omnicx.channels.email.listener import serve_smtp
from omnicx.channels.email.setup import MailServer, create_email_channel
from omnicx.core.database import Database
from omnicx.core.eventlog.table import TableEventLog
from omnicx.runtime.media import wire as wire_media

ADDRESS = "support@shop.cn"
CUSTOMER = "wangfang@example.cn"


@dataclass
class Mailbox:
    channel_id: int
    address: str


def create_mailbox(
    db: Database, name: str = "客服邮箱", address: str = ADDRESS, smtp: MailServer | None = None
) -> Mailbox:
    with db.write() as session:
        channel = create_email_channel(session, name, address=address, smtp=smtp)
        return Mailbox(channel.id, address)


@contextmanager
def smtp_listener(
    db: Database, max_bytes: int = 2 * 1024 * 1024, rate: tuple[float, float] = (200.0, 50.0)
) -> Iterator[int]:
    """The listener on a free port of 127.0.0.1, on its own loop in a thread."""
    wire_media()
    loop = asyncio.new_event_loop()
    ready: list[asyncio.Server] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            serve_smtp(TableEventLog(db), db, "127.0.0.1", 0, max_bytes=max_bytes, rate=rate)
        )
        ready.append(server)
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    server = ready[0]
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def customer_mail(
    text: str,
    *,
    subject: str = "订单还没发货",
    sender: str = CUSTOMER,
    name: str = "王芳",
    to: str = ADDRESS,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((name, sender))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.cn")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for header, value in headers.items():
        message[header.replace("_", "-")] = value
    message.set_content(text)
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The message with CRLF line ends, as it travels over SMTP (smtplib sends bytes
    as they are)."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def send(port: int, message: EmailMessage | bytes, *, to: str = ADDRESS,
         sender: str = CUSTOMER) -> None:  # fmt: skip
    """Send like an MTA would: ``smtplib`` over TCP (raises on a refusal)."""
    data = wire_bytes(message) if isinstance(message, EmailMessage) else message
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [to], data)


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """A receiving MTA: records each mail; ``answer`` makes it refuse the next ones."""

    port: int = 0
    mails: list[ReceivedMail] = field(default_factory=list)
    answer: str | None = None
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        if self.answer:
            return self.answer
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        self.mails.append(ReceivedMail(envelope.mail_from or "", list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def receiving_mta() -> Iterator[Recorder]:
    recorder = Recorder(port=free_port())
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()
