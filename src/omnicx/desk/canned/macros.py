"""Macros: several conversation actions in one click — label, assign, priority, status,
reply (typed or a canned reply, filled in for the customer), private note.

A macro runs in the one transaction of the conversation it is applied to, through the
same services as the single actions (each records its history row), so it does all of
its actions or none. Who may do what is checked per action as if clicked one by one: an
agent's macro cannot assign a conversation to someone else.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import utcnow
from omnicx.desk import assignment, replies
from omnicx.desk import status as statuses
from omnicx.desk.access import LoadedConversation, labels_of
from omnicx.desk.canned.models import Macro
from omnicx.desk.canned.replies import canned_by_code, check_body, render
from omnicx.governance.access import Shown

MAX_ACTIONS = 20
MAX_NAME = 100


class AddLabels(BaseModel):
    action: Literal["label"]
    labels: list[str] = Field(min_length=1, max_length=20)


class Assign(BaseModel):
    action: Literal["assign"]
    assignee_id: int | None = Field(None, ge=1, le=2**31 - 1)
    team_id: int | None = Field(None, ge=1, le=2**31 - 1)
    unassign: bool = False


class Priority(BaseModel):
    action: Literal["priority"]
    priority: Literal["low", "normal", "high", "urgent"]


class Status(BaseModel):
    action: Literal["status"]
    status: Literal["open", "pending", "resolved"]


class Reply(BaseModel):
    """A reply to the customer: a canned reply by short code, or a template of its own."""

    action: Literal["reply", "note"]
    canned: str | None = Field(None, max_length=33)
    text: str | None = Field(None, max_length=4000)


Action = Annotated[AddLabels | Assign | Priority | Status | Reply, Field(discriminator="action")]
ACTIONS: TypeAdapter[list[Action]] = TypeAdapter(list[Action])


def check_actions(session: Session, raw: object) -> list[Action]:
    """Validated actions. Raises InvalidInput naming the first wrong one."""
    try:
        actions = ACTIONS.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise InvalidInput(
            msg("actions.{where}: {problem}", where=where, problem=error["msg"]), field="actions"
        ) from exc
    if not actions or len(actions) > MAX_ACTIONS:
        raise InvalidInput(
            msg("a macro has 1 to {maximum} actions", maximum=MAX_ACTIONS), field="actions"
        )
    for action in actions:
        if isinstance(action, Reply):
            if (action.canned is None) == (action.text is None):
                raise InvalidInput(
                    msg("a {action} action has either canned or text", action=action.action),
                    field="actions",
                )
            if action.canned is not None:
                canned_by_code(session, action.canned)  # it must exist now
            else:
                check_body(action.text or "")
    return actions


def check_name(name: str) -> str:
    name = name.strip()
    check_text(name, "name")
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(
            msg("a macro's name is 1 to {maximum} characters", maximum=MAX_NAME), field="name"
        )
    return name


def create_macro(session: Session, actor: str, name: str, actions: object) -> Macro:
    name = check_name(name)
    if session.scalar(select(Macro.id).where(Macro.name == name)) is not None:
        raise Conflict(msg("a macro named {name!r} exists", name=name), field="name")
    checked = check_actions(session, actions)
    now = utcnow()
    macro = Macro(
        name=name,
        actions=dumps([a.model_dump(exclude_none=True) for a in checked]),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(macro)
    session.flush()
    return macro


def get_macro(session: Session, macro_id: int) -> Macro:
    macro = session.get(Macro, macro_id)
    if macro is None:
        raise NotFound(msg("no macro {macro_id}", macro_id=macro_id), field="macro_id")
    return macro


def list_macros(session: Session) -> list[Macro]:
    return list(session.scalars(select(Macro).order_by(Macro.name)))


def run_macro(session: Session, loaded: LoadedConversation, macro: Macro) -> list[Shown]:
    """Apply every action of ``macro`` to the loaded (row-locked) conversation, in order.
    Returns how the customer's protected traits were shown in its replies (for the
    audit entry)."""
    shown: list[Shown] = []
    principal, conversation = loaded.principal, loaded.row
    for action in check_actions(session, loads(macro.actions)):
        if isinstance(action, AddLabels):
            assignment.set_labels(session, loaded, labels_of(conversation) + action.labels)
        elif isinstance(action, Assign):
            assignment.assign(
                session,
                loaded,
                assignee_id=action.assignee_id,
                team_id=action.team_id,
                unassign=action.unassign,
            )
        elif isinstance(action, Priority):
            assignment.set_priority(session, loaded, action.priority)
        elif isinstance(action, Status):
            statuses.set_status(session, principal.actor, conversation, action.status)
        else:
            body = canned_by_code(session, action.canned).body if action.canned else action.text
            text, seen = render(session, loaded, body or "")
            shown.extend(seen)
            replies.post_message(
                session,
                conversation,
                author_user_id=loaded.reach.user_id,
                actor=principal.actor,
                kind="reply" if action.action == "reply" else "note",
                text=text,
            )
    return shown
