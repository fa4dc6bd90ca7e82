"""Business-hours calendars: when the desk is at work, and how much of that time passes.

A calendar is a time zone, weekly working hours (one or more intervals per weekday), a
holiday source and configured extra holidays and working days. With the ``CN`` source the
official holidays come from the ``chinesecalendar`` package (``chinese_calendar``): the
holidays are off and the make-up working days (调休, often a Saturday or Sunday) are on.

The package only knows the years the State Council has announced (1.11: up to 2026).
Outside them the calendar falls back to the weekly hours and the configured dates, and
says so (``coverage_end``, ``uncovered_years``, a log warning once per year) instead of
failing: an SLA due time in January of an unannounced year is still a due time.

All arithmetic runs on the day's working intervals converted to UTC, a day at a time, so
that a due time is exact to the microsecond and a daylight-saving change (in zones that
have one) neither adds nor loses working time that did not happen.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from omnicx.core.i18n import Message, lazy, msg

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
REGIONS = ("CN",)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SECONDS = 24 * 3600
# A calendar that has no working time for this long never will: refuse, do not loop.
SEARCH_LIMIT_DAYS = 3 * 366
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
ONE_SECOND = timedelta(seconds=1)

# (start, end) in seconds since local midnight; 86400 is the end of the day (24:00).
Span = tuple[int, int]


class CalendarError(ValueError):
    """A calendar definition that cannot be used; ``field`` names the faulty part."""

    def __init__(self, message: str | Message, field: str):
        super().__init__(str(message))
        # Raised before the reader's language is known: the API translates ``text``,
        # logs and the CLI read the English ``message``.
        self.text = lazy(message)
        self.message = str(message)
        self.field = field


def _clock_seconds(text: str, where: str) -> int:
    match = _CLOCK.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(msg("{text!r} is not a time of day HH:MM", text=text), where)
    seconds = int(match.group(1)) * 3600 + int(match.group(2)) * 60
    if seconds > DAY_SECONDS:
        raise CalendarError(msg("{text!r} is past 24:00", text=text), where)
    return seconds


def _clock_text(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_hours(hours: Mapping[str, Sequence[Sequence[str]]]) -> tuple[tuple[Span, ...], ...]:
    """Weekly hours as ``{"mon": [["09:00", "12:00"], ["13:30", "18:00"]], ...}`` → spans
    per weekday (Monday first). Raises CalendarError: bad time, empty or overlapping
    intervals, unknown day, no working time in the week."""
    if not isinstance(hours, Mapping):
        raise CalendarError("hours must map weekdays (mon … sun) to intervals", "hours")
    unknown = sorted(set(hours) - set(WEEKDAYS))
    if unknown:
        raise CalendarError(
            msg("unknown weekday {names} (use mon … sun)", names=", ".join(unknown)), "hours"
        )
    week: list[tuple[Span, ...]] = []
    for day in WEEKDAYS:
        spans: list[Span] = []
        for index, interval in enumerate(hours.get(day) or ()):
            where = f"hours.{day}[{index}]"
            if isinstance(interval, str) or len(interval) != 2:
                raise CalendarError('an interval is [start, end], e.g. ["09:00", "12:00"]', where)
            start, end = (_clock_seconds(value, where) for value in interval)
            if end <= start:
                raise CalendarError(
                    msg("{start}–{end} ends before it starts", start=interval[0], end=interval[1]),
                    where,
                )
            spans.append((start, end))
        spans.sort()
        for (_, earlier_end), (later_start, _) in itertools.pairwise(spans):
            if later_start < earlier_end:
                raise CalendarError(msg("intervals on {day} overlap", day=day), f"hours.{day}")
        week.append(tuple(spans))
    if not any(week):
        raise CalendarError("the week has no working hours", "hours")
    return tuple(week)


def format_hours(week: Sequence[Sequence[Span]]) -> dict[str, list[list[str]]]:
    """Spans per weekday back to the JSON shape ``parse_hours`` reads."""
    return {
        day: [[_clock_text(start), _clock_text(end)] for start, end in spans]
        for day, spans in zip(WEEKDAYS, week, strict=True)
        if spans
    }


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name``. Raises CalendarError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(
            msg("unknown time zone {name!r} (an IANA name)", name=name), "timezone"
        ) from exc


def parse_dates(values: Iterable[str], where: str) -> frozenset[date]:
    """ISO dates (``2027-02-06``). Raises CalendarError."""
    found = set()
    for index, value in enumerate(values):
        try:
            found.add(date.fromisoformat(value))
        except (TypeError, ValueError) as exc:
            raise CalendarError(
                msg("{value!r} is not a date YYYY-MM-DD", value=value), f"{where}[{index}]"
            ) from exc
    return frozenset(found)


# -- the Chinese official calendar -------------------------------------------------------


def cn_coverage_end() -> date:
    """The last day the installed ``chinesecalendar`` knows (31 Dec of its last year)."""
    return date(max(day.year for day in chinese_calendar.holidays), 12, 31)


_warned_years: set[int] = set()


def _cn_day(day: date) -> tuple[bool | None, bool]:
    """(official holiday?, make-up working day?) from the package; (None, False) for a
    year it does not cover."""
    try:
        chinese_calendar.get_holiday_detail(day)  # raises for a year it does not know
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "chinesecalendar has no official holidays for %s: counting weekends and the"
                " calendar's configured dates only (update chinesecalendar, or add the"
                " year's holidays and make-up days to the calendar)",
                day.year,
            )
        return None, False
    return day in chinese_calendar.holidays, day in chinese_calendar.workdays


# -- the calendar ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BusinessCalendar:
    """Working time: weekly hours in a zone, minus holidays, plus make-up working days."""

    week: tuple[tuple[Span, ...], ...]
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    region: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def build(
        cls,
        *,
        hours: Mapping[str, Sequence[Sequence[str]]],
        timezone: str = DEFAULT_TIMEZONE,
        region: str | None = None,
        extra_holidays: Iterable[str] = (),
        extra_workdays: Iterable[str] = (),
    ) -> BusinessCalendar:
        """A calendar from its stored (JSON) form. Raises CalendarError."""
        if region is not None and region not in REGIONS:
            raise CalendarError(
                msg("unknown holiday region {region!r} (CN or none)", region=region), "region"
            )
        holidays = parse_dates(extra_holidays, "extra_holidays")
        workdays = parse_dates(extra_workdays, "extra_workdays")
        both = sorted(holidays & workdays)
        if both:
            raise CalendarError(
                msg(
                    "{day} is both an extra holiday and an extra working day",
                    day=both[0].isoformat(),
                ),
                "extra_workdays",
            )
        return cls(parse_hours(hours), zone_named(timezone), region, holidays, workdays)

    # -- which days work ---------------------------------------------------------------

    @property
    def coverage_end(self) -> date | None:
        """The last day whose official holidays are known; None without a region."""
        return cn_coverage_end() if self.region == "CN" else None

    def uncovered_years(self, start: datetime, end: datetime) -> list[int]:
        """Years between two moments that the holiday source does not cover."""
        last = self.coverage_end
        if last is None:
            return []
        first_year = max(start.astimezone(self.zone).year, last.year + 1)
        return list(range(first_year, end.astimezone(self.zone).year + 1))

    def _makeup_spans(self) -> tuple[Span, ...]:
        # A make-up day on a day off in the weekly hours works a normal weekday: the
        # first weekday (Monday onwards) that has hours.
        return next(spans for spans in self.week if spans)

    def spans_on(self, day: date) -> tuple[Span, ...]:
        """The working intervals of a local date (empty on a day off)."""
        if day in self.extra_holidays:
            return ()
        weekly = self.week[day.weekday()]
        if day in self.extra_workdays:
            return weekly or self._makeup_spans()
        if self.region == "CN":
            holiday, makeup = _cn_day(day)
            if holiday:
                return ()
            if makeup:
                return weekly or self._makeup_spans()
        return weekly

    def intervals_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working intervals of a local date as UTC moments (cached per day)."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        intervals = []
        for start, end in self.spans_on(day):
            begins, ends = self._moment(day, start), self._moment(day, end)
            if ends > begins:  # a span swallowed by a daylight-saving jump is no time
                intervals.append((begins, ends))
        found = tuple(intervals)
        self._days[day] = found
        return found

    def _moment(self, day: date, seconds: int) -> datetime:
        # Wall-clock time in the zone (24:00 is the next midnight), then the real moment.
        wall = datetime.combine(day, time(0)) + timedelta(seconds=seconds)
        return wall.replace(tzinfo=self.zone).astimezone(UTC)

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    # -- arithmetic --------------------------------------------------------------------

    def add_business_seconds(self, start: datetime, seconds: int) -> datetime:
        """The moment ``seconds`` of working time after ``start`` (aware), in the
        calendar's zone. Zero gives ``start`` itself, even outside working hours."""
        _require_aware(start)
        if seconds < 0:
            raise ValueError("business seconds must not be negative")
        if seconds == 0:
            return start.astimezone(self.zone)
        remaining = timedelta(seconds=seconds)
        moment = start.astimezone(UTC)
        day = self._local_date(moment)
        idle_days = 0
        while True:
            intervals = self.intervals_on(day)
            for begins, ends in intervals:
                if ends <= moment:
                    continue
                available = ends - max(begins, moment)
                if remaining <= available:
                    return (max(begins, moment) + remaining).astimezone(self.zone)
                remaining -= available
            idle_days = 0 if intervals else idle_days + 1
            if idle_days > SEARCH_LIMIT_DAYS:
                raise ValueError("the calendar has no working time in years")
            day += timedelta(days=1)

    def business_seconds_between(self, a: datetime, b: datetime) -> int:
        """Whole seconds of working time from ``a`` to ``b`` (negative if ``b`` is earlier)."""
        _require_aware(a)
        _require_aware(b)
        if b < a:
            return -self.business_seconds_between(b, a)
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        total = timedelta(0)
        day, last = self._local_date(a), self._local_date(b)
        while day <= last:
            for begins, ends in self.intervals_on(day):
                overlap = min(ends, b) - max(begins, a)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total // ONE_SECOND


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("business-time arithmetic needs timezone-aware datetimes")
