"""Builders for SLA tests: calendars, policies, a registry with the SLA handlers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from omnicx.core.database import Database
from omnicx.core.eventlog.facts import Fact
from omnicx.core.scheduler import Registry
from omnicx.core.serialization import loads
from omnicx.desk.sla.service import (
    CalendarDefinition,
    PolicyDefinition,
    create_calendar,
    create_policy,
    register_jobs,
)

OFFICE = {
    day: [["09:00", "12:00"], ["13:30", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}
ALWAYS = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def make_calendar(db: Database, name: str = "上海客服中心", **fields: Any) -> int:
    fields.setdefault("hours", OFFICE)
    with db.write() as session:
        return create_calendar(session, CalendarDefinition(name=name, **fields)).id


def make_policy(db: Database, calendar_id: int, name: str = "标准服务", **fields: Any) -> int:
    with db.write() as session:
        return create_policy(
            session, PolicyDefinition(name=name, calendar_id=calendar_id, **fields)
        ).id


def sla_registry() -> Registry:
    return register_jobs(Registry())


def sla_facts(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.read() as session:
        rows = session.execute(
            select(Fact.name, Fact.payload).where(Fact.name.like("sla.%")).order_by(Fact.id)
        )
        return [(name, loads(payload)) for name, payload in rows]


def fact_counts(db: Database) -> Counter[str]:
    return Counter(name for name, _ in sla_facts(db))
