"""The lower bound on the lexicographic objective at a node.

:meth:`Bounds.lower_key` gives, for a partial route and its propagated bounds, a key that no
completion beats; the driver prunes the node when it is not better than the best route's. Each
part is valid for every completion of the partial route:

1. completion: the greatest lower bound on any stage's end, and, when the open in-person stages
   cannot each have their earliest day (at most ``max_visits`` visits a day), the least end of
   a visit on the last day they need (:meth:`Bounds._days_apart_completion`); in phase 2, the
   completion it is capped at, which every route there has (none completes earlier: phase 1
   proved it, or it is the root's bound), so that the other parts apply from its root on;
2. visit days: the distinct days of the in-person stages assigned, plus the days the open
   in-person stages must open (no room for them on a visited day), and one more when no
   partition of them into that many days exists (:meth:`Bounds._partition_key`,
   :mod:`routing.solve.daybound`);
3. travel: the travel of the assigned in-person stages' days when travel times obey the triangle
   inequality (adding a visit never shortens a day's tour), else 0; with the home known, plus
   the least travel of the days still to open (a partition of the open stages into them, a day
   costing at least its dearest stage's two home legs and its dearest pair's tour) and of the
   open stages that join a visited day (the least they add there, over the day's room:
   :mod:`~routing.solve.bnb.travel`);
4. non-preferred: assigned stages outside the preferred facilities, plus the unassigned ones that
   have no preferred candidate left, or whose preferred facilities would raise the travel bound
   when it already equals the best route's travel.

At phase 2's root the bound is raised by :mod:`~routing.solve.bnb.rootbound` (again after a
better route, and once by the dearer day-by-day bound).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Final

from routing.solve.bnb.common import INF, CostTable, Key
from routing.solve.bnb.state import index_slot_days
from routing.solve.bnb.travel import TravelMemo
from routing.solve.daybound import INFEASIBLE

__all__ = ["Bounds"]

JOINERS_PLACED: Final = 5
"""Open stages that may join a visited day up to which the bound places each on its day."""


class Bounds(TravelMemo):
    """:class:`~routing.solve.bnb.travel.TravelMemo` with the lower bound at a node."""

    def lower_key(self, b: list[list[int]], best_completion: int) -> Key | None:
        """The node's lower bound, or ``None`` when it cannot beat the incumbent."""
        lo_e = b[2]
        completion = max(lo_e) - self.r
        if self.completion_proven and completion < best_completion:
            # Phase 2 searches only routes that complete at the proven earliest completion (or
            # at the completion bound it is capped at): none completes earlier.
            completion = best_completion
        if (
            self.open_in_person > self.max_visits
            and (self.max_visits == 1 or not self.day_visits)
            and completion <= best_completion
        ):
            # Fewer open stages than a day holds cannot crowd a new day. With room for more
            # than one visit a day the bound is tried before any visit is placed only: below
            # that, the lags had always said as much (seeds 100-119: no raise in 74,000 calls).
            completion = max(completion, self._days_apart_completion(b))
        if completion > best_completion or (self.completion_only and completion == best_completion):
            return None
        if completion < best_completion:
            return (completion, 0, 0, 0)
        stages = self.stages
        assigned = self.assigned
        days_used = self.day_visits
        days, travel = len(days_used), self.travel_total
        lo_s, hi_s = b[0], b[1]
        axis = self.axis
        # Open in-person stages: those that must open a day (no room on a visited day) and
        # those that may join one, within the room the visited days have left.
        alone = forced = joining = 0
        tours = self.metric and self.home is not None
        lone_legs: list[int] = []
        shared_legs: list[int] = []
        preferred_legs: list[tuple[int, bool, int, int]] = []
        open_stages: list[tuple[int, int, bool, bool]] = []
        with_room = self._days_with_room()
        # Visited days with room for a stage that shares its day, as minute ranges.
        open_days = [(axis.first_minute(d), axis.last_minute(d)) for d, _ in with_room]
        for i in range(self.k):
            if assigned[i] >= 0 or not stages[i].in_person:
                continue
            starts = stages[i].start
            shares = stages[i].shares_day
            lo, hi = lo_s[i], hi_s[i]
            joins = False
            if shares:
                for first, last in open_days:
                    if first > hi or last < lo:
                        continue
                    if bisect_left(starts, max(lo, first)) < bisect_right(starts, min(hi, last)):
                        joins = True
                        break
            if joins:
                joining += 1
            elif shares:
                forced += 1
            else:
                alone += 1
            if tours:
                legs = self._day_legs(i, lo_s[i], hi_s[i])
                (shared_legs if shares else lone_legs).append(legs)
                open_stages.append((i, legs, not shares, joins))
                if self.has_preferences:
                    preferred = self._day_legs(i, lo_s[i], hi_s[i], preferred_only=True)
                    preferred_legs.append((i, shares, legs, preferred))
        new_days = room = 0
        if alone or forced or joining:
            room = sum(left for _, left in with_room)
            overflow = forced + max(0, joining - room)
            new_days = alone + -(-overflow // self.max_visits)
            days += new_days
        premiums: list[tuple[int, int]] = []
        if tours:
            # Each new day costs at least its cheapest visit's two home legs, and holds a stage
            # of its own: the lone stages, then the cheapest of the others.
            shared_legs.sort()
            opened = new_days - alone
            cheapest = sum(shared_legs[:opened])
            travel += sum(lone_legs) + cheapest
            for i, shares, legs, preferred in preferred_legs:
                # What the bound would rise by if the stage went to a preferred facility.
                if preferred < 0:
                    premiums.append((i, -1))
                elif not shares:
                    premiums.append((i, preferred - legs))
                else:
                    swapped = list(shared_legs)
                    swapped.remove(legs)
                    insort(swapped, preferred)
                    premiums.append((i, sum(swapped[:opened]) - cheapest))
        elif not self.metric:
            travel = 0
        non_pref = self.non_preferred
        forced_outside: set[int] = set()
        if self.has_preferences:
            for i in range(self.k):
                st = stages[i]
                if not st.in_person or assigned[i] >= 0:
                    continue
                pref = self.pref_starts(i)
                if bisect_left(pref, lo_s[i]) >= bisect_right(pref, hi_s[i]):
                    forced_outside.add(i)
            best = self.best_key
            if premiums and self.best is not None and (completion, days) == best[:2]:
                # With the travel bound this close to the best route's travel, a stage whose
                # preferred facilities would cost more than the slack must go elsewhere.
                slack = best[2] - travel
                for i, premium in premiums:
                    if premium > slack:
                        forced_outside.add(i)
        key = (completion, days, travel, non_pref + len(forced_outside))
        if completion == self.best_key[0] and key < self.best_key and self.tables() is not None:
            # Worth the partition: which open stages can share which new day.
            return self._partition_key(
                key, open_stages, preferred_legs, forced_outside, new_days, room, b
            )
        return key

    def _days_apart_completion(self, b: list[list[int]]) -> int:
        """A lower bound on the completion from the days the open in-person stages need.

        Each open in-person stage needs a day of its own share of ``max_visits`` visits (a
        visited day only its room; none on a day held by a stage that does not share its day),
        no earlier than the day of its first candidate within its bounds. Placing them earliest
        first, each on the first day from its own with room left among the days on which the
        index has slots, gives the least last day any route can reach (a relaxation: the stages'
        own days, links and travel aside, and every stage taken to share). Some open stage
        starts on that day or later, so the completion is at least the least start there plus
        duration. ``INF`` when a stage has no candidate within its bounds (or no day is left),
        else the bound in minutes since the referral; ``-1`` when every stage can have its
        earliest day, or the last day is the latest earliest day (where the propagated bound on
        that stage's end is already as high).
        """
        stages = self.stages
        assigned = self.assigned
        lo_s, hi_s = b[0], b[1]
        earliest: list[int] = []
        for i in self.in_person_stages:
            if assigned[i] >= 0:
                continue
            st = stages[i]
            starts = st.start
            c = bisect_left(starts, lo_s[i])
            if c == len(starts) or starts[c] > hi_s[i]:
                return INF
            earliest.append(st.day[c])
        earliest.sort()
        visits = self.day_visits
        exclusive = self.exclusive_days
        max_visits = self.max_visits
        days = index_slot_days(self.cr.index)
        placed: dict[int, int] = {}
        last = -1
        for first in earliest:
            j = bisect_left(days, max(first, last))
            while j < len(days):
                day = days[j]
                room = (
                    0
                    if day in exclusive
                    else max_visits - (len(visits[day]) if day in visits else 0)
                )
                if placed.get(day, 0) < room:
                    placed[day] = placed.get(day, 0) + 1
                    last = day
                    break
                j += 1
            else:
                return INF
        if last == earliest[-1]:
            # Each stage kept its earliest day, or the stage of the latest one kept it: the
            # lags' bound says as much.
            return -1
        from_minute = self.axis.first_minute(last)
        least = INF
        for i in self.in_person_stages:
            if assigned[i] >= 0:
                continue
            st = stages[i]
            c = bisect_left(st.start, max(lo_s[i], from_minute))
            if c < len(st.start) and st.start[c] <= hi_s[i]:
                least = min(least, st.start[c] + self.dmin[i])
        return least - self.r if least < INF else INF

    def _partition_key(
        self,
        key: Key,
        open_stages: list[tuple[int, int, bool, bool]],
        preferred_legs: list[tuple[int, bool, int, int]],
        forced_outside: set[int],
        new_days: int,
        room: int,
        b: list[list[int]],
    ) -> Key:
        """``key`` sharpened by the partition of the open stages into the new days.

        ``open_stages`` holds ``(stage, legs, lone, may join a visited day)``; ``forced_outside``
        the stages already counted as outside the preferred facilities. With no travel to spare,
        a stage whose preferred facilities would make the partition dearer (or, joining a
        visited day, add travel to it) must go elsewhere, and counts as non-preferred too.
        """
        tables = self.tables()
        assert tables is not None
        pair_cost, at_preferred = tables
        completion, days, travel, non_pref = key
        legs_of = [legs for _, legs, _, _ in open_stages]
        lone_flags = [lone for _, _, lone, _ in open_stages]
        join_flags = [joins for _, _, _, joins in open_stages]
        stages = [i for i, _, _, _ in open_stages]
        costs = self._pair_costs_now(stages, pair_cost, b)
        joiners = [i for i, _, _, joins in open_stages if joins]
        placing = bool(joiners) and len(joiners) <= JOINERS_PLACED
        # Joiners add travel to the day they join. Several joining one day add at least the
        # largest of their own additions, so at least their sum over the day's room: charging
        # each joiner its least addition divided by the largest room is a bound. Placing each
        # joiner on its day instead (up to JOINERS_PLACED of them) bounds at least as high.
        room_max = 0
        join_costs = [0] * len(open_stages)
        partition = 0
        if not placing:
            room_max = max((left for _, left in self._days_with_room()), default=0)
            join_costs = [
                self._join_cost(i, b[0][i], b[1][i], preferred_only=False) // room_max
                if joins and room_max > 0
                else 0
                for i, _, _, joins in open_stages
            ]
            if new_days or any(join_costs):
                partition = self._new_days(
                    legs_of, lone_flags, join_flags, costs, new_days, room, join_costs
                )
                if partition == INFEASIBLE:
                    return (completion, days + 1, self.travel_total, non_pref)
        placed = 0
        if placing:
            # Sharper: each joiner on a visited day it may use, within each day's room.
            placed = self._placed_travel(
                open_stages, b, legs_of, lone_flags, join_flags, costs, new_days, room
            )
            if placed == INFEASIBLE:
                return (completion, days + 1, self.travel_total, non_pref)
            travel = max(travel, self.travel_total + placed)
        travel = max(travel, self.travel_total + partition)
        if (
            not self.has_preferences
            or at_preferred is None
            or (completion, days, travel) != self.best_key[:3]
        ):
            return (completion, days, travel, non_pref)
        preferred_of = {i: preferred for i, _, _, preferred in preferred_legs}
        outside = set(forced_outside)
        # With no travel to spare, a stage whose preferred facilities would make the bound that
        # sets the travel dearer must go elsewhere.
        if placing and self.travel_total + placed == travel:
            for n, (i, _, _, _) in enumerate(open_stages):
                preferred = preferred_of.get(i, -1)
                if i in outside or preferred < 0:
                    continue
                raised, dearer = _at_preferred(n, preferred, legs_of, costs, at_preferred, stages)
                found = self._placed_travel(
                    open_stages, b, raised, lone_flags, join_flags, dearer, new_days, room, i
                )
                if found == INFEASIBLE or found > placed:
                    outside.add(i)
        if placing or self.travel_total + partition < travel:
            # The partition does not set the travel: a dearer one need not exceed the best's.
            return (completion, days, travel, non_pref + len(outside) - len(forced_outside))
        for n, (i, _, _, joins) in enumerate(open_stages):
            preferred = preferred_of.get(i, -1)
            if i in outside or preferred < 0:
                continue
            least = INF
            if new_days:
                # On a new day at a preferred facility.
                raised, dearer = _at_preferred(n, preferred, legs_of, costs, at_preferred, stages)
                must_open = list(join_flags)
                must_open[n] = False
                found = self._new_days(
                    raised, lone_flags, must_open, dearer, new_days, room, join_costs
                )
                if found != INFEASIBLE:
                    least = found
            if joins:
                # Joining a visited day at a preferred facility.
                there = self._join_cost(i, b[0][i], b[1][i])
                if there < INF:
                    # The stage joins (a day of its own would cost too much), the rest as before.
                    dearer_join = list(join_costs)
                    dearer_join[n] = there // max(1, room_max)
                    no_day = list(legs_of)
                    no_day[n] = INF
                    apart = [
                        [None if n in (a, m) else x for m, x in enumerate(row)]
                        for a, row in enumerate(costs)
                    ]
                    found = self._new_days(
                        no_day, lone_flags, join_flags, apart, new_days, room, dearer_join
                    )
                    least = min(least, found if found != INFEASIBLE else INF)
            if least > partition:
                outside.add(i)
        return (completion, days, travel, non_pref + len(outside) - len(forced_outside))


def _at_preferred(
    n: int,
    preferred: int,
    legs: list[int],
    costs: list[list[int | None]],
    at_preferred: CostTable,
    stages: list[int],
) -> tuple[list[int], list[list[int | None]]]:
    """``legs`` and ``costs`` of the open ``stages`` with the ``n``-th at a preferred facility:
    its own legs ``preferred``, its pair costs from ``at_preferred``."""
    raised = list(legs)
    raised[n] = preferred
    dearer = [list(row) for row in costs]
    i = stages[n]
    for m, j in enumerate(stages):
        if m != n:
            dearer[n][m] = dearer[m][n] = at_preferred[i][j]
    return raised, dearer
