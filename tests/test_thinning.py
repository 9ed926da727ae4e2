"""Thinning to the nearest candidates of each day, against a plain reading of its rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.solve.thinning import facility_ranks, nearest_per_day


def reference(
    facility: list[int], start: list[int], day: list[int], home: list[int] | None, per_day: int
) -> list[int]:
    """Earliest of each facility, day and hour; then per day the nearest ``per_day`` of those."""
    earliest: dict[tuple[int, int, int], int] = {}
    for row, (f, s) in enumerate(zip(facility, start, strict=True)):
        earliest.setdefault((f, day[row], s // 60), row)
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
        facility_ranks(np.array(home, dtype=np.int64), len(home)) if home is not None else None,
        per_day,
    )
    assert kept.tolist() == reference(facility, start, day, home, per_day)
    if home is None:  # the ranks of no home are the positions, given or not
        ranks = facility_ranks(None, max(facility) + 1)
        assert ranks.tolist() == list(range(max(facility) + 1))
        again = nearest_per_day(
            np.array(facility, dtype=np.int64),
            np.array(start, dtype=np.int64),
            np.array(day, dtype=np.int64),
            ranks,
            per_day,
        )
        assert again.tolist() == kept.tolist()


def test_no_candidates_keep_nothing() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert nearest_per_day(empty, empty, empty, None, 3).tolist() == []


def test_per_day_below_one_is_refused() -> None:
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(ValueError, match="per_day"):
        nearest_per_day(one, one, one, None, 0)


def test_facility_positions_beyond_sixteen_bits_keep_the_same_rule() -> None:
    # Ranks of 70,000 facilities do not fit the 16-bit sort; the wide one must agree, with a
    # home and without (then the positions, as wide, are the ranks).
    rng = np.random.default_rng(5)
    n = 400
    start = np.sort(rng.integers(0, 6 * 1440, n))
    facility = rng.choice([3, 65_600, 69_999, 12, 40_000], n)
    day = (start + 300) // 1440
    home = rng.integers(0, 90, 70_000)
    ranks = facility_ranks(home, len(home))
    assert ranks.dtype == np.int64
    kept = nearest_per_day(facility, start, day, ranks, 2)
    assert kept.tolist() == reference(
        facility.tolist(), start.tolist(), day.tolist(), home.tolist(), 2
    )
    kept = nearest_per_day(facility, start, day, None, 2)
    assert kept.tolist() == reference(facility.tolist(), start.tolist(), day.tolist(), None, 2)
