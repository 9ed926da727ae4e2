"""Working-day arithmetic on a national production calendar, precomputed for solvers.

A :class:`WorkingCalendar` reads the production calendar of a country (Russia by default) from the
``holidays`` package once, at construction, and keeps it as flat arrays over a span of whole years.
Every query after that is an array lookup: no holiday lookups on the hot path.

Working days
------------
``wd(d, n)`` is the n-th working day after date ``d`` (``d`` itself not counted); ``wd(d, 0) = d``
even when ``d`` is a day off; ``wd(d, -m)`` is the m-th working day before ``d``. A working day is
one the ``holidays`` package calls so (``HolidayBase.is_working_day``: weekdays that are not
public holidays or substituted days off, plus working weekend days such as Saturday 2025-11-01),
then changed by the calendar's own ``days_off`` and ``working_days`` overrides.

Known and projected years
-------------------------
The package holds the government's transfer decrees as a table of substituted days off
(``special_public_holidays``: day off ← working day it was moved from). The years it knows are
those from the first to the last year with an entry in that table (for ``RU``: 1991 up to the
latest decree shipped, 2027 in ``holidays`` 0.109). A later year has no decree yet, so it is
*projected*: its days off are the weekends and the fixed non-working public holidays, with no
transfers. For Russia these are the holidays of the Labour Code, art. 112 part 1
(:data:`LABOUR_CODE_HOLIDAYS`: 1–8 January, 23 February, 8 March, 1 May, 9 May, 12 June,
4 November); the statutory move of a holiday that falls on a weekend (art. 112 part 2) and the
decree's transfers are not guessed. For another country a projected year is what the package
computes for it.

By default a calendar covers the known years and :data:`PROJECTION_YEARS` projected years after
them: that span is the *sensible range* of dates. A date outside it is taken for an error in its
record (a slot is dropped, a request is INVALID), not planned. Routes that rely on a projected
year say so (:attr:`~routing.result.RouteResult.warnings`). ``allow_projected_years=False``
keeps a calendar to the known years.

Integer interface
-----------------
For solvers, days are indices and instants are minutes:

- day index ``i``: days since :attr:`WorkingCalendar.first_date` (``date_at(i)`` is that date);
- minute ``t``: whole minutes elapsed since the instant ``first_date`` 00:00 local (a real
  duration, so ``t2 - t1`` is the exact time between two instants, across any UTC-offset change);
- the local day of minute ``t`` is found through the zone's local midnights, precomputed at
  construction (Moscow changed offsets in 2011 and 2014; none of that is assumed away).

:meth:`WorkingCalendar.working_day_offset_table` exposes the arrays behind these, read-only, for
vectorised use.

Examples
--------
>>> from datetime import date
>>> cal = default_calendar()
>>> cal.add_working_days(date(2026, 5, 8), 3)  # 9, 10 and 11 May are days off
datetime.date(2026, 5, 14)
>>> cal.working_days_between(date(2026, 5, 8), date(2026, 5, 14))
3
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import numpy as np
import numpy.typing as npt

from routing.exceptions import CalendarRangeError, InvalidInputError

__all__ = [
    "LABOUR_CODE_HOLIDAYS",
    "PROJECTION_YEARS",
    "WorkingCalendar",
    "WorkingDayTable",
    "calendar_for",
    "default_calendar",
    "known_decree_years",
]

logger = logging.getLogger(__name__)

PROJECTION_YEARS = 30
"""Years past the last known decree year that a calendar projects by default.

With the known years before them they are the sensible range of dates (1991–2057 with
``holidays`` 0.109): a slot, referral or reference date outside is an error for its record.
"""

LABOUR_CODE_HOLIDAYS: dict[str, frozenset[tuple[int, int]]] = {
    "RU": frozenset(
        [(1, day) for day in range(1, 9)] + [(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)]
    ),
}
"""The fixed non-working public holidays, ``(month, day)``, that a projected year keeps.

Russia: the Labour Code, art. 112 part 1 (1–6 and 8 January New Year holidays, 7 January
Christmas, 23 February, 8 March, 1 May, 9 May, 12 June, 4 November).
"""

_MINUTES_PER_DAY = 1440
_ONE_MINUTE = timedelta(minutes=1)
_RECORD = "working calendar"
_T = TypeVar("_T", bound=np.generic)


class WorkingDayTable(NamedTuple):
    """The read-only arrays behind a :class:`WorkingCalendar`, indexed by day index ``i``.

    With ``N`` days in the span and ``K`` working days among them:

    - ``wd(i, n) = nth[cum[i] + n]`` for ``n >= 1`` (valid while ``cum[i] + n <= K``);
    - ``wd(i, -m) = nth[cum[i] - working[i] - m + 1]`` for ``m >= 1`` (valid while ``>= 1``);
    - working days in ``(i, j]`` ``= cum[j] - cum[i]``;
    - the local day of minute ``t`` is ``searchsorted(day_start, t, side="right") - 1``, and day
      ``i`` is the minutes ``[day_start[i], day_start[i + 1])``.

    Attributes
    ----------
    working
        ``bool``, shape ``(N,)``: whether day ``i`` is a working day.
    cum
        ``int64``, shape ``(N,)``: working days in ``[first_date, day i]``.
    nth
        ``int64``, shape ``(K + 1,)``: ``nth[k]`` is the day index of the k-th working day of the
        span (``k >= 1``); ``nth[0]`` is ``-1`` (there is no 0th).
    day_start
        ``int64``, shape ``(N + 1,)``: the minute at which local day ``i`` begins;
        ``day_start[N]`` is the end of the span.
    """

    working: npt.NDArray[np.bool_]
    cum: npt.NDArray[np.int64]
    nth: npt.NDArray[np.int64]
    day_start: npt.NDArray[np.int64]


@functools.cache
def known_decree_years(country: str = "RU") -> tuple[int, int]:
    """The first and last year for which ``holidays`` holds the country's transfer decrees.

    These are the first and last year with a substituted day off (a transfer) in the package's
    ``special_public_holidays`` table for ``country``.

    Raises
    ------
    InvalidInputError
        If the package has no calendar, or no transfer decrees, for ``country``.

    Examples
    --------
    >>> known_decree_years("RU")[0]
    1991
    """
    try:
        probe = holidays.country_holidays(country)
    except NotImplementedError:
        raise InvalidInputError(
            _RECORD, "country", f"the holidays package has no calendar for {country!r}"
        ) from None
    table: dict[int, Any] = getattr(probe, "special_public_holidays", None) or {}
    years = [year for year, entries in table.items() if _has_transfer(entries)]
    if not years:
        raise InvalidInputError(
            _RECORD,
            "country",
            f"the holidays package has no transfer decrees for {country!r}; "
            "expected a country with a production calendar such as 'RU'",
        )
    return min(years), max(years)


def _has_transfer(entries: Any) -> bool:
    """Whether a year's special-holiday entries hold a substituted day (a 4- or 5-tuple)."""
    items = entries if entries and isinstance(entries[0], tuple) else (entries,)
    return any(len(item) >= 4 for item in items)


class WorkingCalendar:
    """A production calendar over whole years, precomputed as arrays; immutable and hashable.

    Parameters
    ----------
    zone
        The time zone in which instants become local dates (IANA name or :class:`ZoneInfo`).
    country
        The ``holidays`` country code whose production calendar applies.
    first_year, last_year
        The span of years to cover. Default: the known decree years (see
        :func:`known_decree_years`), plus :data:`PROJECTION_YEARS` when projecting.
    days_off, working_days
        Overrides on top of the national calendar (regional decrees, facility closures); each date
        must lie in the span, and no date may be in both.
    allow_projected_years
        Allow years after the last known decree year, computed from weekends and fixed holidays
        only (see the module docstring; logged once at INFO). On by default.

    Raises
    ------
    CalendarRangeError
        If the span or an override reaches before the known years, or after them without
        ``allow_projected_years``.
    InvalidInputError
        If the zone or country is unknown, ``first_year > last_year``, or the overrides conflict.

    Notes
    -----
    Two calendars are equal (and hash alike) when their settings are: zone, country, resolved
    span, overrides and the projection flag. Building the default span (the known years and
    :data:`PROJECTION_YEARS` more) takes some 50 ms, once: :func:`default_calendar` and
    :func:`calendar_for` share what they build.
    """

    __slots__ = (
        "_country",
        "_cum",
        "_day_start",
        "_first_ord",
        "_key",
        "_known",
        "_n_days",
        "_n_working",
        "_nth",
        "_origin_utc",
        "_table",
        "_uniform",
        "_work",
        "_zone",
    )

    _country: str
    _cum: tuple[int, ...]
    _day_start: tuple[int, ...]
    _first_ord: int
    _key: tuple[Any, ...]
    _known: tuple[int, int]
    _n_days: int
    _n_working: int
    _nth: tuple[int, ...]
    _origin_utc: datetime
    _table: WorkingDayTable
    _uniform: bool
    _work: tuple[bool, ...]
    _zone: ZoneInfo

    def __init__(
        self,
        *,
        zone: str | ZoneInfo = "Europe/Moscow",
        country: str = "RU",
        first_year: int | None = None,
        last_year: int | None = None,
        days_off: Iterable[date] = (),
        working_days: Iterable[date] = (),
        allow_projected_years: bool = True,
    ) -> None:
        tz = _resolve_zone(zone)
        known_first, known_last = known_decree_years(country)
        first = known_first if first_year is None else first_year
        if last_year is not None:
            last = last_year
        else:
            last = known_last + (PROJECTION_YEARS if allow_projected_years else 0)
        if first > last:
            raise InvalidInputError(
                _RECORD, "first_year", f"first_year {first} must not be after last_year {last}"
            )
        known = f"years {known_first}–{known_last} known for {country}"
        if first < known_first:
            raise CalendarRangeError(
                f"year {first}", "first_year", f"before the decrees the calendar knows ({known})"
            )
        if last > known_last and not allow_projected_years:
            raise CalendarRangeError(
                f"year {last}",
                "last_year",
                f"after the last transfer decree ({known}); pass allow_projected_years=True "
                "to plan on weekends and fixed holidays only",
            )

        first_ord = date(first, 1, 1).toordinal()
        n_days = date(last, 12, 31).toordinal() - first_ord + 1
        off = _date_set(days_off, "days_off")
        extra = _date_set(working_days, "working_days")
        for field, chosen in (("days_off", off), ("working_days", extra)):
            for day in sorted(chosen):
                if not 0 <= day.toordinal() - first_ord < n_days:
                    raise CalendarRangeError(
                        f"date {day.isoformat()}",
                        field,
                        f"outside the calendar's span, years {first}–{last}",
                    )
        if clash := sorted(off & extra):
            raise InvalidInputError(
                _RECORD,
                "days_off",
                "dates both in days_off and in working_days: "
                + ", ".join(d.isoformat() for d in clash),
            )

        fixed = LABOUR_CODE_HOLIDAYS.get(country)
        decreed_last = last if fixed is None else min(last, known_last)
        national = holidays.country_holidays(country, years=range(first, decreed_last + 1))

        def national_working(day: date) -> bool:
            if fixed is not None and day.year > known_last:
                return day.weekday() < 5 and (day.month, day.day) not in fixed
            return bool(national.is_working_day(day))

        days = [date.fromordinal(first_ord + i) for i in range(n_days)]
        work = tuple((day not in off) and (day in extra or national_working(day)) for day in days)
        cum = tuple(itertools.accumulate(work, initial=0))[1:]
        nth = (-1, *(i for i, is_work in enumerate(work) if is_work))

        # Minute at which each local day begins: i whole days, corrected by the change in UTC offset
        # since the origin (zero in a zone without changes). Midnights that fall in a gap or an
        # overlap resolve (fold=0) to the first instant of the local day.
        origin = datetime(first, 1, 1, tzinfo=tz)
        origin_offset = _offset_minutes(origin)
        day_start = tuple(
            i * _MINUTES_PER_DAY
            + origin_offset
            - _offset_minutes(datetime(d.year, d.month, d.day, tzinfo=tz))
            for i, d in enumerate([*days, date.fromordinal(first_ord + n_days)])
        )

        table = WorkingDayTable(
            working=_frozen(np.array(work, dtype=np.bool_)),
            cum=_frozen(np.array(cum, dtype=np.int64)),
            nth=_frozen(np.array(nth, dtype=np.int64)),
            day_start=_frozen(np.array(day_start, dtype=np.int64)),
        )
        settings = (
            tz.key if tz.key is not None else repr(tz),
            country,
            first,
            last,
            frozenset(off),
            frozenset(extra),
            allow_projected_years,
        )
        for name, value in (
            ("_country", country),
            ("_cum", cum),
            ("_day_start", day_start),
            ("_first_ord", first_ord),
            ("_key", settings),
            ("_known", (known_first, known_last)),
            ("_n_days", n_days),
            ("_n_working", len(nth) - 1),
            ("_nth", nth),
            ("_origin_utc", origin.astimezone(UTC)),
            ("_table", table),
            ("_uniform", all(m == i * _MINUTES_PER_DAY for i, m in enumerate(day_start))),
            ("_work", work),
            ("_zone", tz),
        ):
            object.__setattr__(self, name, value)
        if last > known_last:
            logger.info(
                "working calendar %s: years %d–%d are projected from weekends and fixed holidays "
                "only (holidays %s has transfer decrees up to %d)",
                country,
                max(first, known_last + 1),
                last,
                getattr(holidays, "__version__", "?"),
                known_last,
            )

    # --- value semantics

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"WorkingCalendar is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"WorkingCalendar is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkingCalendar):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __reduce__(self) -> tuple[Any, ...]:
        _, country, first, last, off, extra, projected = self._key
        args = (self._zone, country, first, last, tuple(sorted(off)), tuple(sorted(extra)))
        return (_rebuild, (*args, projected))

    def __repr__(self) -> str:
        _, country, first, last, off, extra, projected = self._key
        return (
            f"WorkingCalendar(zone={self._zone.key!r}, country={country!r}, years={first}–{last}, "
            f"days_off={len(off)}, working_days={len(extra)}, "
            f"allow_projected_years={projected})"
        )

    # --- the span

    @property
    def zone(self) -> ZoneInfo:
        """The zone in which instants become local dates."""
        return self._zone

    @property
    def country(self) -> str:
        """The ``holidays`` country code of the production calendar."""
        return self._country

    @property
    def first_date(self) -> date:
        """The first date of the span (1 January of the first year); day index 0."""
        return date.fromordinal(self._first_ord)

    @property
    def last_date(self) -> date:
        """The last date of the span (31 December of the last year)."""
        return date.fromordinal(self._first_ord + self._n_days - 1)

    @property
    def known_years(self) -> tuple[int, int]:
        """The years with the government's transfer decrees; later years are projected."""
        return self._known

    @property
    def projected_years(self) -> tuple[int, int] | None:
        """The first and last projected year of the span, or ``None`` when it has none."""
        known_last = self._known[1]
        last = self.last_date.year
        if last <= known_last:
            return None
        return max(self.first_date.year, known_last + 1), last

    @property
    def projected_from(self) -> int:
        """The day index of the first projected day (the number of days when none is).

        A day index ``i`` is projected iff ``i >= projected_from``: a vectorised test for arrays
        of day indices.
        """
        first_projected = date(self._known[1] + 1, 1, 1).toordinal() - self._first_ord
        return min(max(first_projected, 0), self._n_days)

    def is_projected(self, day: date) -> bool:
        """Whether ``day`` lies in a year after the known decree years (any date, in span or not).

        Examples
        --------
        >>> cal = default_calendar()
        >>> cal.is_projected(date(cal.known_years[1], 12, 31)), cal.is_projected(date(2050, 1, 3))
        (False, True)
        """
        return day.year > self._known[1]

    def covers(self, moment: date | datetime) -> bool:
        """Whether a date, or the local date of an aware instant, lies in the span.

        Raises
        ------
        ValueError
            If ``moment`` is a naive datetime.
        """
        if isinstance(moment, datetime):
            minute = (_aware(moment).astimezone(UTC) - self._origin_utc) // _ONE_MINUTE
            return 0 <= minute < self._day_start[-1]
        return 0 <= moment.toordinal() - self._first_ord < self._n_days

    # --- dates

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day.

        Raises
        ------
        CalendarRangeError
            If ``day`` is outside the span.
        """
        return self._work[self.day_index(day)]

    def add_working_days(self, day: date, n: int) -> date:
        """``wd(day, n)``: the n-th working day after ``day`` (before it when ``n < 0``).

        ``day`` itself is not counted, and ``n = 0`` gives ``day`` even when it is a day off.

        Raises
        ------
        CalendarRangeError
            If ``day`` or the result is outside the span.

        Examples
        --------
        >>> default_calendar().add_working_days(date(2025, 10, 31), 1)  # a working Saturday
        datetime.date(2025, 11, 1)
        """
        return date.fromordinal(
            self._first_ord + self.add_working_days_index(self.day_index(day), n)
        )

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in ``(start, end]``; negated when ``end < start``.

        For ``n >= 0``, ``working_days_between(d, add_working_days(d, n)) == n``.

        Raises
        ------
        CalendarRangeError
            If either date is outside the span.
        """
        return self._cum[self.day_index(end)] - self._cum[self.day_index(start)]

    # --- instants

    def local_date(self, moment: datetime) -> date:
        """The date of an aware ``moment`` in the calendar's zone.

        Raises
        ------
        ValueError
            If ``moment`` is naive.
        """
        return _aware(moment).astimezone(self._zone).date()

    def localize(self, naive: datetime) -> datetime:
        """``naive`` read as local time in the calendar's zone (for sources in local time).

        Raises
        ------
        ValueError
            If ``naive`` already carries a zone.
        """
        if not isinstance(naive, datetime):
            raise TypeError(f"expected a datetime, got {type(naive).__name__}")
        if naive.tzinfo is not None:
            raise ValueError(
                "localize expects a naive datetime; this one already has a zone (use it as is)"
            )
        return naive.replace(tzinfo=self._zone)

    # --- the integer interface

    def day_index(self, day: date) -> int:
        """The day index of ``day``: days since :attr:`first_date`.

        Raises
        ------
        CalendarRangeError
            If ``day`` is outside the span.
        """
        if type(day) is not date:
            _check_date(day)
        index = day.toordinal() - self._first_ord
        if not 0 <= index < self._n_days:
            raise self._range_error(f"date {day.isoformat()}")
        return index

    def date_at(self, index: int) -> date:
        """The date of day index ``index``.

        Raises
        ------
        CalendarRangeError
            If ``index`` is outside ``[0, number of days)``.
        """
        if not 0 <= index < self._n_days:
            raise self._range_error(f"day index {index}")
        return date.fromordinal(self._first_ord + index)

    def add_working_days_index(self, day_index: int, n: int) -> int:
        """:meth:`add_working_days` on day indices: ``wd(day_index, n)`` in O(1).

        Raises
        ------
        CalendarRangeError
            If ``day_index`` or the result is outside the span.
        """
        if not 0 <= day_index < self._n_days:
            raise self._range_error(f"day index {day_index}")
        if n == 0:
            return day_index
        k = self._cum[day_index] + n
        if n < 0:
            k += 1 - self._work[day_index]
        if not 1 <= k <= self._n_working:
            start = date.fromordinal(self._first_ord + day_index).isoformat()
            raise self._range_error(f"wd({start}, {n})")
        return self._nth[k]

    def minute_of(self, moment: datetime) -> int:
        """Whole minutes elapsed from :attr:`first_date` 00:00 local to the aware ``moment``.

        The count is floored (seconds are dropped) and is real elapsed time, so differences are
        exact durations.

        Raises
        ------
        ValueError
            If ``moment`` is naive.
        CalendarRangeError
            If ``moment`` falls outside the span.
        """
        minute = (_aware(moment).astimezone(UTC) - self._origin_utc) // _ONE_MINUTE
        if not 0 <= minute < self._day_start[-1]:
            raise self._range_error(f"instant {moment.isoformat()}")
        return minute

    def day_of_minute(self, minute: int) -> int:
        """The local day index of ``minute``, through the zone's precomputed local midnights.

        Raises
        ------
        CalendarRangeError
            If ``minute`` is outside the span.
        """
        starts = self._day_start
        if not 0 <= minute < starts[-1]:
            raise self._range_error(f"minute {minute}")
        index = minute // _MINUTES_PER_DAY
        if self._uniform:
            return index
        # Local days last 23 to 25 hours and offsets drift by hours at most, so this walks a step
        # or two; the guards keep it exact for any zone.
        index = min(index, self._n_days - 1)
        while starts[index] > minute:
            index -= 1
        while starts[index + 1] <= minute:
            index += 1
        return index

    def day_start_minute(self, day_index: int) -> int:
        """The minute at which local day ``day_index`` begins (its first instant).

        Raises
        ------
        CalendarRangeError
            If ``day_index`` is outside the span.
        """
        if not 0 <= day_index < self._n_days:
            raise self._range_error(f"day index {day_index}")
        return self._day_start[day_index]

    def working_day_offset_table(self) -> WorkingDayTable:
        """The read-only arrays behind this calendar (see :class:`WorkingDayTable`)."""
        return self._table

    @property
    def range_reason(self) -> str:
        """Why a date outside the span cannot be used: the span, its projected and known years.

        Holds no date but the years of the span, for the reason of a record's error.
        """
        _, country, first, last, _, _, projected = self._key
        known_first, known_last = self._known
        reason = f"outside the working calendar: years {first}–{last} covered"
        if last > known_last:
            reason += f", of which {max(first, known_last + 1)}–{last} projected"
        reason += f" (transfer decrees known for {country}: {known_first}–{known_last})"
        if not projected:
            reason += "; allow_projected_years=True extends a calendar past its known years"
        return reason

    def _range_error(self, subject: str) -> CalendarRangeError:
        return CalendarRangeError(subject, "", self.range_reason)


@functools.cache
def default_calendar() -> WorkingCalendar:
    """The shared calendar of the region: Europe/Moscow, Russia, the known decree years and
    :data:`PROJECTION_YEARS` projected years after them (the sensible range of dates)."""
    return WorkingCalendar()


def calendar_for(zone: str | None) -> WorkingCalendar:
    """The region's calendar in ``zone`` (the shared :func:`default_calendar` for ``None`` or
    its own zone), e.g. for a problem file's ``timezone``; built once per zone."""
    if zone is None or zone == default_calendar().zone.key:
        return default_calendar()
    return _zone_calendar(zone)


@functools.lru_cache(maxsize=16)
def _zone_calendar(zone: str) -> WorkingCalendar:
    return WorkingCalendar(zone=zone)


def _rebuild(
    zone: ZoneInfo,
    country: str,
    first_year: int,
    last_year: int,
    days_off: tuple[date, ...],
    working_days: tuple[date, ...],
    allow_projected_years: bool,
) -> WorkingCalendar:
    """Recreate a calendar from its settings (the pickle protocol)."""
    return WorkingCalendar(
        zone=zone,
        country=country,
        first_year=first_year,
        last_year=last_year,
        days_off=days_off,
        working_days=working_days,
        allow_projected_years=allow_projected_years,
    )


def _resolve_zone(zone: str | ZoneInfo) -> ZoneInfo:
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise InvalidInputError(
            _RECORD, "zone", "not a known IANA time zone (e.g. 'Europe/Moscow')"
        ) from None


def _date_set(values: Iterable[date], field: str) -> set[date]:
    chosen = set()
    for value in values:
        _check_date(value, field)
        chosen.add(value)
    return chosen


def _check_date(value: object, field: str = "day") -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(
            f"{field}: expected a date, got {type(value).__name__} "
            "(turn instants into dates with local_date)"
        )


def _aware(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            "naive datetime: expected a timezone-aware one (attach the source's zone, "
            "e.g. with WorkingCalendar.localize)"
        )
    return moment


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return 0 if offset is None else offset // _ONE_MINUTE


def _frozen(array: npt.NDArray[_T]) -> npt.NDArray[_T]:
    array.flags.writeable = False
    return array
