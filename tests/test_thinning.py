"""Thinning to the nearest candidates of each day, against a plain reading of its rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.solve.thinning import nearest_per_day, nearest_per_day_in, thinning_order


def reference(
    facility: list[int], start: list[int], day: list[int], home: list[int] | None, per_day: int
) -> list[int]:
    """Earliest of each facility and hour; then per day the nearest ``per_day`` of those."""
    earliest: dict[tuple[int, int], int] = {}
    for row, (f, s) in enumerate(zip(facility, start, strict=True)):
        earliest.setdefault((f, s // 60), row)
    by_day: dict[int, list[int]] = {}
    for row in sorted(earliest.values()):
        by_day.setdefault(day[row], []).append(row)
    kept: list[int] = []
    for rows in by_day.values():
        rows.sort(key=lambda r: (home[facility[r]] if home else 0, facility[r], r))
        kept.extend(rows[:per_day])
    return sorted(kept)


@st.composite
def candidates(draw: st.DrawFn) -> tuple[list[int], list[int], list[int], list[int] | None, int]:
    n = draw(st.integers(1, 60))
    facilities = draw(st.integers(1, 6))
    start = sorted(draw(st.lists(st.integers(0, 5 * 1440), min_size=n, max_size=n)))
    facility = draw(st.lists(st.integers(0, facilities - 1), min_size=n, max_size=n))
    shift = draw(st.integers(0, 1439))  # days need not begin at a multiple of the hour
    day = [(s + shift) // 1440 for s in start]
    home = draw(st.none() | st.lists(st.integers(0, 90), min_size=facilities, max_size=facilities))
    return facility, start, day, home, draw(st.integers(1, 8))


@settings(max_examples=300, deadline=None)
@given(candidates())
def test_nearest_per_day_keeps_what_its_rule_says(
    case: tuple[list[int], list[int], list[int], list[int] | None, int],
) -> None:
    facility, start, day, home, per_day = case
    kept = nearest_per_day(
        np.array(facility, dtype=np.int64),
        np.array(start, dtype=np.int64),
        np.array(day, dtype=np.int64),
        np.array(home, dtype=np.int64) if home is not None else None,
        per_day,
    )
    assert kept.tolist() == reference(facility, start, day, home, per_day)


@settings(max_examples=300, deadline=None)
@given(candidates(), st.data())
def test_thinning_a_range_through_the_order_keeps_the_same_rows(
    case: tuple[list[int], list[int], list[int], list[int] | None, int], data: st.DataObject
) -> None:
    """Thinning a masked range of an ordered set gives the rule's rows of that range."""
    facility, start, day, home, per_day = case
    n = len(start)
    lo = data.draw(st.integers(0, n))
    hi = data.draw(st.integers(lo, n))
    keep = data.draw(st.none() | st.lists(st.booleans(), min_size=hi - lo, max_size=hi - lo))
    arrays = [np.array(values, dtype=np.int64) for values in (facility, start, day)]
    order = thinning_order(*arrays)
    kept = nearest_per_day_in(
        order,
        lo,
        hi,
        np.array(keep, dtype=np.bool_) if keep is not None else None,
        arrays[0],
        arrays[2],
        np.array(home, dtype=np.int64) if home is not None else None,
        per_day,
    )
    rows = [r for r in range(lo, hi) if keep is None or keep[r - lo]]
    expected = reference(
        [facility[r] for r in rows], [start[r] for r in rows], [day[r] for r in rows], home, per_day
    )
    assert kept.tolist() == [rows[i] for i in expected]


def test_an_hour_block_across_midnight_leads_once() -> None:
    """Days that begin at minute 30 of an hour: each facility's block of 23:00 has rows on
    both sides of midnight; its first row alone leads (on day 0)."""
    facility, start, day = (
        np.array(v, dtype=np.int64) for v in ([0, 1, 0, 1], [1400, 1410, 1420, 1425], [0, 0, 1, 1])
    )
    order = thinning_order(facility, start, day)
    kept = nearest_per_day_in(order, 0, 4, None, facility, day, None, 2)
    assert kept.tolist() == [0, 1]
    later = nearest_per_day_in(order, 2, 4, None, facility, day, None, 2)
    assert later.tolist() == [2, 3]


def test_no_candidates_keep_nothing() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert nearest_per_day(empty, empty, empty, None, 3).tolist() == []
    order = thinning_order(empty, empty, empty)
    assert nearest_per_day_in(order, 0, 0, None, empty, empty, None, 3).tolist() == []


def test_per_day_below_one_is_refused() -> None:
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(ValueError, match="per_day"):
        nearest_per_day(one, one, one, None, 0)
    with pytest.raises(ValueError, match="per_day"):
        nearest_per_day_in(thinning_order(one, one, one), 0, 1, None, one, one, None, 0)
