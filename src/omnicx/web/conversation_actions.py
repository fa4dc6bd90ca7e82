"""What an agent does on the conversation page: reply or note, canned replies, macros,
assignment and transfer, snooze, status, priority, labels, a ticket.

Each post is CSRF-checked and runs the desk's own services (the ones the API calls) on
the conversation loaded through row-level access and locked for the command, in one
transaction. From htmx it answers a line for the page's status slot — what was done,
with ``HX-Trigger: conversation-changed`` so the thread, head and customer panel reload,
or the error, translated, with its status; from a plain form post, a redirect back to
the page or the site's error page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput, OmniError
from omnicx.core.eventlog.table import appended
from omnicx.core.i18n import Message, msg
from omnicx.core.serialization import loads
from omnicx.core.time import utcnow
from omnicx.desk import assignment, replies
from omnicx.desk import status as statuses
from omnicx.desk.access import LoadedConversation, labels_of
from omnicx.desk.canned import macros
from omnicx.desk.canned.replies import find_canned, render_canned
from omnicx.desk.service import load_conversation
from omnicx.desk.tickets.service import create_ticket
from omnicx.governance.access import Shown
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal, acting_user_id
from omnicx.web.conversation_pages import (
    CHANGED,
    ConversationId,
    audit_read,
    desk_user,
    from_htmx,
    page_path,
    refusal,
    status_line,
    tomorrow_morning,
)
from omnicx.web.pages import render
from omnicx.web.session import check_csrf

router = APIRouter(include_in_schema=False)

# Form fields are read as text and checked by the services (or below), so a wrong value
# is a translated 400 in the page, not a validation error meant for programs.
Field = Annotated[str, Form()]
PICKER_SIZE = 8
HOUR = timedelta(hours=1)


@dataclass
class Outcome:
    """What an action did: the line the agent reads, and what follows from it."""

    said: Message
    redirect: str | None = None
    # How a macro's replies showed the customer (they are filled in for them): the
    # action is also a read of the customer, audited like the API's.
    shown: list[Shown] | None = None
    # A reply went on the event log: wake this process's processors.
    logged: bool = False


Act = Callable[[Session, LoadedConversation], Outcome]


def _act(request: Request, conversation_id: int, csrf: str, act: Act) -> Response:
    principal = desk_user(request, conversation_id, Permission.DESK_REPLY)
    if not isinstance(principal, Principal):
        return principal
    try:
        check_csrf(request, csrf)
        with get_database().write() as session:
            loaded = load_conversation(session, principal, conversation_id, for_update=True)
            outcome = act(session, loaded)
            customer_id = loaded.row.customer_id
    except OmniError as exc:
        return refusal(request, exc.text, exc.status_code)
    if outcome.logged:
        appended.set()
    if outcome.shown is not None:
        audit_read(request, principal, customer_id, "desk.macro", outcome.shown)
    return _done(request, conversation_id, outcome)


def _done(request: Request, conversation_id: int, outcome: Outcome) -> Response:
    target = outcome.redirect or page_path(conversation_id)
    if not from_htmx(request):
        return RedirectResponse(target, status_code=303)
    headers = {"HX-Redirect": target} if outcome.redirect else {"HX-Trigger": CHANGED}
    return status_line(request, outcome.said, headers=headers)


def _number(value: str, field_name: str, what: Message) -> int:
    """A row id chosen in a form (the services say whether that row exists)."""
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 10) or not 0 < int(value) < 2**31:
        raise InvalidInput(what, field=field_name)
    return int(value)


# -- the reply box -----------------------------------------------------------------------


@router.post("/desk/conversations/{conversation_id}/messages", response_class=HTMLResponse)
def post_message(
    request: Request,
    conversation_id: ConversationId,
    text: Field = "",
    kind: Field = "reply",
    csrf: Field = "",
    attachment_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        files = [
            _number(i, "attachment_ids", msg("Choose the files again."))
            for i in attachment_ids or []
        ]
        replies.post_message(
            session,
            loaded.row,
            author_user_id=loaded.reach.user_id,
            actor=loaded.principal.actor,
            kind=kind,
            text=text,
            attachment_ids=files,
        )
        if kind == "note":
            return Outcome(msg("Private note added."))
        return Outcome(msg("Reply added; it leaves on the conversation's channel."), logged=True)

    return _act(request, conversation_id, csrf, act)


@router.get("/desk/conversations/{conversation_id}/canned", response_class=HTMLResponse)
def canned_picker(
    request: Request,
    conversation_id: ConversationId,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The canned replies whose short code starts with (or title holds) what follows "/"."""
    principal = desk_user(request, conversation_id, Permission.DESK_READ)
    if not isinstance(principal, Principal):
        return principal
    try:
        with get_database().read() as session:
            load_conversation(session, principal, conversation_id)
            found = find_canned(session, q, PICKER_SIZE)
            options = [{"code": r.code, "title": r.title} for r in found]
    except OmniError as exc:
        return refusal(request, exc.text, exc.status_code)
    return render(request, "_canned_picker.html", {"options": options, "query": q})


@router.post("/desk/conversations/{conversation_id}/canned", response_class=PlainTextResponse)
def fill_in_canned(
    request: Request, conversation_id: ConversationId, code: Field = "", csrf: Field = ""
) -> Response:
    """A canned reply's text filled in for this customer as the agent may see them (plain
    text for the reply box); audited as a read of the customer, as the API's render is."""
    principal = desk_user(request, conversation_id, Permission.DESK_READ)
    if not isinstance(principal, Principal):
        return principal
    try:
        check_csrf(request, csrf)
        with get_database().read() as session:
            loaded = load_conversation(session, principal, conversation_id)
            text, shown = render_canned(session, loaded, code=code, body=None)
            customer_id = loaded.row.customer_id
    except OmniError as exc:
        return refusal(request, exc.text, exc.status_code)
    audit_read(request, principal, customer_id, "desk.canned_reply", shown)
    return PlainTextResponse(text)


@router.post("/desk/conversations/{conversation_id}/macro", response_class=HTMLResponse)
def run_macro(
    request: Request, conversation_id: ConversationId, macro_id: Field = "", csrf: Field = ""
) -> Response:
    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        chosen = _number(macro_id, "macro_id", msg("Choose a macro."))
        macro = macros.get_macro(session, chosen)
        shown = macros.run_macro(session, loaded, macro)
        steps = len(loads(macro.actions))
        said = msg("Macro {name} done: {steps} actions.", name=macro.name, steps=steps)
        return Outcome(said, shown=shown, logged=True)

    return _act(request, conversation_id, csrf, act)


# -- the head's actions ------------------------------------------------------------------


@router.post("/desk/conversations/{conversation_id}/assign", response_class=HTMLResponse)
def assign(
    request: Request, conversation_id: ConversationId, assignee: Field = "", csrf: Field = ""
) -> Response:
    """``assignee``: ``me``, a user id (``desk:manage``), or ``nobody`` (back to the queue)."""

    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        if assignee == "nobody":
            assignment.assign(session, loaded, assignee_id=None, unassign=True)
            return Outcome(msg("Back in the team's queue."))
        if assignee == "me":
            if loaded.reach.user_id is None:
                raise InvalidInput("this account acts for no user", field="assignee")
            chosen = loaded.reach.user_id
        else:
            chosen = _number(assignee, "assignee", msg("Choose an agent."))
        assignment.assign(session, loaded, assignee_id=chosen)
        return Outcome(msg("Assigned."))

    return _act(request, conversation_id, csrf, act)


@router.post("/desk/conversations/{conversation_id}/transfer", response_class=HTMLResponse)
def transfer(
    request: Request, conversation_id: ConversationId, team_id: Field = "", csrf: Field = ""
) -> Response:
    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        team = _number(team_id, "team_id", msg("Choose a team."))
        assignment.assign(session, loaded, assignee_id=None, team_id=team)
        return Outcome(msg("Transferred."))

    return _act(request, conversation_id, csrf, act)


def snooze_until(preset: str, chosen: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The wake-up time of a snooze preset: ``hour``, ``tomorrow`` (09:00, site time) or
    ``custom`` (``chosen``, a ``datetime-local`` value read in the site's time zone)."""
    if preset == "hour":
        return now + HOUR
    if preset == "tomorrow":
        return tomorrow_morning(zone, now)
    if preset == "custom":
        try:
            local = datetime.fromisoformat(chosen.strip())
            return (local.replace(tzinfo=zone) if local.tzinfo is None else local).astimezone(UTC)
        except (ValueError, OverflowError) as exc:  # not a time, or one past the calendar
            raise InvalidInput(
                msg("Choose the day and time to snooze until."), field="until"
            ) from exc
    raise InvalidInput(msg("Choose how long to snooze."), field="preset")


@router.post("/desk/conversations/{conversation_id}/snooze", response_class=HTMLResponse)
def snooze(
    request: Request,
    conversation_id: ConversationId,
    preset: Field = "",
    until: Field = "",
    csrf: Field = "",
) -> Response:
    zone = ZoneInfo(request.app.state.settings.timezone)

    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        wake_at = snooze_until(preset, until, zone, utcnow())
        statuses.snooze(session, loaded.principal.actor, loaded.row, wake_at)
        return Outcome(msg("Snoozed."))

    return _act(request, conversation_id, csrf, act)


@router.post("/desk/conversations/{conversation_id}/status", response_class=HTMLResponse)
def change_status(
    request: Request, conversation_id: ConversationId, status: Field = "", csrf: Field = ""
) -> Response:
    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        before = loaded.row.status
        statuses.set_status(session, loaded.principal.actor, loaded.row, status)
        if status == "resolved":
            return Outcome(msg("Resolved."))
        return Outcome(msg("Reopened.") if before == "resolved" else msg("Status changed."))

    return _act(request, conversation_id, csrf, act)


@router.post("/desk/conversations/{conversation_id}/priority", response_class=HTMLResponse)
def change_priority(
    request: Request, conversation_id: ConversationId, priority: Field = "", csrf: Field = ""
) -> Response:
    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        assignment.set_priority(session, loaded, priority)
        return Outcome(msg("Priority changed."))

    return _act(request, conversation_id, csrf, act)


@router.post("/desk/conversations/{conversation_id}/labels", response_class=HTMLResponse)
def change_labels(
    request: Request,
    conversation_id: ConversationId,
    add: Field = "",
    remove: Field = "",
    csrf: Field = "",
) -> Response:
    """Add the label ``add`` or take ``remove`` off (the service checks what a label is)."""

    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        labels = labels_of(loaded.row)
        if remove:
            if remove not in labels:
                raise InvalidInput(
                    msg("The conversation has no label {label}.", label=remove), field="remove"
                )
            assignment.set_labels(session, loaded, [label for label in labels if label != remove])
            return Outcome(msg("Label removed."))
        if not add.strip():
            raise InvalidInput(msg("Write the label to add."), field="add")
        assignment.set_labels(session, loaded, [*labels, add])
        return Outcome(msg("Label added."))

    return _act(request, conversation_id, csrf, act)


@router.post("/desk/conversations/{conversation_id}/tickets", response_class=HTMLResponse)
def open_ticket(
    request: Request,
    conversation_id: ConversationId,
    title: Field = "",
    type: Field = "inquiry",
    priority: Field = "normal",
    csrf: Field = "",
) -> Response:
    """A ticket from the conversation (its customer and team, linked); then its page."""

    def act(session: Session, loaded: LoadedConversation) -> Outcome:
        ticket = create_ticket(
            session,
            loaded.principal,
            acting_user_id(session, loaded.principal),
            title=title,
            type=type,
            priority=priority,
            conversation=loaded,
        )
        return Outcome(msg("Ticket opened."), redirect=f"/desk/tickets/{ticket.id}")

    return _act(request, conversation_id, csrf, act)
