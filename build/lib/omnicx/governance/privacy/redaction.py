"""Redacted events: the payload goes, the row stays.

An erased person's events and events carrying a suppressed identifier keep their
``events`` row (type, name, times) so that aggregates still count them, but nothing
about anyone. Shared by erasure (customers domain) and ingest-time suppression
(``identity.resolve``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements
from omnicx.core.eventlog.codec import encode_payload


def redacted_payload(event_type: str, why: str) -> dict[str, Any]:
    """What a redacted event's payload becomes: its type and why, nothing about anyone.
    The ``events`` row keeps its type, name and times (aggregates still count it)."""
    return {"type": event_type, "redacted": why}


def redact_events(session: Session, events: Sequence[tuple[int, str]], why: str) -> int:
    """Overwrite the stored payload of ``(seq, type)`` events. Returns how many."""
    if not events:
        return 0
    RawStatements(session).many(
        "UPDATE events SET payload = ? WHERE seq = ?",
        [(encode_payload(redacted_payload(kind, why)), seq) for seq, kind in events],
    )
    return len(events)


def is_redacted(payload: dict[str, Any]) -> bool:
    return "redacted" in payload and len(payload) <= 2
