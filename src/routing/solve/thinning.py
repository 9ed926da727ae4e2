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
    # The earliest candidate of each facility and block: the first of its group in a stable
    # sort (candidates are sorted by start).
    block = facility * (1 + int(start.max()) // block_minutes) + start // block_minutes
    by_block = np.argsort(block, kind="stable")
    grouped = block[by_block]
    leads = np.ones(len(grouped), dtype=np.bool_)
    np.not_equal(grouped[1:], grouped[:-1], out=leads[1:])
    first = np.sort(by_block[leads])
    # Day by day, nearest first, then facility, then start (a stable sort keeps start order).
    f = facility[first]
    distance = home_minutes[f] if home_minutes is not None else np.zeros(len(first), np.int64)
    span = 1 + int(f.max())
    key = (day[first] * (1 + int(distance.max())) + distance) * span + f
    order = first[np.argsort(key, kind="stable")]
    days = day[order]
    # Rank within the day: position minus the position of the day's first candidate.
    rank = np.arange(len(order)) - np.searchsorted(days, days, side="left")
    kept: IntArray = np.sort(order[rank < per_day])
    return kept
