"""Phase 2's root bound, raised as the search learns: the bound that can end the search.

Phase 2 keeps the lower bound of its root (:attr:`phase2_bound`); a route that meets it is
optimal and ends the search. The bound is raised in two ways, each valid for every route that
could still beat the best one, so their maximum is too:

- after a better route, :meth:`RootBounds.sharpen_root_bound` recomputes the root's
  :meth:`~routing.solve.bnb.bounds.Bounds.lower_key` against it, with nothing booked
  (:meth:`RootBounds.root_key`): a stage whose preferred facilities would cost travel the best
  route no longer has to spare must go elsewhere;
- once phase 2 has run :data:`CHRONOLOGICAL_AFTER` nodes, once per root, the dearer day-by-day
  bound (:meth:`RootBounds.chronological_key`, by
  :func:`~routing.solve.daybound.chronological_travel`), which sees which days each stage may
  use and the order of the stages, as the partition bound at the nodes does not.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import combinations
from typing import Final

from routing.solve.bnb.bounds import Bounds
from routing.solve.bnb.common import INF, Key
from routing.solve.daybound import INFEASIBLE, DayPlan, chronological_travel

__all__ = ["CHRONOLOGICAL_AFTER", "RootBounds"]

_BOOKINGS: Final = (
    "assigned",
    "used_slots",
    "day_visits",
    "tour_cost",
    "travel_total",
    "non_preferred",
    "exclusive_days",
    "open_in_person",
    "late_reach",
)
"""The attributes of :class:`~routing.solve.bnb.state.SearchState` that its
:meth:`~routing.solve.bnb.state.SearchState.assign` changes."""
CHRONOLOGICAL_AFTER: Final = 30
"""Phase-2 nodes after which a better route also tries the dearer day-by-day root bound."""


class RootBounds(Bounds):
    """:class:`~routing.solve.bnb.bounds.Bounds` with phase 2's root bound raised."""

    def sharpen_root_bound(self) -> None:
        """Raise phase 2's root bound after a better route: the root's bound again, now against
        that route (a stage whose preferred facilities would cost travel it no longer has to
        spare must go elsewhere), and once phase 2 has run :data:`CHRONOLOGICAL_AFTER` nodes,
        :meth:`chronological_key` (dearer: run once, if needed).

        Each bound is one that every route able to beat the best one meets, so their maximum is
        too; a best route that meets it is optimal.
        """
        root = self.phase2_root
        if root is None or self.phase2_bound is None:
            return
        again = self.root_key(root)
        if again is None:
            self.phase2_bound = self.best_key  # nothing completes early enough to beat it
            return
        self.phase2_bound = max(self.phase2_bound, again)
        pending = self._chronological_pending
        if pending is not None and self.nodes - pending >= CHRONOLOGICAL_AFTER:
            self.raise_day_by_day()

    def raise_day_by_day(self) -> None:
        """Raise phase 2's root bound with :meth:`chronological_key`, once per root."""
        if (
            self._chronological_pending is None
            or self.phase2_root is None
            or self.phase2_bound is None
        ):
            return
        self._chronological_pending = None
        self.phase2_bound = max(
            self.phase2_bound, self.chronological_key(self.phase2_root, self.phase2_bound)
        )

    def root_key(self, root: list[list[int]]) -> Key | None:
        """:meth:`lower_key` at phase 2's root, with nothing booked, whatever is booked now."""
        with self._nothing_booked():
            return self.lower_key(root, self.best_key[0])

    @contextmanager
    def _nothing_booked(self) -> Iterator[None]:
        """Set the bookings aside for the duration (then put them back as they were)."""
        saved = {name: getattr(self, name) for name in _BOOKINGS}
        self.assigned = [-1] * self.k
        self.used_slots, self.day_visits, self.tour_cost = set(), {}, {}
        self.travel_total = self.non_preferred = 0
        self.exclusive_days = set()
        self.open_in_person = sum(1 for st in self.stages if st.in_person)
        self.late_reach = []
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    def chronological_key(self, b: list[list[int]], key: Key) -> Key:
        """``key``, the bound at the root ``b`` of phase 2, with the travel of the in-person
        stages day by day.

        :func:`~routing.solve.daybound.chronological_travel` sees which days each stage may
        use and the order of the stages, which the partition bound does not. It uses only the
        root's data (nothing booked), whatever the search has booked now.
        """
        tables = self.tables()
        if tables is None:
            return key
        completion, days, travel, _ = key
        open_stages = [i for i, st in enumerate(self.stages) if st.in_person]
        plan = self._day_plan(b, open_stages)
        found = chronological_travel(plan, days, self.max_visits)
        # The stages with no preferred candidate at all surely go elsewhere; with no travel to
        # spare, so do those whose preferred facilities would make the day-by-day travel dearer.
        outside = 0
        possible: list[int] = []
        if self.has_preferences:
            for m, i in enumerate(open_stages):
                pref = self.pref_starts(i)
                if bisect_left(pref, b[0][i]) >= bisect_right(pref, b[1][i]):
                    outside += 1
                else:
                    possible.append(m)
        if found == INFEASIBLE:
            return (completion, days + 1, 0, outside)
        best = self.best_key
        if possible and self.best is not None and (completion, days) == best[:2]:
            # Each check is a day-by-day search: only as many as could prove the best route
            # (once the travel bound meets its travel, or a better route's).
            for n, m in enumerate(possible):
                if outside >= best[3] or outside + len(possible) - n < best[3]:
                    break
                there = self._at_preferred_by_day(plan, m, open_stages)
                raised = chronological_travel(there, days, self.max_visits)
                if raised == INFEASIBLE or raised > best[2]:
                    outside += 1
        if found <= travel:
            return key if outside <= key[3] else (completion, days, travel, outside)
        return (completion, days, found, outside)

    def _day_plan(self, b: list[list[int]], open_stages: list[int]) -> DayPlan:
        """What :func:`~routing.solve.daybound.chronological_travel` needs of the in-person
        stages ``open_stages`` at the root ``b``: their days, legs and pair costs by day."""
        legs = []
        axis = self.axis
        for i in open_stages:
            first, last = axis.day_of(b[0][i]), axis.day_of(b[1][i])
            legs.append({d: v for d, v in self.day_legs.get(i, {}).items() if first <= d <= last})
        return DayPlan(
            legs=legs,
            pair_cost={
                (m, n): self._pair_cost_by_day(i, j)
                for (m, i), (n, j) in combinations(enumerate(open_stages), 2)
            },
            lone=[not self.stages[i].shares_day for i in open_stages],
            before=[
                sum(1 << m for m, j in enumerate(open_stages) if j != i and self.cr.precedes[j][i])
                for i in open_stages
            ],
            visited={},
        )

    def _at_preferred_by_day(self, plan: DayPlan, m: int, open_stages: list[int]) -> DayPlan:
        """``plan`` with its ``m``-th stage at a preferred facility: its days and home legs
        there, and its pair costs by day with it there (:attr:`preferred_pair_days`)."""
        i = open_stages[m]
        home, preferred = self.home, self.preferred_facility
        assert home is not None
        sites = self.sites.get(i, {})
        legs = list(plan.legs)
        legs_there: dict[int, int] = {}
        for d in plan.legs[m]:
            there = [home[f] for f, _, _ in sites.get(d, ()) if preferred[f]]
            if there:
                legs_there[d] = 2 * min(there)
        legs[m] = legs_there
        pair_cost = dict(plan.pair_cost)
        for n, j in enumerate(open_stages):
            pair = (min(m, n), max(m, n))
            if n == m or pair not in pair_cost:
                continue
            first, by_day = self.preferred_pair_days.get((i, j), (0, []))
            # No entry on a day they cannot share with stage i at a preferred facility.
            pair_cost[pair] = {
                d: by_day[d - first]
                for d in pair_cost[pair]
                if d in legs_there and by_day[d - first] < INF
            }
        return DayPlan(
            legs=legs, pair_cost=pair_cost, lone=plan.lone, before=plan.before, visited={}
        )
