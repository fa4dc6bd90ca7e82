"""SLA clocks: started, met, paused, resumed and cancelled by the desk; fired by the
scheduler.

Each open, running clock has two durable scheduler jobs, keyed by what they are about
(``sla.at_risk:conversation:42:first_response``, ``sla.breach:…``), re-scheduled or
cancelled by key whenever the clock changes. When one fires, its handler runs in the
transaction that marks the job done: it moves the clock to ``at_risk`` or ``breached``
and records the fact ``sla.at_risk`` / ``sla.breached`` (key ``clock:<id>``) and, for a
conversation, a history row of the same name. The runner's lease gives the job to one
worker at a time, a job re-scheduled meanwhile is not fired, the clock's state is checked
under its row lock, and the fact's key makes a second recording a no-op: a breach is
recorded once, across restarts and with several workers.

Lock order, to never deadlock with a runner that holds a job and waits for its clock:
the desk's calls touch the jobs (by key) first and lock the clock row after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicx.core import scheduler
from omnicx.core.database import transaction_memo
from omnicx.core.errors import InvalidInput
from omnicx.core.eventlog.facts import record_facts
from omnicx.core.i18n import msg
from omnicx.core.processing.offsets import lock_offsets
from omnicx.core.scheduler import FiredJob, Registry
from omnicx.core.serialization import dumps
from omnicx.core.time import as_utc, utcnow
from omnicx.customers.projection import CustomerProcessor
from omnicx.desk.models import Conversation, ConversationChange
from omnicx.desk.sla.calendar import BusinessCalendar
from omnicx.desk.sla.calendars import CHOSEN, business_calendar, get_calendar
from omnicx.desk.sla.models import CLOCK_STATES, METRICS, TARGET_KINDS, SlaClock, SlaPolicy
from omnicx.desk.sla.policies import choose_policy

AT_RISK_JOB = "sla.at_risk"
BREACH_JOB = "sla.breach"
AT_RISK_FACT = "sla.at_risk"
BREACHED_FACT = "sla.breached"
# Facts are read by id in commit order only if every writer holds the identity group's
# offset row while it records them (``core.eventlog.facts``).
FACT_WRITERS_LOCK = CustomerProcessor.name


def _check_target(target_kind: str, metric: str | None) -> None:
    if target_kind not in TARGET_KINDS:
        raise InvalidInput(
            msg("target kind is one of {names}", names=", ".join(TARGET_KINDS)),
            field="target_kind",
        )
    if metric is not None and metric not in METRICS:
        raise InvalidInput(
            msg("metric is one of {names}", names=", ".join(METRICS)), field="metric"
        )


def open_key(target_kind: str, target_id: int, metric: str) -> str:
    return f"{target_kind}:{target_id}:{metric}"


def job_key(job: str, target_kind: str, target_id: int, metric: str) -> str:
    """The scheduler key of a clock's job, e.g. ``sla.breach:conversation:42:resolution``."""
    return f"{job}:{open_key(target_kind, target_id, metric)}"


def _cancel_jobs(session: Session, target_kind: str, target_id: int, metric: str) -> None:
    for job in (AT_RISK_JOB, BREACH_JOB):
        scheduler.cancel(session, job_key(job, target_kind, target_id, metric))


def _schedule_jobs(session: Session, clock: SlaClock) -> None:
    """The clock's jobs as its state says: at risk while running, breach until breached."""
    key = (clock.target_kind, clock.target_id, clock.metric)
    payload = {"clock_id": clock.id}
    running = clock.open_key is not None and clock.paused_at is None
    if running and clock.state == "running" and clock.at_risk_at is not None:
        scheduler.schedule(
            session, AT_RISK_JOB, job_key(AT_RISK_JOB, *key), clock.at_risk_at, payload
        )
    else:
        scheduler.cancel(session, job_key(AT_RISK_JOB, *key))
    if running and clock.state in ("running", "at_risk") and clock.due_at is not None:
        scheduler.schedule(session, BREACH_JOB, job_key(BREACH_JOB, *key), clock.due_at, payload)
    else:
        scheduler.cancel(session, job_key(BREACH_JOB, *key))


def _open_clock(
    session: Session, target_kind: str, target_id: int, metric: str, *, lock: bool
) -> SlaClock | None:
    query = select(SlaClock).where(SlaClock.open_key == open_key(target_kind, target_id, metric))
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def open_clocks(session: Session, target_kind: str, target_id: int) -> dict[str, SlaClock]:
    """The target's open clocks by metric, in one read and without locking them: for a
    caller that changes only what it finds (or does not find) there, through the calls
    below, which lock what they change."""
    keys = [open_key(target_kind, target_id, metric) for metric in METRICS]
    return {
        c.metric: c for c in session.scalars(select(SlaClock).where(SlaClock.open_key.in_(keys)))
    }


def _policy_and_calendar(
    session: Session, team_id: int | None, ticket_type: str | None, priority: str | None
) -> tuple[SlaPolicy, BusinessCalendar] | None:
    """The policy that applies and its calendar's rules, asked once per transaction: a
    batch of new conversations (two clocks each) asks the same question many times."""
    memo = transaction_memo(session, CHOSEN)
    key = (team_id, ticket_type, priority)
    if key not in memo:
        policy = choose_policy(session, team_id, ticket_type, priority)
        memo[key] = (
            None
            if policy is None
            else (policy, business_calendar(get_calendar(session, policy.calendar_id)))
        )
    chosen: tuple[SlaPolicy, BusinessCalendar] | None = memo[key]
    return chosen


def start_clock(
    session: Session,
    target_kind: str,
    target_id: int,
    metric: str,
    *,
    team_id: int | None,
    ticket_type: str | None,
    priority: str | None,
    started_at: datetime,
    seen_none_open: bool = False,
) -> SlaClock | None:
    """Start measuring ``metric`` for a conversation or ticket under the policy that
    applies; None when no policy measures it. Idempotent: a clock already open for the
    target and metric is returned unchanged (a next-response clock runs from the first
    unanswered message). Schedules its at-risk and breach jobs. ``seen_none_open``: the
    caller has just read the target's open clocks (``open_clocks``), so they are not
    read again; one opened meanwhile by another transaction is still found and returned.
    """
    _check_target(target_kind, metric)
    if not seen_none_open:
        existing = _open_clock(session, target_kind, target_id, metric, lock=False)
        if existing is not None:
            return existing
    chosen = _policy_and_calendar(session, team_id, ticket_type, priority)
    policy, calendar = chosen if chosen is not None else (None, None)
    goal = getattr(policy, f"{metric}_seconds") if policy is not None else None
    if policy is None or calendar is None or goal is None:
        return None
    # Stored in UTC: SQLite keeps a datetime's wall time and drops its zone.
    started_at = as_utc(started_at)
    at_risk_seconds = round(goal * policy.at_risk_fraction)  # 0.29 * 100 is 28.99…
    now = utcnow()
    clock = SlaClock(
        target_kind=target_kind,
        target_id=target_id,
        metric=metric,
        open_key=open_key(target_kind, target_id, metric),
        policy_id=policy.id,
        calendar_id=policy.calendar_id,
        goal_seconds=goal,
        at_risk_seconds=at_risk_seconds,
        state="running",
        started_at=started_at,
        running_since=started_at,
        spent_seconds=0,
        due_at=as_utc(calendar.add_business_seconds(started_at, goal)),
        at_risk_at=as_utc(calendar.add_business_seconds(started_at, at_risk_seconds)),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(clock)
    except IntegrityError:
        # Another transaction opened the same clock first: theirs is the clock.
        return _open_clock(session, target_kind, target_id, metric, lock=False)
    _schedule_jobs(session, clock)
    return clock


def meet_clock(
    session: Session, target_kind: str, target_id: int, metric: str, met_at: datetime
) -> SlaClock | None:
    """The target got what the metric measures (a reply, a resolution) at ``met_at``:
    close the open clock and drop its jobs; None when none was open. Met after its due
    time, a clock whose breach job had not fired yet is recorded as breached (once)."""
    _check_target(target_kind, metric)
    _cancel_jobs(session, target_kind, target_id, metric)
    clock = _open_clock(session, target_kind, target_id, metric, lock=True)
    if clock is None:
        return None
    met_at = max(as_utc(met_at), as_utc(clock.started_at))
    if clock.state in ("running", "at_risk"):
        if clock.due_at is not None and met_at > as_utc(clock.due_at):
            _breach(session, clock)
        else:
            clock.state = "met"
    clock.met_at = met_at
    if clock.paused_at is not None:
        clock.paused_at = None
    clock.open_key = None
    clock.updated_at = utcnow()
    session.flush()
    return clock


def cancel_clocks(
    session: Session, target_kind: str, target_id: int, metric: str | None = None
) -> int:
    """Stop measuring a target (all metrics for None), e.g. a conversation deleted or
    merged away; a breached clock stays breached. Returns how many were open."""
    _check_target(target_kind, metric)
    metrics = (metric,) if metric else METRICS
    cancelled = 0
    for each in metrics:
        _cancel_jobs(session, target_kind, target_id, each)
        clock = _open_clock(session, target_kind, target_id, each, lock=True)
        if clock is None:
            continue
        if clock.state != "breached":
            clock.state = "cancelled"
        clock.cancelled_at = utcnow()
        clock.open_key = None
        clock.updated_at = utcnow()
        cancelled += 1
    session.flush()
    return cancelled


def pause_clock(
    session: Session, target_kind: str, target_id: int, metric: str, at: datetime
) -> SlaClock | None:
    """Stop the clock's time (a ticket waiting on the customer pauses its resolution
    clock, as in Zammad): the business seconds spent so far are kept, the jobs dropped.
    A paused or breached clock is left as it is."""
    _check_target(target_kind, metric)
    clock = _open_clock(session, target_kind, target_id, metric, lock=False)
    if clock is None or clock.paused_at is not None or clock.state == "breached":
        return clock
    _cancel_jobs(session, target_kind, target_id, metric)
    clock = _open_clock(session, target_kind, target_id, metric, lock=True)
    if clock is None or clock.paused_at is not None or clock.state == "breached":
        return clock
    calendar = business_calendar(get_calendar(session, clock.calendar_id))
    at = max(as_utc(at), as_utc(clock.running_since))
    clock.spent_seconds += calendar.business_seconds_between(as_utc(clock.running_since), at)
    clock.paused_at = at
    clock.due_at = None
    clock.at_risk_at = None
    clock.updated_at = utcnow()
    session.flush()
    return clock


def resume_clock(
    session: Session, target_kind: str, target_id: int, metric: str, at: datetime
) -> SlaClock | None:
    """Run a paused clock again from ``at``: due and at-risk times move by the paused
    time, and the jobs are scheduled again (after the clock's lock: pausing cancelled
    them, so no runner holds them)."""
    _check_target(target_kind, metric)
    clock = _open_clock(session, target_kind, target_id, metric, lock=True)
    if clock is None or clock.paused_at is None:
        return clock
    calendar = business_calendar(get_calendar(session, clock.calendar_id))
    since = max(as_utc(at), as_utc(clock.paused_at))
    clock.running_since = since
    clock.paused_at = None
    left = max(clock.goal_seconds - clock.spent_seconds, 0)
    clock.due_at = as_utc(calendar.add_business_seconds(since, left))
    if clock.state == "running":
        to_risk = max(clock.at_risk_seconds - clock.spent_seconds, 0)
        clock.at_risk_at = as_utc(calendar.add_business_seconds(since, to_risk))
    clock.updated_at = utcnow()
    session.flush()
    _schedule_jobs(session, clock)
    return clock


# -- firing --------------------------------------------------------------------------------


def _record_fact(session: Session, clock: SlaClock, name: str, at: datetime) -> None:
    position = lock_offsets(session, [FACT_WRITERS_LOCK])[FACT_WRITERS_LOCK].position
    payload: dict[str, Any] = {
        "clock_id": clock.id,
        "target_kind": clock.target_kind,
        "target_id": clock.target_id,
        "metric": clock.metric,
        "policy_id": clock.policy_id,
        "started_at": as_utc(clock.started_at).isoformat(),
        "due_at": as_utc(clock.due_at).isoformat() if clock.due_at else None,
        "at": as_utc(at).isoformat(),
        "goal_seconds": clock.goal_seconds,
    }
    record_facts(session, [(name, f"clock:{clock.id}", position, payload)])
    # The conversation's history shows it too (the live inbox follows history rows). A
    # clock has no foreign key to its target (see models): the row is looked for first.
    if (
        clock.target_kind == "conversation"
        and session.get(Conversation, clock.target_id) is not None
    ):
        session.add(
            ConversationChange(
                conversation_id=clock.target_id,
                actor="system",
                action=name,
                detail=dumps({"metric": clock.metric, "clock_id": clock.id, "at": payload["at"]}),
                created_at=utcnow(),
            )
        )


def _breach(session: Session, clock: SlaClock) -> None:
    assert clock.due_at is not None
    clock.state = "breached"
    clock.breached_at = clock.due_at  # the promise broke at the due time, not when seen
    clock.updated_at = utcnow()
    _record_fact(session, clock, BREACHED_FACT, clock.due_at)


def _fired_clock(session: Session, job: FiredJob) -> SlaClock | None:
    clock_id = job.payload.get("clock_id")
    if not isinstance(clock_id, int):
        return None
    clock = session.scalar(select(SlaClock).where(SlaClock.id == clock_id).with_for_update())
    if clock is None or clock.open_key is None or clock.paused_at is not None:
        return None
    return clock


def fire_at_risk(session: Session, job: FiredJob) -> None:
    """Scheduler handler: the clock has used its at-risk share. In the job's transaction."""
    clock = _fired_clock(session, job)
    if clock is None or clock.state != "running" or clock.at_risk_at is None:
        return
    if as_utc(clock.at_risk_at) > job.due_at:
        return  # the clock moved on (resumed later): its own job is scheduled
    clock.state = "at_risk"
    clock.updated_at = utcnow()
    _record_fact(session, clock, AT_RISK_FACT, clock.at_risk_at)


def fire_breach(session: Session, job: FiredJob) -> None:
    """Scheduler handler: the clock ran past its due time. In the job's transaction."""
    clock = _fired_clock(session, job)
    if clock is None or clock.state not in ("running", "at_risk") or clock.due_at is None:
        return
    if as_utc(clock.due_at) > job.due_at:
        return
    _breach(session, clock)


def register_jobs(registry: Registry) -> Registry:
    """Register the SLA job handlers (runtime wiring, or a test's own registry)."""
    registry.register(AT_RISK_JOB, fire_at_risk)
    registry.register(BREACH_JOB, fire_breach)
    return registry


# -- reading, for the inbox -----------------------------------------------------------------


@dataclass(frozen=True)
class ClockState:
    clock_id: int
    target_id: int
    metric: str
    state: str
    paused: bool
    started_at: datetime
    due_at: datetime | None
    at_risk_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None
    # Still measuring (not met or cancelled): what the inbox's SLA badge shows.
    open: bool = False


def clock_states(
    session: Session, target_kind: str, target_ids: list[int]
) -> dict[int, dict[str, ClockState]]:
    """The latest clock of each metric for each target (one query): what the inbox shows."""
    _check_target(target_kind, None)
    found: dict[int, dict[str, ClockState]] = {}
    if not target_ids:
        return found
    rows = session.scalars(
        select(SlaClock)
        .where(SlaClock.target_kind == target_kind, SlaClock.target_id.in_(target_ids))
        .order_by(SlaClock.id)
    )
    for clock in rows:
        found.setdefault(clock.target_id, {})[clock.metric] = ClockState(
            clock_id=clock.id,
            target_id=clock.target_id,
            metric=clock.metric,
            state=clock.state,
            paused=clock.paused_at is not None,
            started_at=as_utc(clock.started_at),
            due_at=as_utc(clock.due_at) if clock.due_at else None,
            at_risk_at=as_utc(clock.at_risk_at) if clock.at_risk_at else None,
            met_at=as_utc(clock.met_at) if clock.met_at else None,
            breached_at=as_utc(clock.breached_at) if clock.breached_at else None,
            open=clock.open_key is not None,
        )
    return found


def targets_in_state(target_kind: str, states: list[str]) -> Select[Any]:
    """Ids of the targets with an open clock in one of ``states``, as a subquery the
    inbox puts in its own ``WHERE id IN (…)`` (the "SLA state" filter)."""
    _check_target(target_kind, None)
    unknown = set(states) - set(CLOCK_STATES)
    if unknown:
        raise InvalidInput(
            msg("unknown SLA state {names}", names=", ".join(sorted(unknown))), field="sla_state"
        )
    return (
        select(SlaClock.target_id)
        .where(
            SlaClock.target_kind == target_kind,
            SlaClock.open_key.is_not(None),
            SlaClock.state.in_(states),
        )
        .distinct()
    )
