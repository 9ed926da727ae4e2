"""Thinning a stage's candidates to the nearest few a day (for searches over a large region).

A stage of a region-wide cohort can have thousands of candidate slots a day, most of them at
facilities far from the patient or minutes apart at the same facility. :func:`nearest_per_day`
keeps at most a given number a day, so that what a search sees depends on the days of the
horizon and not on the size of the region. It works on arrays, before a request's candidates
become Python lists (see :func:`~routing.solve.compiled.compile_request`).

:func:`nearest_per_day` sorts the candidates it is given. A solver that thins ranges of one
sorted set of slots over and over (a batch: every patient, every stage) builds a
:class:`ThinningOrder` of that set once and thins with :func:`nearest_per_day_in`, which gives the
same rows without sorting the range: the order by day, facility and start is the set's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["THINNED", "ThinningOrder", "nearest_per_day", "nearest_per_day_in", "thinning_order"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

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


@dataclass(frozen=True, slots=True, eq=False)
class ThinningOrder:
    """A set of slots sorted by start, ordered for :func:`nearest_per_day_in` (see
    :func:`thinning_order`)."""

    rows: IntArray
    """The rows by block day, then facility, then row (a permutation of the set's rows)."""
    block: IntArray
    """The facility and hour block of each row of :attr:`rows` (equal ids: the same block)."""
    block_day: IntArray
    """The day of each row's block (the day of its block's first row), along :attr:`rows`:
    ascending."""
    row_block_day: IntArray
    """The same, by row of the set."""


def _block_ids(facility: IntArray, start: IntArray, block_minutes: int) -> IntArray:
    """One id per facility and ``block_minutes`` block of the start (equal ids: the same)."""
    blocks: IntArray = facility * (1 + int(start.max()) // block_minutes) + start // block_minutes
    return blocks


def thinning_order(
    facility: IntArray, start: IntArray, day: IntArray, block_minutes: int = 60
) -> ThinningOrder:
    """The :class:`ThinningOrder` of a set of slots sorted by start (ties in any fixed order).

    A block's rows are contiguous in it: they share the facility and the block's day, and
    blocks of one facility do not interleave by start.
    """
    if len(start) == 0:
        empty = np.empty(0, dtype=np.int64)
        return ThinningOrder(empty, empty, empty, empty)
    block = _block_ids(facility, start, block_minutes)
    by_block = np.argsort(block, kind="stable")
    grouped = block[by_block]
    leads = np.ones(len(grouped), dtype=np.bool_)
    np.not_equal(grouped[1:], grouped[:-1], out=leads[1:])
    # The day of each block's first row, spread over the block's rows.
    group = np.cumsum(leads) - 1
    row_block_day = np.empty(len(start), dtype=np.int64)
    row_block_day[by_block] = day[by_block[leads]][group]
    span = 1 + int(facility.max())
    rows = np.argsort(row_block_day * span + facility, kind="stable")
    return ThinningOrder(rows, block[rows], row_block_day[rows], row_block_day)


def nearest_per_day_in(
    order: ThinningOrder,
    lo: int,
    hi: int,
    keep: BoolArray | None,
    facility: IntArray,
    day: IntArray,
    home_minutes: IntArray | None,
    per_day: int,
) -> IntArray:
    """:func:`nearest_per_day` of the rows ``lo + flatnonzero(keep)`` of the set that ``order``
    orders (every row of ``[lo, hi)`` for ``keep=None``): the same rows, in the set's numbering.

    ``facility`` and ``day`` are the set's, ``keep`` a mask over ``[lo, hi)``; the blocks are
    those of ``order``'s ``block_minutes``.
    """
    if per_day < 1:
        raise ValueError(f"per_day must be at least 1, not {per_day}")
    if hi <= lo:
        return np.empty(0, dtype=np.int64)
    # The rows of [lo, hi) have their block's day between the least of theirs and the last
    # row's day: a range of ``order``.
    first_day = int(order.row_block_day[lo:hi].min())
    a = int(np.searchsorted(order.block_day, first_day, side="left"))
    b = int(np.searchsorted(order.block_day, int(day[hi - 1]), side="right"))
    rows = order.rows[a:b]
    offset = rows - lo
    taken = (offset >= 0) & (offset < hi - lo)
    if keep is not None:
        taken[taken] = keep[offset[taken]]
    rows = rows[taken]
    if len(rows) == 0:
        return rows
    # The first row of each block (rows of a block are contiguous and by row, i.e. by start).
    block = order.block[a:b][taken]
    leads = np.ones(len(rows), dtype=np.bool_)
    np.not_equal(block[1:], block[:-1], out=leads[1:])
    first = rows[leads]
    # Day by day, nearest first, then facility, then start: within a day and facility the
    # order above is by start already, so a stable sort by the rest keeps it.
    f = facility[first]
    distance = home_minutes[f] if home_minutes is not None else np.zeros(len(first), np.int64)
    span = 1 + int(f.max())
    key = (day[first] * (1 + int(distance.max())) + distance) * span + f
    ranked = first[np.argsort(key, kind="stable")]
    days = day[ranked]
    rank = np.arange(len(ranked)) - np.searchsorted(days, days, side="left")
    kept: IntArray = np.sort(ranked[rank < per_day])
    return kept
