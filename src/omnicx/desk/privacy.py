"""The desk's conversations in privacy requests: exported with the person's data; on
erasure their messages lose their text and attachments, and with them their search
terms.

A person's conversations are those of their customer ids, and any conversation holding
one of their logged messages (placed before identity knew whom it belonged to). The
conversations themselves stay, as the desk's record of work done (statuses, assignment,
history, reports count them), but with nothing anyone wrote: each message keeps only its
direction and times, and the thread key — a phone number for SMS, an openid for WeChat —
is replaced.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from omnicx.core.database import chunks
from omnicx.core.serialization import loads
from omnicx.core.time import as_utc
from omnicx.desk.calls import CallPop
from omnicx.desk.models import Conversation, Message
from omnicx.desk.search import forget_terms
from omnicx.governance.privacy import Erasure, Progress, Subject

ERASED_THREAD = "erased"


def conversations_of(session: Session, subject: Subject) -> list[int]:
    """Ids of the person's conversations, ascending."""
    found: set[int] = set()
    for part in chunks(sorted(set(subject.customer_ids))):
        found.update(
            session.scalars(select(Conversation.id).where(Conversation.customer_id.in_(part)))
        )
    for part in chunks(sorted(set(subject.event_seqs))):
        found.update(
            session.scalars(
                select(Message.conversation_id).where(Message.event_seq.in_(part)).distinct()
            )
        )
    return sorted(found)


class DeskConversationsHandler:
    """The person's conversations: exported with every message (notes too: they are
    about the person); erased down to who wrote when."""

    name = "desk_conversations"

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        out: list[dict[str, Any]] = []
        for part in chunks(conversations_of(session, subject)):
            for conversation in session.scalars(
                select(Conversation).where(Conversation.id.in_(part)).order_by(Conversation.id)
            ):
                messages = session.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation.id)
                    .order_by(Message.id)
                )
                out.append(
                    {
                        "id": conversation.id,
                        "channel": conversation.channel,
                        "status": conversation.status,
                        "created_at": as_utc(conversation.created_at).isoformat(),
                        "messages": [
                            {
                                "direction": m.direction,
                                "text": m.text,
                                "attachments": loads(m.attachments),
                                "created_at": as_utc(m.created_at).isoformat(),
                            }
                            for m in messages
                        ],
                    }
                )
            progress(len(part))
        return out

    def erase(self, session: Session, erasure: Erasure) -> None:
        ids = conversations_of(session, erasure.subject)
        erased = 0
        for part in chunks(ids):
            result = session.execute(
                update(Message)
                .where(Message.conversation_id.in_(part))
                .values(text="", attachments="[]")
            )
            erased += int(getattr(result, "rowcount", 0) or 0)
            for conversation_id in part:
                session.execute(
                    update(Conversation)
                    .where(Conversation.id == conversation_id)
                    .values(thread=f"{ERASED_THREAD}:{conversation_id}")
                )
            erasure.progress(len(part))
        forget_terms(session, ids)
        erasure.count("desk_messages", erased)
        # Screen pops of their calls (ids only, but they tie a call to the person).
        for part in chunks(sorted(set(erasure.subject.customer_ids))):
            session.execute(delete(CallPop).where(CallPop.customer_id.in_(part)))
        if ids:
            erasure.touched_tables |= {"desk_messages", "desk_message_terms", "desk_conversations"}
