"""The conversation page's customer panel: ``GET /desk/conversations/{id}/customer``.

The 360 read of the conversation's customer for the reader's role (``customer_360``:
masked fields, the role's order and timeline limits), the consent that applies, their
open tickets and their conversations on every channel as far as the reader may see them,
a reveal-with-a-reason control where the role may reveal (the 360 page's own form and
route), and the next best action. Each load is audited as a customer view, like the 360
page. It reloads live (``data-live-conversation``) and after the page's own actions.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.errors import NotFound
from omnicx.core.i18n import msg
from omnicx.customers.consent import consent_subject
from omnicx.customers.schemas import Customer360
from omnicx.customers.service import customer_360, customer_view_entry
from omnicx.desk.access import LoadedConversation
from omnicx.desk.details import customer_conversations
from omnicx.desk.service import load_conversation
from omnicx.desk.tickets.customer_tickets import open_tickets_of
from omnicx.governance.api import client_ip
from omnicx.governance.audit import commit_entry
from omnicx.governance.consent import EVERY_CHANNEL, PURPOSES, consent_grid, decisions_of
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.web.conversation_pages import ConversationId, desk_user, refusal
from omnicx.web.pages import render, reveal_controls

router = APIRouter(include_in_schema=False)


def consent_summary(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """Per purpose: the decision for every channel, and the channels decided otherwise."""
    grid = consent_grid(decisions_of(session, consent_subject(session, customer_id)))
    summary = []
    for purpose in PURPOSES:
        everywhere = grid[purpose][EVERY_CHANNEL]
        summary.append(
            {
                "purpose": purpose,
                "granted": everywhere.granted,
                "decided": everywhere.decided_by is not None,
                "except": [
                    channel
                    for channel, state in grid[purpose].items()
                    if channel != EVERY_CHANNEL and state.granted != everywhere.granted
                ],
            }
        )
    return summary


def panel_context(
    session: Session, principal: Principal, loaded: LoadedConversation, view: Customer360
) -> dict[str, Any]:
    return {
        "c": view,
        "fields": reveal_controls(principal, view),
        "hidden": [f for f in view.access.fields if f.display == "hidden"],
        "conversation_id": loaded.row.id,
        "conversations": customer_conversations(session, loaded.reach, view.id),
        "tickets": open_tickets_of(session, loaded.reach, loaded.view, view.id),
        "consent": [] if view.erased_at else consent_summary(session, view.id),
    }


@router.get("/desk/conversations/{conversation_id}/customer", response_class=HTMLResponse)
def customer_panel(request: Request, conversation_id: ConversationId) -> Response:
    principal = desk_user(request, conversation_id, Permission.DESK_READ)
    if not isinstance(principal, Principal):
        return principal
    if not principal.may(Permission.CUSTOMERS_READ):
        return refusal(request, msg("Your role does not see customers."), 403)
    with get_database().read() as session:
        try:
            loaded = load_conversation(session, principal, conversation_id)
        except NotFound as exc:
            return refusal(request, exc.text, 404)
        if loaded.row.customer_id is None:
            return render(request, "_conversation_customer.html", {"c": None})
        try:
            view = customer_360(session, principal, loaded.row.customer_id)
        except NotFound:
            return render(request, "_conversation_customer.html", {"c": None})
        context = panel_context(session, principal, loaded, view)
    entry = customer_view_entry(principal, view, via="page.conversation", ip=client_ip(request))
    commit_entry(get_database(), entry)
    return render(request, "_conversation_customer.html", context)
