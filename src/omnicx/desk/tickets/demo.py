"""The demo's tickets: opened by agents from conversations they worked on, with an
internal comment, so the ticket list and a conversation's ticket are not empty."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.desk.access import load_conversation
from omnicx.desk.models import Conversation
from omnicx.desk.tickets.access import load_ticket
from omnicx.desk.tickets.models import Ticket
from omnicx.desk.tickets.service import add_comment, create_ticket
from omnicx.governance.service import active_account

# (title, type, priority, comment) for the first conversations agents answered.
TICKETS = [
    ("空调外机异响，需上门检修", "repair", "high", "已联系师傅，约周三上午上门。"),
    ("电子发票抬头开错，需重开", "invoice", "normal", "财务确认可红冲后重开，预计两个工作日。"),
    ("安装师傅迟到两小时，客户投诉", "complaint", "urgent", "已致电客户致歉，申请50元补偿券。"),
]


def seed_tickets(session: Session) -> int:
    """Tickets on answered conversations, once (idempotent); returns how many."""
    if session.scalar(select(Ticket.id).limit(1)) is not None:
        return 0
    answered = session.scalars(
        select(Conversation)
        .where(Conversation.assignee_id.is_not(None), Conversation.first_reply_at.is_not(None))
        .order_by(Conversation.id)
        .limit(len(TICKETS))
    ).all()
    made = 0
    for conversation, (title, kind, priority, comment) in zip(answered, TICKETS, strict=False):
        agent = active_account(session, conversation.assignee_id or 0)
        if agent is None:
            continue
        ticket = create_ticket(
            session,
            agent,
            agent.id,
            title=title,
            type=kind,
            priority=priority,
            conversation=load_conversation(session, agent, conversation.id),
        )
        add_comment(session, load_ticket(session, agent, ticket.id), comment)
        made += 1
    return made
