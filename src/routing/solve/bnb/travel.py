"""The travel of the days still to open and of the stages that join a visited day.

Parts of the travel bound (:mod:`~routing.solve.bnb.bounds`), each a least cost over every
completion of the partial route, memoised by what it depends on:

- :meth:`TravelMemo._new_days`: a partition of the open in-person stages into the days still to
  open, a day costing at least its dearest stage's two home legs and its dearest pair's tour
  (:func:`routing.solve.daybound.new_day_travel`);
- :meth:`TravelMemo._additions_by_day` and :meth:`TravelMemo._least_addition`: the least an open
  stage adds to the tour of a visited day, over the day's room (time and same-day rules
  included), and :meth:`TravelMemo._placed_travel`, which places each joiner on its day;
- :meth:`TravelMemo._join_cost` and :meth:`TravelMemo._insertion`: a stage's cheapest insertion
  into a visited day's tour.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable
from itertools import combinations, pairwise

from routing.solve.bnb.common import INF, JOINERS_EXACT, CostTable
from routing.solve.bnb.daymemo import DayMemo
from routing.solve.daybound import joining_travel, new_day_travel

__all__ = ["TravelMemo"]


class TravelMemo(DayMemo):
    """:class:`~routing.solve.bnb.daymemo.DayMemo` with the travel of open stages."""

    def _pair_cost_by_day(self, i: int, j: int) -> dict[int, int]:
        """Per day, the root's least travel of a day holding stages ``i`` and ``j`` (no entry on
        days they cannot share)."""
        entry = self.pair_days.get((i, j))
        if entry is None:
            return {}
        first, by_day = entry
        return {first + n: cost for n, cost in enumerate(by_day) if cost < INF}

    def _pair_costs_now(
        self, stages: list[int], pair_cost: CostTable, b: list[list[int]]
    ) -> list[list[int | None]]:
        """``pair_cost`` between ``stages``, over the days both may still use in ``b`` only.

        The root's least travel of a day holding both, on the days in both stages' ranges
        (``None`` when there is no such day): the deeper the node, the fewer the days.
        """
        axis = self.axis
        spans = [(axis.day_of(b[0][i]), axis.day_of(b[1][i])) for i in stages]
        key = (*stages, *spans)
        cached = self._pair_costs.get(key)
        if cached is not None:
            return cached  # read-only for its users
        costs: list[list[int | None]] = [[None] * len(stages) for _ in stages]
        for a, c in combinations(range(len(stages)), 2):
            i, j = stages[a], stages[c]
            if pair_cost[i][j] is None:
                continue
            first, by_day = self.pair_days[(i, j)]
            lo = max(spans[a][0], spans[c][0], first) - first
            hi = min(spans[a][1], spans[c][1]) - first + 1
            least = min(by_day[lo:hi], default=INF)
            if least < INF:
                costs[a][c] = costs[c][a] = least
        self._pair_costs[key] = costs
        return costs

    def _placed_travel(
        self,
        open_stages: list[tuple[int, int, bool, bool]],
        b: list[list[int]],
        legs: list[int],
        lone: list[bool],
        joins: list[bool],
        costs: list[list[int | None]],
        new_days: int,
        room: int,
        preferred_stage: int | None = None,
    ) -> int:
        """:func:`~routing.solve.daybound.new_day_travel` of the open stages, each joiner
        placed on a visited day (:meth:`_additions_by_day`); memoised, for the inputs repeat
        from one candidate to the next."""
        added, rooms = self._additions_by_day(open_stages, b, preferred_stage)
        rows = (tuple(map(tuple, added)), tuple(rooms))
        joined = self._joined.get(rows)
        if joined is None:
            joined = self._joined[rows] = joining_travel(added, rooms)
        return self._new_days(legs, lone, joins, costs, new_days, room, joined=(rows, joined))

    def _new_days(
        self,
        legs: list[int],
        lone: list[bool],
        joins: list[bool],
        costs: list[list[int | None]],
        new_days: int,
        room: int,
        join_costs: list[int] | None = None,
        joined: tuple[Hashable, list[int]] | None = None,
    ) -> int:
        """:func:`~routing.solve.daybound.new_day_travel`, memoised on its inputs (they repeat
        from one candidate to the next); ``joined`` comes with a key of what it was made of."""
        key = (
            tuple(legs),
            tuple(lone),
            tuple(joins),
            tuple(map(tuple, costs)),
            new_days,
            room,
            None if join_costs is None else tuple(join_costs),
            None if joined is None else joined[0],
        )
        found = self._new_days_memo.get(key)
        if found is None:
            found = self._new_days_memo[key] = new_day_travel(
                legs,
                lone,
                joins,
                costs,
                new_days,
                room,
                self.max_visits,
                join_costs,
                joined=None if joined is None else joined[1],
            )
        return found

    def _additions_by_day(
        self,
        open_stages: list[tuple[int, int, bool, bool]],
        b: list[list[int]],
        preferred_stage: int | None = None,
    ) -> tuple[list[list[int | None]], list[int]]:
        """What each open stage adds to each visited day with room that it may use in ``b``
        (stage ``preferred_stage`` at its preferred facilities only), and those days' room."""
        days = [
            (d, left, tuple(f for _, _, f in self.day_visits[d]))
            for d, left in self._days_with_room()
        ]
        exact = len(open_stages) <= JOINERS_EXACT
        added: list[list[int | None]] = []
        axis = self.axis
        for i, _, _, joins in open_stages:
            first, last = axis.day_of(b[0][i]), axis.day_of(b[1][i])
            row: list[int | None] = []
            for d, _, stops in days:
                if not joins or not first <= d <= last or self.day_closed(i, d):
                    cost = INF
                elif exact:
                    cost = self._least_addition(i, d, b, i == preferred_stage)
                else:
                    cost = self._insertion(i, d, stops, i == preferred_stage)
                row.append(cost if cost < INF else None)
            added.append(row)
        return added, [room for _, room, _ in days]

    def _least_addition(
        self, i: int, day: int, b: list[list[int]], preferred_only: bool = False
    ) -> int:
        """Least travel that a candidate of stage ``i`` in ``b`` (at a preferred facility) adds
        to visited ``day``, over those that meet the same-day rules there (``INF`` when none
        does)."""
        st = self.stages[i]
        axis = self.axis
        lo_s = max(b[0][i], axis.first_minute(day))
        hi_s = min(b[1][i], axis.last_minute(day))
        lo_e, hi_e = max(b[2][i], lo_s), b[3][i]
        visits = self.day_visits[day]
        # Only the day's visits and the stage's times that day matter (an in-person candidate
        # on a slot another stage holds overlaps that stage's visit).
        key = (i, day, tuple(visits), lo_s, hi_s, lo_e, hi_e, preferred_only)
        cached = self._additions.get(key)
        if cached is not None:
            return cached
        first = bisect_left(st.start, lo_s)
        last = bisect_right(st.start, hi_s)
        base = self.tour_cost.get(day, 0)
        least = INF
        seen: set[tuple[int, int]] = set()
        metric, travel = self.metric, self.travel
        starts, ends, facilities, preferred = st.start, st.end, st.facility, st.preferred
        for c in range(first, last):
            e = ends[c]
            if not lo_e <= e <= hi_e or (preferred_only and not preferred[c]):
                continue
            s, f = starts[c], facilities[c]
            at = bisect_left(visits, (s, e, f))
            if (f, at) in seen:
                continue  # the same facility at the same place in the day adds the same
            # The same-day rules of :meth:`compatible`, against this day's visits only (the day
            # has room, and is not one a stage needs for itself).
            for s2, e2, f2 in visits:
                if (s < e2 and s2 < e) or (
                    metric
                    and (
                        (e <= s2 and e + travel[f][f2] > s2) or (e2 <= s and e2 + travel[f2][f] > s)
                    )
                ):
                    break
            else:
                seen.add((f, at))
                least = min(least, self.tour([*visits[:at], (s, e, f), *visits[at:]]) - base)
        self._additions[key] = least
        return least

    def _join_cost(self, i: int, lo: int, hi: int, preferred_only: bool = True) -> int:
        """Least travel that stage ``i`` adds to a visited day (at a preferred facility).

        Over the visited days within ``[lo, hi]`` that still have room for it, the (preferred)
        facilities where it had a candidate that day at the root of the secondary phase, and
        every place in the day's tour (metric travel, home known); ``INF`` when there is no
        such day.
        """
        axis = self.axis
        first, last = axis.day_of(lo), axis.day_of(hi)
        least = INF
        for day, visits in self.day_visits.items():
            if first <= day <= last and not self.day_closed(i, day):
                stops = tuple(v[2] for v in visits)
                least = min(least, self._insertion(i, day, stops, preferred_only))
        return least

    def _insertion(self, i: int, day: int, stops: tuple[int, ...], preferred_only: bool) -> int:
        """Least travel added by a visit of stage ``i`` on ``day`` to a tour through ``stops``."""
        key = (i, day, stops, preferred_only)
        cached = self._insertions.get(key)
        if cached is not None:
            return cached
        least = INF
        sites = self.sites.get(i, {}).get(day)
        home = self.home
        if sites is not None and home is not None:
            travel = self.travel
            first, last = stops[0], stops[-1]
            for f, _, _ in sites:
                if preferred_only and not self.preferred_facility[f]:
                    continue
                # Between home and the first visit, two visits, or the last visit and home.
                added = min(
                    home[f] + travel[f][first] - home[first],
                    travel[last][f] + home[f] - home[last],
                )
                for u, v in pairwise(stops):
                    added = min(added, travel[u][f] + travel[f][v] - travel[u][v])
                least = min(least, added)
        self._insertions[key] = least
        return least
