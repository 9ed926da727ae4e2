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

__all__ = ["THINNED", "nearest_per_day"]

IntArray = npt.NDArray[np.int64]

THINNED: Final = "beyond the nearest candidates of the day"
"""The reason counted for the candidates thinning removes."""


def nearest_per_day(
    facility: IntArray,
    start: IntArray,
    day: IntArray,
    home_minutes: IntArray | None,
    per_day: int,
    block_minutes: int = 60,
) -> IntArray:
    """Rows to keep: at most ``per_day`` a day, the nearest, one per facility and hour block.

    First, a facility keeps only its earliest candidate of each ``block_minutes`` block (a later
    one of the same block helps only when the earlier one clashes with another stage of that
    day). Then, day by day, the candidates of the facilities nearest the patient's home (travel
    minutes, then facility position) are kept, at most ``per_day`` of them.

    Parameters
    ----------
    facility, start, day
        Facility position, start minute and day of each candidate, sorted by start.
    home_minutes
        Travel minutes from the patient's home to each facility position; ``None`` without a
        home (then facility position decides).
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
    # Facilities nearest first (travel minutes, then position): one small sort, then every
    # candidate's facility by that rank, so that both sorts below are of small integers
    # (numpy sorts those by radix, in linear time).
    used = facility.max() + 1
    if home_minutes is not None:
        by_distance = np.lexsort((np.arange(used), home_minutes[:used]))
    else:
        by_distance = np.arange(used)
    rank_of = np.empty(used, dtype=np.int64)
    rank_of[by_distance] = np.arange(used)
    rank = _small(rank_of[facility])
    # Each facility's candidates in start order (a stable sort), nearest facility first; the
    # earliest of a block is the first of its run.
    by_facility = np.argsort(rank, kind="stable")
    r = rank[by_facility]
    block = start[by_facility] // block_minutes
    leads = np.ones(len(by_facility), dtype=np.bool_)
    np.not_equal(block[1:], block[:-1], out=leads[1:])
    leads[1:] |= r[1:] != r[:-1]
    first = by_facility[leads]
    # Day by day (a stable sort keeps nearest, then facility, then start order).
    first_day = day[first]
    order = first[np.argsort(_small(first_day - first_day.min()), kind="stable")]
    days = day[order]
    # Rank within the day: position minus the position of the day's first candidate.
    within = np.arange(len(order)) - np.searchsorted(days, days, side="left")
    kept: IntArray = np.sort(order[within < per_day])
    return kept


def _small(values: IntArray) -> npt.NDArray[np.integer]:
    """``values`` (at least 0) as 16-bit integers when they fit, which numpy sorts by radix."""
    if len(values) and int(values.max()) < 1 << 16:
        return values.astype(np.uint16)
    return values
