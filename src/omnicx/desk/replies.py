"""An agent's reply or private note.

A reply is stored as a message of the conversation, queued in the outbox for its
channel's adapter (``desk.delivery``), and appended to the event log as a
``Message Sent`` event (through the log's one append path, ``append_rows``, in the same
transaction, from the internal source ``desk``), addressed with the identifiers of the
customer's latest message, so identity puts it on the customer's timeline. Its delivery
state follows its outbox message (``queued``, ``delivered``, ``failed``, ``refused``); on
a channel without an adapter yet it stays ``queued``: nothing claims it was delivered.

A private note is NOT put on the event log: the log feeds the customer's timeline,
exports and outbound automation, and a note must never reach a customer-facing surface.
It lives only in the desk's messages (encrypted), shown to desk users.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements
from omnicx.core.errors import Conflict, InvalidInput, check_text
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.table import append_rows, read_events, stored_rows
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps
from omnicx.core.time import utcnow
from omnicx.desk.attachments.store import for_message
from omnicx.desk.clocks import follow
from omnicx.desk.delivery import queue_delivery
from omnicx.desk.history import FIRST_RESPONSE, REPLY, record_change, record_report
from omnicx.desk.messages import MAX_TEXT, SENT, sender_fields
from omnicx.desk.models import Conversation, Message
from omnicx.desk.search import index_messages
from omnicx.governance.users import get_user
from omnicx.ingest.sources import ensure_source

DESK_SOURCE = "desk"
KINDS = ("reply", "note")


def _check(text: str, attachments: Sequence[object]) -> str:
    text = text.strip()
    check_text(text, "text")
    if not text and not attachments:
        raise InvalidInput("a message needs text or an attachment", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            msg("a message is at most {maximum} characters", maximum=MAX_TEXT), field="text"
        )
    return text


def latest_inbound(session: Session, conversation: Conversation) -> LogEvent | None:
    """The customer's latest logged message in the conversation, as an event."""
    seq = session.scalar(
        select(Message.event_seq)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == "in",
            Message.event_seq.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    events = read_events(session, [seq]) if seq is not None else []
    return events[0] if events else None


def customer_address(inbound: LogEvent | None) -> dict[str, Any]:
    """The identifying fields of the customer's latest logged message in the conversation."""
    address = sender_fields(inbound.payload) if inbound is not None else {}
    if not address:
        raise Conflict(
            "the customer never wrote in this conversation: there is no one to reply to",
            field="conversation",
        )
    return address


def post_message(
    session: Session,
    conversation: Conversation,
    *,
    author_user_id: int | None,
    actor: str,
    kind: str,
    text: str,
    attachment_ids: Sequence[int] = (),
) -> Message:
    """Store a reply (and append its ``Message Sent`` event) or a private note, with
    files uploaded to the conversation (``attachment_ids``; their id, name, type and size
    are recorded in the message). Not idempotent: each call is a new message. Raises
    InvalidInput, Conflict."""
    if kind not in KINDS:
        raise InvalidInput(msg("kind is one of {names}", names=", ".join(KINDS)), field="kind")
    attachments = [m.metadata() for m in for_message(session, conversation, attachment_ids)]
    text = _check(text, attachments)
    now = utcnow()
    message_id = f"desk-{uuid.uuid4().hex}"
    message = Message(
        conversation_id=conversation.id,
        channel=conversation.channel,
        message_id=message_id,
        direction="out" if kind == "reply" else "note",
        author_user_id=author_user_id,
        text=text,
        attachments=dumps(attachments),
        created_at=now,
        delivery="queued" if kind == "reply" else "internal",
    )
    if kind == "reply":
        inbound = latest_inbound(session, conversation)
        message.event_seq = _append_sent(session, conversation, message, attachments, inbound)
        author = get_user(session, author_user_id).display_name if author_user_id else None
        message.outbox_id = queue_delivery(session, conversation, message, inbound, author)
        if conversation.first_reply_at is None:
            conversation.first_reply_at = now
            record_report(
                session, conversation, FIRST_RESPONSE, now, conversation.created_at, author_user_id
            )
        record_report(
            session,
            conversation,
            REPLY,
            now,
            conversation.waiting_since or conversation.last_message_at,
            author_user_id,
        )
        conversation.waiting_since = None
        conversation.last_message_at = now
    conversation.updated_at = now
    session.add(message)
    session.flush()
    index_messages(session, [message])
    record_change(session, conversation, actor, kind, {"message_id": message.id}, now)
    if kind == "reply":
        follow(session, conversation, now)
    return message


def _append_sent(
    session: Session,
    conversation: Conversation,
    message: Message,
    attachments: list[Any],
    inbound: LogEvent | None,
) -> int:
    """Append the reply's ``Message Sent`` event; returns its seq."""
    source_id = ensure_source(session, DESK_SOURCE).id
    payload = {
        "type": "track",
        "event": SENT,
        "messageId": f"{conversation.channel}:{message.message_id}",
        **customer_address(inbound),
        "properties": {
            "channel": conversation.channel,
            "thread": conversation.thread,
            "text": message.text,
            "message_id": message.message_id,
            "attachments": attachments,
            "conversation_id": conversation.id,
        },
    }
    event = LogEvent(
        source_id=source_id,
        message_id=payload["messageId"],
        type="track",
        name=SENT,
        occurred_at=message.created_at,
        received_at=message.created_at,
        payload=payload,
    )
    append_rows(session, stored_rows([event]))
    rows = RawStatements(session).select(
        "SELECT seq FROM events WHERE source_id = ? AND message_id = ?",
        (source_id, event.message_id),
    )
    return int(rows[0][0])
