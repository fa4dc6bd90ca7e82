"""Threading a mailbox's mail: a mail that names a known Message-ID (In-Reply-To,
References) joins that mail's thread; any other starts its own, named by its Message-ID.
Our replies' Message-IDs are recorded too, so the customer's answer to a reply threads
back. Each thread keeps what a reply needs (address, subject, references)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.email.models import EmailMessage, EmailThread
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import utcnow
from omnicx.governance.blind_index import blind_index

MAX_REFERENCES = 20


def message_key(message_id: str) -> str:
    return hashlib.sha256(message_id.strip().encode()).hexdigest()


def address_hash(address: str) -> bytes:
    """The address's blind index, the one identity keeps for an ``email`` identifier."""
    return blind_index("email", "", address.strip().lower())


@dataclass(frozen=True, slots=True)
class ThreadContext:
    address: str
    name: str
    subject: str
    references: tuple[str, ...]  # the thread's Message-IDs, the latest last


def is_known(session: Session, channel_id: int, message_id: str) -> bool:
    """Whether this mail was already taken (a redelivery)."""
    key = message_key(message_id)
    found = session.get(EmailMessage, (channel_id, key))
    return found is not None


def thread_for(session: Session, channel_id: int, answers: Sequence[str], own: str) -> str:
    """The thread of the nearest mail ``answers`` names that the mailbox knows, else a new
    thread named by ``own`` (the log's message id of this mail)."""
    keys = [message_key(m) for m in answers]
    if keys:
        rows = dict(
            session.execute(
                select(EmailMessage.message_key, EmailMessage.thread).where(
                    EmailMessage.channel_id == channel_id, EmailMessage.message_key.in_(keys)
                )
            ).all()
        )
        for key in keys:
            if key in rows:
                return str(rows[key])
    return own


def record_message(
    session: Session, channel_id: int, message_id: str, thread: str, direction: str
) -> None:
    """Remember a mail's Message-ID in its thread (idempotent)."""
    key = message_key(message_id)
    if session.get(EmailMessage, (channel_id, key)) is None:
        session.add(
            EmailMessage(
                channel_id=channel_id,
                message_key=key,
                thread=thread,
                direction=direction,
                created_at=utcnow(),
            )
        )
        session.flush()


def thread_context(session: Session, channel_id: int, thread: str) -> ThreadContext | None:
    row = session.get(EmailThread, (channel_id, thread))
    if row is None:
        return None
    value = loads(row.context)
    return ThreadContext(
        address=str(value.get("address") or ""),
        name=str(value.get("name") or ""),
        subject=str(value.get("subject") or ""),
        references=tuple(str(r) for r in value.get("references") or ()),
    )


def remember_context(
    session: Session,
    channel_id: int,
    thread: str,
    *,
    message_id: str,
    address: str | None = None,
    name: str | None = None,
    subject: str | None = None,
    references: Sequence[str] = (),
) -> None:
    """Add a mail to the thread's reply context: its Message-ID (and the ids it names)
    join the references; a customer's mail also sets the address and subject replies use."""
    row = session.get(EmailThread, (channel_id, thread))
    known = thread_context(session, channel_id, thread)
    refs = list(known.references) if known else []
    for ref in (*references, message_id):
        if ref in refs:
            refs.remove(ref)
        refs.append(ref)
    kept_address = address or (known.address if known else "")
    value = {
        "address": kept_address,
        "name": name if address else (known.name if known else ""),
        "subject": subject if subject is not None and address else (known.subject if known else ""),
        "references": refs[-MAX_REFERENCES:],
    }
    if row is None:
        session.add(
            EmailThread(
                channel_id=channel_id,
                thread=thread,
                context=dumps(value),
                address_hash=address_hash(kept_address),
                updated_at=utcnow(),
            )
        )
    else:
        row.context = dumps(value)
        row.address_hash = address_hash(kept_address)
        row.updated_at = utcnow()
    session.flush()
