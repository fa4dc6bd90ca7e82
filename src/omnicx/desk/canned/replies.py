"""Canned replies: saved answers an agent inserts by short code, filled in for the
conversation's customer.

The body is a template (``{{ customer.name }}``, ``{{ customer.loyalty_tier }}``,
``{{ agent.name }}``, ``{{ conversation.id }}``) rendered in Jinja2's sandbox, so a
template can read the values it is given and nothing else. The customer's values come
through the access layer, as the agent may see them: a basic agent's ``/invoice`` greets
"张**", a senior agent's "张伟华". An unknown variable renders empty.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.runtime import ChainableUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.time import utcnow
from omnicx.customers.service import customer_traits
from omnicx.desk.access import LoadedConversation
from omnicx.desk.canned.models import CannedReply
from omnicx.governance.access import Shown
from omnicx.governance.service import acting_user_id
from omnicx.governance.users import get_user

CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_BODY = 4000
MAX_TITLE = 200

# Plain text goes to the customer's channel: nothing to escape; the sandbox keeps a
# template to the values it is handed.
templates = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)


def check_body(body: str) -> str:
    """The body, stripped, if it is a template that renders. Raises InvalidInput."""
    body = body.strip()
    check_text(body, "body")
    if not body or len(body) > MAX_BODY:
        raise InvalidInput(
            msg("a canned reply is 1 to {maximum} characters", maximum=MAX_BODY), field="body"
        )
    try:
        templates.parse(body)
    except TemplateSyntaxError as exc:
        raise InvalidInput(
            msg(
                "the template does not parse (line {line}): {problem}",
                line=exc.lineno,
                problem=exc.message,
            ),
            field="body",
        ) from exc
    return body


def check_code(code: str) -> str:
    code = code.strip().lstrip("/").lower()
    if not CODE.fullmatch(code):
        raise InvalidInput(
            "a short code is 1 to 32 lower-case letters, digits, - or _", field="code"
        )
    return code


def check_title(title: str) -> str:
    title = title.strip()
    check_text(title, "title")
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(
            msg("a title is 1 to {maximum} characters", maximum=MAX_TITLE), field="title"
        )
    return title


def create_canned(session: Session, actor: str, code: str, title: str, body: str) -> CannedReply:
    code = check_code(code)
    if session.scalar(select(CannedReply.id).where(CannedReply.code == code)) is not None:
        raise Conflict(msg("the short code /{code} is taken", code=code), field="code")
    now = utcnow()
    reply = CannedReply(
        code=code,
        title=check_title(title),
        body=check_body(body),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(reply)
    session.flush()
    return reply


def update_canned(
    session: Session, reply_id: int, *, code: str | None, title: str | None, body: str | None
) -> CannedReply:
    reply = get_canned(session, reply_id)
    if code is not None:
        code = check_code(code)
        taken = session.scalar(
            select(CannedReply.id).where(CannedReply.code == code, CannedReply.id != reply.id)
        )
        if taken is not None:
            raise Conflict(msg("the short code /{code} is taken", code=code), field="code")
        reply.code = code
    if title is not None:
        reply.title = check_title(title)
    if body is not None:
        reply.body = check_body(body)
    reply.updated_at = utcnow()
    return reply


def get_canned(session: Session, reply_id: int) -> CannedReply:
    reply = session.get(CannedReply, reply_id)
    if reply is None:
        raise NotFound(msg("no canned reply {reply_id}", reply_id=reply_id), field="id")
    return reply


def canned_by_code(session: Session, code: str) -> CannedReply:
    reply = session.scalar(select(CannedReply).where(CannedReply.code == check_code(code)))
    if reply is None:
        raise NotFound(msg("no canned reply /{code}", code=code.lstrip("/")), field="code")
    return reply


def find_canned(session: Session, query: str = "", limit: int = 50) -> list[CannedReply]:
    """By short code prefix (what follows "/" in the reply box) or words of the title."""
    stmt = select(CannedReply).order_by(CannedReply.code).limit(limit)
    query = query.strip().lstrip("/")
    if query:
        check_text(query, "q")
        like = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(
            or_(
                CannedReply.code.like(f"{like.lower()}%", escape="\\"),
                CannedReply.title.like(f"%{like}%", escape="\\"),
            )
        )
    return list(session.scalars(stmt))


def render(session: Session, loaded: LoadedConversation, body: str) -> tuple[str, list[Shown]]:
    """``body`` filled in for the conversation, as its reader may see the customer, and
    how each protected trait was shown (for the audit entry of this read)."""
    values, shown = variables(session, loaded)
    try:
        return templates.from_string(body).render(values).strip(), shown
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        # The sandbox refusing an attribute, or a template that fails on these values.
        raise InvalidInput(
            msg("the template cannot be filled in: {problem}", problem=str(exc)), field="body"
        ) from exc


def render_canned(
    session: Session, loaded: LoadedConversation, *, code: str | None, body: str | None
) -> tuple[str, list[Shown]]:
    """The canned reply ``code``, or the template ``body``, filled in for the conversation
    (as ``render``). Raises InvalidInput (neither or both given, a bad template),
    NotFound (no such code)."""
    if (code is None) == (body is None):
        raise InvalidInput("give either code or body", field="code")
    template = canned_by_code(session, code).body if code is not None else check_body(body or "")
    return render(session, loaded, template)


def variables(session: Session, loaded: LoadedConversation) -> tuple[dict[str, Any], list[Shown]]:
    conversation = loaded.row
    customer: dict[str, Any] = {"id": conversation.customer_id}
    shown: list[Shown] = []
    if conversation.customer_id is not None:
        traits, shown = loaded.view.traits(customer_traits(session, conversation.customer_id))
        customer.update(traits)
    user_id = acting_user_id(session, loaded.principal)
    agent_name = get_user(session, user_id).display_name if user_id else loaded.principal.name
    values = {
        "customer": customer,
        "agent": {"name": agent_name},
        "conversation": {
            "id": conversation.id,
            "channel": conversation.channel,
            "priority": conversation.priority,
        },
    }
    return values, shown
