"""``/api/v1/conversations``, ``/api/v1/teams``, ``/api/v1/agents``: the desk's API.

Every conversation route loads through ``access.load_conversation`` (row-level access:
not visible is 404); each command runs in one transaction with its history row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.errors import Conflict
from omnicx.core.eventlog.table import appended
from omnicx.core.i18n import DEFAULT_LANGUAGE, negotiate_language, normalize_language
from omnicx.core.serialization import loads
from omnicx.desk import assignment, replies, teams
from omnicx.desk import status as statuses
from omnicx.desk.access import LoadedConversation, load_conversation, reach_of
from omnicx.desk.delivery import reason_in
from omnicx.desk.listing import list_conversations, list_entry
from omnicx.desk.models import Conversation, Message, Team
from omnicx.desk.routing import drain_agent_queues, drain_queues
from omnicx.desk.schemas import (
    AgentOut,
    AssignRequest,
    ConversationDetail,
    ConversationOut,
    ConversationPage,
    HandoffRequest,
    LabelsRequest,
    MemberIn,
    MessageOut,
    MessagePage,
    NewMessage,
    PresenceIn,
    PresenceOut,
    SnoozeRequest,
    StatusRequest,
    TeamIn,
    TeamOut,
    View,
)
from omnicx.desk.thread import messages_after
from omnicx.governance.access import RoleView, view_entry, view_for
from omnicx.governance.api import client_ip, require
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal, acting_user_id

router = APIRouter(prefix="/api/v1", tags=["desk"])

Reader = Annotated[Principal, Depends(require(Permission.DESK_READ))]
Replier = Annotated[Principal, Depends(require(Permission.DESK_REPLY))]
Manager = Annotated[Principal, Depends(require(Permission.DESK_MANAGE))]
ConversationId = Annotated[int, Path(ge=1, le=2**62)]
TeamId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]


def conversation_out(row: Conversation, view: RoleView) -> ConversationOut:
    return ConversationOut.model_validate(_fields(row, view))


def _fields(row: Conversation, view: RoleView) -> dict[str, object]:
    fields = {name: getattr(row, name) for name in ConversationOut.model_fields if name != "labels"}
    fields["labels"] = loads(row.labels)
    # An SMS or phone thread is the customer's number: shaped for the reader like text.
    fields["thread"] = view.text(row.thread)
    return fields


def message_out(loaded: LoadedConversation, message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        direction=message.direction,
        author_user_id=message.author_user_id,
        text=loaded.text(message),
        attachments=loaded.attachments(message),
        created_at=message.created_at,
        delivery=message.delivery,
    )


def api_language(request: Request) -> str:
    """The language an API answer's sentences are in: ``?lang=``, else Accept-Language."""
    return (
        normalize_language(request.query_params.get("lang"))
        or negotiate_language(request.headers.get("accept-language"))
        or DEFAULT_LANGUAGE
    )


def _audit_read(principal: Principal, customer_id: int | None, request: Request) -> None:
    """A conversation shows customer data: its read is audited like the 360 view's."""
    if customer_id is not None:
        entry = view_entry(principal, customer_id, via="desk.conversation", ip=client_ip(request))
        commit_entry(get_database(), entry)


@router.get("/conversations", response_model=ConversationPage, summary="Conversations you may see")
def get_conversations(
    principal: Reader,
    request: Request,
    view: View = "all",
    status: Annotated[str | None, Query(pattern="^(bot|open|pending|snoozed|resolved)$")] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    label: Annotated[str | None, Query(max_length=50)] = None,
    team: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    assignee: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    sla: Annotated[
        Literal["at_risk", "breached"] | None,
        Query(description="Only conversations with an SLA clock now in this state"),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The customer's phone, e-mail or other identifier, 2+ characters "
            "of their name, or words / 2+ Chinese characters of a message or note",
        ),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ConversationPage:
    searched = bool(q and q.strip())
    with get_database().read() as session:
        rows, next_cursor = list_conversations(
            session,
            reach_of(session, principal),
            view=view,
            status=status,
            channel=channel,
            label=label,
            team_id=team,
            assignee_id=assignee,
            sla=sla,
            q=q,
            cursor=cursor,
            limit=limit,
        )
        seen_as = view_for(session, principal)
        page = ConversationPage(
            items=[conversation_out(r, seen_as) for r in rows], next_cursor=next_cursor
        )
    if searched:  # a list without a query shows no customer data: nothing to audit
        entry = list_entry(
            principal, via="api.conversations", rows=len(rows), search=True, ip=client_ip(request)
        )
        commit_entry(get_database(), entry)
    return page


@router.get(
    "/conversations/{conversation_id}", response_model=ConversationDetail, summary="A conversation"
)
def get_conversation(
    principal: Reader, request: Request, conversation_id: ConversationId
) -> ConversationDetail:
    with get_database().read() as session:
        loaded = load_conversation(session, principal, conversation_id)
        detail = ConversationDetail(
            **_fields(loaded.row, loaded.view), customer=loaded.customer(session)
        )
    _audit_read(principal, detail.customer_id, request)
    return detail


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=MessagePage,
    summary="A conversation's messages, oldest first (notes included)",
)
def get_messages(
    principal: Reader,
    request: Request,
    conversation_id: ConversationId,
    cursor: Annotated[
        int | None, Query(ge=0, le=2**62, description="After this message id")
    ] = None,
    limit: Limit = 100,
) -> MessagePage:
    with get_database().read() as session:
        loaded = load_conversation(session, principal, conversation_id)
        page, more = messages_after(session, loaded, cursor or 0, limit)
        language = api_language(request)
        items = [
            MessageOut.model_validate(
                {**vars(m), "delivery_reason": reason_in(language, m.delivery_reason)}
            )
            for m in page
        ]
        customer_id = loaded.row.customer_id
    _audit_read(principal, customer_id, request)
    return MessagePage(items=items, next_cursor=str(items[-1].id) if more and items else None)


def _command(
    principal: Principal,
    conversation_id: int,
    act: Callable[[Session, LoadedConversation], object],
) -> ConversationOut:
    """Load the conversation for a command (row locked), run ``act``, answer its state."""
    with get_database().write() as session:
        loaded = load_conversation(session, principal, conversation_id, for_update=True)
        act(session, loaded)
        session.flush()
        return conversation_out(loaded.row, loaded.view)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageOut,
    status_code=201,
    summary="Reply to the customer (queued for the channel) or add a private note",
)
def post_message(
    principal: Replier, conversation_id: ConversationId, body: NewMessage
) -> MessageOut:
    with get_database().write() as session:
        loaded = load_conversation(session, principal, conversation_id, for_update=True)
        message = replies.post_message(
            session,
            loaded.row,
            author_user_id=loaded.reach.user_id,
            actor=principal.actor,
            kind=body.kind,
            text=body.text,
            attachment_ids=body.attachment_ids,
        )
        answer = message_out(loaded, message)
    appended.set()  # a reply is on the log: wake this process's processors
    return answer


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationOut)
def assign_conversation(
    principal: Replier, conversation_id: ConversationId, body: AssignRequest
) -> ConversationOut:
    return _command(
        principal,
        conversation_id,
        lambda session, loaded: assignment.assign(
            session,
            loaded,
            assignee_id=body.assignee_id,
            team_id=body.team_id,
            unassign=body.unassign,
        ),
    )


@router.post("/conversations/{conversation_id}/status", response_model=ConversationOut)
def change_status(
    principal: Replier, conversation_id: ConversationId, body: StatusRequest
) -> ConversationOut:
    return _command(
        principal,
        conversation_id,
        lambda session, loaded: statuses.set_status(
            session, principal.actor, loaded.row, body.status
        ),
    )


@router.post("/conversations/{conversation_id}/labels", response_model=ConversationOut)
def change_labels(
    principal: Replier, conversation_id: ConversationId, body: LabelsRequest
) -> ConversationOut:
    return _command(
        principal,
        conversation_id,
        lambda session, loaded: assignment.set_labels(session, loaded, body.labels),
    )


@router.post("/conversations/{conversation_id}/snooze", response_model=ConversationOut)
def snooze_conversation(
    principal: Replier, conversation_id: ConversationId, body: SnoozeRequest
) -> ConversationOut:
    return _command(
        principal,
        conversation_id,
        lambda session, loaded: statuses.snooze(session, principal.actor, loaded.row, body.until),
    )


@router.post("/conversations/{conversation_id}/handoff", response_model=ConversationOut)
def handoff_conversation(
    principal: Replier, conversation_id: ConversationId, body: HandoffRequest
) -> ConversationOut:
    return _command(
        principal,
        conversation_id,
        lambda session, loaded: statuses.handoff(session, principal.actor, loaded.row, body.reason),
    )


def _team_out(team: Team, sizes: dict[int, int]) -> TeamOut:
    return TeamOut(
        id=team.id, name=team.name, description=team.description, members=sizes.get(team.id, 0)
    )


@router.get("/teams", response_model=list[TeamOut], summary="Teams")
def get_teams(principal: Reader) -> list[TeamOut]:
    with get_database().read() as session:
        sizes = teams.team_sizes(session)
        return [_team_out(t, sizes) for t in teams.list_teams(session)]


@router.post("/teams", response_model=TeamOut, status_code=201, summary="Create a team")
def post_team(principal: Manager, body: TeamIn) -> TeamOut:
    with get_database().write() as session:
        team = teams.create_team(session, body.name, body.description)
        return _team_out(team, {})


@router.get("/teams/{team_id}/members", response_model=list[AgentOut], summary="A team's agents")
def get_members(principal: Reader, team_id: TeamId) -> list[AgentOut]:
    with get_database().read() as session:
        team = teams.team_by_ref(session, team_id)
        return [AgentOut(**vars(m)) for m in teams.members_of(session, team)]


@router.post(
    "/teams/{team_id}/members",
    response_model=list[AgentOut],
    status_code=201,
    summary="Add an agent to a team",
)
def post_member(principal: Manager, team_id: TeamId, body: MemberIn) -> list[AgentOut]:
    with get_database().write() as session:
        team = teams.team_by_ref(session, team_id)
        teams.add_member(session, team, body.user_id)
        drain_queues(session, [team.id])
        return [AgentOut(**vars(m)) for m in teams.members_of(session, team)]


@router.put("/agents/me/presence", response_model=PresenceOut, summary="Set your presence")
def put_presence(principal: Replier, body: PresenceIn) -> PresenceOut:
    with get_database().write() as session:
        user_id = acting_user_id(session, principal)
        if user_id is None:
            raise Conflict("this token acts for no user: presence belongs to a person")
        agent = teams.set_presence(session, user_id, body.presence)
        if body.presence == "online":
            drain_agent_queues(session, user_id)
        return PresenceOut(user_id=user_id, presence=agent.presence, since=agent.presence_since)
