"""A conversation's SLA clocks follow its state (``desk.sla`` measures; this decides when).

After anything that changes a conversation — a customer's message, a reply, a status
change, a snooze, a hand-off — ``follow`` brings its clocks in line with what the
conversation now is, rather than each command remembering which clock to touch:

* open and waiting for us: the first-response clock runs (from the first message) until
  the first reply, then a next-response clock from each unanswered message; the
  resolution clock runs from the start (or from a reopen);
* open and answered: the response clocks are met;
* pending or snoozed (waiting on the customer): the resolution clock is paused, as in
  Zammad, and resumes when the conversation opens again;
* resolved: the resolution clock is met and nothing is left to answer;
* with the bot: no clock runs until it hands the conversation to people.

Every call is idempotent, so calling it twice, or after a replay, changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from omnicx.core.time import as_utc
from omnicx.desk.models import Conversation
from omnicx.desk.sla.service import (
    cancel_clocks,
    meet_clock,
    pause_clock,
    resume_clock,
    start_clock,
)

TARGET = "conversation"
RESPONSES = ("first_response", "next_response")


def follow(session: Session, conversation: Conversation, at: datetime) -> None:
    status, at = conversation.status, as_utc(at)
    if status == "bot":
        return
    if status == "resolved":
        meet_clock(session, TARGET, conversation.id, "resolution", at)
        for metric in RESPONSES:
            cancel_clocks(session, TARGET, conversation.id, metric)
        return
    if status in ("pending", "snoozed"):
        pause_clock(session, TARGET, conversation.id, "resolution", at)
        return
    resume_clock(session, TARGET, conversation.id, "resolution", at)
    _start(session, conversation, "resolution", at)
    if conversation.waiting_since is None:
        for metric in RESPONSES:
            meet_clock(session, TARGET, conversation.id, metric, at)
    elif conversation.first_reply_at is None:
        _start(session, conversation, "first_response", conversation.waiting_since)
    else:
        _start(session, conversation, "next_response", conversation.waiting_since)


def _start(session: Session, conversation: Conversation, metric: str, since: datetime) -> None:
    start_clock(
        session,
        TARGET,
        conversation.id,
        metric,
        team_id=conversation.team_id,
        ticket_type=None,
        priority=conversation.priority,
        started_at=as_utc(since),
    )
