"""Desk builders: agents, teams, and customers writing in through a channel."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from omnicx.core.database import Database
from omnicx.desk.messages import Sender, message_call
from omnicx.desk.models import Conversation, Message
from omnicx.desk.routing import add_rule
from omnicx.desk.teams import add_member, create_team, set_agent, set_presence
from omnicx.governance.service import SYSTEM, create_token
from omnicx.governance.users import create_user
from tests.factories import BASE_TIME, append_calls, make_source

_ids = itertools.count(1)


def make_agent(
    db: Database,
    team: str | None = None,
    *,
    role: str = "agent",
    capacity: int = 5,
    skills: tuple[str, ...] = (),
    online: bool = True,
) -> tuple[int, str]:
    """A user serving in ``team`` (created if missing): (user id, their API token)."""
    n = next(_ids)
    with db.write() as session:
        user, _ = create_user(
            session,
            SYSTEM,
            email=f"agent{n}@corp.cn",
            display_name=f"坐席{n}",
            role=role,
            password="correct horse battery staple 1",
        )
        set_agent(session, user.id, skills=skills, capacity=capacity)
        if team is not None:
            add_member(session, ensure_team(session, team), user.id)
        if online:
            set_presence(session, user.id, "online")
        token = create_token(session, f"agent-{n}", role, user.id)
        return user.id, token


def ensure_team(session, name: str):
    from omnicx.desk.models import Team

    team = session.scalar(select(Team).where(Team.name == name))
    return team if team is not None else create_team(session, name)


def make_rule(db: Database, team: str, kind: str = "always", **fields: Any) -> None:
    with db.write() as session:
        add_rule(session, ensure_team(session, team), kind=kind, **fields)


class Customers:
    """Customers writing in through channels, appended through one source."""

    def __init__(self, db: Database):
        self.db = db
        self.source_id, _ = make_source(db)

    def write(
        self,
        text: str,
        *,
        channel: str = "webchat",
        thread: str = "t-1",
        sender: Sender | None = None,
        minutes: float = 0,
        message_id: str | None = None,
        direction: str = "in",
    ) -> dict[str, Any]:
        call = message_call(
            direction=direction,
            channel=channel,
            thread=thread,
            text=text,
            message_id=message_id or f"msg-{next(_ids)}",
            sender=sender or Sender(anonymous_id=f"anon-{thread}"),
            timestamp=BASE_TIME + timedelta(minutes=minutes),
        )
        append_calls(self.db, self.source_id, [call])
        return call


def conversations(db: Database) -> list[Conversation]:
    with db.read() as session:
        found = list(session.scalars(select(Conversation).order_by(Conversation.id)))
        session.expunge_all()  # readable after the read session ends
        return found


def messages(db: Database, conversation_id: int | None = None) -> list[Message]:
    with db.read() as session:
        stmt = select(Message).order_by(Message.id)
        if conversation_id is not None:
            stmt = stmt.where(Message.conversation_id == conversation_id)
        found = list(session.scalars(stmt))
        for message in found:
            _ = message.text  # decrypted while the session is open
        session.expunge_all()
        return found


def at(minutes: float) -> datetime:
    return BASE_TIME + timedelta(minutes=minutes)
