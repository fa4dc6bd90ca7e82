"""Row-level access to conversations: the one way a route loads a conversation.

Agents (and senior agents) see the conversations assigned to them, and every
conversation of their teams (a teammate's, and the team queue's unassigned ones);
principals with ``desk:manage`` (supervisors, admins) see all. A conversation the
principal may not see is "not found" — its existence is not leaked.

The conversation's customer data (the customer's traits, message text) is shaped by the
reader's role through ``governance.access.view_for``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from omnicx.core.errors import NotFound
from omnicx.core.i18n import msg
from omnicx.core.serialization import loads
from omnicx.customers.service import customer_traits
from omnicx.desk.models import Conversation, Message
from omnicx.desk.teams import teams_of
from omnicx.governance.access import RoleView, Shown, view_for
from omnicx.governance.permissions import Permission, allows
from omnicx.governance.service import Principal, acting_user_id

# The traits a conversation shows of its customer (masked by role like the 360 view).
CUSTOMER_FIELDS = ("name", "phone", "email", "tags", "loyalty_tier")


@dataclass(frozen=True)
class Reach:
    """What a principal may see of the desk: everything, or an agent's own and teams'."""

    everything: bool
    user_id: int | None
    team_ids: tuple[int, ...]

    def clause(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        parts: list[ColumnElement[bool]] = []
        if self.user_id is not None:
            parts.append(Conversation.assignee_id == self.user_id)
        if self.team_ids:
            parts.append(Conversation.team_id.in_(self.team_ids))
        return or_(*parts) if parts else false()

    def sees(self, assignee_id: int | None, team_id: int | None) -> bool:
        """``clause`` for a conversation already read (the live feed's fan-out)."""
        if self.everything:
            return True
        mine = self.user_id is not None and assignee_id == self.user_id
        return mine or (team_id is not None and team_id in self.team_ids)


def customer_fields(session: Session, view: RoleView, customer_id: int | None) -> dict[str, Any]:
    """The customer's identifying traits (``CUSTOMER_FIELDS``) as this role sees them."""
    return shown_customer(session, view, customer_id)[0]


def shown_customer(
    session: Session, view: RoleView, customer_id: int | None
) -> tuple[dict[str, Any], list[Shown]]:
    """``customer_fields`` and how each protected one was shown (for the read's audit)."""
    if customer_id is None:
        return {}, []
    traits = customer_traits(session, customer_id)
    return view.traits({k: traits[k] for k in CUSTOMER_FIELDS if k in traits})


def reach_of(session: Session, principal: Principal) -> Reach:
    user_id = acting_user_id(session, principal)
    if allows(principal.role, Permission.DESK_MANAGE):
        return Reach(True, user_id, ())
    teams = tuple(teams_of(session, user_id)) if user_id is not None else ()
    return Reach(False, user_id, teams)


@dataclass
class LoadedConversation:
    """An authorised conversation, the reader's role view and reach."""

    row: Conversation
    view: RoleView
    reach: Reach
    principal: Principal

    def customer(self, session: Session) -> dict[str, Any]:
        return customer_fields(session, self.view, self.row.customer_id)

    def text(self, message: Message) -> str:
        """Free text as the role sees it (phones and e-mails masked for agents)."""
        return self.view.text(message.text)

    def attachments(self, message: Message) -> list[Any]:
        """The message's files; their names are free text a customer chose, shaped like
        the text (``13800138000.jpg`` reads ``138****8000.jpg`` to an agent)."""
        return [
            {**item, "name": self.view.text(item["name"])}
            if isinstance(item, dict) and isinstance(item.get("name"), str)
            else item
            for item in loads(message.attachments)
        ]


def load_conversation(
    session: Session, principal: Principal, conversation_id: int, *, for_update: bool = False
) -> LoadedConversation:
    """Load, authorise and shape a conversation for ``principal``. Raises NotFound
    (also when it exists but the principal may not see it). ``for_update`` locks the row
    for a command."""
    reach = reach_of(session, principal)
    stmt = select(Conversation).where(Conversation.id == conversation_id, reach.clause())
    if for_update:
        # NO KEY UPDATE: a message inserted meanwhile takes FOR KEY SHARE on its conversation
        # (its foreign key), which must not wait for an agent's command.
        stmt = stmt.with_for_update(key_share=True)
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(
            msg("no conversation {conversation_id}", conversation_id=conversation_id),
            field="conversation_id",
        )
    return LoadedConversation(
        row=row, view=view_for(session, principal), reach=reach, principal=principal
    )


def labels_of(conversation: Conversation) -> list[str]:
    return list(loads(conversation.labels))
