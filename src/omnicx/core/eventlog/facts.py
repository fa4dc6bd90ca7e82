"""Facts: what a domain records for the domains above it to react to.

Identity records that a customer was created, merged or unmerged, and the customer
projection that traits changed; the groups that run after identity (consent today; desk,
automation, analytics next) read them in order with the events, instead of lower domains
calling higher ones.

Facts are a stream beside the events table (``facts``), not events: they are derived, and
a replay must not duplicate them. Each fact names the log position it follows
(``after_seq``: the end of the identity batch that caused it, or where identity stood when
a person unmerged), and its ``key`` says what caused it, so recording it again (a replay)
changes nothing. Every writer holds the identity group's offset row, so fact ids are
handed out in commit order and a reader can follow them by id without skipping one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from omnicx.core.database import Base, BigId, RawStatements
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_datetime, utcnow

FACT_TYPE = "fact"
FACT_SOURCE = 0


class Fact(Base):
    __tablename__ = "facts"
    __table_args__ = (Index("ix_facts_after_seq", "after_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    after_seq: Mapped[int] = mapped_column(BigId)
    # Ids and names only (customer ids, trait keys): no personal data, stored plain.
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# (name, key, after_seq, payload) of one fact, as ``record_facts`` takes it.
NewFact = tuple[str, str, int, dict[str, Any]]

INSERT_FACT = (
    "INSERT INTO facts (key, name, after_seq, payload, created_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO NOTHING"
)


def record_facts(session: Session, facts: Sequence[NewFact]) -> None:
    """Record facts in the caller's transaction (which holds identity's offset row), in
    one statement; a fact whose name and key are known already is a no-op."""
    if not facts:
        return
    raw = RawStatements(session)
    now = raw.time(utcnow())
    raw.many(
        INSERT_FACT,
        [
            (f"{name}:{key}"[:200], name, after, dumps(payload), now)
            for name, key, after, payload in facts
        ],
    )


READ_FACTS = (
    "SELECT id, key, name, after_seq, payload, created_at FROM facts WHERE id > ?"
    " ORDER BY id LIMIT ?"
)


def read_facts(
    session: Session,
    after_id: int,
    upto_seq: int,
    limit: int,
    names: frozenset[str] | None = None,
) -> tuple[list[LogEvent], int]:
    """Facts past ``after_id`` in id order, up to the first that follows a position past
    ``upto_seq`` (it waits for its events), and the id read up to. Only facts named in
    ``names`` (all for None) are returned, but the others are read past. Each comes as
    an event of type ``fact``: ``seq`` is the position it follows, ``derived[FACT_ID]``
    its id."""
    rows = RawStatements(session).select(READ_FACTS, (after_id, limit))
    facts, read_up_to = [], after_id
    for fact_id, key, name, after_seq, payload, created_at in rows:
        if after_seq > upto_seq:
            break
        read_up_to = fact_id
        if names is not None and name not in names:
            continue
        moment = as_datetime(created_at)
        event = LogEvent(
            source_id=FACT_SOURCE,
            message_id=key,
            type=FACT_TYPE,
            name=name,
            occurred_at=moment,
            received_at=moment,
            payload=loads(payload),
            seq=after_seq,
        )
        event.derived[FACT_ID] = fact_id
        facts.append(event)
    return facts, read_up_to


FACT_ID = "fact.id"


def is_fact(event: LogEvent) -> bool:
    return event.type == FACT_TYPE and event.source_id == FACT_SOURCE


def in_log_order(events: Sequence[LogEvent], facts: Sequence[LogEvent]) -> list[LogEvent]:
    """Events and facts together: a fact right after the event whose position it follows."""
    return sorted(
        [*events, *facts],
        key=lambda e: (e.seq or 0, is_fact(e), e.derived.get(FACT_ID, 0)),
    )
