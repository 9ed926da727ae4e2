"""Thinning a stage's candidates to the nearest few a day (for searches over a large region).

A stage of a region-wide cohort can have thousands of candidate slots a day, most of them at
facilities far from the patient or minutes apart at the same facility. :func:`nearest_per_day`
keeps at most a given number a day, so that what a search sees depends on the days of the
horizon and not on the size of the region. It works on arrays, before a request's candidates
become Python lists (see :func:`~routing.solve.compiled.compile_request`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["THINNED", "facility_ranks", "nearest_per_day"]

IntArray = npt.NDArray[np.int64]
RankArray = npt.NDArray[np.integer]

THINNED: Final = "beyond the nearest candidates of the day"
"""The reason counted for the candidates thinning removes."""


def facility_ranks(home_minutes: IntArray | None, facilities: int) -> RankArray:
    """Each facility position's rank, nearest the patient's home first (travel minutes, then
    position); without a home, the position itself.

    The ranks are 16-bit integers when they fit (:func:`nearest_per_day` sorts by day and rank
    in one small-integer key, by radix when that fits 16 bits too). Computed once a home, they
    serve every stage and search of its patient.
    """
    if home_minutes is None:
        by_distance = np.arange(facilities)
    else:
        by_distance = np.lexsort((np.arange(facilities), home_minutes[:facilities]))
    ranks: RankArray = np.empty(facilities, dtype=np.uint16 if facilities <= _SMALL else np.int64)
    ranks[by_distance] = np.arange(facilities)
    return ranks


def nearest_per_day(
    facility: IntArray,
    start: IntArray,
    day: IntArray,
    ranks: RankArray | None,
    per_day: int,
    block_minutes: int = 60,
) -> IntArray:
    """Rows to keep: at most ``per_day`` a day, the nearest, one per facility and hour block.

    First, a facility keeps only its earliest candidate of each ``block_minutes`` block of a day
    (a later one of the same block helps only when the earlier one clashes with another stage of
    that day). Then, day by day, the candidates of the facilities nearest the patient's home
    (travel minutes, then facility position) are kept, at most ``per_day`` of them.

    Parameters
    ----------
    facility, start, day
        Facility position, start minute and day of each candidate, sorted by start.
    ranks
        Each facility position's rank, nearest the home first (:func:`facility_ranks`);
        ``None`` without a home (then facility position decides).
    per_day
        Candidates kept a day, at least 1.
    block_minutes
        Length of the blocks in which a facility keeps one candidate.

    Returns
    -------
    numpy.ndarray
        The kept rows, ascending (so the candidates stay sorted by start).
    """
    if per_day < 1:
        raise ValueError(f"per_day must be at least 1, not {per_day}")
    if len(start) == 0:
        return np.empty(0, dtype=np.int64)
    if ranks is None:  # without a home, the positions (one rule: facility_ranks)
        ranks = facility_ranks(None, int(facility.max()) + 1)
    width = len(ranks)
    # One stable sort by day, then rank: a sort of small integers, which numpy does by radix,
    # in linear time. The rows are sorted by start, so each facility's rows of a day stay in
    # start order, and the earliest of a block is the first of its run.
    key = (day - day[0]) * width + ranks[facility]
    by_day = np.argsort(_small(key, int(day[-1] - day[0] + 1) * width - 1), kind="stable")
    runs = key[by_day]
    block = start[by_day] // block_minutes
    leads = np.empty(len(by_day), dtype=np.bool_)
    leads[0] = True
    np.not_equal(block[1:], block[:-1], out=leads[1:])
    leads[1:] |= runs[1:] != runs[:-1]
    first = by_day[leads]
    # A lead is among its day's first per_day when the lead per_day places before it is of an
    # earlier day (the leads are in day order).
    days = day[first]
    within = np.ones(len(first), dtype=np.bool_)
    np.not_equal(days[per_day:], days[:-per_day], out=within[per_day:])
    kept: IntArray = first[within]
    kept.sort()
    return kept


_SMALL: Final = (1 << 16) - 1
"""The largest value a 16-bit rank or day offset holds."""


def _small(values: IntArray, largest: int) -> RankArray:
    """``values`` (from 0 to ``largest``) as 16-bit integers when they fit (the sort keys)."""
    return values.astype(np.uint16) if largest <= _SMALL else values
