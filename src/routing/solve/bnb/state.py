"""The search state: the partial route, its bookings and the same-day rules.

:class:`SearchState` holds the compiled request (stages, candidates, lag links, travel), the
limits and counters, the best route so far, and the bookings of the assigned stages: a candidate
index per stage, the slots used, the in-person visits by day with each day's tour from home, the
travel total and the non-preferred count. :meth:`~SearchState.assign` and
:meth:`~SearchState.unassign` keep them in step; :meth:`~SearchState.full_key` costs a complete
route.

The same-day rules: at most ``max_visits_per_day`` in-person visits and a stage that needs its own
day alone, per local date of start; no two in-person visits overlap; and between consecutive
in-person visits in time order, whatever their dates, ``next start >= previous end + travel``
(a visit from 23:30 to 00:05 and one at 00:20 need the trip between them). With travel times
that obey the triangle inequality that holds for every pair of visits in time order, so candidates
are checked pairwise against the assigned visits (:meth:`~SearchState.compatible`); otherwise
complete routes are checked between consecutive visits only (:meth:`~SearchState.links_hold`).
The objective still counts travel per day, as tours from home. A rule between visits only removes
routes, so every bound stays valid.
"""

from __future__ import annotations

import time
from bisect import insort
from collections.abc import Hashable
from itertools import pairwise
from typing import Final

import numpy as np

from routing.slot_index import SlotIndex
from routing.solve.bnb.common import INF, NO_KEY, CostTable, IntArray, Key, SearchLimits, Sites
from routing.solve.compiled import CompiledRequest
from routing.solve.indexcache import cached_on_index
from routing.solve.links import REFERRAL_STAGE

__all__ = ["SearchState", "index_slot_days"]


class SearchState:
    """The state of one request's search: the compiled request, limits, best route, bookings."""

    def __init__(self, cr: CompiledRequest, limits: SearchLimits) -> None:
        self.cr = cr
        self.axis = cr.axis
        self.stages = cr.stages
        self.k = len(cr.stages)
        self.links = cr.links
        self.r = cr.referral_minute
        self.travel = cr.index.travel_table
        self.home = cr.home_minutes
        self.metric = cr.travel_is_metric
        self.max_visits = cr.max_visits_per_day
        self.has_preferences = bool(cr.request.patient.preferred_facilities)
        self._pref_starts: list[list[int] | None] = [None] * self.k
        self._arrays: list[tuple[IntArray, IntArray, IntArray, IntArray] | None] = [None] * self.k
        self._groups: list[list[tuple[int, int, int, list[int], int]] | None] = [None] * self.k
        self.completion_only = False
        """Phase 1: only a strictly earlier completion counts."""
        self.phase2_root: list[list[int]] | None = None
        """Phase 2: the bounds at its root (where :meth:`share_costs` looks, on first use)."""
        self._tables: tuple[CostTable, CostTable] | None = None
        self._tables_done = False
        self.phase2_bound: Key | None = None
        """Phase 2: the bound at its root; a route that meets it ends the search."""
        self._chronological_pending: int | None = None
        """Phase 2: the node count at its root, until :meth:`sharpen_root_bound` has run."""
        self.day_legs: dict[int, dict[int, int]] = {}
        """Phase 2 root: per in-person stage and day, the least travel of a day holding it."""
        self.pair_days: dict[tuple[int, int], tuple[int, list[int]]] = {}
        """Phase 2 root: per pair of sharing stages (both orders), the first day and the least
        travel of a day with both on each day from it (``INF`` on days they cannot share)."""
        self.preferred_pair_days: dict[tuple[int, int], tuple[int, list[int]]] = {}
        """Phase 2 root, with preferred facilities: :attr:`pair_days` with the first stage of
        the pair at a preferred facility."""
        self.sites: dict[int, dict[int, Sites]] = {}
        """Phase 2 root: :meth:`_day_sites` of each in-person stage."""
        self.preferred_facility: list[bool] = []
        """Phase 2 root: per facility position, whether the patient prefers it."""
        self.home_array = np.zeros(0, dtype=np.int64)
        self.preferred_array = np.zeros(0, dtype=np.bool_)
        """Phase 2 root: the home legs and :attr:`preferred_facility` as arrays."""
        self._insertions: dict[tuple[int, int, tuple[int, ...], bool], int] = {}
        self._additions: dict[
            tuple[int, int, tuple[tuple[int, int, int], ...], int, int, int, int, bool], int
        ] = {}
        """Cache of :meth:`_least_addition`."""
        self._joined: dict[Hashable, list[int]] = {}
        """Cache of :func:`~routing.solve.daybound.joining_travel` for :meth:`_placed_travel`."""
        self._new_days_memo: dict[tuple[object, ...], int] = {}
        """Cache of :meth:`_new_days`."""
        self._legs: dict[tuple[int, int, int, bool], int] = {}
        """Cache of :meth:`_day_legs`."""
        self._pair_costs: dict[tuple[object, ...], list[list[int | None]]] = {}
        """Cache of :meth:`_pair_costs_now` (for phase 2's root: cleared with it)."""
        self.completion_proven = False
        """Phase 2: the best completion is proven; candidates go cheapest first."""
        self.dmin = [st.min_duration for st in cr.stages]
        self.dmax = [st.max_duration for st in cr.stages]
        self.limits = limits
        self.deadline = time.perf_counter() + limits.time_limit
        self.nodes = 0
        self.node_budget = INF
        """Phase 2 tried first (:meth:`optimistic`) stops at this many nodes."""
        self.pause_at = INF
        """Phase 2 pauses at this many nodes, with a best route, for :meth:`improve_by_days`."""
        self.best: list[int] | None = None
        self.best_key: Key = NO_KEY
        self.stopped = ""
        """Why the search stopped early (a limit, a pause, a proven route); "" while it runs."""
        self.assigned: list[int] = [-1] * self.k
        self.used_slots: set[int] = set()
        self.culprit: list[str] = [""] * self.k
        self.day_visits: dict[int, list[tuple[int, int, int]]] = {}
        """In-person visits of the assigned stages by day: ``(start, end, facility)``, sorted."""
        self.tour_cost: dict[int, int] = {}
        self.travel_total = 0
        self.non_preferred = 0
        self.exclusive_days: set[int] = set()
        """Days holding an assigned in-person stage that does not share its day."""
        self.open_in_person = sum(1 for st in self.stages if st.in_person)
        """In-person stages not assigned yet."""
        self.in_person_stages = [i for i, st in enumerate(self.stages) if st.in_person]
        """The in-person stages' positions, ascending."""
        self.reach_bound = _index_dearest_trip(cr) if self.metric and self.travel else 0
        """At least :meth:`reach` (the dearest trip of the whole index; 0 when travel is
        checked only on whole routes): where a visit's end plus this stays within its day, the
        exact reach is not needed."""
        self._reach = -1 if self.reach_bound else 0
        """:meth:`reach`, once computed (-1 until then)."""
        self.late_reach: list[int] = []
        """``end + reach`` of each assigned in-person visit that reaches past its day's end, in
        order: only these can constrain a visit on a later day (the travel rule across midnight)."""
        self.incident: list[list[int]] = [[] for _ in range(self.k)]
        for n, link in enumerate(cr.links):
            for stage in {link.x_stage, link.y_stage}:
                if stage != REFERRAL_STAGE:
                    self.incident[stage].append(n)

    def reach(self) -> int:
        """The most time a visit may need after an earlier one ends before it starts: the
        dearest trip between the facilities of this request's in-person candidates (computed
        on first use; most visits end early enough that :attr:`reach_bound` answers)."""
        if self._reach < 0:
            self._reach = _dearest_trip(self.cr)
        return self._reach

    def late(self, end: int, day: int) -> int:
        """``end + reach`` of a visit of ``day`` ending at ``end`` when it reaches past the
        day's end, else -1."""
        next_day = self.axis.first_minute(day + 1)
        if end + self.reach_bound <= next_day:
            return -1
        reach = end + self.reach()
        return reach if reach > next_day else -1

    def assign(self, i: int, c: int) -> None:
        """Book candidate ``c`` for stage ``i`` and update the running totals."""
        st = self.stages[i]
        self.assigned[i] = c
        self.used_slots.add(st.slot[c])
        if not st.in_person:
            return
        self.open_in_person -= 1
        day = st.day[c]
        visits = self.day_visits.setdefault(day, [])
        insort(visits, (st.start[c], st.end[c], st.facility[c]))
        reach = self.late(st.end[c], day)
        if reach >= 0:
            insort(self.late_reach, reach)
        if not st.shares_day:
            self.exclusive_days.add(day)
        cost = self.tour(visits)
        self.travel_total += cost - self.tour_cost.get(day, 0)
        self.tour_cost[day] = cost
        if self.has_preferences and not st.preferred[c]:
            self.non_preferred += 1

    def unassign(self, i: int, c: int) -> None:
        """Undo :meth:`assign`."""
        st = self.stages[i]
        self.assigned[i] = -1
        self.used_slots.discard(st.slot[c])
        if not st.in_person:
            return
        self.open_in_person += 1
        day = st.day[c]
        visits = self.day_visits[day]
        visits.remove((st.start[c], st.end[c], st.facility[c]))
        reach = self.late(st.end[c], day)
        if reach >= 0:
            self.late_reach.remove(reach)
        if not st.shares_day:
            self.exclusive_days.discard(day)
        old = self.tour_cost.pop(day)
        if visits:
            cost = self.tour(visits)
            self.tour_cost[day] = cost
            self.travel_total += cost - old
        else:
            del self.day_visits[day]
            self.travel_total -= old
        if self.has_preferences and not st.preferred[c]:
            self.non_preferred -= 1

    def tour(self, visits: list[tuple[int, int, int]]) -> int:
        """Travel of one day's sorted in-person visits (home legs where home is known)."""
        travel = self.travel
        total = 0
        for (_, _, f1), (_, _, f2) in pairwise(visits):
            total += travel[f1][f2]
        if self.home is not None and visits:
            total += self.home[visits[0][2]] + self.home[visits[-1][2]]
        return total

    def with_visit(self, i: int, c: int) -> tuple[int, int, int]:
        """Visit days, travel and non-preferred count of the assignment plus candidate ``c``."""
        st = self.stages[i]
        if not st.in_person:
            return len(self.day_visits), self.travel_total, self.non_preferred
        day = st.day[c]
        visits = self.day_visits.get(day)
        days = len(self.day_visits) + (0 if visits else 1)
        extended = sorted([*(visits or ()), (st.start[c], st.end[c], st.facility[c])])
        travel = self.travel_total - self.tour_cost.get(day, 0) + self.tour(extended)
        non_pref = self.non_preferred + (1 if self.has_preferences and not st.preferred[c] else 0)
        return days, travel, non_pref

    def _days_with_room(self) -> list[tuple[int, int]]:
        """``(day, room)`` of each visited day that can take another stage sharing its day."""
        return [
            (d, self.max_visits - len(v))
            for d, v in self.day_visits.items()
            if len(v) < self.max_visits and d not in self.exclusive_days
        ]

    def day_closed(self, i: int, day: int) -> bool:
        """Whether in-person stage ``i`` can have no visit at all on ``day``."""
        visits = self.day_visits.get(day)
        if not visits:
            return False
        return (
            len(visits) >= self.max_visits
            or not self.stages[i].shares_day
            or day in self.exclusive_days
        )

    def usable(self, i: int, c: int) -> bool:
        """:meth:`compatible`, with a fast path for days that hold no assigned visit (and no
        visit of another day within :meth:`reach` of the candidate)."""
        st = self.stages[i]
        if st.slot[c] in self.used_slots:
            return False
        if not st.in_person:
            return True
        day = st.day[c]
        if (
            day not in self.day_visits
            and (not self.late_reach or self.late_reach[-1] <= st.start[c])
            and self.late(st.end[c], day) < 0
        ):
            return True
        return self.compatible(i, c)

    def compatible(self, i: int, c: int) -> bool:
        """The rules between candidate ``c`` of stage ``i`` and the assigned stages: visits a
        day and a stage alone on its day (on the candidate's local date), no overlap, and room
        to travel between facilities whatever the dates (a visit that ends near or after
        midnight and one early the next day).

        Travel is checked pairwise, which every route meets only when travel times obey the
        triangle inequality; otherwise :meth:`full_key` checks it between consecutive visits.
        """
        stages = self.stages
        st = stages[i]
        if st.slot[c] in self.used_slots:
            return False
        if not st.in_person:
            return True
        day = st.day[c]
        visits = 1
        s, e, f = st.start[c], st.end[c], st.facility[c]
        metric, reach, travel = self.metric, self.reach_bound, self.travel
        for j, cj in enumerate(self.assigned):
            if cj < 0:
                continue
            other = stages[j]
            if not other.in_person:
                continue
            s2, e2, f2 = other.start[cj], other.end[cj], other.facility[cj]
            # Overlap and travel whatever the days (a visit near midnight and one on the next
            # day); pairwise travel is sound only when travel times are a metric.
            if e2 <= s:
                if metric and e2 + reach > s and e2 + travel[f2][f] > s:
                    return False
            elif e <= s2:
                if metric and e + reach > s2 and e + travel[f][f2] > s2:
                    return False
            else:
                return False  # they overlap
            if other.day[cj] == day:
                if not st.shares_day or not other.shares_day:
                    return False
                visits += 1
        return visits <= self.max_visits

    def links_hold(self) -> bool:
        """Whether a complete assignment meets every link (checked once more at each leaf)."""
        stages = self.stages
        axis = self.axis
        for link in self.links:
            times = []
            for stage, point in ((link.x_stage, link.x_point), (link.y_stage, link.y_point)):
                if stage == REFERRAL_STAGE:
                    times.append(self.r)
                else:
                    c = self.assigned[stage]
                    times.append(stages[stage].start[c] if point == 0 else stages[stage].end[c])
            x, y = times
            if link.min is not None and y < axis.min_forward(x, link.min, link.unit):
                return False
            if link.max is not None and y > axis.max_forward(x, link.max, link.unit):
                return False
        return True

    def _links_hold_for(self, i: int, c: int) -> bool:
        """Whether candidate ``c`` of stage ``i`` meets its links to the referral and the
        stages already booked."""
        st = self.stages[i]
        axis = self.axis
        for n in self.incident[i]:
            link = self.links[n]
            times = []
            for stage, point in ((link.x_stage, link.x_point), (link.y_stage, link.y_point)):
                if stage == REFERRAL_STAGE:
                    times.append(self.r)
                    continue
                other = self.stages[stage]
                cj = c if stage == i else self.assigned[stage]
                if cj < 0:
                    break
                source = st if stage == i else other
                times.append(source.start[cj] if point == 0 else source.end[cj])
            if len(times) < 2:
                continue
            x, y = times
            if link.min is not None and y < axis.min_forward(x, link.min, link.unit):
                return False
            if link.max is not None and y > axis.max_forward(x, link.max, link.unit):
                return False
        return True

    def day_tours(self, chosen: list[tuple[int, int]]) -> tuple[int, int, bool]:
        """Visit days, travel and feasibility of the in-person bookings ``(stage, candidate)``.

        Travel counts each day's tour from home; feasibility asks room to travel between
        consecutive visits in time order, on one day or across midnight (the last visit of a
        day and the first of the next day visited), which also excludes overlaps.
        """
        by_day: dict[int, list[tuple[int, int, int]]] = {}
        stages = self.stages
        for i, c in chosen:
            st = stages[i]
            if st.in_person:
                by_day.setdefault(st.day[c], []).append((st.start[c], st.end[c], st.facility[c]))
        travel = 0
        ok = True
        home = self.home
        last_end = last_facility = -1
        for day in sorted(by_day):
            visits = by_day[day]
            visits.sort()
            if len(visits) > self.max_visits:
                ok = False
            if home is not None:
                travel += home[visits[0][2]] + home[visits[-1][2]]
            for (_, e1, f1), (s2, _, f2) in pairwise(visits):
                leg = self.travel[f1][f2]
                travel += leg
                if e1 + leg > s2:
                    ok = False
            start, _, facility = visits[0]
            if last_facility >= 0 and last_end + self.travel[last_facility][facility] > start:
                ok = False  # from the last visit of the day before (across midnight)
            _, last_end, last_facility = visits[-1]
        return len(by_day), travel, ok

    def full_key(self) -> Key | None:
        """The exact objective of a complete assignment, or ``None`` if a rule fails."""
        if not self.links_hold():
            return None
        stages = self.stages
        chosen = list(enumerate(self.assigned))
        days, travel, ok = self.day_tours(chosen)
        if not ok:
            return None
        for i, c in chosen:
            if not stages[i].shares_day and stages[i].in_person:
                day = stages[i].day[c]
                if any(
                    j != i and stages[j].in_person and stages[j].day[cj] == day for j, cj in chosen
                ):
                    return None
        completion = max(stages[i].end[c] for i, c in chosen) - self.r
        non_pref = 0
        if self.has_preferences:
            non_pref = sum(
                1 for i, c in chosen if stages[i].in_person and not stages[i].preferred[c]
            )
        return (completion, days, travel, non_pref)


def index_slot_days(index: SlotIndex) -> list[int]:
    """The days on which ``index`` has a slot, ascending (cached on it)."""
    return cached_on_index(index, "slot days", None, 1, lambda: np.unique(index.day).tolist())


def _index_dearest_trip(cr: CompiledRequest) -> int:
    """The longest trip between two facilities of ``cr``'s index (cached on it)."""
    index = cr.index
    return cached_on_index(
        index,
        "dearest trip",
        None,
        1,
        lambda: int(index.travel_minutes.max()) if len(index.facilities) else 0,
    )


_FEW_SITES: Final = 24
"""Facilities up to which :func:`_dearest_trip` reads the travel table in a plain loop."""


def _dearest_trip(cr: CompiledRequest) -> int:
    """The longest trip between two facilities of ``cr``'s in-person candidates (0 with fewer
    than one): no two visits of its routes are further apart. The whole index's dearest trip
    would do too, but one far facility (a federal centre a day's journey away) would make
    every visit of every request reach past midnight."""
    sites = sorted({f for st in cr.stages if st.in_person for f in st.sites()})
    if len(sites) > _FEW_SITES:
        chosen = np.asarray(sites, dtype=np.int64)
        return int(cr.index.travel_minutes[np.ix_(chosen, chosen)].max())
    travel = cr.index.travel_table
    dearest = 0
    for a in sites:
        row = travel[a]
        for b in sites:
            dearest = max(dearest, row[b])
    return dearest
