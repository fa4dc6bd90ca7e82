"""Status changes: open, pending, resolved, reopen; snooze with a wake-up on the durable
scheduler; the bot's handoff to a person. Each change leaves a history row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, InvalidInput
from omnicx.core.i18n import msg
from omnicx.core.scheduler import FiredJob, cancel, schedule
from omnicx.core.time import as_utc, utcnow
from omnicx.desk.clocks import follow
from omnicx.desk.history import HANDOFF, REOPEN, RESOLUTION, record_change, record_report
from omnicx.desk.models import Conversation
from omnicx.desk.routing import assign_next, drain_queues, route_new
from omnicx.desk.teams import teams_of

SNOOZE_JOB = "desk.snooze"
# What a person may set directly; ``snoozed`` goes through ``snooze`` (it needs a time),
# ``bot`` is where a bot inbox starts.
SETTABLE = ("open", "pending", "resolved")
MAX_HANDOFF_REASON = 500


def snooze_key(conversation_id: int) -> str:
    return f"{SNOOZE_JOB}:{conversation_id}"


def _leave_snooze(session: Session, conversation: Conversation) -> None:
    if conversation.status == "snoozed" or conversation.snoozed_until is not None:
        cancel(session, snooze_key(conversation.id))
        conversation.snoozed_until = None


def set_status(
    session: Session,
    actor: str,
    conversation: Conversation,
    status: str,
    at: datetime | None = None,
) -> None:
    """Move a conversation to open, pending or resolved (resolved → open is a reopen).
    Raises InvalidInput, Conflict (a bot's conversation is resolved or handed off, not
    opened)."""
    if status not in SETTABLE:
        raise InvalidInput(
            msg(
                "status is one of {names} (snooze and handoff have their own calls)",
                names=", ".join(SETTABLE),
            ),
            field="status",
        )
    at = at or utcnow()
    before = conversation.status
    if before == status:
        return
    if before == "bot" and status != "resolved":  # the bot may close what it answered
        raise Conflict("the bot holds this conversation: hand it off first", field="status")
    _leave_snooze(session, conversation)
    conversation.status = status
    conversation.updated_at = at
    if status == "resolved":
        conversation.resolved_at = at
        conversation.waiting_since = None
        record_report(
            session, conversation, RESOLUTION, at, conversation.created_at, conversation.assignee_id
        )
        # The assignee has room again: their teams' queues may move.
        freed = teams_of(session, conversation.assignee_id) if conversation.assignee_id else []
        team = [conversation.team_id] if conversation.team_id is not None else []
        drain_queues(session, [*team, *freed])
    elif before == "resolved":
        reopen_conversation(session, conversation, at, actor, record=False)
    record_change(session, conversation, actor, "status", {"from": before, "to": status}, at)
    follow(session, conversation, at)


def reopen_conversation(
    session: Session, conversation: Conversation, at: datetime, actor: str, *, record: bool = True
) -> None:
    """A resolved conversation comes back open, with a reporting event: to the agent who
    had it (a returning customer keeps their agent, even one at capacity), or to the
    team's round robin if nobody had it."""
    since = conversation.resolved_at
    conversation.status = "open"
    conversation.resolved_at = None
    conversation.updated_at = at
    record_report(session, conversation, REOPEN, at, since, conversation.assignee_id)
    if record:
        record_change(
            session, conversation, actor, "status", {"from": "resolved", "to": "open"}, at
        )
    if conversation.assignee_id is None:
        assign_next(session, conversation)


def snooze(session: Session, actor: str, conversation: Conversation, until: datetime) -> None:
    """Snooze until ``until`` (re-snoozing moves the wake-up). Raises InvalidInput."""
    now = utcnow()
    until = as_utc(until)
    if until <= now:
        raise InvalidInput("snooze until a time in the future", field="until")
    if conversation.status in ("bot", "resolved"):
        raise Conflict(
            msg("a {status} conversation cannot be snoozed", status=conversation.status),
            field="status",
        )
    before = conversation.status
    conversation.status = "snoozed"
    conversation.snoozed_until = until
    conversation.updated_at = now
    schedule(
        session,
        SNOOZE_JOB,
        snooze_key(conversation.id),
        until,
        {"conversation_id": conversation.id},
    )
    record_change(
        session, conversation, actor, "snooze", {"from": before, "until": until.isoformat()}, now
    )
    follow(session, conversation, now)


def wake(
    session: Session,
    conversation: Conversation,
    actor: str,
    at: datetime | None = None,
    *,
    by_job: bool = False,
) -> bool:
    """End a snooze (its time came, or the customer wrote first). False if not snoozed."""
    if conversation.status != "snoozed":
        return False
    at = at or utcnow()
    if by_job:  # the job firing now is the one to keep: it completes as done
        conversation.snoozed_until = None
    else:
        _leave_snooze(session, conversation)
    conversation.status = "open"
    conversation.updated_at = at
    record_change(session, conversation, actor, "wake", {"to": "open"}, at)
    follow(session, conversation, at)
    return True


def wake_snoozed(session: Session, job: FiredJob) -> None:
    """The scheduler's handler for ``desk.snooze``: runs in the job's transaction."""
    conversation = session.get(Conversation, int(job.payload["conversation_id"]))
    if conversation is not None:
        wake(session, conversation, "system", by_job=True)


def handoff(session: Session, actor: str, conversation: Conversation, reason: str) -> None:
    """The bot hands the conversation to people: open, routed to a team and an agent."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_HANDOFF_REASON:
        raise InvalidInput(
            msg("give a reason of 1 to {maximum} characters", maximum=MAX_HANDOFF_REASON),
            field="reason",
        )
    if conversation.status != "bot":
        raise Conflict("only a conversation the bot holds can be handed off", field="status")
    now = utcnow()
    conversation.status = "open"
    conversation.updated_at = now
    record_report(session, conversation, HANDOFF, now, conversation.created_at)
    record_change(session, conversation, actor, "handoff", {"reason": reason}, now)
    route_new(session, conversation)
    follow(session, conversation, now)
