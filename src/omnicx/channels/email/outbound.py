"""Delivering an agent's reply as a mail through the mailbox's SMTP server.

The reply answers the thread's latest mail (``In-Reply-To``) and names the thread's
mails (``References``), with the subject "Re: …", so the customer's client shows it in
the conversation; its Message-ID is recorded before it leaves, so the customer's answer
threads back. The Message-ID is made from the reply's id: a reply sent again after a
crash (delivery is at least once) carries the same one, and mail clients show it once.

A permanent refusal (an SMTP 5xx: unknown recipient, rejected login) ends the reply
``refused`` with the server's answer in the thread; a temporary one (4xx, a connection
failure) is retried by the dispatcher.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from omnicx.channels.email.threads import (
    ThreadContext,
    record_message,
    remember_context,
    thread_context,
)
from omnicx.channels.media import MediaContent, media_store
from omnicx.channels.replies import QueuedReply, queued_reply, reply_channel
from omnicx.channels.service import ChannelView
from omnicx.core.database import Database
from omnicx.core.i18n import Message, msg
from omnicx.core.outbox import DeliveryFailed, DeliveryRefused, OutboxMessage
from omnicx.core.time import utcnow

log = logging.getLogger(__name__)
KIND = "channel.email"
TIMEOUT_SECONDS = 30
REPLY_PREFIX = re.compile(r"^\s*(re|回复|答复|回覆)\s*[:：]", re.IGNORECASE)
NO_SMTP = msg(
    "This mailbox has no SMTP server to send through: the reply was not sent. Add one "
    "to the email channel."
)
NO_ADDRESS = msg("No customer address is known for this email thread: the reply was not sent.")


RECIPIENT_REFUSED = msg(
    "The mail server refused the customer's address permanently: the reply was not sent."
)
SERVER_REFUSED = msg(
    "The mail server refused the reply permanently (check the channel's SMTP settings): "
    "it was not sent."
)


def _refused(code: int, text: bytes | str, reason: Message) -> DeliveryRefused:
    """A permanent refusal; the server's answer goes to the process log (the thread
    shows a sentence in the reader's language)."""
    answer = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    log.info("email reply refused by the SMTP server: %s %s", code, answer[:200])
    return DeliveryRefused(reason)


def reply_subject(subject: str) -> str:
    """ "Re: " and the thread's subject, unless it already starts with a reply prefix."""
    subject = subject.strip() or "(no subject)"
    return subject if REPLY_PREFIX.match(subject) else f"Re: {subject}"


def reply_message_id(channel: ChannelView, reply: QueuedReply) -> str:
    """The reply's Message-ID: the same for every attempt of the same reply."""
    digest = hashlib.sha256(f"{channel.id}:{reply.message_id}".encode()).hexdigest()[:32]
    domain = str(channel.settings.get("address") or "omnicx.local").rsplit("@", 1)[-1]
    return f"omnicx.{digest}@{domain}"


def build_reply(
    channel: ChannelView,
    context: ThreadContext,
    reply: QueuedReply,
    message_id: str,
    files: list[MediaContent],
) -> EmailMessage:
    """The mail for a reply: threading headers, UTF-8 text, the agent's files."""
    mail = EmailMessage()
    mail["From"] = formataddr((channel.name, str(channel.settings.get("address"))))
    mail["To"] = formataddr((context.name, context.address)) if context.name else context.address
    mail["Subject"] = reply_subject(context.subject)
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = f"<{message_id}>"
    if context.references:
        mail["In-Reply-To"] = f"<{context.references[-1]}>"
        mail["References"] = " ".join(f"<{r}>" for r in context.references)
    mail.set_content(reply.text, charset="utf-8", cte="base64")
    for file in files:
        maintype, _, subtype = file.media.content_type.partition("/")
        mail.add_attachment(
            file.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=file.media.name,
        )
    return mail


def send_mail(channel: ChannelView, mail: EmailMessage, recipient: str) -> None:
    """Send through the channel's SMTP server (STARTTLS or implicit TLS, login if set)."""
    settings = channel.settings
    host, port = str(settings["smtp_host"]), int(settings.get("smtp_port") or 25)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if settings.get("smtp_ssl"):
        client = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        if settings.get("smtp_starttls"):
            client.starttls(context=context)
            client.ehlo()
        if settings.get("smtp_user"):
            client.login(str(settings["smtp_user"]), channel.secrets.get("smtp_password", ""))
        client.send_message(mail, from_addr=str(settings["address"]), to_addrs=[recipient])


class EmailDeliverer:
    """The outbox deliverer for ``channel.email``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def __call__(self, message: OutboxMessage, payload: dict[str, Any]) -> None:
        reply = queued_reply(message, payload)
        with self.database.read() as session:
            channel = reply_channel(session, reply.channel_id, "email")
            context = thread_context(session, channel.id, reply.thread)
            files = [media_store().read(session, m.id) for m in reply.attachments]
        if not channel.settings.get("smtp_host"):
            raise DeliveryRefused(NO_SMTP)
        if context is None or not context.address:
            raise DeliveryRefused(NO_ADDRESS)
        message_id = reply_message_id(channel, reply)
        mail = build_reply(channel, context, reply, message_id, files)
        with self.database.write() as session:  # before it leaves: the answer threads back
            record_message(session, channel.id, message_id, reply.thread, "out")
            remember_context(session, channel.id, reply.thread, message_id=message_id)
        try:
            send_mail(channel, mail, context.address)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            if code >= 500:
                raise _refused(code, text, RECIPIENT_REFUSED) from exc
            raise DeliveryFailed(f"SMTP {code}: {text!r}") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise _refused(exc.smtp_code, exc.smtp_error, SERVER_REFUSED) from exc
            raise DeliveryFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except smtplib.SMTPNotSupportedError as exc:  # STARTTLS or AUTH not offered
            raise _refused(0, str(exc), SERVER_REFUSED) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
