"""Each stage's range of slots narrowed by the lag links before its candidates are gathered.

A stage's slots in the request's horizon are a range of its base, sorted by start. The lag links
(:mod:`routing.solve.links`) bound every stage's start and end from the other stages' ranges
and the referral: a stage that must follow a consultation by five working days cannot start in
the first five days of the horizon, and one that a later stage must precede cannot start at the
horizon's end. :func:`lag_ranges` propagates the links over the ranges to a fixpoint, as the
search does at its root (:mod:`routing.solve.bnb.propagation`) but over every slot of a range,
free or not, so that the rows no route can use are never masked, thinned or copied.

Every row cut here starts outside the bounds that any route of the request respects, since the
ranges hold every candidate; the search's own root bounds are at least as tight. So the search
finds the same routes: the cut only saves work, and, where candidates are thinned to the nearest
few a day, leaves those few to slots a route can use.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Final

from nosology.pathway import LagUnit
from routing.solve.links import REFERRAL_STAGE, Link
from routing.solve.timeaxis import TimeAxis

__all__ = ["lag_ranges"]

_ROUNDS: Final = 50
"""Visits of each link at most, on average (a link is visited again only when one of its
stages' bounds moved); stopping before the fixpoint is sound, the bounds so far are valid."""
_MINUTES: Final = LagUnit.MINUTES


def lag_ranges(
    starts: Sequence[Sequence[int]],
    ranges: Sequence[tuple[int, int]],
    durations: Sequence[tuple[int, int]],
    links: Sequence[Link],
    axis: TimeAxis,
    referral: int,
) -> list[tuple[int, int]] | None:
    """The ranges of rows ``[lo, hi)`` whose starts the lag links allow, or ``None``.

    Parameters
    ----------
    starts
        Per stage, the starts of its base's rows, ascending.
    ranges
        Per stage, the rows ``[lo, hi)`` in the request's horizon.
    durations
        Per stage, the shortest and longest duration of its base's rows.
    links
        The pathway's lag links.
    axis
        The time axis the links' units are counted on.
    referral
        The referral's minute.

    Returns
    -------
    list of tuple of int, or None
        The narrowed ranges (each within the given one), or ``None`` when a stage has no row
        that the links allow (the caller leaves the ranges as they are, and the search then
        names the rule that fails).
    """
    k = len(ranges)
    for lo, hi in ranges:
        if lo >= hi:
            return None
    lo_row = [lo for lo, _ in ranges]
    hi_row = [hi - 1 for _, hi in ranges]
    lo_s = [starts[i][lo_row[i]] for i in range(k)]
    hi_s = [starts[i][hi_row[i]] for i in range(k)]
    lo_e = [lo_s[i] + durations[i][0] for i in range(k)]
    hi_e = [hi_s[i] + durations[i][1] for i in range(k)]
    events = ((lo_s, hi_s), (lo_e, hi_e))  # a stage's start (point 0) and end (point 1)
    incident: list[list[int]] = [[] for _ in range(k)]
    for n, link in enumerate(links):
        for stage in (link.x_stage, link.y_stage):
            if stage != REFERRAL_STAGE:
                incident[stage].append(n)
    pending = [True] * len(links)
    stack = list(range(len(links) - 1, -1, -1))
    budget = _ROUNDS * len(links)
    while stack:
        budget -= 1
        if budget < 0:
            break  # sound: the bounds so far are valid, merely not a fixpoint
        n = stack.pop()
        pending[n] = False
        link = links[n]
        xs, ys = link.x_stage, link.y_stage
        xlo = xhi = ylo = yhi = referral
        if xs != REFERRAL_STAGE:
            lower, upper = events[link.x_point]
            xlo, xhi = lower[xs], upper[xs]
        if ys != REFERRAL_STAGE:
            lower, upper = events[link.y_point]
            ylo, yhi = lower[ys], upper[ys]
        unit = link.unit
        y_lo, y_hi, x_lo, x_hi = ylo, yhi, xlo, xhi
        if link.min is not None:
            if unit is _MINUTES:
                v, w = xlo + link.min, yhi - link.min
            else:
                v = axis.min_forward(xlo, link.min, unit)
                w = axis.min_backward(yhi, link.min, unit)
            if v > y_lo:
                y_lo = v
            if w < x_hi:
                x_hi = w
        if link.max is not None:
            if unit is _MINUTES:
                v, w = xhi + link.max, ylo - link.max
            else:
                v = axis.max_forward(xhi, link.max, unit)
                w = axis.max_backward(ylo, link.max, unit)
            if v < y_hi:
                y_hi = v
            if w > x_lo:
                x_lo = w
        for stage, point, new_lo, new_hi, old_lo, old_hi in (
            (ys, link.y_point, y_lo, y_hi, ylo, yhi),
            (xs, link.x_point, x_lo, x_hi, xlo, xhi),
        ):
            if new_lo == old_lo and new_hi == old_hi:
                continue
            if new_lo > new_hi or stage == REFERRAL_STAGE:
                return None
            lower, upper = events[point]
            lower[stage], upper[stage] = new_lo, new_hi
            # Snap the start bounds to rows (a start outside them, or one whose end cannot
            # fall within the end bounds, is no route's), then the end bounds to those rows.
            shortest, longest = durations[stage]
            first = lo_s[stage] if lo_s[stage] > lo_e[stage] - longest else lo_e[stage] - longest
            last = hi_s[stage] if hi_s[stage] < hi_e[stage] - shortest else hi_e[stage] - shortest
            rows = starts[stage]
            a = bisect_left(rows, first, lo_row[stage], hi_row[stage] + 1)
            z = bisect_right(rows, last, lo_row[stage], hi_row[stage] + 1) - 1
            if a > z:
                return None
            lo_row[stage], hi_row[stage] = a, z
            lo_s[stage], hi_s[stage] = rows[a], rows[z]
            if lo_e[stage] < rows[a] + shortest:
                lo_e[stage] = rows[a] + shortest
            if hi_e[stage] > rows[z] + longest:
                hi_e[stage] = rows[z] + longest
            for m in incident[stage]:
                if not pending[m]:
                    pending[m] = True
                    stack.append(m)
    return [(lo_row[i], hi_row[i] + 1) for i in range(k)]
