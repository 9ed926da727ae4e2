"""The search's picking orders, kept up to date, equal a scan of the whole cohort.

``routing.batch.worse_off.WorseOff`` replaced three scans per search iteration (those worse off
than alone, those missing a deadline they meet alone, the eight with the largest excess); after
any sequence of updates its orders must be exactly what the scans give, or the search would pick
other patients and the plans would change.
"""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.batch import worse_off
from routing.batch.objective import Cost
from routing.batch.worse_off import WorseOff

costs = st.tuples(st.integers(0, 1), st.integers(0, 3), st.integers(0, 6))


def scanned(
    alone: list[Cost], routed: list[bool], current: dict[int, Cost]
) -> tuple[list[int], list[int], list[int]]:
    """The orders as the search computed them before (``git show 64186cb``, engine.pick)."""
    members = [i for i in sorted(current) if current[i] > alone[i] and routed[i]]
    late = [i for i in members if current[i][1] > alone[i][1]]

    def excess(i: int) -> tuple[int, int, int, int]:
        a, b = current[i], alone[i]
        return (b[0] - a[0], b[1] - a[1], b[2] - a[2], i)

    return members, late, sorted(members, key=excess)[:8]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(costs, st.booleans()), min_size=1, max_size=12).flatmap(
        lambda patients: st.tuples(
            st.just(patients),
            st.lists(st.tuples(st.integers(0, len(patients) - 1), costs), max_size=40),
        )
    )
)
def test_the_orders_equal_a_scan_after_any_updates(
    case: tuple[list[tuple[Cost, bool]], list[tuple[int, Cost]]],
) -> None:
    patients, updates = case
    alone = [c for c, _ in patients]
    routed = [r for _, r in patients]
    worse = WorseOff(alone, routed)
    current: dict[int, Cost] = {}
    for i, cost in [*((i, c) for i, c in enumerate(alone)), *updates]:
        worse.update(i, cost)
        current[i] = cost
        members, late, worst = scanned(alone, routed, current)
        assert worse.members == members
        assert worse.late == late
        assert worse.worst(8) == worst


def test_a_patient_back_to_its_cost_alone_leaves_every_order() -> None:
    worse = WorseOff([(0, 0, 10), (0, 100, 10)], [True, True])
    worse.update(0, (0, 100, 20))
    worse.update(1, (0, 200, 10))
    assert (worse.members, worse.late, worse.worst(8)) == ([0, 1], [0, 1], [0, 1])
    worse.update(0, (0, 0, 10))
    assert (worse.members, worse.late, worse.worst(8)) == ([1], [1], [1])


def test_a_patient_with_no_route_alone_is_never_worse_off() -> None:
    worse = WorseOff([(1, 0, 0)], [False])
    worse.update(0, (1, 0, 0))
    assert worse.members == []
    assert worse.worst(8) == []


def test_lengths_that_differ_are_refused() -> None:
    with pytest.raises(ValueError, match="alone_cost has 2 patients, routed_alone 1"):
        WorseOff([(0, 0, 1), (0, 0, 2)], [True])


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(worse_off).failed == 0
