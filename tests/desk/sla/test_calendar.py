"""Business-hours arithmetic: the Chinese official calendar (holidays and 调休 make-up
days), the years it does not cover, daylight saving, and the properties that make due
times and reporting agree (hypothesis)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicx.desk.sla.calendar import BusinessCalendar, CalendarError, cn_coverage_end

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = {
    day: [["09:00", "12:00"], ["13:30", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}
HOUR = 3600
DAY = 3 * HOUR + 4 * HOUR + 30 * 60  # 7.5 working hours


def at(*parts: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return BusinessCalendar.build(hours=OFFICE, region="CN")


@pytest.fixture(scope="module")
def plain() -> BusinessCalendar:
    return BusinessCalendar.build(hours=OFFICE)


def test_a_working_day_counts_only_its_intervals(plain):
    # Tuesday 1 December 2026, 11:00 + 2h: one hour before lunch, one after.
    assert plain.add_business_seconds(at(2026, 12, 1, 11), 2 * HOUR) == at(2026, 12, 1, 14, 30)
    assert plain.business_seconds_between(at(2026, 12, 1, 8), at(2026, 12, 1, 20)) == DAY
    # Ending exactly at the close is the close, not the next morning.
    assert plain.add_business_seconds(at(2026, 12, 1, 17), HOUR) == at(2026, 12, 1, 18)


def test_starting_outside_hours_starts_at_the_next_opening(plain):
    # Friday 4 December 2026 at 19:00: the weekend is off, Monday opens at 09:00.
    assert plain.add_business_seconds(at(2026, 12, 4, 19), 60) == at(2026, 12, 7, 9, 1)
    assert plain.add_business_seconds(at(2026, 12, 1, 12, 30), 60) == at(2026, 12, 1, 13, 31)


def test_national_day_2026_is_off_and_its_make_up_saturday_works(cn):
    # Wednesday 30 September 2026, 17:00 + 2h: 1h that day, then 1–7 October are the
    # National Day holiday (official, from chinesecalendar), Thursday 8 October works.
    assert cn.add_business_seconds(at(2026, 9, 30, 17), 2 * HOUR) == at(2026, 10, 8, 10)
    # Friday 9 October 17:00 + 2h: Saturday 10 October is a 调休 working day.
    assert cn.add_business_seconds(at(2026, 10, 9, 17), 2 * HOUR) == at(2026, 10, 10, 10)
    # The make-up Sunday 20 September 2026 (before Mid-autumn) works too.
    assert cn.spans_on(date(2026, 9, 20)) == cn.week[0]
    assert cn.business_seconds_between(at(2026, 10, 1), at(2026, 10, 8)) == 0
    assert cn.business_seconds_between(at(2026, 10, 10), at(2026, 10, 11)) == DAY


def test_without_the_chinese_calendar_national_day_is_an_ordinary_week(plain):
    assert plain.add_business_seconds(at(2026, 9, 30, 17), 2 * HOUR) == at(2026, 10, 1, 10)
    assert plain.business_seconds_between(at(2026, 10, 10), at(2026, 10, 11)) == 0


def test_spring_festival_2026(cn):
    # Friday 13 February 2026 17:00 + 2h: Saturday 14 February is a make-up working day,
    # 15–23 February are the Spring Festival holiday.
    assert cn.add_business_seconds(at(2026, 2, 13, 17), 2 * HOUR) == at(2026, 2, 14, 10)
    # From the end of the make-up Saturday, the next working time is Tuesday 24 February.
    assert cn.add_business_seconds(at(2026, 2, 14, 18), HOUR) == at(2026, 2, 24, 10)
    week = cn.business_seconds_between(at(2026, 2, 14), at(2026, 2, 28, 23))
    # 14 Feb (make-up), 24–27 Feb, and 28 Feb (another make-up Saturday).
    assert week == 6 * DAY


def test_past_the_package_s_years_weekends_and_configured_dates_count(caplog):
    assert cn_coverage_end() == date(2026, 12, 31)  # chinesecalendar 1.11
    calendar = BusinessCalendar.build(
        hours=OFFICE, region="CN", extra_holidays=["2027-01-01"], extra_workdays=["2027-01-09"]
    )
    assert calendar.coverage_end == date(2026, 12, 31)
    assert calendar.uncovered_years(at(2026, 12, 7), at(2027, 2, 1)) == [2027]
    assert calendar.uncovered_years(at(2026, 12, 7), at(2026, 12, 31)) == []
    with caplog.at_level(logging.WARNING):
        # Thursday 31 December 2026 17:00 + 2h: 1 Jan 2027 configured off, the weekend
        # off, Monday 4 January works.
        due = calendar.add_business_seconds(at(2026, 12, 31, 17), 2 * HOUR)
    assert due == at(2027, 1, 4, 10)
    assert "no official holidays for 2027" in caplog.text
    # The configured make-up Saturday works with the weekday hours.
    assert calendar.business_seconds_between(at(2027, 1, 9), at(2027, 1, 10)) == DAY


def test_bad_definitions_are_refused_with_the_faulty_part():
    cases = [
        ({"hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "hours.mon"),
        ({"hours": {"mon": [["18:00", "09:00"]]}}, "hours.mon[0]"),
        ({"hours": {"mon": [["9h", "12:00"]]}}, "hours.mon[0]"),
        ({"hours": {"funday": [["09:00", "12:00"]]}}, "hours"),
        ({"hours": {}}, "hours"),
        ({"hours": OFFICE, "timezone": "Asia/Beijing"}, "timezone"),
        ({"hours": OFFICE, "region": "HK"}, "region"),
        ({"hours": OFFICE, "extra_holidays": ["2027-02-30"]}, "extra_holidays[0]"),
        (
            {"hours": OFFICE, "extra_holidays": ["2027-02-06"], "extra_workdays": ["2027-02-06"]},
            "extra_workdays",
        ),
    ]
    for arguments, field in cases:
        with pytest.raises(CalendarError) as refused:
            BusinessCalendar.build(**arguments)
        assert refused.value.field == field, arguments


def test_naive_datetimes_and_negative_seconds_are_refused(plain):
    with pytest.raises(ValueError):
        plain.add_business_seconds(datetime(2026, 12, 1, 9), 60)
    with pytest.raises(ValueError):
        plain.add_business_seconds(at(2026, 12, 1, 9), -1)


def test_a_daylight_saving_change_neither_adds_nor_loses_working_time():
    # Europe/Berlin springs forward on Sunday 29 March 2026 at 02:00; a desk working
    # 01:00–04:00 that night works two real hours, not three.
    night = BusinessCalendar.build(
        hours={"sun": [["01:00", "04:00"]], "mon": [["09:00", "17:00"]]},
        timezone="Europe/Berlin",
    )
    berlin = ZoneInfo("Europe/Berlin")
    assert (
        night.business_seconds_between(at(2026, 3, 29, zone=berlin), at(2026, 3, 30, zone=berlin))
        == 2 * HOUR
    )
    # …and falls back on 25 October 2026: that night has four real hours.
    assert (
        night.business_seconds_between(at(2026, 10, 25, zone=berlin), at(2026, 10, 26, zone=berlin))
        == 4 * HOUR
    )
    # Start from a UTC moment: the answer is the same moment, whatever zone it is shown in.
    start = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    assert night.add_business_seconds(start, HOUR) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_a_long_due_time_is_fast(cn):
    # A year of working time, stepping by day: well under a second.
    import time

    started = time.perf_counter()
    due = cn.add_business_seconds(at(2025, 1, 1), 240 * DAY)
    assert time.perf_counter() - started < 1.0
    assert cn.business_seconds_between(at(2025, 1, 1), due) == 240 * DAY


# -- properties ----------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30), timezones=st.just(UTC)
)
durations = st.integers(min_value=0, max_value=40 * DAY)
CN_CALENDAR = BusinessCalendar.build(hours=OFFICE, region="CN", extra_holidays=["2027-02-08"])


@settings(max_examples=200, deadline=None)
@given(start=moments, seconds=durations)
def test_between_undoes_add(start, seconds):
    due = CN_CALENDAR.add_business_seconds(start, seconds)
    assert due >= start
    assert CN_CALENDAR.business_seconds_between(start, due) == seconds


@settings(max_examples=200, deadline=None)
@given(start=moments, first=durations, second=durations)
def test_add_is_monotonic(start, first, second):
    low, high = sorted((first, second))
    assert CN_CALENDAR.add_business_seconds(start, low) <= CN_CALENDAR.add_business_seconds(
        start, high
    )


@settings(max_examples=200, deadline=None)
@given(a=moments, b=moments, c=moments)
def test_between_adds_up_and_is_monotonic(a, b, c):
    a, b, c = sorted((a, b, c))
    ab = CN_CALENDAR.business_seconds_between(a, b)
    bc = CN_CALENDAR.business_seconds_between(b, c)
    ac = CN_CALENDAR.business_seconds_between(a, c)
    assert 0 <= ab <= ac and 0 <= bc <= ac
    assert ac - 1 <= ab + bc <= ac  # whole seconds: each part may lose a fraction
    assert CN_CALENDAR.business_seconds_between(c, a) == -ac


@settings(max_examples=200, deadline=None)
@given(start=moments)
def test_zero_is_the_start_and_outside_hours_moves_to_the_next_opening(start):
    assert CN_CALENDAR.add_business_seconds(start, 0) == start
    due = CN_CALENDAR.add_business_seconds(start, 1)
    local = (due - timedelta(seconds=1)).astimezone(SHANGHAI)
    # The second counted lies inside a working interval of its day.
    spans = CN_CALENDAR.spans_on(local.date())
    offset = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    assert any(begin <= offset < end for begin, end in spans)


@settings(max_examples=100, deadline=None)
@given(a=moments, b=moments)
def test_add_after_between_comes_back_no_later(a, b):
    a, b = sorted((a, b))
    back = CN_CALENDAR.add_business_seconds(a, CN_CALENDAR.business_seconds_between(a, b))
    assert back <= b
    # …and nothing of working time lies between where it lands and b, bar a fraction.
    assert CN_CALENDAR.business_seconds_between(back, b) <= 1


# A desk in Berlin working through both daylight-saving nights of 2026.
BERLIN_NIGHTS = BusinessCalendar.build(
    hours={day: [["00:30", "03:30"], ["08:00", "17:00"]] for day in ("fri", "sat", "sun", "mon")},
    timezone="Europe/Berlin",
)
around_changes = st.one_of(
    st.datetimes(
        min_value=datetime(2026, 3, 27), max_value=datetime(2026, 3, 31), timezones=st.just(UTC)
    ),
    st.datetimes(
        min_value=datetime(2026, 10, 23), max_value=datetime(2026, 10, 27), timezones=st.just(UTC)
    ),
)


@settings(max_examples=200, deadline=None)
@given(start=around_changes, seconds=st.integers(min_value=0, max_value=3 * 24 * 3600))
def test_round_trip_across_daylight_saving_changes(start, seconds):
    due = BERLIN_NIGHTS.add_business_seconds(start, seconds)
    assert due >= start
    assert BERLIN_NIGHTS.business_seconds_between(start, due) == seconds
