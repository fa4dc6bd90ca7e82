"""The attachment store as channels see it (``channels.media.MediaStore``): files that
come with a customer's channel message."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.media import MediaContent, StoredMedia
from omnicx.desk.attachments.models import Attachment
from omnicx.desk.attachments.store import content_of, get_attachment, media_of, store_attachment
from omnicx.desk.models import Message


class DeskMediaStore:
    """Channels' files in the desk's store, bound to their conversation as soon as the
    desk has placed the message they came with (now, or when it does)."""

    def store(
        self,
        session: Session,
        data: bytes,
        *,
        name: str,
        declared_type: str,
        channel: str,
        thread: str,
        message_id: str,
    ) -> StoredMedia:
        # A message may bring several files (a mail's attachments): a retried message
        # gets back each file stored the first time, told apart by its bytes' digest.
        known = session.scalars(
            select(Attachment).where(
                Attachment.channel == channel,
                Attachment.message_id == message_id,
                Attachment.sha256 == hashlib.sha256(data).hexdigest(),
            )
        ).first()
        if known is not None:
            return media_of(known)
        # Media fetched after its message was placed (WeChat's) joins the conversation now.
        placed = session.scalar(
            select(Message.conversation_id).where(
                Message.channel == channel, Message.message_id == message_id
            )
        )
        row = store_attachment(
            session,
            data,
            name=name,
            declared_type=declared_type,
            channel=channel,
            thread=thread,
            conversation_id=placed,
            message_id=message_id,
        )
        return media_of(row)

    def read(self, session: Session, media_id: int) -> MediaContent:
        row = get_attachment(session, media_id, with_content=True)
        return MediaContent(media_of(row), content_of(row))
