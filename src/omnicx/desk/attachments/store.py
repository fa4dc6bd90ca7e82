"""Storing and reading attachments (the caller's session; it commits).

Every file, whoever sends it, passes the same checks: not empty, at most
``attachment_max_bytes``, and of a type in ``attachment_types`` as detected from its
bytes (the declared type is kept, not trusted). The name is sanitised and given an
ending that fits the content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session, undefer

from omnicx.channels.media import StoredMedia
from omnicx.core.crypto import open_blob, seal_blob
from omnicx.core.errors import InvalidInput, NotFound, UnsupportedMediaType
from omnicx.core.i18n import msg
from omnicx.core.settings import get_settings
from omnicx.core.time import utcnow
from omnicx.core.uploads import safe_file_name, too_large
from omnicx.desk.attachments.content_types import allowed, detect_type, named_for
from omnicx.desk.attachments.models import CONTENT_PURPOSE, Attachment
from omnicx.desk.models import Conversation, Message

MAX_PER_MESSAGE = 10


def media_of(row: Attachment) -> StoredMedia:
    """What a message records of the file: id, name, type, size."""
    return StoredMedia(id=row.id, name=row.name, content_type=row.content_type, size=row.size)


def checked_type(data: bytes) -> str:
    """The file's detected type, if it is within the limits; raises ``PayloadTooLarge``,
    ``UnsupportedMediaType`` or ``InvalidInput`` (empty)."""
    settings = get_settings()
    if not data:
        raise InvalidInput("the file is empty", field="file")
    if len(data) > settings.attachment_max_bytes:
        raise too_large(settings.attachment_max_bytes)
    detected = detect_type(data)
    if detected is None or not allowed(detected, settings.attachment_types):
        raise UnsupportedMediaType(
            msg(
                "files of this type cannot be sent ({type}): send an image, a PDF, audio, "
                "video, plain text or an office document",
                type=detected or "unknown",
            ),
            field="file",
        )
    return detected


def store_attachment(
    session: Session,
    data: bytes,
    *,
    name: str,
    declared_type: str,
    channel: str,
    thread: str,
    conversation_id: int | None = None,
    message_id: str | None = None,
    uploader_user_id: int | None = None,
) -> Attachment:
    """Check and keep a file (encrypted). An agent's upload names its conversation and
    user; a customer's names the channel message it came with. Not idempotent."""
    content_type = checked_type(data)
    fallback = "attachment"
    sealed = seal_blob(data, CONTENT_PURPOSE)
    row = Attachment(
        conversation_id=conversation_id,
        channel=channel[:32],
        thread=thread[:220],
        message_id=message_id[:220] if message_id else None,
        uploaded_by="agent" if uploader_user_id is not None else "customer",
        uploader_user_id=uploader_user_id,
        name=named_for(safe_file_name(name, fallback), content_type),
        declared_type=(declared_type or "").strip()[:255],
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_key=sealed.key,
        content=sealed.sealed,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def upload_to_conversation(
    session: Session,
    conversation: Conversation,
    data: bytes,
    *,
    name: str,
    declared_type: str,
    user_id: int | None,
) -> Attachment:
    """An agent's file for a conversation they may see (to send with a reply or note)."""
    return store_attachment(
        session,
        data,
        name=name,
        declared_type=declared_type,
        channel=conversation.channel,
        thread=conversation.thread,
        conversation_id=conversation.id,
        uploader_user_id=user_id,
    )


def get_attachment(
    session: Session, attachment_id: int, *, with_content: bool = False
) -> Attachment:
    """An attachment by id (``NotFound`` if there is none)."""
    stmt = select(Attachment).where(Attachment.id == attachment_id)
    if with_content:
        stmt = stmt.options(undefer(Attachment.content))
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(
            msg("no attachment {attachment_id}", attachment_id=attachment_id),
            field="attachment_id",
        )
    return row


def content_of(row: Attachment) -> bytes:
    """The file's bytes, decrypted and checked against their tag."""
    return open_blob(row.content_key, row.content, CONTENT_PURPOSE)


def for_message(
    session: Session, conversation: Conversation, attachment_ids: Sequence[int]
) -> list[StoredMedia]:
    """The files a reply or note sends, in the order given: only ones uploaded to this
    conversation (``InvalidInput`` naming the first that is not)."""
    wanted = list(dict.fromkeys(attachment_ids))
    if len(wanted) > MAX_PER_MESSAGE:
        raise InvalidInput(
            msg("a message carries at most {maximum} attachments", maximum=MAX_PER_MESSAGE),
            field="attachment_ids",
        )
    if not wanted:
        return []
    rows = {
        row.id: row
        for row in session.scalars(
            select(Attachment).where(
                Attachment.id.in_(wanted), Attachment.conversation_id == conversation.id
            )
        )
    }
    for attachment_id in wanted:
        if attachment_id not in rows:
            raise InvalidInput(
                msg(
                    "attachment {attachment_id} was not uploaded to this conversation",
                    attachment_id=attachment_id,
                ),
                field="attachment_ids",
            )
    return [media_of(rows[i]) for i in wanted]


def bind_to_conversation(
    session: Session, conversation_id: int, channel: str, message_id: str
) -> None:
    """The files that came with a customer's message join the conversation the desk
    placed it in (idempotent)."""
    session.execute(
        update(Attachment)
        .where(
            Attachment.channel == channel,
            Attachment.message_id == message_id,
            Attachment.conversation_id.is_(None),
        )
        .values(conversation_id=conversation_id)
    )


def move_to_conversation(session: Session, from_ids: Iterable[int], to_id: int) -> None:
    """Folded conversations' files follow their messages."""
    session.execute(
        update(Attachment)
        .where(Attachment.conversation_id.in_(list(from_ids)))
        .values(conversation_id=to_id)
    )


def files_kept_for(session: Session, messages: Sequence[Message]) -> dict[int, list[StoredMedia]]:
    """The files channels kept for these customers' messages, by message id: media a
    channel fetched after the message arrived (WeChat's) are named only here."""
    wanted = {(m.channel, m.message_id): m.id for m in messages if m.direction == "in"}
    if not wanted:
        return {}
    rows = session.scalars(
        select(Attachment)
        .where(tuple_(Attachment.channel, Attachment.message_id).in_(list(wanted)))
        .order_by(Attachment.id)
    )
    found: dict[int, list[StoredMedia]] = {}
    for row in rows:
        found.setdefault(wanted[(row.channel, row.message_id or "")], []).append(media_of(row))
    return found
