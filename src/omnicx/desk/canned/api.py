"""``/api/v1/canned-replies`` and ``/api/v1/macros``, and applying them to a conversation
(``/api/v1/conversations/{id}/canned-replies/render``, ``…/macros/{macro_id}``).

Saved answers and macros are changed by desk managers (audited); any desk reader lists
them. Rendering or running one for a conversation loads it through the desk's row-level
access and fills in the customer as the caller may see them (an audited read).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.eventlog.table import appended
from omnicx.core.serialization import loads
from omnicx.desk.access import load_conversation
from omnicx.desk.api import conversation_out
from omnicx.desk.canned import macros, replies
from omnicx.desk.canned.models import CannedReply, Macro
from omnicx.desk.schemas import ConversationOut
from omnicx.governance import audit
from omnicx.governance.access import Shown, view_entry
from omnicx.governance.api import client_ip, require
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

router = APIRouter(prefix="/api/v1", tags=["desk"])

Reader = Annotated[Principal, Depends(require(Permission.DESK_READ))]
Replier = Annotated[Principal, Depends(require(Permission.DESK_REPLY))]
Manager = Annotated[Principal, Depends(require(Permission.DESK_MANAGE))]
ConversationId = Annotated[int, Path(ge=1, le=2**62)]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class CannedIn(BaseModel):
    code: str = Field(max_length=33, examples=["invoice"])
    title: str = Field(max_length=200, examples=["发票已开具"])
    body: str = Field(
        max_length=4000, examples=["{{ customer.name }}您好，您的发票已开具，请查收邮箱。"]
    )


class CannedPatch(BaseModel):
    code: str | None = Field(None, max_length=33)
    title: str | None = Field(None, max_length=200)
    body: str | None = Field(None, max_length=4000)


class CannedOut(BaseModel):
    id: int
    code: str
    title: str
    body: str
    updated_at: datetime

    @classmethod
    def of(cls, row: CannedReply) -> CannedOut:
        return cls(
            id=row.id, code=row.code, title=row.title, body=row.body, updated_at=row.updated_at
        )


class RenderIn(BaseModel):
    code: str | None = Field(None, max_length=33, description="A canned reply's short code")
    body: str | None = Field(None, max_length=4000, description="Or a template of your own")


class RenderOut(BaseModel):
    text: str


class MacroIn(BaseModel):
    name: str = Field(max_length=100, examples=["发票已开具并结案"])
    actions: list[dict[str, Any]] = Field(
        max_length=macros.MAX_ACTIONS,
        examples=[
            [
                {"action": "reply", "canned": "invoice"},
                {"action": "label", "labels": ["发票"]},
                {"action": "status", "status": "resolved"},
            ]
        ],
    )


class MacroOut(BaseModel):
    id: int
    name: str
    actions: list[dict[str, Any]]

    @classmethod
    def of(cls, row: Macro) -> MacroOut:
        return cls(id=row.id, name=row.name, actions=loads(row.actions))


def _audit(
    session: Session, principal: Principal, request: Request, action: str, row: CannedReply | Macro
) -> None:
    """Audit a change to a canned reply or a macro (``desk.canned_reply.create`` …)."""
    kind, label = (
        ("canned_reply", {"code": row.code})
        if isinstance(row, CannedReply)
        else ("macro", {"name": row.name})
    )
    audit.record(
        session,
        principal,
        f"desk.{kind}.{action}",
        target_type=kind,
        target_id=row.id,
        detail=label,
        ip=client_ip(request),
    )


def _audit_customer_read(
    principal: Principal, customer_id: int | None, shown: list[Shown], via: str, request: Request
) -> None:
    if customer_id is not None:
        entry = view_entry(principal, customer_id, via=via, shown=shown, ip=client_ip(request))
        audit.commit_entry(get_database(), entry)


# -- canned replies -------------------------------------------------------------------------


@router.get("/canned-replies", response_model=list[CannedOut], summary="Canned replies")
def list_canned(
    principal: Reader,
    q: Annotated[str, Query(max_length=100, description="Short code prefix or title words")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CannedOut]:
    with get_database().read() as session:
        return [CannedOut.of(r) for r in replies.find_canned(session, q, limit)]


@router.post("/canned-replies", response_model=CannedOut, status_code=201)
def create_canned(principal: Manager, request: Request, body: CannedIn) -> CannedOut:
    with get_database().write() as session:
        row = replies.create_canned(session, principal.actor, body.code, body.title, body.body)
        _audit(session, principal, request, "create", row)
        return CannedOut.of(row)


@router.patch("/canned-replies/{reply_id}", response_model=CannedOut)
def update_canned(
    principal: Manager, request: Request, reply_id: ItemId, body: CannedPatch
) -> CannedOut:
    with get_database().write() as session:
        row = replies.update_canned(
            session, reply_id, code=body.code, title=body.title, body=body.body
        )
        _audit(session, principal, request, "update", row)
        return CannedOut.of(row)


@router.delete("/canned-replies/{reply_id}", status_code=204, response_class=Response)
def delete_canned(principal: Manager, request: Request, reply_id: ItemId) -> Response:
    with get_database().write() as session:
        row = replies.get_canned(session, reply_id)
        _audit(session, principal, request, "delete", row)
        session.delete(row)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/canned-replies/render",
    response_model=RenderOut,
    summary="A canned reply (or a template) filled in for the conversation's customer",
)
def render_canned(
    principal: Reader, request: Request, conversation_id: ConversationId, body: RenderIn
) -> RenderOut:
    with get_database().read() as session:
        loaded = load_conversation(session, principal, conversation_id)
        text, shown = replies.render_canned(session, loaded, code=body.code, body=body.body)
        customer_id = loaded.row.customer_id
    _audit_customer_read(principal, customer_id, shown, "desk.canned_reply", request)
    return RenderOut(text=text)


# -- macros -------------------------------------------------------------------------------


@router.get("/macros", response_model=list[MacroOut], summary="Macros")
def list_macros(principal: Reader) -> list[MacroOut]:
    with get_database().read() as session:
        return [MacroOut.of(m) for m in macros.list_macros(session)]


@router.post("/macros", response_model=MacroOut, status_code=201)
def create_macro(principal: Manager, request: Request, body: MacroIn) -> MacroOut:
    with get_database().write() as session:
        row = macros.create_macro(session, principal.actor, body.name, body.actions)
        _audit(session, principal, request, "create", row)
        return MacroOut.of(row)


@router.delete("/macros/{macro_id}", status_code=204, response_class=Response)
def delete_macro(principal: Manager, request: Request, macro_id: ItemId) -> Response:
    with get_database().write() as session:
        row = macros.get_macro(session, macro_id)
        _audit(session, principal, request, "delete", row)
        session.delete(row)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/macros/{macro_id}",
    response_model=ConversationOut,
    summary="Run a macro's actions on the conversation, all or none",
)
def run_macro(
    principal: Replier, request: Request, conversation_id: ConversationId, macro_id: ItemId
) -> ConversationOut:
    with get_database().write() as session:
        loaded = load_conversation(session, principal, conversation_id, for_update=True)
        shown = macros.run_macro(session, loaded, macros.get_macro(session, macro_id))
        session.flush()
        answer = conversation_out(loaded.row, loaded.view)
        customer_id = loaded.row.customer_id
    appended.set()  # a reply is on the log: wake this process's processors
    _audit_customer_read(principal, customer_id, shown, "desk.macro", request)
    return answer
