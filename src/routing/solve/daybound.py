"""A lower bound on the travel of the visit days still to open, by partitioning the open stages.

With travel times that obey the triangle inequality (home legs included), a day's tour costs at
least the tour of any two of its visits, and at least the two home legs of any one of them. So if
the open in-person stages of a partial route must fill exactly ``groups`` new days, the travel of
those days is at least the least cost of a partition of the stages into ``groups`` days of at most
``max_visits`` stages, where a day costs the largest of its stages' own costs (``legs``) and of its
pairs' costs (``pair_cost``); stages that may join an already visited day (``joiners``, at most
``room`` of them) may be left out, at the travel they add there (``join_cost``). Stages that
may not share a day go alone.

The search calls :func:`new_day_travel` with at most a dozen stages; the partition is found by a
memoised recursion over bit masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

__all__ = ["INFEASIBLE", "new_day_travel"]

INFEASIBLE = -1
"""Returned when no partition into exactly ``groups`` days exists."""


def new_day_travel(
    legs: Sequence[int],
    lone: Sequence[bool],
    joiners: Sequence[bool],
    pair_cost: Sequence[Sequence[int | None]],
    groups: int,
    room: int,
    max_visits: int,
    join_cost: Sequence[int] | None = None,
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
    """
    n = len(legs)
    joining = join_cost if join_cost is not None else [0] * n
    everyone = (1 << n) - 1
    impossible = 1 << 62
    joiner_mask = sum(1 << a for a in range(n) if joiners[a])
    # partners[a]: the later stages that can share a day with a.
    partners = [
        0
        if lone[a] or max_visits < 2
        else sum(1 << b for b in range(a + 1, n) if pair_cost[a][b] is not None and not lone[b])
        for a in range(n)
    ]

    @cache
    def best(mask: int, days: int, spare: int) -> int:
        left = mask.bit_count()
        if left < days or left - min(spare, (mask & joiner_mask).bit_count()) > days * max_visits:
            return impossible
        if mask == 0:
            return 0
        low = mask & -mask
        a = low.bit_length() - 1
        rest = mask ^ low
        result = impossible
        if joiners[a] and spare > 0:
            result = joining[a] + best(rest, days, spare - 1)
        if days == 0:
            return result
        result = min(result, legs[a] + best(rest, days - 1, spare))
        others = rest & partners[a]
        while others:
            bit = others & -others
            others ^= bit
            b = bit.bit_length() - 1
            cost = pair_cost[a][b]
            assert cost is not None
            pair = max(cost, legs[a], legs[b])
            result = min(result, pair + best(rest ^ bit, days - 1, spare))
            if max_visits >= 3:
                result = min(result, _larger(a, b, pair, rest ^ bit, days, spare))
        return result

    def _larger(a: int, b: int, pair: int, rest: int, days: int, spare: int) -> int:
        """Days holding ``a``, ``b`` and one or more later stages (``max_visits >= 3``)."""
        result = impossible
        members = [a, b]

        def grow(cost: int, rest: int, start: int) -> None:
            nonlocal result
            if len(members) >= max_visits:
                return
            for c in _members(rest):
                if c < start or lone[c]:
                    continue
                costs = [pair_cost[m][c] for m in members]
                if any(x is None for x in costs):
                    continue
                grown = max(cost, legs[c], *(x for x in costs if x is not None))
                members.append(c)
                remaining = rest & ~(1 << c)
                result = min(result, grown + best(remaining, days - 1, spare))
                grow(grown, remaining, c + 1)
                members.pop()

        grow(pair, rest, b + 1)
        return result

    found = best(everyone, groups, room)
    return INFEASIBLE if found >= impossible else found


def _members(mask: int) -> list[int]:
    """The set bits of ``mask``, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out
