"""Teams, agents (skills, capacity) and presence: who serves which queue."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import utcnow
from omnicx.desk.models import ACTIVE_STATUSES, PRESENCES, Agent, Conversation, Team, TeamMember
from omnicx.governance.users import get_user

SKILL = re.compile(r"^[^\s:]{1,40}:[^\s]{1,60}$")
MAX_CAPACITY = 1000


def check_skills(skills: Iterable[str]) -> list[str]:
    """Skills as ``kind:value`` (``lang:zh``, ``product:空调``), sorted, without repeats."""
    found = set()
    for skill in skills:
        skill = skill.strip()
        if not SKILL.match(skill):
            raise InvalidInput(
                msg(
                    "{skill!r} is not a skill: write kind:value, e.g. lang:zh or product:空调",
                    skill=skill,
                ),
                field="skills",
            )
        found.add(skill)
    return sorted(found)


def check_capacity(capacity: int) -> int:
    if not 0 <= capacity <= MAX_CAPACITY:
        raise InvalidInput(
            msg("capacity is 0 to {maximum} open conversations", maximum=MAX_CAPACITY),
            field="capacity",
        )
    return capacity


def create_team(session: Session, name: str, description: str = "") -> Team:
    """A new team; its name is unique. Raises Conflict, InvalidInput."""
    name = name.strip()
    check_text(name, "name")
    check_text(description, "description")
    if not name or len(name) > 100:
        raise InvalidInput("a team name is 1 to 100 characters", field="name")
    if session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise Conflict(msg("there is a team called {name!r} already", name=name), field="name")
    team = Team(name=name, description=description[:500], created_at=utcnow())
    session.add(team)
    session.flush()
    return team


def team_by_ref(session: Session, ref: str | int) -> Team:
    """A team by id or by name. Raises NotFound."""
    team = None
    if isinstance(ref, int) or str(ref).isdigit():
        team = session.get(Team, int(ref))
    if team is None:
        team = session.scalar(select(Team).where(Team.name == str(ref)))
    if team is None:
        raise NotFound(msg("no team {ref!r}", ref=ref), field="team")
    return team


def list_teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.id)))


def ensure_agent(session: Session, user_id: int) -> Agent:
    """The desk's record of a user (created offline, capacity 5). Raises NotFound."""
    agent = session.get(Agent, user_id)
    if agent is None:
        user = get_user(session, user_id)
        if user.disabled_at is not None:
            raise InvalidInput(msg("user {user_id} is disabled", user_id=user_id), field="user_id")
        agent = Agent(
            user_id=user_id, skills="[]", capacity=5, presence="offline", presence_since=utcnow()
        )
        session.add(agent)
        session.flush()
    return agent


def set_agent(
    session: Session,
    user_id: int,
    *,
    skills: Iterable[str] | None = None,
    capacity: int | None = None,
) -> Agent:
    """Change an agent's skills and/or capacity (a raised capacity may take queued work:
    the caller drains the agent's teams' queues, ``routing.drain_agent_queues``)."""
    agent = ensure_agent(session, user_id)
    if skills is not None:
        agent.skills = dumps(check_skills(skills))
    if capacity is not None:
        agent.capacity = check_capacity(capacity)
    return agent


def add_member(session: Session, team: Team, user_id: int) -> TeamMember:
    """Put an agent in a team (idempotent)."""
    ensure_agent(session, user_id)
    member = session.get(TeamMember, (team.id, user_id))
    if member is None:
        member = TeamMember(team_id=team.id, user_id=user_id, added_at=utcnow())
        session.add(member)
        session.flush()
    return member


def remove_member(session: Session, team: Team, user_id: int) -> None:
    member = session.get(TeamMember, (team.id, user_id))
    if member is None:
        raise NotFound(
            msg("user {user_id} is not in team {team!r}", user_id=user_id, team=team.name),
            field="user_id",
        )
    session.delete(member)


def set_presence(session: Session, user_id: int, presence: str) -> Agent:
    """online, away or offline, since now (unchanged presence keeps its time)."""
    if presence not in PRESENCES:
        raise InvalidInput(
            msg("presence is one of {names}", names=", ".join(PRESENCES)), field="presence"
        )
    agent = ensure_agent(session, user_id)
    if agent.presence != presence:
        agent.presence = presence
        agent.presence_since = utcnow()
    return agent


def open_loads(session: Session, user_ids: Iterable[int]) -> dict[int, int]:
    """How many unresolved conversations each agent holds (what capacity limits)."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.assignee_id.in_(ids), Conversation.status.in_(ACTIVE_STATUSES))
        .group_by(Conversation.assignee_id)
    ).all()
    return {int(a): int(n) for a, n in rows if a is not None}


def teams_of(session: Session, user_id: int) -> list[int]:
    return list(session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id)))


def skills_of(agent: Agent) -> list[str]:
    return list(loads(agent.skills))


@dataclass(frozen=True)
class MemberRow:
    user_id: int
    email: str
    display_name: str
    skills: list[str]
    capacity: int
    presence: str
    open_conversations: int


def members_of(session: Session, team: Team) -> list[MemberRow]:
    """A team's agents with their load, in user id order."""
    ids = list(
        session.scalars(
            select(TeamMember.user_id)
            .where(TeamMember.team_id == team.id)
            .order_by(TeamMember.user_id)
        )
    )
    return agent_rows(session, ids, open_loads(session, ids))


def agent_rows(session: Session, ids: list[int], loads_: dict[int, int]) -> list[MemberRow]:
    rows = []
    for user_id in ids:
        agent = session.get(Agent, user_id)
        user = get_user(session, user_id)
        if agent is None:
            continue
        rows.append(
            MemberRow(
                user_id=user_id,
                email=user.email,
                display_name=user.display_name,
                skills=skills_of(agent),
                capacity=agent.capacity,
                presence=agent.presence,
                open_conversations=loads_.get(user_id, 0),
            )
        )
    return rows


def list_agents(session: Session) -> list[MemberRow]:
    ids = list(session.scalars(select(Agent.user_id).order_by(Agent.user_id)))
    return agent_rows(session, ids, open_loads(session, ids))


def team_sizes(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(TeamMember.team_id, func.count()).group_by(TeamMember.team_id)
    ).all()
    return {int(t): int(n) for t, n in rows}
