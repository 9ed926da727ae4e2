"""Tests of routing.calendar: working-day arithmetic on the Russian production calendar."""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.calendar import (
    PROJECTION_YEARS,
    WorkingCalendar,
    calendar_for,
    default_calendar,
    known_decree_years,
)
from routing.exceptions import CalendarRangeError, InvalidInputError

MOSCOW = ZoneInfo("Europe/Moscow")
CAL = default_calendar()
FIRST_KNOWN, LAST_KNOWN = known_decree_years("RU")
# The slow reference: the holidays package itself, consulted day by day.
REFERENCE = holidays.country_holidays("RU", years=range(FIRST_KNOWN, LAST_KNOWN + 1))


def reference_wd(
    day: date, n: int, days_off: frozenset[date] = frozenset(), extra: frozenset[date] = frozenset()
) -> date:
    """wd(day, n) by stepping one day at a time and asking ``holidays`` about each day."""

    def working(d: date) -> bool:
        return d not in days_off and (d in extra or REFERENCE.is_working_day(d))

    step = timedelta(days=1 if n > 0 else -1)
    for _ in range(abs(n)):
        day += step
        while not working(day):
            day += step
    return day


ZONES = [UTC, MOSCOW, ZoneInfo("America/New_York"), timezone(timedelta(hours=5, minutes=30))]
dates_in_span = st.dates(min_value=date(FIRST_KNOWN, 1, 1), max_value=date(LAST_KNOWN, 12, 31))


def test_design_brief_example() -> None:
    """Referral Fri 2026-05-08, '≤ 3 working days': 9–11 May off, so the last date is 14 May."""
    assert [CAL.is_working_day(date(2026, 5, d)) for d in (9, 10, 11)] == [False] * 3
    assert CAL.add_working_days(date(2026, 5, 8), 3) == date(2026, 5, 14)
    assert date(2026, 5, 14).weekday() == 3  # a Thursday


def test_transferred_working_saturday_2025() -> None:
    """Saturday 2025-11-01 works (transfer); Monday 3 and Tuesday 4 November are off."""
    assert CAL.is_working_day(date(2025, 11, 1))
    assert not CAL.is_working_day(date(2025, 11, 3))
    assert not CAL.is_working_day(date(2025, 11, 4))
    assert CAL.add_working_days(date(2025, 10, 31), 1) == date(2025, 11, 1)
    assert CAL.add_working_days(date(2025, 11, 1), 1) == date(2025, 11, 5)


def test_may_2025_holidays() -> None:
    """May 2025: 1–4 and 8–11 are days off; 5–7 and 12 are working days."""
    off = {1, 2, 3, 4, 8, 9, 10, 11}
    for d in range(1, 13):
        assert CAL.is_working_day(date(2025, 5, d)) == (d not in off), d


def test_zero_returns_the_day_even_when_off() -> None:
    """wd(d, 0) = d, also for a day off (Victory Day 2026 on a Saturday)."""
    assert CAL.add_working_days(date(2026, 5, 9), 0) == date(2026, 5, 9)
    assert CAL.add_working_days(date(2026, 5, 8), 0) == date(2026, 5, 8)


def test_negative_n_counts_backwards() -> None:
    """wd(d, -m) is the m-th working day before d, from a working day or from a day off."""
    assert CAL.add_working_days(date(2026, 5, 12), -1) == date(2026, 5, 8)
    assert CAL.add_working_days(date(2026, 5, 10), -1) == date(2026, 5, 8)
    assert CAL.add_working_days(date(2026, 5, 10), -2) == date(2026, 5, 7)
    assert CAL.add_working_days(date(2025, 11, 5), -1) == date(2025, 11, 1)


def test_working_days_between_inverts_add() -> None:
    """working_days_between(d, wd(d, n)) == n; reversed dates give a negative count."""
    start = date(2026, 4, 30)
    for n in range(30):
        assert CAL.working_days_between(start, CAL.add_working_days(start, n)) == n
    assert CAL.working_days_between(date(2026, 5, 14), date(2026, 5, 8)) == -3


def test_overrides_change_results() -> None:
    """An extra day off pushes wd later; an extra working day pulls it earlier."""
    closed = WorkingCalendar(first_year=2026, last_year=2026, days_off=[date(2026, 5, 12)])
    assert not closed.is_working_day(date(2026, 5, 12))
    assert closed.add_working_days(date(2026, 5, 8), 3) == date(2026, 5, 15)
    opened = WorkingCalendar(first_year=2026, last_year=2026, working_days=[date(2026, 5, 9)])
    assert opened.is_working_day(date(2026, 5, 9))
    assert opened.add_working_days(date(2026, 5, 8), 3) == date(2026, 5, 13)


def test_override_errors() -> None:
    """A date in both override lists, or outside the span, or a datetime, is rejected."""
    day = date(2026, 5, 12)
    with pytest.raises(InvalidInputError, match="2026-05-12"):
        WorkingCalendar(first_year=2026, last_year=2026, days_off=[day], working_days=[day])
    with pytest.raises(CalendarRangeError, match="2025-05-12"):
        WorkingCalendar(first_year=2026, last_year=2026, days_off=[date(2025, 5, 12)])
    with pytest.raises(TypeError, match="expected a date"):
        WorkingCalendar(
            first_year=2026, last_year=2026, days_off=[datetime(2026, 5, 12, tzinfo=UTC)]
        )


def test_date_past_known_years_raises_naming_it() -> None:
    """Without projection, a date after the known decree years raises naming the date and years."""
    strict = WorkingCalendar(allow_projected_years=False)
    assert strict.last_date == date(LAST_KNOWN, 12, 31)
    assert strict.projected_years is None
    day = date(LAST_KNOWN + 1, 3, 3)
    with pytest.raises(CalendarRangeError) as info:
        strict.is_working_day(day)
    message = str(info.value)
    assert day.isoformat() in message
    assert f"{FIRST_KNOWN}–{LAST_KNOWN}" in message
    assert "allow_projected_years" in message
    with pytest.raises(CalendarRangeError, match="wd"):
        strict.add_working_days(date(LAST_KNOWN, 12, 28), 10)
    with pytest.raises(CalendarRangeError, match="last_year"):
        WorkingCalendar(last_year=LAST_KNOWN + 1, allow_projected_years=False)
    with pytest.raises(CalendarRangeError, match="first_year"):
        WorkingCalendar(first_year=FIRST_KNOWN - 1)


def test_known_years_come_from_the_decree_table() -> None:
    """The default span runs from the first to the last year with a transfer in the package."""
    assert FIRST_KNOWN == 1991
    assert LAST_KNOWN >= 2026
    last = LAST_KNOWN + PROJECTION_YEARS
    assert (CAL.first_date, CAL.last_date) == (date(1991, 1, 1), date(last, 12, 31))
    assert CAL.known_years == (FIRST_KNOWN, LAST_KNOWN)
    assert CAL.projected_years == (LAST_KNOWN + 1, last)
    with pytest.raises(InvalidInputError, match="country"):
        WorkingCalendar(country="US")


def test_projected_years(caplog: pytest.LogCaptureFixture) -> None:
    """allow_projected_years covers later years with weekends and fixed holidays, logged once."""
    year = LAST_KNOWN + 2
    with caplog.at_level(logging.INFO, logger="routing.calendar"):
        cal = WorkingCalendar(first_year=LAST_KNOWN, allow_projected_years=True)
        fixed = [date(year, 1, 2), date(year, 5, 9), date(year, 6, 12), date(year, 11, 4)]
        assert not any(cal.is_working_day(d) for d in fixed)
        monday = next(date(year, 3, d) for d in range(10, 17) if date(year, 3, d).weekday() == 0)
        assert cal.is_working_day(monday)
        assert not cal.is_working_day(monday - timedelta(days=1))
        cal.add_working_days(date(year, 7, 1), 20)
    warnings = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1
    assert str(LAST_KNOWN + 1) in warnings[0].getMessage()
    assert cal.known_years == (FIRST_KNOWN, LAST_KNOWN)


def test_instants_need_a_zone() -> None:
    """Naive datetimes are rejected; localize attaches the zone; the Moscow date of 22:30Z."""
    naive = datetime(2026, 5, 8, 22, 30)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        CAL.local_date(naive)
    with pytest.raises(ValueError, match="naive"):
        CAL.minute_of(naive)
    assert CAL.local_date(datetime(2026, 5, 8, 22, 30, tzinfo=UTC)) == date(2026, 5, 9)
    local = CAL.localize(naive)
    assert local.tzinfo is MOSCOW or local.utcoffset() == timedelta(hours=3)
    assert local.astimezone(UTC) == datetime(2026, 5, 8, 19, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="already has a zone"):
        CAL.localize(local)
    with pytest.raises(TypeError, match="datetime"):
        CAL.is_working_day(local)


def test_other_zone_changes_local_dates() -> None:
    """The zone decides the local date; unknown zones are rejected."""
    yekaterinburg = WorkingCalendar(zone="Asia/Yekaterinburg", first_year=2026, last_year=2026)
    moment = datetime(2026, 5, 8, 19, 30, tzinfo=UTC)  # 22:30 Moscow, 00:30 Yekaterinburg
    assert CAL.local_date(moment) == date(2026, 5, 8)
    assert yekaterinburg.local_date(moment) == date(2026, 5, 9)
    with pytest.raises(InvalidInputError, match="zone"):
        WorkingCalendar(zone="Nowhere/Atlantis")


def test_offset_table_is_read_only_and_consistent() -> None:
    """The exposed arrays cannot be written and give wd(i, n) = nth[cum[i] + n]."""
    table = CAL.working_day_offset_table()
    for array in table:
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = array[0]
    i = CAL.day_index(date(2026, 5, 8))
    assert CAL.date_at(int(table.nth[table.cum[i] + 3])) == date(2026, 5, 14)
    assert int(table.cum[-1]) == len(table.nth) - 1
    assert np.array_equal(np.flatnonzero(table.working), table.nth[1:])


def test_minutes_follow_the_zone_across_offset_changes() -> None:
    """Moscow's DST day 2010-03-28 lasts 23 h; minutes are real elapsed time across it."""
    day = CAL.day_index(date(2010, 3, 28))
    assert CAL.day_start_minute(day + 1) - CAL.day_start_minute(day) == 23 * 60
    before = datetime(2010, 3, 28, 1, 59, tzinfo=MOSCOW)
    after = datetime(2010, 3, 28, 3, 0, tzinfo=MOSCOW)  # 02:00 jumped to 03:00
    assert CAL.minute_of(after) - CAL.minute_of(before) == 1
    assert CAL.day_of_minute(CAL.day_start_minute(day)) == day
    assert CAL.day_of_minute(CAL.day_start_minute(day) - 1) == day - 1
    with pytest.raises(CalendarRangeError):
        CAL.minute_of(datetime(1990, 12, 31, 23, 59, tzinfo=MOSCOW))
    with pytest.raises(CalendarRangeError):
        CAL.day_of_minute(-1)


def test_value_semantics() -> None:
    """Calendars are immutable, equal and hashable by settings, and survive pickling."""
    a = WorkingCalendar(first_year=2025, last_year=2026, days_off=[date(2026, 5, 12)])
    b = WorkingCalendar(first_year=2025, last_year=2026, days_off=(date(2026, 5, 12),))
    assert a == b
    assert hash(a) == hash(b)
    assert a != WorkingCalendar(first_year=2025, last_year=2026)
    assert WorkingCalendar() == CAL
    assert default_calendar() is CAL
    with pytest.raises(AttributeError):
        a._zone = ZoneInfo("UTC")
    copy = pickle.loads(pickle.dumps(a))
    assert copy == a
    assert not copy.is_working_day(date(2026, 5, 12))


@settings(max_examples=300, deadline=None)
@given(day=dates_in_span, n=st.integers(-40, 40))
def test_add_working_days_matches_reference(day: date, n: int) -> None:
    """add_working_days agrees with stepping day by day through holidays.is_working_day."""
    expected = reference_wd(day, n)
    if CAL.first_date <= expected <= CAL.last_date:
        assert CAL.add_working_days(day, n) == expected
        if n >= 0:
            assert CAL.working_days_between(day, expected) == n
    else:
        with pytest.raises(CalendarRangeError):
            CAL.add_working_days(day, n)


OVERRIDE_DAYS = st.frozensets(
    st.dates(min_value=date(2026, 4, 1), max_value=date(2026, 6, 30)), max_size=6
)
OVERRIDE_CAL_DAYS = st.dates(min_value=date(2026, 4, 1), max_value=date(2026, 6, 30))


@settings(max_examples=40, deadline=None)
@given(off=OVERRIDE_DAYS, extra=OVERRIDE_DAYS, day=OVERRIDE_CAL_DAYS, n=st.integers(-25, 25))
def test_overrides_match_reference(
    off: frozenset[date], extra: frozenset[date], day: date, n: int
) -> None:
    """With random overrides, add_working_days agrees with the day-by-day reference."""
    extra = extra - off
    cal = WorkingCalendar(first_year=2026, last_year=2026, days_off=off, working_days=extra)
    assert cal.add_working_days(day, n) == reference_wd(day, n, off, extra)


@settings(max_examples=200, deadline=None)
@given(day=dates_in_span, n=st.integers(-40, 40))
def test_index_functions_agree_with_date_functions(day: date, n: int) -> None:
    """day_index/date_at round-trip, and add_working_days_index mirrors add_working_days."""
    i = CAL.day_index(day)
    assert CAL.date_at(i) == day
    try:
        expected = CAL.add_working_days(day, n)
    except CalendarRangeError:
        with pytest.raises(CalendarRangeError):
            CAL.add_working_days_index(i, n)
    else:
        assert CAL.date_at(CAL.add_working_days_index(i, n)) == expected
    assert CAL.is_working_day(day) == bool(CAL.working_day_offset_table().working[i])


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1991, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(LAST_KNOWN, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from(ZONES),
    )
)
def test_minute_round_trip(moment: datetime) -> None:
    """day_of_minute(minute_of(t)) is the local day of t, and minutes measure real time."""
    minute = CAL.minute_of(moment)
    assert CAL.day_of_minute(minute) == CAL.day_index(CAL.local_date(moment))
    start = CAL.day_start_minute(CAL.day_of_minute(minute))
    assert start <= minute
    origin = datetime(1991, 1, 1, tzinfo=MOSCOW)
    assert minute == (moment.astimezone(UTC) - origin.astimezone(UTC)) // timedelta(minutes=1)


def test_calendar_for_a_zone() -> None:
    """A problem's zone: the shared calendar for none or Moscow, its own otherwise, a named
    error for a zone that does not exist."""
    from routing.exceptions import InvalidInputError

    assert calendar_for(None) is CAL
    assert calendar_for("Europe/Moscow") is CAL
    assert calendar_for("Asia/Yekaterinburg").zone.key == "Asia/Yekaterinburg"
    with pytest.raises(InvalidInputError, match="zone"):
        calendar_for("Not/AZone")


_AXIS_CALENDARS = [
    CAL,
    WorkingCalendar(zone="Pacific/Apia", first_year=2010, last_year=2013),  # skipped 2011-12-30
    WorkingCalendar(zone="America/Sao_Paulo", first_year=2015, last_year=2020),
]


@given(st.sampled_from(range(len(_AXIS_CALENDARS))), st.integers(-5, 10**8), st.integers(-3, 3))
@settings(max_examples=400, deadline=None)
def test_time_axis_day_of_is_the_day_starts_search(which: int, minute: int, shift: int) -> None:
    """The solver's day of a minute (a guess by whole days, mended) is the day whose minutes
    hold it, by a search of the day starts, around midnights and offset changes too."""
    from bisect import bisect_right

    from routing.solve.timeaxis import time_axis

    axis = time_axis(_AXIS_CALENDARS[which])
    starts = axis.day_start
    if shift and 0 <= minute < axis.end_minute:  # near a midnight
        minute = starts[bisect_right(starts, minute) - 1] + shift
    if minute < 0:
        expected = -1
    elif minute >= axis.end_minute:
        expected = axis.n_days
    else:
        expected = bisect_right(starts, minute) - 1
    assert axis.day_of(minute) == expected
