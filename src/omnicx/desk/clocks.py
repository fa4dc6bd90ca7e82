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
    open_clocks,
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
    # Open: the common case (every customer message) reads the clocks once and touches
    # only those that must change.
    running = open_clocks(session, TARGET, conversation.id)
    resolution = running.get("resolution")
    if resolution is None:
        _start(session, conversation, "resolution", at)
    elif resolution.paused_at is not None:
        resume_clock(session, TARGET, conversation.id, "resolution", at)
    if conversation.waiting_since is None:
        for metric in RESPONSES:
            if metric in running:
                meet_clock(session, TARGET, conversation.id, metric, at)
        return
    metric = "first_response" if conversation.first_reply_at is None else "next_response"
    if metric not in running:
        _start(session, conversation, metric, conversation.waiting_since)


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
        seen_none_open=True,
    )
