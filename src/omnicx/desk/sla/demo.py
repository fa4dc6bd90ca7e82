"""The demo's SLA: an office-hours calendar on China's official holidays and make-up
working days (调休), and response targets per team (seeded with the desk's staff, before
the demo's customers write in, so their conversations get clocks)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.desk.sla.calendars import OFFICE_HOURS, CalendarDefinition, create_calendar
from omnicx.desk.sla.models import SlaPolicy
from omnicx.desk.sla.policies import PolicyDefinition, create_policy
from omnicx.desk.teams import team_by_ref

CALENDAR = "工作日（中国节假日）"
MINUTE, HOUR = 60, 3600

# (policy name, team, first response, next response, resolution), in business seconds.
POLICIES = [
    ("高关怀客户响应", "高级客服", 10 * MINUTE, 30 * MINUTE, 8 * HOUR),
    ("售后服务响应", "售后服务", 30 * MINUTE, 2 * HOUR, 24 * HOUR),
    ("订单与物流响应", "订单与物流", 1 * HOUR, 4 * HOUR, 16 * HOUR),
]


def seed_sla(session: Session) -> None:
    """The demo's calendar and policies, once (idempotent)."""
    if session.scalar(select(SlaPolicy.id).limit(1)) is not None:
        return
    calendar = create_calendar(session, CalendarDefinition(name=CALENDAR, hours=OFFICE_HOURS))
    for name, team, first, following, resolution in POLICIES:
        create_policy(
            session,
            PolicyDefinition(
                name=name,
                calendar_id=calendar.id,
                team_id=team_by_ref(session, team).id,
                first_response_seconds=first,
                next_response_seconds=following,
                resolution_seconds=resolution,
            ),
        )
