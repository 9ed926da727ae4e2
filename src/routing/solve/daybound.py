"""A lower bound on the travel of the visit days still to open, by partitioning the open stages.

With travel times that obey the triangle inequality (home legs included), a day's tour costs at
least the tour of any two of its visits, and at least the two home legs of any one of them. So if
the open in-person stages of a partial route must fill exactly ``groups`` new days, the travel of
those days is at least the least cost of a partition of the stages into ``groups`` days of at most
``max_visits`` stages, where a day costs the largest of its stages' own costs (``legs``) and of its
pairs' costs (``pair_cost``); stages that may join an already visited day (``joiners``, at most
``room`` of them) may be left out, at the travel they add there (``join_cost``). Stages that
may not share a day go alone.

With :func:`joining_travel`, the joiners instead go to the visited days themselves, each day
within its room and adding at least the largest of its joiners' additions.

These bounds see each day on its own. The travel rule between consecutive visits on two dates
(a visit near midnight and one early the next date) is checked by the search as feasibility: it
only removes routes, so the bounds stay valid (they may be weaker, never wrong).

The search calls :func:`new_day_travel` with at most a dozen stages; the partition is found by a
memoised recursion over bit masks. :func:`chronological_travel` is the same bound day by day: it
also knows which days each stage may use and which stage must come first, and is dearer; the
search uses it once, at the root of its second phase, when that phase runs long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Final

__all__ = [
    "IMPOSSIBLE",
    "INFEASIBLE",
    "DayPlan",
    "chronological_travel",
    "joining_travel",
    "new_day_travel",
]

INFEASIBLE: Final = -1
"""Returned when no partition into exactly ``groups`` days exists."""
IMPOSSIBLE: Final = 1 << 62
"""The cost of what cannot be done, inside the recursions and in :func:`joining_travel`."""


def new_day_travel(
    legs: Sequence[int],
    lone: Sequence[bool],
    joiners: Sequence[bool],
    pair_cost: Sequence[Sequence[int | None]],
    groups: int,
    room: int,
    max_visits: int,
    join_cost: Sequence[int] | None = None,
    joined: Sequence[int] | None = None,
) -> int:
    """The least travel of ``groups`` new days holding the open stages, or :data:`INFEASIBLE`.

    Parameters
    ----------
    legs
        Per open stage, the least travel of a day holding it (its two home legs).
    lone
        Per open stage, whether it must be alone on its day.
    joiners
        Per open stage, whether it may instead join a day already visited.
    pair_cost
        ``pair_cost[a][b]``: the least travel of a day holding stages ``a`` and ``b``, or
        ``None`` when they cannot share a day.
    groups
        How many new days there are.
    room
        How many stages the visited days can still take.
    max_visits
        Visits a day at most.
    join_cost
        Per open stage, the travel it adds to a visited day when it joins one (0 by default;
        only additive when no two joiners can join the same day).
    joined
        Instead of ``room`` and ``join_cost``: per set of open stages (bit mask), the least
        travel they add when exactly they join the visited days (from :func:`joining_travel`).
    """
    partition = _Partition(legs, lone, joiners, pair_cost, max_visits, join_cost)
    everyone = (1 << len(legs)) - 1
    impossible = IMPOSSIBLE
    if joined is None:
        found = partition.best(everyone, groups, room)
    else:
        found = impossible
        joiner_mask = partition.joiner_mask
        subset = joiner_mask
        while True:  # every set of joiners, the rest on the new days
            if joined[subset] < impossible:
                found = min(found, joined[subset] + partition.best(everyone ^ subset, groups, 0))
            if subset == 0:
                break
            subset = (subset - 1) & joiner_mask
    return INFEASIBLE if found >= impossible else found


class _Partition:
    """The memoised recursion of :func:`new_day_travel` over bit masks of open stages.

    (A class rather than nested functions: closures that call each other form reference cycles,
    which only the garbage collector frees, after every call.)
    """

    def __init__(
        self,
        legs: Sequence[int],
        lone: Sequence[bool],
        joiners: Sequence[bool],
        pair_cost: Sequence[Sequence[int | None]],
        max_visits: int,
        join_cost: Sequence[int] | None,
    ) -> None:
        n = len(legs)
        self.legs = list(legs)
        self.lone = list(lone)
        self.joiners = list(joiners)
        self.pair_cost = pair_cost
        self.max_visits = max_visits
        self.joining = list(join_cost) if join_cost is not None else [0] * n
        self.joiner_mask = _mask([a for a in range(n) if joiners[a]])
        # partners[a]: the later stages that can share a day with a.
        self.partners = [
            0
            if lone[a] or max_visits < 2
            else _mask([b for b in range(a + 1, n) if pair_cost[a][b] is not None and not lone[b]])
            for a in range(n)
        ]
        self.memo: dict[tuple[int, int, int], int] = {}

    def best(self, mask: int, days: int, spare: int) -> int:
        """Least travel of the stages in ``mask`` on exactly ``days`` new days, at most
        ``spare`` of them joining visited days instead."""
        key = (mask, days, spare)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._best(mask, days, spare)
        return found

    def _best(self, mask: int, days: int, spare: int) -> int:
        left = mask.bit_count()
        if left < days or left - min(spare, (mask & self.joiner_mask).bit_count()) > (
            days * self.max_visits
        ):
            return IMPOSSIBLE
        if mask == 0:
            return 0
        legs = self.legs
        low = mask & -mask
        a = low.bit_length() - 1
        rest = mask ^ low
        result = IMPOSSIBLE
        if self.joiners[a] and spare > 0:
            result = self.joining[a] + self.best(rest, days, spare - 1)
        if days == 0:
            return result
        result = min(result, legs[a] + self.best(rest, days - 1, spare))
        others = rest & self.partners[a]
        while others:
            bit = others & -others
            others ^= bit
            b = bit.bit_length() - 1
            cost = self.pair_cost[a][b]
            assert cost is not None
            pair = max(cost, legs[a], legs[b])
            result = min(result, pair + self.best(rest ^ bit, days - 1, spare))
            if self.max_visits >= 3:
                result = min(result, self._grow([a, b], pair, rest ^ bit, b + 1, days, spare))
        return result

    def _grow(
        self, members: list[int], cost: int, rest: int, start: int, days: int, spare: int
    ) -> int:
        """Days holding ``members`` and one or more later stages of ``rest`` from ``start``
        (``max_visits >= 3``); ``cost`` is the members' day alone."""
        result = IMPOSSIBLE
        if len(members) >= self.max_visits:
            return result
        for c in _members(rest):
            if c < start or self.lone[c]:
                continue
            grown = max(cost, self.legs[c])
            shares = True
            for m in members:
                with_c = self.pair_cost[m][c]
                if with_c is None:
                    shares = False
                    break
                grown = max(grown, with_c)
            if not shares:
                continue
            members.append(c)
            remaining = rest & ~(1 << c)
            result = min(result, grown + self.best(remaining, days - 1, spare))
            result = min(result, self._grow(members, grown, remaining, c + 1, days, spare))
            members.pop()
        return result


def joining_travel(added: Sequence[Sequence[int | None]], rooms: Sequence[int]) -> list[int]:
    """Per set of stages (bit mask), the least travel they add joining the visited days.

    With travel times that obey the triangle inequality, a visited day's tour grows by at least
    the largest of the additions of the stages that join it.

    Parameters
    ----------
    added
        ``added[a][d]``: the least travel stage ``a`` adds to the tour of visited day ``d``;
        ``None`` where it cannot join that day.
    rooms
        ``rooms[d]``: how many more stages visited day ``d`` can take.

    Returns
    -------
    list[int]
        Indexed by bit mask over the stages; :data:`IMPOSSIBLE` for a set that cannot all join.
    """
    n = len(added)
    impossible = IMPOSSIBLE
    reach = [impossible] * (1 << n)
    reach[0] = 0
    for d, room in enumerate(rooms):
        can = _mask([a for a in range(n) if added[a][d] is not None])
        if room <= 0 or not can:
            continue
        # The cost of each non-empty set of stages joining this day.
        day_cost: dict[int, int] = {}
        subset = can
        while subset:
            members = _members(subset)
            if len(members) <= room:
                day_cost[subset] = max(x for a in members if (x := added[a][d]) is not None)
            subset = (subset - 1) & can
        after = list(reach)
        for mask, cost in enumerate(reach):
            if cost >= impossible:
                continue
            for subset, extra in day_cost.items():
                if not subset & mask and cost + extra < after[mask | subset]:
                    after[mask | subset] = cost + extra
        reach = after
    return reach


def _members(mask: int) -> list[int]:
    """The set bits of ``mask``, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


@dataclass(frozen=True, slots=True)
class DayPlan:
    """What :func:`chronological_travel` knows of the open stages, indexed ``0 .. n - 1``.

    Attributes
    ----------
    legs
        ``legs[a]``: per day on which stage ``a`` may be, the least travel of a day holding it.
    pair_cost
        ``pair_cost[(a, b)]`` with ``a < b``: per day, the least travel of a day holding both
        (in an order the rules allow, with time to travel); no entry where they cannot share it.
    lone
        Per stage, whether it must be alone on its day.
    before
        ``before[a]``: bit mask of the open stages that must start no later than ``a``.
    visited
        Per visited day, how many more stages it can take (its travel is already counted).
    """

    legs: Sequence[Mapping[int, int]]
    pair_cost: Mapping[tuple[int, int], Mapping[int, int]]
    lone: Sequence[bool]
    before: Sequence[int]
    visited: Mapping[int, int]


def chronological_travel(plan: DayPlan, groups: int, max_visits: int) -> int:
    """The least travel of ``groups`` new days holding the open stages, day by day.

    Days are taken in calendar order; on each, some open stages whose predecessors are all
    placed (or placed with them) go there: on a visited day at no cost (within its room), on a
    new day at the cost of its dearest stage or pair. Unlike :func:`new_day_travel` this sees
    which days each stage may use and the order of the stages; :data:`INFEASIBLE` when no
    placement uses exactly ``groups`` new days.
    """
    n = len(plan.legs)
    days = sorted({d for legs in plan.legs for d in legs} | set(plan.visited))
    everyone = (1 << n) - 1
    impossible = IMPOSSIBLE
    legs, pair_cost, lone, before = plan.legs, plan.pair_cost, plan.lone, plan.before

    def day_cost(members: tuple[int, ...], day: int) -> int | None:
        cost = max(legs[a][day] for a in members)
        for a, b in combinations(members, 2):
            shared = pair_cost.get((a, b), {}).get(day)
            if shared is None:
                return None
            cost = max(cost, shared)
        return cost

    @cache
    def best(position: int, placed: int, opened: int) -> int:
        if placed == everyone:
            return 0 if opened == groups else impossible
        if position == len(days) or opened > groups:
            return impossible
        day = days[position]
        result = best(position + 1, placed, opened)  # nobody on this day
        pool = [a for a in range(n) if not placed >> a & 1 and day in legs[a]]
        room = plan.visited.get(day)
        limit = max_visits if room is None else room
        for size in range(1, min(limit, len(pool)) + 1):
            for members in combinations(pool, size):
                mask = _mask(members)
                # Every predecessor is placed on an earlier day, or on this one.
                if any(before[a] & ~placed & ~mask for a in members):
                    continue
                if size > 1 and any(lone[a] for a in members):
                    continue
                if room is not None:
                    if any(lone[a] for a in members):
                        continue
                    result = min(result, best(position + 1, placed | mask, opened))
                    continue
                cost = day_cost(members, day)
                if cost is None:
                    continue
                result = min(result, cost + best(position + 1, placed | mask, opened + 1))
        return result

    found = best(0, 0, 0)
    return INFEASIBLE if found >= impossible else found


def _mask(members: Sequence[int]) -> int:
    mask = 0
    for a in members:
        mask |= 1 << a
    return mask
