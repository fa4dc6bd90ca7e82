"""Manual assignment: assign, reassign, unassign, transfer to a team; labels, priority.

An agent (``desk:reply``) may claim a conversation they can see, for themselves only;
assigning someone else or moving a conversation to another team needs ``desk:manage``.
A person may assign past an agent's capacity (a supervisor's call); automatic routing
never does.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from omnicx.core.errors import Forbidden, InvalidInput, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import utcnow
from omnicx.desk.access import LoadedConversation
from omnicx.desk.history import record_change
from omnicx.desk.models import PRIORITIES
from omnicx.desk.routing import assign_next, drain_queues
from omnicx.desk.teams import ensure_agent, team_by_ref, teams_of
from omnicx.governance.permissions import Permission

MAX_LABELS = 20
MAX_LABEL = 50


def assign(
    session: Session,
    loaded: LoadedConversation,
    *,
    assignee_id: int | None,
    team_id: int | None = None,
    unassign: bool = False,
) -> None:
    """Assign to ``assignee_id``, move to ``team_id`` (then the team's round robin picks
    unless an assignee is named), or ``unassign`` back to the queue."""
    conversation, principal = loaded.row, loaded.principal
    manager = principal.may(Permission.DESK_MANAGE)
    me = loaded.reach.user_id
    if not manager and (team_id is not None or unassign or assignee_id != me):
        raise Forbidden("agents may only assign conversations to themselves")
    if assignee_id is None and team_id is None and not unassign:
        raise InvalidInput("name an assignee, a team, or unassign", field="assignee_id")
    before = {"assignee_id": conversation.assignee_id, "team_id": conversation.team_id}
    freed = conversation.assignee_id
    if team_id is not None:
        conversation.team_id = team_by_ref(session, team_id).id
        conversation.assignee_id = None
    if unassign:
        conversation.assignee_id = None
    if assignee_id is not None:
        agent = ensure_agent(session, assignee_id)
        conversation.assignee_id = agent.user_id
    conversation.updated_at = utcnow()
    after = {"assignee_id": conversation.assignee_id, "team_id": conversation.team_id}
    action = "transferred" if team_id is not None else "assigned"
    record_change(session, conversation, principal.actor, action, {"from": before, "to": after})
    session.flush()
    if conversation.assignee_id is None and team_id is not None:
        assign_next(session, conversation)
    if freed is not None and freed != conversation.assignee_id:
        drain_queues(session, teams_of(session, freed))


def set_labels(session: Session, loaded: LoadedConversation, labels: Iterable[str]) -> list[str]:
    """Replace the conversation's labels (trimmed, without repeats, sorted)."""
    cleaned = set()
    for label in labels:
        label = label.strip()
        check_text(label, "labels")
        if not label or len(label) > MAX_LABEL:
            raise InvalidInput(
                msg("a label is 1 to {maximum} characters", maximum=MAX_LABEL), field="labels"
            )
        cleaned.add(label)
    if len(cleaned) > MAX_LABELS:
        raise InvalidInput(msg("at most {maximum} labels", maximum=MAX_LABELS), field="labels")
    conversation = loaded.row
    before = loads(conversation.labels)
    conversation.labels = dumps(sorted(cleaned))
    conversation.updated_at = utcnow()
    record_change(
        session,
        conversation,
        loaded.principal.actor,
        "labels",
        {"from": before, "to": sorted(cleaned)},
    )
    return sorted(cleaned)


def set_priority(session: Session, loaded: LoadedConversation, priority: str) -> None:
    if priority not in PRIORITIES:
        raise InvalidInput(
            msg("priority is one of {names}", names=", ".join(PRIORITIES)), field="priority"
        )
    before = loaded.row.priority
    loaded.row.priority = priority
    loaded.row.updated_at = utcnow()
    record_change(
        session, loaded.row, loaded.principal.actor, "priority", {"from": before, "to": priority}
    )
