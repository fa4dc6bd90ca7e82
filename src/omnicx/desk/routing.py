"""Routing: which team a new conversation goes to, and which of its agents gets it.

The team comes from the first routing rule that matches what the CDP knows of the
customer (a tag in the ``tags`` trait such as ``high-care`` or 高关怀, a trait such as
``loyalty_tier``), read through the ``customers`` service. Within the team, agents take
turns (round robin) among those ONLINE, with the rule's skills and with fewer unresolved
conversations than their capacity. Nobody fits: the conversation waits unassigned in the
team's queue, and is assigned when an agent comes online or frees capacity
(``drain_queues``).

Concurrency: an assignment locks the team's row (its rotation position) and then the
candidate agents' rows in user id order, so workers assigning at once on PostgreSQL take
turns, every agent gets the next turn, and no agent's capacity is exceeded even when two
teams share an agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.database import forget_memo, transaction_memo
from omnicx.core.errors import InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.customers.service import customer_traits
from omnicx.desk.history import record_change
from omnicx.desk.models import PRIORITIES, Agent, Conversation, RoutingRule, Team, TeamMember
from omnicx.desk.teams import check_skills, open_loads, teams_of

RULE_KINDS = ("tag", "trait", "always")
SYSTEM_ACTOR = "system"
QUEUED = ("open", "pending")

# The transaction's memo of the rules (``matching_rule``); adding or removing one forgets it.
RULES = "desk.routing.rules"


def add_rule(
    session: Session,
    team: Team,
    *,
    kind: str,
    key: str = "",
    value: str = "",
    skills: Iterable[str] = (),
    priority: str | None = None,
    position: int = 100,
) -> RoutingRule:
    """A routing rule: ``tag`` value, ``trait`` key = value, or ``always``."""
    if kind not in RULE_KINDS:
        raise InvalidInput(
            msg("a rule matches one of {names}", names=", ".join(RULE_KINDS)), field="kind"
        )
    if kind == "tag" and not value:
        raise InvalidInput("a tag rule names the tag", field="value")
    if kind == "trait" and not (key and value):
        raise InvalidInput("a trait rule names the trait and its value", field="key")
    if priority is not None and priority not in PRIORITIES:
        raise InvalidInput(
            msg("priority is one of {names}", names=", ".join(PRIORITIES)), field="priority"
        )
    for text in (key, value):
        check_text(text, "value")
    rule = RoutingRule(
        position=position,
        kind=kind,
        key=key[:100],
        value=value[:200],
        team_id=team.id,
        skills=dumps(check_skills(skills)),
        priority=priority,
        enabled=True,
    )
    session.add(rule)
    session.flush()
    forget_memo(session, RULES)
    return rule


def remove_rule(session: Session, rule: RoutingRule) -> None:
    session.delete(rule)
    session.flush()
    forget_memo(session, RULES)


def get_rule(session: Session, rule_id: int) -> RoutingRule:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(msg("no routing rule {rule_id}", rule_id=rule_id), field="rule_id")
    return rule


def list_rules(session: Session) -> list[RoutingRule]:
    return list(session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)))


def _tags(traits: dict[str, Any]) -> set[str]:
    tags = traits.get("tags")
    if isinstance(tags, str):
        return {t.strip() for t in tags.split(",") if t.strip()}
    if isinstance(tags, list):
        return {str(t).strip() for t in tags}
    return set()


def matches(rule: RoutingRule, traits: dict[str, Any]) -> bool:
    if rule.kind == "always":
        return True
    if rule.kind == "tag":
        return rule.value in _tags(traits)
    found = traits.get(rule.key)
    return found is not None and str(found) == rule.value


def matching_rule(session: Session, customer_id: int | None) -> RoutingRule | None:
    """The first enabled rule that the customer's traits match."""
    traits = customer_traits(session, customer_id) if customer_id is not None else {}
    # Read once per transaction: a batch of new conversations routes on the same rules.
    memo = transaction_memo(session, RULES)
    if "rules" not in memo:
        memo["rules"] = list_rules(session)
    for rule in memo["rules"]:
        if rule.enabled and matches(rule, traits):
            return rule
    return None


def route_new(session: Session, conversation: Conversation) -> None:
    """Give a new (or handed-off) conversation its team and, if someone fits, its agent."""
    if conversation.team_id is None:
        rule = matching_rule(session, conversation.customer_id)
        if rule is None:
            return  # no rule, no catch-all: it waits for a supervisor to place it
        conversation.team_id = rule.team_id
        conversation.required_skills = rule.skills
        if rule.priority:
            conversation.priority = rule.priority
        record_change(
            session,
            conversation,
            SYSTEM_ACTOR,
            "routed",
            {"team_id": rule.team_id, "rule": rule.id},
        )
    if conversation.assignee_id is None:
        assign_next(session, conversation)


# Assigners serialise on the team's and the agents' rows with PostgreSQL's FOR NO KEY
# UPDATE, not FOR UPDATE: a row inserted meanwhile that points at them (a team member, a
# conversation's assignee) takes FOR KEY SHARE for its foreign key, which FOR UPDATE would
# block — and a batch that routes conversations to two teams holds one team's agents while
# it waits for the other team: with `teams add-agent` waiting on one of those agents, that
# was a deadlock.
def _lock_team(session: Session, team_id: int) -> Team:
    return session.execute(
        select(Team).where(Team.id == team_id).with_for_update(key_share=True)
    ).scalar_one()


def _candidates(session: Session, team_id: int, required: set[str]) -> list[Agent]:
    """The team's online agents with the required skills, their rows locked (id order)."""
    agents = session.scalars(
        select(Agent)
        .join(TeamMember, TeamMember.user_id == Agent.user_id)
        .where(TeamMember.team_id == team_id, Agent.presence == "online")
        .order_by(Agent.user_id)
        .with_for_update(of=Agent, key_share=True)
    ).all()
    return [a for a in agents if required <= set(loads(a.skills))]


def next_in_turn(candidates: Sequence[int], last: int | None) -> int | None:
    """Round robin: the first candidate after the last one served, wrapping around."""
    if not candidates:
        return None
    ordered = sorted(candidates)
    if last is not None:
        for user_id in ordered:
            if user_id > last:
                return user_id
    return ordered[0]


def assign_next(session: Session, conversation: Conversation) -> int | None:
    """Assign the conversation to the team's next agent in turn who fits; None if nobody
    does (it stays in the queue). Locks the team row, then the candidates' rows."""
    if conversation.team_id is None or conversation.status not in QUEUED:
        return None
    team = _lock_team(session, conversation.team_id)
    agents = _candidates(session, team.id, set(loads(conversation.required_skills)))
    load = open_loads(session, [a.user_id for a in agents])
    fitting = [a.user_id for a in agents if load.get(a.user_id, 0) < a.capacity]
    chosen = next_in_turn(fitting, team.last_assigned_user_id)
    if chosen is None:
        return None
    team.last_assigned_user_id = chosen
    conversation.assignee_id = chosen
    record_change(session, conversation, SYSTEM_ACTOR, "assigned", {"assignee_id": chosen})
    session.flush()
    return chosen


def drain_queues(session: Session, team_ids: Iterable[int], limit: int = 200) -> int:
    """Assign waiting conversations of these teams, oldest first, while someone fits.
    Returns how many were assigned."""
    assigned = 0
    for team_id in sorted(set(team_ids)):
        waiting = session.scalars(
            select(Conversation)
            .where(
                Conversation.team_id == team_id,
                Conversation.assignee_id.is_(None),
                Conversation.status.in_(QUEUED),
            )
            .order_by(Conversation.created_at, Conversation.id)
            .limit(limit)
        ).all()
        for conversation in waiting:
            if assign_next(session, conversation) is None:
                continue  # nobody fits this one (skills): a later one may still fit
            assigned += 1
    return assigned


def drain_agent_queues(session: Session, user_id: int) -> int:
    """An agent came online or freed capacity: their teams' queues may move."""
    return drain_queues(session, teams_of(session, user_id))
