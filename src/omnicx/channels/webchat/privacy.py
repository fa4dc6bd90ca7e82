"""Web chat's transcript in privacy requests: exported with the person's data, erased
with them.

The transcript keeps no identifier values to look the person up by. It is found from
the person's events instead: each of their ``Message Received`` events from a web chat
channel names, by ``(source, message_id)``, a transcript line, and so a thread; every line
of those threads (what they wrote and what was sent to them) is theirs. Events keep their
source and message id when erased, so the order of the handlers does not matter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from omnicx.channels.messages import MESSAGE_RECEIVED
from omnicx.channels.models import Channel
from omnicx.channels.webchat.models import WebchatMessage
from omnicx.channels.webchat.transcript import line_of
from omnicx.core.eventlog.models import EventRow
from omnicx.governance.privacy import Erasure, Progress, Subject

CHUNK = 500


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


def threads_of(session: Session, subject: Subject) -> list[tuple[int, str]]:
    """The (channel id, thread) pairs of the person's web chat conversations."""
    channels: dict[int, int] = {
        source_id: channel_id
        for source_id, channel_id in session.execute(
            select(Channel.source_id, Channel.id).where(Channel.kind == "webchat")
        )
    }
    if not channels:
        return []
    found: set[tuple[int, str]] = set()
    for part in _chunks(sorted(set(subject.event_seqs))):
        sent = session.execute(
            select(EventRow.source_id, EventRow.message_id).where(
                EventRow.seq.in_(part),
                EventRow.name == MESSAGE_RECEIVED,
                EventRow.source_id.in_(list(channels)),
            )
        ).all()
        keys = [(channels[source_id], message_id) for source_id, message_id in sent]
        for keys_part in _chunks(keys):
            rows = session.execute(
                select(WebchatMessage.channel_id, WebchatMessage.thread)
                .where(tuple_(WebchatMessage.channel_id, WebchatMessage.message_id).in_(keys_part))
                .distinct()
            )
            found.update((channel_id, thread) for channel_id, thread in rows)
    return sorted(found)


class WebchatTranscriptHandler:
    """The person's web chat threads: exported in full; deleted on erasure."""

    name = "webchat_transcript"

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        out: list[dict[str, Any]] = []
        for channel_id, thread in threads_of(session, subject):
            rows = session.scalars(
                select(WebchatMessage)
                .where(WebchatMessage.channel_id == channel_id, WebchatMessage.thread == thread)
                .order_by(WebchatMessage.id)
            )
            lines = [line_of(r).as_frame() for r in rows]
            out.append({"channel_id": channel_id, "thread": thread, "messages": lines})
            progress(len(lines))
        return out

    def erase(self, session: Session, erasure: Erasure) -> None:
        erased = 0
        for channel_id, thread in threads_of(session, erasure.subject):
            result = session.execute(
                delete(WebchatMessage).where(
                    WebchatMessage.channel_id == channel_id, WebchatMessage.thread == thread
                )
            )
            erased += int(getattr(result, "rowcount", 0) or 0)
        erasure.count("webchat_messages", erased)
        if erased:  # VACUUM (PostgreSQL) only a table that changed
            erasure.touched_tables.add("webchat_messages")
