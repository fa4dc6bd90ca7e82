"""A mail into the one inbox: threaded, its files kept in the media store, and the
canonical ``Message Received`` event durable on the log before the mail is accepted.

A redelivered mail (the same Message-ID on the mailbox) is a no-op. A mail no person
wrote (an auto-reply, a bounce: ``automatic.py``) is accepted and logged without any
address, and goes no further: it opens no conversation and gets no reply, so two
auto-responders cannot answer each other for ever.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy.orm import Session

from omnicx.channels.email.parsing import ParsedMail, log_message_id, parse_mail
from omnicx.channels.email.threads import (
    is_known,
    record_message,
    remember_context,
    thread_for,
)
from omnicx.channels.media import media_store
from omnicx.channels.messages import MESSAGE_RECEIVED, channel_event
from omnicx.channels.service import ChannelView
from omnicx.core.database import Database
from omnicx.core.errors import OmniError
from omnicx.core.eventlog.base import EventLog, LogEvent
from omnicx.core.time import utcnow
from omnicx.governance.blind_index import blind_index

log = logging.getLogger(__name__)
CHANNEL = "email"
# The log takes events up to 32 KB: what a mail brings is fitted under this, shedding
# the sanitised HTML first, then the quoted history, then the end of the new text.
EVENT_BUDGET = 28 * 1024
MAX_HTML_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Taken:
    """What became of a mail: ``stored``, ``duplicate`` or ``automatic``."""

    outcome: str
    message_id: str
    thread: str | None = None


def _size(value: object) -> int:
    return len(orjson.dumps(value))


def _fit(mail: ParsedMail) -> tuple[str, str, str | None]:
    """The text, quoted history and HTML, shortened to fit the event budget."""
    text, quoted, html = mail.text, mail.quoted, mail.html
    if html is not None and _size(html) > MAX_HTML_BYTES:
        html = None
    while _size([text, quoted, html, mail.subject]) > EVENT_BUDGET:
        if html is not None:
            html = None
        elif quoted:
            quoted = quoted[: len(quoted) // 2]
        else:
            text = text[: len(text) * 3 // 4] + "…"
    return text, quoted, html


def _keep_files(
    session: Session, mail: ParsedMail, message_id: str, thread: str
) -> list[dict[str, Any]]:
    """Each file in the media store (in the caller's transaction); a file the store
    refuses (too large, a type not taken) is named in the message, not kept."""
    kept: list[dict[str, Any]] = []
    for part in mail.files:
        try:
            stored = media_store().store(
                session,
                part.data,
                name=part.name,
                declared_type=part.content_type,
                channel=CHANNEL,
                thread=thread,
                message_id=message_id,
            )
        except OmniError as exc:
            kept.append({"type": "not_kept", "name": part.name, "size": len(part.data),
                         "reason": exc.code})  # fmt: skip
            continue
        entry = stored.metadata()
        if part.inline and part.content_id:
            entry["content_id"] = part.content_id
        kept.append(entry)
    return kept


def mail_event(
    channel: ChannelView,
    mail: ParsedMail,
    thread: str,
    attachments: list[dict[str, Any]],
    received_at: datetime,
) -> LogEvent:
    """The ``Message Received`` event of a mail; the sender's address is the ``email``
    identifier (identity puts it on the customer who has it)."""
    message_id = log_message_id(mail.message_id)
    text, quoted, html = _fit(mail)
    sender = mail.sender or f"no-sender:{message_id}"
    properties: dict[str, Any] = {
        "channel_id": channel.id,
        "thread": thread,
        "text": text,
        "attachments": attachments,
        "subject": mail.subject,
    }
    if quoted:
        properties["quoted"] = quoted
    if html:
        properties["html"] = html
    return channel_event(
        channel.source_id,
        MESSAGE_RECEIVED,
        channel=CHANNEL,
        message_id=message_id,
        properties=properties,
        anonymous_id=sender_key(sender),
        traits={"email": mail.sender, "name": mail.sender_name or None},
        received_at=received_at,
        occurred_at=min(mail.sent_at, received_at) if mail.sent_at else None,
    )


def _record(channel: ChannelView, mail: ParsedMail, thread: str, session: Session) -> None:
    """The Message-ID in its thread and the thread's reply context, durable with the
    event (in its transaction on the table log)."""
    record_message(session, channel.id, mail.message_id, thread, "in")
    if mail.sender:
        remember_context(
            session,
            channel.id,
            thread,
            message_id=mail.message_id,
            address=mail.sender,
            name=mail.sender_name,
            subject=mail.subject,
            references=mail.references,
        )


def _prepare(
    database: Database, channel: ChannelView, mail: ParsedMail, received_at: datetime
) -> tuple[str, LogEvent] | None:
    """The thread and event of a new mail (its files stored), or None if it was taken."""
    with database.write() as session:
        if is_known(session, channel.id, mail.message_id):
            return None
        message_id = log_message_id(mail.message_id)
        thread = thread_for(session, channel.id, mail.thread_ids, message_id)
        attachments = _keep_files(session, mail, message_id, thread)
    return thread, mail_event(channel, mail, thread, attachments, received_at)


async def take_mail(
    event_log: EventLog,
    database: Database,
    channel: ChannelView,
    data: bytes,
    *,
    envelope_from: str | None = None,
) -> Taken:
    """Parse one mail and append its event durably (or drop it if automatic). Raises
    on a storage failure, so the sender (the MTA, or the next IMAP poll) tries again."""
    mail = parse_mail(data, envelope_from)
    message_id = log_message_id(mail.message_id)
    if mail.automatic:
        log.info(
            "email channel %s: automatic mail not taken (%s, %d bytes)",
            channel.id, mail.automatic, len(data),
        )  # fmt: skip
        return Taken("automatic", message_id)
    prepared = await asyncio.to_thread(_prepare, database, channel, mail, utcnow())
    if prepared is None:
        return Taken("duplicate", message_id)
    thread, event = prepared
    await event_log.append_recorded([event], partial(_record, channel, mail, thread))
    return Taken("stored", message_id, thread)


def sender_key(sender: str) -> str:
    """The sender's anonymous id: a keyed hash of the address, not the address, because
    anonymous ids are shown unmasked (the 360 page's and the customer panel's
    identifiers); identity links the sender by the ``email`` trait, which the access
    layer masks."""
    return f"{CHANNEL}:{blind_index(CHANNEL, '', sender).hex()}"
