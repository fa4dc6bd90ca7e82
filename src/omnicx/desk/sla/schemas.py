"""What the SLA API takes and answers (Pydantic v2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from omnicx.core.time import as_utc
from omnicx.desk.sla.calendar import DEFAULT_TIMEZONE

UtcTime = Annotated[datetime, AfterValidator(as_utc)]
Interval = Annotated[list[str], Field(min_length=2, max_length=2, examples=[["09:00", "12:00"]])]
Hours = Annotated[
    dict[str, list[Interval]],
    Field(
        description="Working intervals per weekday (mon … sun), local time, HH:MM;"
        " 24:00 ends the day. Days left out are off.",
        examples=[{"mon": [["09:00", "12:00"], ["13:30", "18:00"]]}],
    ),
]
Seconds = Annotated[int | None, Field(ge=1, le=366 * 24 * 3600)]
Priority = Literal["low", "normal", "high", "urgent"]
TicketType = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    timezone: str = Field(DEFAULT_TIMEZONE, max_length=64, description="An IANA time zone")
    hours: Hours
    region: Literal["CN"] | None = Field(
        "CN",
        description="CN: official Chinese holidays and make-up working days (调休) from"
        " chinesecalendar; null: weekends only",
    )
    extra_holidays: list[date] = Field(default_factory=list, max_length=1000)
    extra_workdays: list[date] = Field(default_factory=list, max_length=1000)


class CalendarPatch(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    timezone: str | None = Field(None, max_length=64)
    hours: Hours | None = None
    region: Literal["CN"] | None = None
    extra_holidays: list[date] | None = Field(None, max_length=1000)
    extra_workdays: list[date] | None = Field(None, max_length=1000)


class CalendarOut(BaseModel):
    id: int
    name: str
    timezone: str
    hours: dict[str, list[list[str]]]
    region: str | None
    extra_holidays: list[date]
    extra_workdays: list[date]
    holidays_known_until: date | None = Field(
        description="The last day whose official holidays are known (chinesecalendar's"
        " last year); past it only weekends and the extra dates count"
    )
    warning: str | None = Field(
        description="Set when the coming year's official holidays are not known yet"
    )
    updated_at: UtcTime


class CalendarList(BaseModel):
    calendars: list[CalendarOut]


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    calendar_id: int = Field(ge=1, le=2**31 - 1)
    team_id: int | None = Field(None, ge=1, le=2**62, description="null: every team")
    ticket_type: TicketType | None = Field(None, description="null: every ticket type")
    priority: Priority | None = Field(None, description="null: every priority")
    first_response_seconds: Seconds = Field(
        None, description="Business seconds; null: not measured"
    )
    next_response_seconds: Seconds = None
    resolution_seconds: Seconds = None
    at_risk_fraction: float = Field(0.8, gt=0, lt=1, description="At risk after this share")
    enabled: bool = True


class PolicyPatch(BaseModel):
    """Only the fields sent change (send null to clear a nullable one)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    calendar_id: int | None = Field(None, ge=1, le=2**31 - 1)
    team_id: int | None = Field(None, ge=1, le=2**62)
    ticket_type: TicketType | None = None
    priority: Priority | None = None
    first_response_seconds: Seconds = None
    next_response_seconds: Seconds = None
    resolution_seconds: Seconds = None
    at_risk_fraction: float | None = Field(None, gt=0, lt=1)
    enabled: bool | None = None


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    calendar_id: int
    team_id: int | None
    ticket_type: str | None
    priority: str | None
    first_response_seconds: int | None
    next_response_seconds: int | None
    resolution_seconds: int | None
    at_risk_fraction: float
    enabled: bool
    updated_at: UtcTime


class PolicyList(BaseModel):
    policies: list[PolicyOut]
