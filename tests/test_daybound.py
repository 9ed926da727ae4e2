"""The partition bound on new visit days against enumeration of every assignment to days."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.solve.daybound import (
    INFEASIBLE,
    DayPlan,
    chronological_travel,
    joining_travel,
    new_day_travel,
)


def enumerate_partitions(
    legs: list[int],
    lone: list[bool],
    joiners: list[bool],
    pair_cost: list[list[int | None]],
    groups: int,
    room: int,
    max_visits: int,
) -> int:
    """The least cost over every assignment of stages to ``groups`` days or to a visited day."""
    n = len(legs)
    best: int | None = None
    for assignment in itertools.product(range(-1, groups), repeat=n):
        dropped = [a for a, day in enumerate(assignment) if day < 0]
        if len(dropped) > room or any(not joiners[a] for a in dropped):
            continue
        cost = new_days_cost(assignment, legs, lone, pair_cost, groups, max_visits)
        if cost is not None:
            best = cost if best is None else min(best, cost)
    return INFEASIBLE if best is None else best


def new_days_cost(
    assignment: tuple[int, ...],
    legs: list[int],
    lone: list[bool],
    pair_cost: list[list[int | None]],
    groups: int,
    max_visits: int,
) -> int | None:
    """The cost of the new days ``0 .. groups - 1`` of ``assignment`` (stage -> day), each day
    its dearest stage or pair; ``None`` when a day is empty, too full or holds a forbidden pair."""
    cost = 0
    for g in range(groups):
        members = [a for a, day in enumerate(assignment) if day == g]
        if not members or len(members) > max_visits:
            return None
        if len(members) > 1 and any(lone[a] for a in members):
            return None
        pairs = [pair_cost[a][b] for a, b in itertools.combinations(members, 2)]
        if any(p is None for p in pairs):
            return None
        cost += max([legs[a] for a in members] + [p for p in pairs if p is not None])
    return cost


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[list[int], list[bool], list[bool], list[list[int | None]], int, int, int]:
    """Up to 6 stages with random legs, pair costs, flags, days, room and visits a day."""
    n = draw(st.integers(0, 6))
    legs = [draw(st.integers(0, 60)) for _ in range(n)]
    lone = [draw(st.integers(0, 4)) == 0 for _ in range(n)]
    joiners = [draw(st.booleans()) for _ in range(n)]
    pair_cost: list[list[int | None]] = [[None] * n for _ in range(n)]
    for a, b in itertools.combinations(range(n), 2):
        if draw(st.integers(0, 3)):
            pair_cost[a][b] = pair_cost[b][a] = draw(st.integers(0, 90))
    groups = draw(st.integers(0, 4))
    room = draw(st.integers(0, 3))
    max_visits = draw(st.integers(1, 3))
    return legs, lone, joiners, pair_cost, groups, room, max_visits


@settings(max_examples=300, deadline=None)
@given(cases())
def test_matches_enumeration(
    case: tuple[list[int], list[bool], list[bool], list[list[int | None]], int, int, int],
) -> None:
    """The recursion finds the least partition cost; INFEASIBLE exactly when there is none."""
    assert new_day_travel(*case) == enumerate_partitions(*case)


def enumerate_placements(
    legs: list[int],
    lone: list[bool],
    joiners: list[bool],
    pair_cost: list[list[int | None]],
    groups: int,
    max_visits: int,
    added: list[list[int | None]],
    rooms: list[int],
) -> int:
    """The least cost over every assignment of stages to ``groups`` new days or to a visited
    day (``added[a][v]``: what stage ``a`` adds to visited day ``v``; a visited day adds the
    largest addition of the stages it takes, at most ``rooms[v]`` of them)."""
    n = len(legs)
    visited = len(rooms)
    best: int | None = None
    for assignment in itertools.product(range(-visited, groups), repeat=n):
        cost = 0
        for v in range(visited):
            members = [a for a in range(n) if assignment[a] == v - visited]
            if len(members) > rooms[v] or any(
                not joiners[a] or added[a][v] is None for a in members
            ):
                break
            cost += max((added[a][v] or 0 for a in members), default=0)
        else:
            days_cost = new_days_cost(assignment, legs, lone, pair_cost, groups, max_visits)
            if days_cost is not None:
                cost += days_cost
                best = cost if best is None else min(best, cost)
    return INFEASIBLE if best is None else best


@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_placed_joiners_match_enumeration(
    case: tuple[list[int], list[bool], list[bool], list[list[int | None]], int, int, int],
    data: st.DataObject,
) -> None:
    """With :func:`joining_travel`, each joiner goes to a visited day it may use, within the
    day's room, and the day adds its dearest joiner's addition: the least such placement."""
    legs, lone, joiners, pair_cost, groups, _, max_visits = case
    rooms = data.draw(st.lists(st.integers(0, 3), max_size=3))
    added: list[list[int | None]] = [
        [data.draw(st.none() | st.integers(0, 50)) for _ in rooms] for _ in legs
    ]
    joined = joining_travel(
        [row if j else [None] * len(rooms) for row, j in zip(added, joiners, strict=True)], rooms
    )
    found = new_day_travel(legs, lone, joiners, pair_cost, groups, 0, max_visits, joined=joined)
    assert found == enumerate_placements(
        legs, lone, joiners, pair_cost, groups, max_visits, added, rooms
    )


def test_two_joiners_cannot_both_take_the_last_place_on_a_day() -> None:
    """A visited day with room for one: the second joiner goes to the other visited day."""
    no_pairs: list[list[int | None]] = [[None, None], [None, None]]
    joined = joining_travel([[0, 21], [0, 22]], [1, 1])
    assert joined[0b11] == 21  # both on the first day would add 0, but it has room for one
    assert (
        new_day_travel([30, 30], [False, False], [True, True], no_pairs, 0, 0, 2, joined=joined)
        == 21
    )


def test_pairs_that_cannot_share_cost_a_day_each() -> None:
    """Two stages that may not share a day fill two days: their legs add up."""
    pair_cost: list[list[int | None]] = [[None, None], [None, None]]
    assert new_day_travel([40, 46], [False, False], [False, False], pair_cost, 2, 0, 2) == 86
    assert (
        new_day_travel([40, 46], [False, False], [False, False], pair_cost, 1, 0, 2) == INFEASIBLE
    )


def test_a_shared_day_costs_its_dearest_pair() -> None:
    """A day holding both stages costs the larger of their pair cost and their own legs."""
    pair_cost: list[list[int | None]] = [[None, 70], [70, None]]
    assert new_day_travel([40, 46], [False, False], [False, False], pair_cost, 1, 0, 2) == 70
    # With room on a visited day, the dearer one may join it instead.
    assert new_day_travel([40, 46], [False, False], [False, True], pair_cost, 1, 1, 2) == 40


def enumerate_days(plan: DayPlan, groups: int, max_visits: int) -> int:
    """The least cost over every assignment of the stages to their days (no visited days)."""
    n = len(plan.legs)
    best: int | None = None
    for days in itertools.product(*(sorted(legs) for legs in plan.legs)):
        if len(set(days)) != groups:
            continue
        if any(days[p] > days[a] for a in range(n) for p in range(n) if plan.before[a] >> p & 1):
            continue
        cost = 0
        for day in set(days):
            members = [a for a in range(n) if days[a] == day]
            if len(members) > max_visits or (
                len(members) > 1 and any(plan.lone[a] for a in members)
            ):
                break
            shared = [
                plan.pair_cost.get((a, b), {}).get(day)
                for a, b in itertools.combinations(members, 2)
            ]
            if any(x is None for x in shared):
                break
            cost += max([plan.legs[a][day] for a in members] + [x for x in shared if x is not None])
        else:
            best = cost if best is None else min(best, cost)
    return INFEASIBLE if best is None else best


@st.composite
def day_plans(draw: st.DrawFn) -> tuple[DayPlan, int, int]:
    """Up to 5 stages on up to 4 days, an order among them, pair costs per day."""
    n = draw(st.integers(1, 5))
    legs = [
        {d: draw(st.integers(0, 60)) for d in draw(st.sets(st.integers(0, 3), min_size=1))}
        for _ in range(n)
    ]
    pairs: dict[tuple[int, int], dict[int, int]] = {}
    for a, b in itertools.combinations(range(n), 2):
        common = sorted(legs[a].keys() & legs[b].keys())
        pairs[(a, b)] = {d: draw(st.integers(0, 90)) for d in common if draw(st.booleans())}
    before = [sum(1 << p for p in range(a) if draw(st.integers(0, 3)) == 0) for a in range(n)]
    lone = [draw(st.integers(0, 4)) == 0 for _ in range(n)]
    plan = DayPlan(legs=legs, pair_cost=pairs, lone=lone, before=before, visited={})
    return plan, draw(st.integers(1, 4)), draw(st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(day_plans())
def test_chronological_matches_enumeration(case: tuple[DayPlan, int, int]) -> None:
    """Day by day, the recursion finds the least cost of every assignment to days."""
    plan, groups, max_visits = case
    assert chronological_travel(plan, groups, max_visits) == enumerate_days(
        plan, groups, max_visits
    )
