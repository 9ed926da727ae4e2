"""Monotone bound arithmetic of lags in every unit, on a calendar's integer time axis.

A lag from event ``X`` to event ``Y`` with minimum ``m`` makes ``Y`` at least ``f(X, m)`` and
``X`` at most the largest ``x`` with ``f(x, m) <= Y``; a maximum ``M`` makes ``Y`` at most
``g(X, M)`` and ``X`` at least the least ``x`` with ``g(x, M) >= Y``. Each function here maps a
bound (a minute) to a bound; all are non-decreasing, which is what makes the propagation of
lower and upper bounds a monotone fixpoint.

Days are local day indices of the calendar; ``wd(d, n)`` is the n-th working day after ``d``.
"""

from __future__ import annotations

import functools
from typing import Final

from nosology.pathway import LagUnit
from routing.calendar import WorkingCalendar

__all__ = ["TimeAxis", "time_axis"]

_MINUTES: Final = LagUnit.MINUTES
_HOURS: Final = LagUnit.HOURS
_CALENDAR_DAYS: Final = LagUnit.CALENDAR_DAYS
_DAY: Final = 1440
"""The units, looked up once (a compiled build reads a final name without a dictionary)."""


class TimeAxis:
    """Lag arithmetic on minutes and day indices of one calendar (plain Python ints, fast)."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        table = calendar.working_day_offset_table()
        self.day_start: list[int] = [int(x) for x in table.day_start]
        self.cum: list[int] = [int(x) for x in table.cum]
        self.working: list[bool] = [bool(x) for x in table.working]
        self.nth: list[int] = [int(x) for x in table.nth]
        self.n_days = len(self.cum)
        self.n_working = len(self.nth) - 1
        self.end_minute = self.day_start[-1]

    # -- days ------------------------------------------------------------------------------
    def day_of(self, minute: int) -> int:
        """Local day index of ``minute``, clamped to ``[-1, n_days]`` outside the span."""
        if minute < 0:
            return -1
        if minute >= self.end_minute:
            return self.n_days
        # Day i starts at i days of minutes, shifted by the change of the zone's UTC offset
        # since the first day (hours at most): the whole days are the guess, a step or two
        # mends it (day_start[0] is 0 and day_start[n_days] the end, so both loops stop).
        day_start = self.day_start
        day = min(minute // _DAY, self.n_days - 1)
        while day_start[day] > minute:
            day -= 1
        while day_start[day + 1] <= minute:
            day += 1
        return day

    def first_minute(self, day: int) -> int:
        """The first minute of ``day`` (clamped outside the span)."""
        if day <= 0:
            return self.day_start[0] if day == 0 else -1
        if day >= self.n_days:
            return self.end_minute
        return self.day_start[day]

    def last_minute(self, day: int) -> int:
        """The last minute of ``day`` (clamped outside the span)."""
        if day < 0:
            return -1
        if day >= self.n_days - 1:
            return self.end_minute if day >= self.n_days else self.end_minute - 1
        return self.day_start[day + 1] - 1

    def add_working(self, day: int, n: int) -> int:
        """``wd(day, n)`` for ``n >= 0``; past the span gives ``n_days``."""
        if n == 0 or day < 0 or day >= self.n_days:
            return day
        k = self.cum[day] + n
        return self.nth[k] if k <= self.n_working else self.n_days

    def least_day_reaching(self, target: int, n: int) -> int:
        """The least day ``d`` with ``wd(d, n) >= target`` (``n >= 1``)."""
        if target <= 0:
            return 0
        if target >= self.n_days:
            return self.n_days
        k_target = self.cum[target] - (1 if self.working[target] else 0) + 1
        needed = k_target - n
        if needed <= 0:
            return 0
        return self.nth[needed] if needed <= self.n_working else self.n_days

    def greatest_day_within(self, target: int, n: int) -> int:
        """The greatest day ``d`` with ``wd(d, n) <= target`` (``n >= 1``); -1 if none."""
        if target < 0:
            return -1
        if target >= self.n_days:
            return self.n_days
        limit = self.cum[target] - n
        if limit < 0:
            return -1
        return self.nth[limit + 1] - 1 if limit + 1 <= self.n_working else self.n_days - 1

    # -- bounds ------------------------------------------------------------------------------
    def min_forward(self, x: int, m: int, unit: LagUnit) -> int:
        """Least ``Y`` allowed by a minimum ``m`` after ``X >= x``."""
        if unit is _MINUTES:
            return x + m
        if unit is _HOURS:
            return x + 60 * m
        day = self.day_of(x)
        if unit is _CALENDAR_DAYS:
            return self.first_minute(day + m)
        return self.first_minute(self.add_working(day, m))

    def min_backward(self, y: int, m: int, unit: LagUnit) -> int:
        """Greatest ``X`` allowed by a minimum ``m`` before ``Y <= y``."""
        if unit is _MINUTES:
            return y - m
        if unit is _HOURS:
            return y - 60 * m
        day = self.day_of(y)
        if unit is _CALENDAR_DAYS:
            return self.last_minute(day - m)
        if m == 0:
            return self.last_minute(day)
        return self.last_minute(self.greatest_day_within(day, m))

    def max_forward(self, x: int, big_m: int, unit: LagUnit) -> int:
        """Greatest ``Y`` allowed by a maximum ``M`` after ``X <= x``."""
        if unit is _MINUTES:
            return x + big_m
        if unit is _HOURS:
            return x + 60 * big_m
        day = self.day_of(x)
        if unit is _CALENDAR_DAYS:
            return self.last_minute(day + big_m)
        return self.last_minute(self.add_working(day, big_m))

    def max_backward(self, y: int, big_m: int, unit: LagUnit) -> int:
        """Least ``X`` allowed by a maximum ``M`` before ``Y >= y``."""
        if unit is _MINUTES:
            return y - big_m
        if unit is _HOURS:
            return y - 60 * big_m
        day = self.day_of(y)
        if unit is _CALENDAR_DAYS:
            return self.first_minute(day - big_m)
        if big_m == 0:
            return self.first_minute(day)
        return self.first_minute(self.least_day_reaching(day, big_m))


@functools.lru_cache(maxsize=8)
def time_axis(calendar: WorkingCalendar) -> TimeAxis:
    """The (cached) :class:`TimeAxis` of ``calendar``."""
    return TimeAxis(calendar)
