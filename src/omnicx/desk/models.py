"""The desk's tables: teams and agents, conversations and their messages, history,
routing rules and reporting events. Other domains read them through ``desk.service``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId

STATUSES = ("bot", "open", "pending", "snoozed", "resolved")
# Statuses that hold an agent's capacity and that a returning customer continues.
ACTIVE_STATUSES = ("bot", "open", "pending", "snoozed")
PRIORITIES = ("low", "normal", "high", "urgent")
PRESENCES = ("online", "away", "offline")
DIRECTIONS = ("in", "out", "note")
TEXT_PURPOSE = "desk_messages.text"
ATTACHMENTS_PURPOSE = "desk_messages.attachments"


class Team(Base):
    """A queue of conversations and the agents who serve it.

    ``last_assigned_user_id`` is the round robin's position: routing locks this row, so
    workers assigning into one team take turns and every agent gets the next turn.
    """

    __tablename__ = "desk_teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    last_assigned_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Agent(Base):
    """A user who serves customers: skills, capacity and presence.

    ``skills`` is a JSON list such as ``["lang:zh", "product:空调"]``; ``capacity`` the most
    unresolved conversations routing gives them (a supervisor may assign past it).
    """

    __tablename__ = "desk_agents"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    skills: Mapped[str] = mapped_column(Text, default="[]")
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    presence: Mapped[str] = mapped_column(String(16), default="offline")
    presence_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TeamMember(Base):
    __tablename__ = "desk_team_members"

    team_id: Mapped[int] = mapped_column(Integer, ForeignKey("desk_teams.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("desk_agents.user_id"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoutingRule(Base):
    """Which team a new conversation goes to, from what the CDP knows of the customer.

    ``kind``: ``tag`` (the customer's ``tags`` trait holds ``value``), ``trait`` (trait
    ``key`` equals ``value``) or ``always`` (the catch-all). Rules are tried by
    ``position``; the first that matches wins. ``skills`` (JSON list) are required of
    the agent who gets the conversation.
    """

    __tablename__ = "desk_routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    position: Mapped[int] = mapped_column(Integer, default=100)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(100), default="")
    value: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[int] = mapped_column(Integer, ForeignKey("desk_teams.id"))
    skills: Mapped[str] = mapped_column(Text, default="[]")
    priority: Mapped[str | None] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Conversation(Base):
    __tablename__ = "desk_conversations"
    __table_args__ = (
        # Threading: a customer's latest conversation on one channel thread.
        Index("ix_desk_conversations_thread", "customer_id", "channel", "thread"),
        Index("ix_desk_conversations_queue", "team_id", "assignee_id", "status"),
        Index("ix_desk_conversations_assignee", "assignee_id", "status"),
        # The inbox's order and keyset paging (``desk.listing``).
        Index("ix_desk_conversations_updated", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    thread: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="open")
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    # JSON list of label names.
    labels: Mapped[str] = mapped_column(Text, default="[]")
    team_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("desk_teams.id"))
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    # Skills the assignee must have (JSON list), from the routing rule that placed it.
    required_skills: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Since when the customer waits for an answer (None: the last word was ours).
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(Base):
    """One message of a conversation. ``text`` and ``attachments`` are customer data,
    encrypted at rest like event payloads. ``message_id`` is unique per channel, which
    makes receiving a message idempotent (a redelivery adds nothing).

    ``delivery``: ``received`` (in), ``queued`` (out, waiting for the channel adapter),
    ``internal`` (a note, never sent).
    """

    __tablename__ = "desk_messages"
    __table_args__ = (
        UniqueConstraint("channel", "message_id", name="uq_desk_messages_channel_message"),
        Index("ix_desk_messages_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("desk_conversations.id"))
    channel: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(8))
    author_user_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(EncryptedText(TEXT_PURPOSE))
    attachments: Mapped[str] = mapped_column(EncryptedText(ATTACHMENTS_PURPOSE))
    event_seq: Mapped[int | None] = mapped_column(BigId, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivery: Mapped[str] = mapped_column(String(16))
    # The outbox message that takes a reply to its channel (``desk.delivery``).
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)


class MessageTerm(Base):
    """A keyed hash of one searchable term of a message's text (``desk.search``): the
    text stays encrypted, and a term can be looked up, not read back. The conversation is
    kept beside the message so that a search reads conversations from the index alone."""

    __tablename__ = "desk_message_terms"
    __table_args__ = (Index("ix_desk_message_terms_conversation", "conversation_id", "message_id"),)

    term_hash: Mapped[bytes] = mapped_column(LargeBinary(20), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("desk_conversations.id"), primary_key=True
    )
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("desk_messages.id"), primary_key=True)


class ConversationChange(Base):
    """One change to a conversation: who (``actor``), what (``action``, ``detail``), when."""

    __tablename__ = "desk_conversation_history"
    __table_args__ = (Index("ix_desk_history_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("desk_conversations.id"))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    # JSON: ids, statuses, label names; never message text.
    detail: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReportEvent(Base):
    """A moment that service reports count: first response, reply, resolution, reopen,
    handoff, with the wall-clock seconds it measures. ``business_seconds`` is filled in
    by the SLA calendars."""

    __tablename__ = "desk_report_events"
    __table_args__ = (Index("ix_desk_report_events_kind_time", "kind", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("desk_conversations.id"))
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    team_id: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(Integer)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    business_seconds: Mapped[float | None] = mapped_column(Float)
