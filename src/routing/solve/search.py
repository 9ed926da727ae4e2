"""Exact branch-and-bound over the candidate slots of one request.

The search assigns stages one at a time, the one with the fewest candidates left first. After
each assignment it propagates the lag links to a fixpoint of lower and upper bounds on every
stage's start and end (:mod:`routing.solve.timeaxis`), which removes every candidate that no
completion of the partial route could use; the bounds of a stage skip candidates that the
same-day rules exclude next to the stages already assigned (forward checking). A node is pruned
when its lower bound on the lexicographic objective is not better than the best route found.

The same-day rules: at most ``max_visits_per_day`` in-person visits and a stage that needs its own
day alone, per local date of start; no two in-person visits overlap; and between consecutive
in-person visits in time order, whatever their dates, ``next start >= previous end + travel``
(a visit from 23:30 to 00:05 and one at 00:20 need the trip between them). With travel times
that obey the triangle inequality that holds for every pair of visits in time order, so candidates
are checked pairwise against the assigned visits; otherwise complete routes are checked between
consecutive visits only. The objective still counts travel per day, as tours from home. A rule
between visits only removes routes, so every bound below stays valid.
When the search ends without hitting a limit, the best route is proven optimal (or, with none,
the request infeasible).

Phases: a greedy first try (each stage's earliest fitting candidate); then, unless that proves
the earliest completion, the second phase straight away with the completion capped at its lower
bound (a route found there proves both); otherwise phase 1 (the earliest completion alone) and
then phase 2 (visit days, travel and preferred facilities among the routes that complete that
early). In phase 2 a stage's candidates are tried best bound first (by visit class).

Lower bounds at a node, each valid for every completion of the partial route:

1. completion: the greatest lower bound on any stage's end;
2. visit days: the distinct days of the in-person stages assigned, plus the days the open
   in-person stages must open (no room for them on a visited day), and one more when no
   partition of them into that many days exists (:mod:`routing.solve.daybound`);
3. travel: the travel of the assigned in-person stages' days when travel times obey the triangle
   inequality (adding a visit never shortens a day's tour), else 0; with the home known, plus
   the least travel of the days still to open (a partition of the open stages into them, a day
   costing at least its dearest stage's two home legs and its dearest pair's tour) and of the
   open stages that join a visited day (the least they add there, over the day's room);
4. non-preferred: assigned stages outside the preferred facilities, plus the unassigned ones that
   have no preferred candidate left, or whose preferred facilities would raise the travel bound
   when it already equals the best route's travel.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations, pairwise
from typing import Final

import numpy as np
import numpy.typing as npt

from nosology.pathway import LagUnit
from routing.solve.compiled import REFERRAL_STAGE, CompiledRequest
from routing.solve.daybound import (
    INFEASIBLE,
    DayPlan,
    chronological_travel,
    joining_travel,
    new_day_travel,
)

__all__ = ["SearchLimits", "SearchOutcome", "search"]

Key = tuple[int, int, int, int]
VisitClass = tuple[int, int, int, int, int, int]
RANK_LIMIT: Final = 400
"""Candidates of a stage up to which the secondary phase ranks them by their bound."""
RANK_CLASSES: Final = 40
"""Visit classes ranked at most per node; the rest follow in cheapest-first order."""
RANK_NEAR_LEAVES: Final = 2
"""Stages nearest the leaves that the secondary phase does not rank (their bounds cost more
than the order saves)."""
CostTable = list[list[int | None]]
IntArray = npt.NDArray[np.int64]
Sites = list[tuple[int, int, int]]
"""A stage's sites on one day: ``(facility, earliest end, latest start)`` by facility."""
_INF: Final = 1 << 62
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
"""The attributes of :class:`_Search` that :meth:`~_Search.assign` changes."""
_NO_KEY: Final[Key] = (_INF, _INF, _INF, _INF)
OPTIMISTIC_NODES: Final = 2_000
"""Nodes the search may spend on phase 2 at the completion bound before any route is found."""
CHRONOLOGICAL_AFTER: Final = 30
"""Phase-2 nodes after which a better route also tries the dearer day-by-day root bound."""
JOINERS_PLACED: Final = 5
"""Open stages that may join a visited day up to which the bound places each on its day."""
JOINERS_EXACT: Final = 3
"""Open stages up to which each joiner's addition to a visited day is taken from its candidates
there (time and same-day rules included), not from its facilities at phase 2's root."""
VECTOR_SIZE = 600
"""Candidates of a stage, or facility pairs of two stages on a day, from which their grouping
and pair costs are computed with numpy arrays (below, plain loops are faster)."""
DESCENT_AFTER = 20
"""Phase-2 nodes after which the search pauses to improve its best route by whole days."""
DESCENT_NODES = 150
"""Nodes of each re-search of the stages of one or two visit days, the rest fixed."""


@dataclass(frozen=True, slots=True)
class SearchLimits:
    """When the search stops early: wall-clock seconds and explored nodes.

    With ``secondary`` False the search stops once the earliest completion is proven, without
    optimising visit days, travel and preferred facilities (batch planning compares routes by
    completion and deadlines only).
    """

    time_limit: float = 2.0
    node_limit: int = 200_000
    secondary: bool = True


@dataclass(slots=True)
class SearchOutcome:
    """What the search found.

    ``choice`` holds a candidate index per stage, ``key`` its objective, ``proven`` whether the
    search was exhaustive, ``root_bound`` the lower bound at the root (``None`` when the root
    propagation already failed), and ``failure`` the stage and rule that emptied a domain at the
    root.
    """

    choice: list[int] | None = None
    key: Key | None = None
    proven: bool = False
    root_bound: Key | None = None
    nodes: int = 0
    failure: tuple[int, str] | None = None
    limit_hit: str | None = None
    completion_only: bool = False
    """The earliest completion is proven; the secondary objectives were not searched."""


class _Search:
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
        self._groups: list[list[tuple[int, int, int, list[int]]] | None] = [None] * self.k
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
        travel of a day with both on each day from it (``_INF`` on days they cannot share)."""
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
        self.node_budget = _INF
        """Phase 2 tried first (:meth:`optimistic`) stops at this many nodes."""
        self.pause_at = _INF
        """Phase 2 pauses at this many nodes, with a best route, for :meth:`improve_by_days`."""
        self.best: list[int] | None = None
        self.best_key: Key = _NO_KEY
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
        self.reach = int(cr.index.travel_minutes.max()) if self.metric and self.travel else 0
        """The most time a visit may need after an earlier one ends before it starts (the
        dearest trip between facilities; 0 when travel is checked only on whole routes)."""
        self.late_reach: list[int] = []
        """``end + reach`` of each assigned in-person visit that reaches past its day's end, in
        order: only these can constrain a visit on a later day (the travel rule across midnight)."""
        self.incident: list[list[int]] = [[] for _ in range(self.k)]
        for n, link in enumerate(cr.links):
            for stage in {link.x_stage, link.y_stage}:
                if stage != REFERRAL_STAGE:
                    self.incident[stage].append(n)

    # -- propagation ---------------------------------------------------------------------------
    def propagate(
        self, b: list[list[int]], touched: list[int] | None = None, visit_day: int | None = None
    ) -> int:
        """Tighten bounds ``b = [lo_s, hi_s, lo_e, hi_e]`` to a fixpoint; -1 or the failed stage.

        A worklist of links: a link is revisited only when the bounds of one of its stages
        changed. ``touched`` lists the stages whose bounds the caller changed (``None``: all);
        ``visit_day`` is the day of an in-person visit just assigned, which can exclude, through
        the same-day rules, the candidates that bound other in-person stages on that day.
        """
        lo_s, hi_s, lo_e, hi_e = b
        axis = self.axis
        r = self.r
        links = self.links
        incident = self.incident
        pending = [False] * len(links)
        stack: list[int] = []
        starts = set(range(self.k) if touched is None else touched)
        snap = set(starts)
        if visit_day is not None:
            # Only a stage whose first or last candidate lies on the visit's day can lose it.
            day_of = axis.day_of
            stages = self.stages
            for i in range(self.k):
                if stages[i].in_person and visit_day in (day_of(lo_s[i]), day_of(hi_s[i])):
                    snap.add(i)
        for i in sorted(snap):
            if self.assigned[i] < 0:
                before = (lo_s[i], hi_s[i], lo_e[i], hi_e[i])
                if not self.tighten(i, b):
                    return i
                if before != (lo_s[i], hi_s[i], lo_e[i], hi_e[i]):
                    starts.add(i)
        for i in starts:
            for n in incident[i]:
                if not pending[n]:
                    pending[n] = True
                    stack.append(n)
        budget = 50 * (len(links) + self.k) * max(1, self.k)
        while stack:
            budget -= 1
            if budget < 0:
                return -1  # sound: the bounds so far are valid, merely not a fixpoint
            n = stack.pop()
            pending[n] = False
            link = links[n]
            xs, ys = link.x_stage, link.y_stage
            if xs == REFERRAL_STAGE:
                xlo = xhi = r
            else:
                xl, xh = (lo_s, hi_s) if link.x_point == 0 else (lo_e, hi_e)
                xlo, xhi = xl[xs], xh[xs]
            if ys == REFERRAL_STAGE:
                ylo = yhi = r
            else:
                yl, yh = (lo_s, hi_s) if link.y_point == 0 else (lo_e, hi_e)
                ylo, yhi = yl[ys], yh[ys]
            unit = link.unit
            x_changed = y_changed = False
            if link.min is not None:
                v = axis.min_forward(xlo, link.min, unit)
                if v > ylo:
                    if ys == REFERRAL_STAGE or v > yhi:
                        return self._fail(ys, xs, link.origin)
                    yl[ys] = ylo = v
                    self.culprit[ys] = link.origin
                    y_changed = True
                v = axis.min_backward(yhi, link.min, unit)
                if v < xhi:
                    if xs == REFERRAL_STAGE or v < xlo:
                        return self._fail(xs, ys, link.origin)
                    xh[xs] = xhi = v
                    self.culprit[xs] = link.origin
                    x_changed = True
            if link.max is not None:
                v = axis.max_forward(xhi, link.max, unit)
                if v < yhi:
                    if ys == REFERRAL_STAGE or v < ylo:
                        return self._fail(ys, xs, link.origin)
                    yh[ys] = v
                    self.culprit[ys] = link.origin
                    y_changed = True
                v = axis.max_backward(ylo, link.max, unit)
                if v > xlo:
                    if xs == REFERRAL_STAGE or v > xhi:
                        return self._fail(xs, ys, link.origin)
                    xl[xs] = v
                    self.culprit[xs] = link.origin
                    x_changed = True
            for stage, moved in ((xs, x_changed), (ys, y_changed)):
                if not moved or self.assigned[stage] >= 0:
                    continue
                if not self.tighten(stage, b):
                    return stage
                for m in incident[stage]:
                    if not pending[m]:
                        pending[m] = True
                        stack.append(m)
        return -1

    def tighten(self, i: int, b: list[list[int]]) -> bool:
        """Snap stage ``i``'s bounds to its first and last usable candidate; False if none."""
        lo_s, hi_s, lo_e, hi_e = b
        st = self.stages[i]
        starts = st.start
        ends = st.end
        a = bisect_left(starts, lo_s[i])
        z = bisect_right(starts, hi_s[i]) - 1
        le, he = lo_e[i], hi_e[i]
        usable = self.usable
        days = st.day
        skip_days = st.in_person and bool(self.day_visits)
        while a <= z:
            if le <= ends[a] <= he:
                if usable(i, a):
                    break
                if skip_days and self.day_closed(i, days[a]):
                    a = bisect_left(starts, self.axis.first_minute(days[a] + 1))
                    continue
            a += 1
        while z >= a:
            if le <= ends[z] <= he:
                if usable(i, z):
                    break
                if skip_days and self.day_closed(i, days[z]):
                    z = bisect_left(starts, self.axis.first_minute(days[z])) - 1
                    continue
            z -= 1
        if a > z:
            return False
        lo_s[i], hi_s[i] = starts[a], starts[z]
        lo_e[i] = max(le, starts[a] + self.dmin[i])
        hi_e[i] = min(he, starts[z] + self.dmax[i])
        return True

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
        visit of another day within :attr:`reach` of the candidate)."""
        st = self.stages[i]
        if st.slot[c] in self.used_slots:
            return False
        if not st.in_person:
            return True
        day = st.day[c]
        if (
            day not in self.day_visits
            and (not self.late_reach or self.late_reach[-1] <= st.start[c])
            and st.end[c] + self.reach <= self.axis.first_minute(day + 1)
        ):
            return True
        return self.compatible(i, c)

    def _fail(self, stage: int, other: int, origin: str) -> int:
        failed = stage if stage != REFERRAL_STAGE else other
        self.culprit[failed] = origin
        return failed

    # -- bounds ------------------------------------------------------------------------------
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

    def lower_key(self, b: list[list[int]], best_completion: int) -> Key | None:
        """The node's lower bound, or ``None`` when it cannot beat the incumbent."""
        lo_e = b[2]
        completion = max(lo_e) - self.r
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
            least = _INF
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
                if there < _INF:
                    # The stage joins (a day of its own would cost too much), the rest as before.
                    dearer_join = list(join_costs)
                    dearer_join[n] = there // max(1, room_max)
                    no_day = list(legs_of)
                    no_day[n] = _INF
                    apart = [
                        [None if n in (a, m) else x for m, x in enumerate(row)]
                        for a, row in enumerate(costs)
                    ]
                    found = self._new_days(
                        no_day, lone_flags, join_flags, apart, new_days, room, dearer_join
                    )
                    least = min(least, found if found != INFEASIBLE else _INF)
            if least > partition:
                outside.add(i)
        return (completion, days, travel, non_pref + len(outside) - len(forced_outside))

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
        day_of = self.axis.day_of
        legs = []
        for i in open_stages:
            first, last = day_of(b[0][i]), day_of(b[1][i])
            legs.append({d: v for d, v in self.day_legs.get(i, {}).items() if first <= d <= last})
        plan = DayPlan(
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
        found = chronological_travel(plan, days, self.max_visits)
        # Only the stages with no preferred candidate at all surely go elsewhere at this travel.
        outside = 0
        if self.has_preferences:
            for i in open_stages:
                pref = self.pref_starts(i)
                if bisect_left(pref, b[0][i]) >= bisect_right(pref, b[1][i]):
                    outside += 1
        if found == INFEASIBLE:
            return (completion, days + 1, 0, outside)
        if found <= travel:
            return key
        return (completion, days, found, outside)

    def _pair_cost_by_day(self, i: int, j: int) -> dict[int, int]:
        """Per day, the root's least travel of a day holding stages ``i`` and ``j`` (no entry on
        days they cannot share)."""
        entry = self.pair_days.get((i, j))
        if entry is None:
            return {}
        first, by_day = entry
        return {first + n: cost for n, cost in enumerate(by_day) if cost < _INF}

    def _pair_costs_now(
        self, stages: list[int], pair_cost: CostTable, b: list[list[int]]
    ) -> list[list[int | None]]:
        """``pair_cost`` between ``stages``, over the days both may still use in ``b`` only.

        The root's least travel of a day holding both, on the days in both stages' ranges
        (``None`` when there is no such day): the deeper the node, the fewer the days.
        """
        day_of = self.axis.day_of
        spans = [(day_of(b[0][i]), day_of(b[1][i])) for i in stages]
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
            least = min(by_day[lo:hi], default=_INF)
            if least < _INF:
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
        day_of = self.axis.day_of
        days = [
            (d, left, tuple(f for _, _, f in self.day_visits[d]))
            for d, left in self._days_with_room()
        ]
        exact = len(open_stages) <= JOINERS_EXACT
        added: list[list[int | None]] = []
        for i, _, _, joins in open_stages:
            first, last = day_of(b[0][i]), day_of(b[1][i])
            row: list[int | None] = []
            for d, _, stops in days:
                if not joins or not first <= d <= last or self.day_closed(i, d):
                    cost = _INF
                elif exact:
                    cost = self._least_addition(i, d, b, i == preferred_stage)
                else:
                    cost = self._insertion(i, d, stops, i == preferred_stage)
                row.append(cost if cost < _INF else None)
            added.append(row)
        return added, [room for _, room, _ in days]

    def _least_addition(
        self, i: int, day: int, b: list[list[int]], preferred_only: bool = False
    ) -> int:
        """Least travel that a candidate of stage ``i`` in ``b`` (at a preferred facility) adds
        to visited ``day``, over those that meet the same-day rules there (``_INF`` when none
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
        least = _INF
        seen: set[tuple[int, int]] = set()
        metric, travel = self.metric, self.travel
        starts, ends, facilities, preferred = st.start, st.end, st.facility, st.preferred
        tour = self.tour
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
                least = min(least, tour([*visits[:at], (s, e, f), *visits[at:]]) - base)
        self._additions[key] = least
        return least

    def _join_cost(self, i: int, lo: int, hi: int, preferred_only: bool = True) -> int:
        """Least travel that stage ``i`` adds to a visited day (at a preferred facility).

        Over the visited days within ``[lo, hi]`` that still have room for it, the (preferred)
        facilities where it had a candidate that day at the root of the secondary phase, and
        every place in the day's tour (metric travel, home known); ``_INF`` when there is no
        such day.
        """
        day_of = self.axis.day_of
        first, last = day_of(lo), day_of(hi)
        least = _INF
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
        least = _INF
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

    def tables(self) -> tuple[CostTable, CostTable] | None:
        """:meth:`share_costs` at the root of phase 2, computed on first use."""
        if not self._tables_done and self.phase2_root is not None:
            self._tables = self.share_costs(self.phase2_root)
            self._tables_done = True
        return self._tables

    def share_costs(self, b: list[list[int]]) -> tuple[CostTable, CostTable] | None:
        """Least travel of a day holding two in-person stages, over their candidates in ``b``.

        A day holds ``i`` and ``j`` when, on a day both have candidates, one can end and the
        patient travel to the other before it starts (in the order the rules impose, if any); it
        then costs at least home -> first -> second -> home. ``table[i][j]`` is ``None`` for a
        pair that can never share a day. The second table is the same with stage ``i`` at a
        preferred facility. ``None`` unless the travel bounds apply (metric travel, home known)
        and the patient comes more than once a day. Computed once for the secondary phase:
        domains only shrink below it.
        """
        home = self.home
        if not (self.metric and home is not None) or self.max_visits < 2:
            return None
        before = self.cr.precedes
        self.pair_days = {}
        sites = {i: self._day_sites(i, b) for i, st in enumerate(self.stages) if st.in_person}
        self.sites = sites
        self.day_legs = {
            i: {d: 2 * min(home[f] for f, _, _ in here) for d, here in by_day.items()}
            for i, by_day in sites.items()
        }
        apart = {
            (link.x_stage, link.y_stage)
            for link in self.links
            if link.unit in (LagUnit.CALENDAR_DAYS, LagUnit.WORKING_DAYS)
            and link.min is not None
            and link.min >= 1
            and link.y_point == 0
            and link.x_stage != REFERRAL_STAGE
        }
        sharing = sorted(i for i in sites if self.stages[i].shares_day and sites[i])
        index = self.cr.index
        preferred = [False] * len(index.facilities)
        for f_id in self.cr.request.patient.preferred_facilities:
            position = index.facility_position.get(f_id)
            if position is not None:
                preferred[position] = True
        self.preferred_facility = preferred
        self.home_array = np.asarray(home, dtype=np.int64)
        self.preferred_array = np.asarray(preferred, dtype=np.bool_)
        table: CostTable = [[None] * self.k for _ in range(self.k)]
        at_preferred: CostTable = [[None] * self.k for _ in range(self.k)]
        if len(sharing) < 2:
            return table, at_preferred
        first_day = min(d for i in sharing for d in sites[i])
        span = max(d for i in sharing for d in sites[i]) - first_day + 1
        with_preferences = self.has_preferences and any(preferred)
        for i, j in combinations(sharing, 2):
            if (i, j) in apart or (j, i) in apart:
                continue
            i_first, j_first = not before[j][i], not before[i][j]
            by_day = [_INF] * span
            least = least_i_there = least_j_there = _INF
            for d, here_i in sites[i].items():
                here_j = sites[j].get(d)
                if here_j is None:
                    continue
                day_least, i_there, j_there = self._pair_day(
                    here_i, here_j, i_first, j_first, with_preferences
                )
                least_i_there = min(least_i_there, i_there)
                least_j_there = min(least_j_there, j_there)
                by_day[d - first_day] = day_least
                least = min(least, day_least)
            self.pair_days[(i, j)] = self.pair_days[(j, i)] = (first_day, by_day)
            if least >= _INF:
                continue
            table[i][j] = table[j][i] = least
            if least_i_there < _INF:
                at_preferred[i][j] = least_i_there
            if least_j_there < _INF:
                at_preferred[j][i] = least_j_there
        return table, at_preferred

    def _pair_day(
        self, here_i: Sites, here_j: Sites, i_first: bool, j_first: bool, preferences: bool
    ) -> tuple[int, int, int]:
        """Least travel of a day holding two stages at their sites ``here_i`` and ``here_j``
        (home -> first -> second -> home, with time to travel between them; ``i_first``,
        ``j_first``: the orders the rules allow), and the same with the first or the second
        stage at a preferred facility (``preferences``); ``_INF`` where there is none."""
        if len(here_i) * len(here_j) >= VECTOR_SIZE:
            return self._pair_day_vector(here_i, here_j, i_first, j_first, preferences)
        home = self.home
        assert home is not None
        travel, preferred = self.travel, self.preferred_facility
        least = i_there = j_there = _INF
        for fa, end_a, start_a in here_i:
            home_a, out_a = home[fa], travel[fa]
            for fb, end_b, start_b in here_j:
                cost = _INF
                if i_first and end_a + out_a[fb] <= start_b:
                    cost = home_a + out_a[fb] + home[fb]
                if j_first and end_b + travel[fb][fa] <= start_a:
                    cost = min(cost, home[fb] + travel[fb][fa] + home_a)
                if cost >= _INF:
                    continue
                least = min(least, cost)
                if preferences:
                    if preferred[fa]:
                        i_there = min(i_there, cost)
                    if preferred[fb]:
                        j_there = min(j_there, cost)
        return least, i_there, j_there

    def _pair_day_vector(
        self, here_i: Sites, here_j: Sites, i_first: bool, j_first: bool, preferences: bool
    ) -> tuple[int, int, int]:
        """:meth:`_pair_day` with numpy arrays over the pairs of sites."""
        home = self.home_array
        legs = self.cr.index.travel_minutes
        fa, end_a, start_a = (np.asarray(x, dtype=np.int64) for x in zip(*here_i, strict=True))
        fb, end_b, start_b = (np.asarray(x, dtype=np.int64) for x in zip(*here_j, strict=True))
        out = legs[np.ix_(fa, fb)]  # [a, b]: from i's facility a to j's facility b
        back = legs[np.ix_(fb, fa)].T  # [a, b]: from j's facility b to i's facility a
        never = _INF
        cost = np.full(out.shape, never, dtype=np.int64)
        if i_first:
            trip = home[fa][:, None] + out + home[fb][None, :]
            cost = np.where(end_a[:, None] + out <= start_b[None, :], trip, cost)
        if j_first:
            trip_back = home[fb][None, :] + back + home[fa][:, None]
            fits = end_b[None, :] + back <= start_a[:, None]
            cost = np.minimum(cost, np.where(fits, trip_back, never))
        least = int(cost.min())
        i_there = j_there = never
        if preferences:
            at_a, at_b = self.preferred_array[fa], self.preferred_array[fb]
            if at_a.any():
                i_there = int(cost[at_a, :].min())
            if at_b.any():
                j_there = int(cost[:, at_b].min())
        return least, i_there, j_there

    def _day_sites(self, i: int, b: list[list[int]]) -> dict[int, Sites]:
        """Per day, stage ``i``'s facilities with candidates in ``b``, their earliest end and
        latest start (:data:`Sites`)."""
        st = self.stages[i]
        starts, ends, days, facilities = st.start, st.end, st.day, st.facility
        lo_e, hi_e = b[2][i], b[3][i]
        a, z = bisect_left(starts, b[0][i]), bisect_right(starts, b[1][i])
        if z - a >= VECTOR_SIZE:
            return self._day_sites_vector(i, a, z, lo_e, hi_e)
        by_day: dict[int, dict[int, list[int]]] = {}
        for c in range(a, z):
            e = ends[c]
            if e < lo_e or e > hi_e:
                continue
            d, f, s = days[c], facilities[c], starts[c]
            day = by_day.get(d)
            if day is None:
                day = by_day[d] = {}
            site = day.get(f)
            if site is None:
                day[f] = [e, s]
            else:
                site[0] = min(site[0], e)
                site[1] = max(site[1], s)
        return {
            d: [(f, site[0], site[1]) for f, site in sorted(day.items())]
            for d, day in by_day.items()
        }

    def _day_sites_vector(self, i: int, a: int, z: int, lo_e: int, hi_e: int) -> dict[int, Sites]:
        """:meth:`_day_sites` of candidates ``a .. z - 1`` of stage ``i``, with numpy."""
        all_starts, all_ends, all_days, all_facilities = self.arrays(i)
        ends = all_ends[a:z]
        keep = (ends >= lo_e) & (ends <= hi_e)
        days, facilities = all_days[a:z][keep], all_facilities[a:z][keep]
        starts, ends = all_starts[a:z][keep], ends[keep]
        if not len(days):
            return {}
        # Candidates come by start, so by day: sort by facility within each day.
        order = np.argsort(days * (1 + int(facilities.max())) + facilities, kind="stable")
        days, facilities = days[order], facilities[order]
        starts, ends = starts[order], ends[order]
        change = np.ones(len(days), dtype=np.bool_)
        change[1:] = (days[1:] != days[:-1]) | (facilities[1:] != facilities[:-1])
        first = np.flatnonzero(change)
        group_day = days[first].tolist()
        sites = list(
            zip(
                facilities[first].tolist(),
                np.minimum.reduceat(ends, first).tolist(),
                np.maximum.reduceat(starts, first).tolist(),
                strict=True,
            )
        )
        result: dict[int, Sites] = {}
        for d, site in zip(group_day, sites, strict=True):
            result.setdefault(d, []).append(site)
        return result

    def pref_starts(self, i: int) -> list[int]:
        """Starts of stage ``i``'s candidates at preferred facilities (built on first use)."""
        starts = self._pref_starts[i]
        if starts is None:
            st = self.stages[i]
            starts = [s for s, p in zip(st.start, st.preferred, strict=True) if p]
            self._pref_starts[i] = starts
        return starts

    def arrays(self, i: int) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Stage ``i``'s candidate starts, ends, days and facilities as arrays (built on first
        use)."""
        found = self._arrays[i]
        if found is None:
            st = self.stages[i]
            found = self._arrays[i] = st.arrays or (
                np.asarray(st.start, dtype=np.int64),
                np.asarray(st.end, dtype=np.int64),
                np.asarray(st.day, dtype=np.int64),
                np.asarray(st.facility, dtype=np.int64),
            )
        return found

    def groups(self, i: int) -> list[tuple[int, int, int, list[int]]]:
        """Stage ``i``'s candidates by facility, cheapest first (built on first use).

        Rows are (travel of a day alone there, 1 if outside the preferred facilities, facility,
        candidate indices in start order); the travel is 0 unless it is a metric and home is
        known.
        """
        rows = self._groups[i]
        if rows is None:
            st = self.stages[i]
            rows = []
            for f, indices in self._by_facility(i):
                alone = 2 * self.home[f] if self.home is not None and self.metric else 0
                outside = 1 if self.has_preferences and not st.preferred[indices[0]] else 0
                rows.append((alone, outside, f, indices))
            rows.sort(key=lambda row: row[:3])
            self._groups[i] = rows
        return rows

    def _by_facility(self, i: int) -> list[tuple[int, list[int]]]:
        """Stage ``i``'s candidate indices by facility (ascending within each)."""
        st = self.stages[i]
        if len(st.facility) >= VECTOR_SIZE:
            facilities = self.arrays(i)[3]
            by_order = np.argsort(facilities, kind="stable")
            cuts = (np.flatnonzero(np.diff(facilities[by_order])) + 1).tolist()
            order = by_order.tolist()
            return [
                (st.facility[order[lo]], order[lo:hi])
                for lo, hi in pairwise([0, *cuts, len(order)])
            ]
        by_facility: dict[int, list[int]] = {}
        for c, f in enumerate(st.facility):
            members = by_facility.get(f)
            if members is None:
                by_facility[f] = [c]
            else:
                members.append(c)
        return list(by_facility.items())

    def _day_legs(self, i: int, lo: int, hi: int, preferred_only: bool = False) -> int:
        """The two home legs of stage ``i``'s nearest facility with a candidate in ``[lo, hi]``.

        A day's tour (metric travel, home known) costs at least the two home legs of each of its
        visits. With ``preferred_only``, among the preferred facilities only: -1 when none of them
        has a candidate in ``[lo, hi]``; 0 when no facility has one. Memoised: the same ranges
        come back from one node to the next.
        """
        key = (i, lo, hi, preferred_only)
        found = self._legs.get(key)
        if found is None:
            found = -1 if preferred_only else 0
            # Candidates are in start order: those starting in [lo, hi] are the indices a .. z - 1.
            starts = self.stages[i].start
            a, z = bisect_left(starts, lo), bisect_right(starts, hi)
            for legs, outside, _, indices in self.groups(i):
                if preferred_only and outside:
                    continue
                n = bisect_left(indices, a)
                if n < len(indices) and indices[n] < z:
                    found = legs
                    break
            self._legs[key] = found
        return found

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
        metric, reach, travel = self.metric, self.reach, self.travel
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

    # -- search ------------------------------------------------------------------------------
    def run(self) -> SearchOutcome:
        k = self.k
        outcome = SearchOutcome()
        if any(not st.start for st in self.stages):
            empty = next(i for i, st in enumerate(self.stages) if not st.start)
            outcome.failure = (empty, "")
            outcome.proven = True
            return outcome
        inf = _INF
        b = [[self.r] * k, [inf] * k, [self.r] * k, [inf] * k]
        failed = self.propagate(b)
        if failed >= 0:
            outcome.failure = (failed, self.culprit[failed])
            outcome.proven = True
            return outcome
        root = self.lower_key(b, inf)
        assert root is not None
        outcome.root_bound = (root[0], 0, 0, 0)
        root_bounds = [list(x) for x in b]
        # Phase 1: the earliest completion alone (ties pruned), which proves it. Often the
        # earliest candidates within the root bounds already form a route: then no search.
        self.completion_only = True
        finished = False
        if not self.earliest_route(b):
            # Usually some route completes at the bound: then one search of phase 2 under that
            # cap proves the completion and the other objectives at once.
            if self.limits.secondary:
                finished = self.optimistic(root_bounds, root[0], outcome)
            # A route completing at the bound proves the earliest completion; else phase 1.
            at_bound = self.best is not None and self.best_key[0] == root[0]
            if not at_bound and self.stopped == "":
                self.dfs(0, b)
        if finished:
            pass
        elif self.best is not None and self.stopped == "" and not self.limits.secondary:
            outcome.completion_only = True
            outcome.root_bound = (self.best_key[0], 0, 0, 0)
        elif self.best is not None and self.stopped == "":
            # Phase 2: the other objectives among the routes that complete that early.
            self.completion_only = False
            self.completion_proven = True
            completion = self.best_key[0]
            b = [list(x) for x in root_bounds]
            b[3] = [min(x, self.r + completion) for x in b[3]]
            if self.propagate(b) < 0:
                secondary = self.enter_phase2(b, completion)
                if secondary is not None and secondary < self.best_key:
                    outcome.root_bound = secondary
                    self.secondary_search(b, secondary)
                    outcome.root_bound = self.phase2_bound
                    if self.stopped == "proven":
                        self.stopped = ""
                else:
                    outcome.root_bound = self.best_key
        outcome.choice = self.best
        outcome.key = self.best_key if self.best is not None else None
        outcome.proven = self.stopped == "" and not outcome.completion_only
        outcome.limit_hit = self.stopped or None
        outcome.nodes = self.nodes
        return outcome

    def optimistic(self, root: list[list[int]], completion: int, outcome: SearchOutcome) -> bool:
        """Phase 2 straight away, capped at the completion bound; True if it ran to its end.

        A route found under the cap completes at the bound, so it is the earliest. With none
        (no route completes that early), or past :data:`OPTIMISTIC_NODES` nodes without one,
        the state is reset for phase 1. A route found but not proven best leaves phase 2 to
        run again from its root with it as the incumbent.
        """
        b = [list(x) for x in root]
        b[3] = [min(x, self.r + completion) for x in b[3]]
        if self.propagate(b) >= 0:
            return False
        # A route of the greedy first try completes later: put aside while looking under the cap.
        fallback = (self.best, self.best_key)
        self.completion_only = False
        self.completion_proven = True
        self.forget_best((completion, _INF, _INF, _INF))
        secondary = self.enter_phase2(b, completion)
        self.node_budget = self.nodes + OPTIMISTIC_NODES
        if secondary is not None:
            self.secondary_search(b, secondary)
        self.node_budget = _INF
        if self.stopped == "proven":
            self.stopped = ""
        budget_hit = self.stopped == "optimistic budget"
        if budget_hit:
            self.stopped = ""
        if self.best is None:
            self.completion_only = True
            self.completion_proven = False
            self.best, self.best_key = fallback
            self.enter_phase2(None, completion)
            return False
        if self.phase2_bound is not None:
            outcome.root_bound = min(self.phase2_bound, self.best_key)
        return not budget_hit

    def forget_best(self, key: Key) -> None:
        """Drop the best route; only routes better than ``key`` count from now on.

        (A method, not an assignment in the caller: a type checker would otherwise take the
        best route for ``None`` after the searches the caller runs next, and so would a build
        compiled from the annotations.)
        """
        self.best, self.best_key = None, key

    def enter_phase2(self, root: list[list[int]] | None, completion: int) -> Key | None:
        """Make ``root`` phase 2's root (``None``: leave phase 2) and return its bound.

        Everything derived from an earlier root (its tables, the additions computed from
        them) goes with it: a root with a later completion cap has more candidates.
        """
        self.phase2_root = None if root is None else [list(x) for x in root]
        self._tables, self._tables_done = None, False
        self._insertions.clear()
        self._pair_costs.clear()
        self.phase2_bound = self._chronological_pending = None
        if root is None:
            return None
        bound = self.lower_key(root, completion)
        if bound is not None:
            self.phase2_bound = bound
            self._chronological_pending = self.nodes
        return bound

    def secondary_search(self, b: list[list[int]], bound: Key) -> None:
        """Phase 2 from its root ``b`` (lower bound ``bound``).

        A depth-first search settles its first choices last: when the best route differs from
        the first one found near the root, it comes only after whole subtrees. So past
        :data:`DESCENT_AFTER` nodes, the search stops, improves its best route by re-searching
        whole visit days (:meth:`improve_by_days`), and starts again with that route to prune.
        """
        self.pause_at = self.nodes + DESCENT_AFTER
        self.dfs(0, b, bound)
        self.pause_at = _INF
        if self.stopped != "pause":
            return
        self.stopped = ""
        self.improve_by_days()
        if self.stopped == "" and self.phase2_bound is not None:
            self.raise_day_by_day()  # if the better routes came too early for it
            if self.best_key <= self.phase2_bound:
                return  # the best route meets the root's bound: nothing can beat it
        if self.stopped == "":
            self.dfs(0, b, bound)

    def improve_by_days(self) -> None:
        """Improve the best route by re-searching the stages of one or two of its visit days.

        With the other in-person stages fixed at their slots, the stages visited on those days
        and the remote ones are searched again, exactly, within :data:`DESCENT_NODES` nodes; the
        first better route is kept and the descent goes on from it, until no pair of days
        improves. A route that meets the root's bound ends the search.
        """
        assert self.phase2_root is not None
        assert self.best is not None
        improved = True
        while improved and self.stopped == "":
            improved = False
            best = list(self.best)
            days = sorted(
                {st.day[c] for st, c in zip(self.stages, best, strict=True) if st.in_person}
            )
            for chosen in [*([d] for d in days), *combinations(days, 2)]:
                free = [
                    i
                    for i, (st, c) in enumerate(zip(self.stages, best, strict=True))
                    if not st.in_person or st.day[c] in chosen
                ]
                before = self.best_key
                self._search_with_fixed(best, free)
                if self.stopped == "pause":
                    self.stopped = ""
                if self.stopped != "":
                    return
                if self.best_key < before:
                    improved = True
                    break

    def _search_with_fixed(self, route: list[int], free: list[int]) -> None:
        """Search the stages ``free`` with every other stage at its candidate in ``route``."""
        assert self.phase2_root is not None
        b = [list(x) for x in self.phase2_root]
        fixed = [i for i in range(self.k) if i not in free]
        st = self.stages
        for i in fixed:
            c = route[i]
            self.assign(i, c)
            b[0][i] = b[1][i] = st[i].start[c]
            b[2][i] = b[3][i] = st[i].end[c]
        if self.propagate(b) < 0:
            bound = self.lower_key(b, self.best_key[0])
            if bound is not None and bound < self.best_key:
                self.pause_at = self.nodes + DESCENT_NODES
                self.dfs(len(fixed), b, bound)
                self.pause_at = _INF
        for i in reversed(fixed):
            self.unassign(i, route[i])

    def earliest_route(self, b: list[list[int]], scan: int = 32) -> bool:
        """Book the stages greedily, earliest first; True if that proves the completion.

        Stages in the order of their earliest start each take the first of their next ``scan``
        candidates within ``b`` that meets the same-day rules and the links to the stages
        already booked. A route that meets every rule becomes the best route; it is the
        earliest possible when it completes at the bound on the completion.
        """
        lo_s, hi_s, lo_e, hi_e = b
        booked: list[tuple[int, int]] = []
        for i in sorted(range(self.k), key=lambda i: (lo_s[i], i)):
            st = self.stages[i]
            first = bisect_left(st.start, lo_s[i])
            last = min(bisect_right(st.start, hi_s[i]), first + scan)
            pick = next(
                (
                    c
                    for c in range(first, last)
                    if lo_e[i] <= st.end[c] <= hi_e[i]
                    and self.compatible(i, c)
                    and self._links_hold_for(i, c)
                ),
                -1,
            )
            if pick < 0:
                break
            self.assign(i, pick)
            booked.append((i, pick))
        key = self.full_key() if len(booked) == self.k else None
        if key is not None:
            self.best_key, self.best = key, list(self.assigned)
        for i, c in reversed(booked):
            self.unassign(i, c)
        return key is not None and key[0] == max(lo_e) - self.r

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

    def visit_class(self, i: int, c: int, completion: int) -> VisitClass:
        """``(completion, day, facility, place among the day's visits, start, end)`` of
        candidate ``c``; start and end only where the bound depends on them, else -1.

        Candidates of one class change the visit days, travel, preferences and same-day room in
        the same way (remote ones: none at all), so the unpropagated bound of their children is
        the same. With at most :data:`JOINERS_EXACT` in-person stages left open after it, the
        bound also sees which of their candidates fit around the day's visits: then the times
        belong to the class.
        """
        st = self.stages[i]
        if not st.in_person:
            return (completion, -1, -1, -1, -1, -1)
        day = st.day[c]
        visits = self.day_visits.get(day)
        start, end, facility = st.start[c], st.end[c], st.facility[c]
        place = bisect_left(visits, (start, end, facility)) if visits else 0
        if self.open_in_person - 1 <= JOINERS_EXACT:
            return (completion, day, facility, place, start, end)
        return (completion, day, facility, place, -1, -1)

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
        reach = st.end[c] + self.reach
        if reach > self.axis.first_minute(day + 1):
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
        reach = st.end[c] + self.reach
        if reach > self.axis.first_minute(day + 1):
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

    def cheapest_first(self, i: int, lo: int, hi: int) -> Iterator[int]:
        """Candidates of in-person stage ``i`` starting in ``[lo, hi]``, for the secondary
        objectives once the completion is proven: first those on days already visited, then
        those opening a new day, by facility from the least travel and preference cost, until
        that cost alone reaches the best route's (the later ones cost at least as much).
        """
        st = self.stages[i]
        starts = st.start
        axis = self.axis
        used = sorted(self.day_visits)
        for day in used:
            first = bisect_left(starts, max(lo, axis.first_minute(day)))
            last = bisect_right(starts, min(hi, axis.last_minute(day)))
            yield from range(first, last)
        days = len(used) + 1
        used_set = self.day_visits
        # Travel so far bounds the final travel only when travel times are a metric.
        travel = self.travel_total if self.metric else 0
        # Candidates are in start order: those starting in [lo, hi] are the indices a .. z - 1.
        a, z = bisect_left(starts, lo), bisect_right(starts, hi)
        for alone, outside, _, indices in self.groups(i):
            if (days, travel + alone, self.non_preferred + outside) >= self.best_key[1:]:
                return
            first = bisect_left(indices, a)
            last = bisect_left(indices, z)
            for n in range(first, last):
                c = indices[n]
                if st.day[c] not in used_set:
                    yield c

    def ranked(
        self,
        i: int,
        b: list[list[int]],
        cap: int,
        node_bound: Key | None,
        hopeless: set[VisitClass],
        promising: set[VisitClass],
    ) -> Iterator[int]:
        """Candidates of in-person stage ``i`` (from :meth:`cheapest_first`), best bound first.

        The unpropagated bound of a child depends only on the candidate's visit class
        (:meth:`visit_class`): it is computed once per class, the classes that cannot beat the
        best route go to ``hopeless`` and the others to ``promising``. The candidates of the
        promising classes come back ordered by that bound, then by start. A class whose bound
        already equals ``node_bound`` (no child can do better) comes back at once, before the
        other classes' bounds are computed: a route it leads to may close the node.
        """
        st = self.stages[i]
        lo_s, hi_s, lo_e, hi_e = b
        node_completion = max(lo_e)
        classes: dict[VisitClass, list[int]] = {}
        rest: list[int] = []
        for c in self.cheapest_first(i, lo_s[i], hi_s[i]):
            s, e = st.start[c], st.end[c]
            if s > cap or not lo_e[i] <= e <= hi_e[i]:
                continue
            visit_class = self.visit_class(i, c, max(node_completion, e) - self.r)
            if visit_class in hopeless:
                continue
            members = classes.get(visit_class)
            if members is not None:
                members.append(c)
            elif len(classes) >= RANK_CLASSES:
                rest.append(c)  # past the ranked classes: in cheapest-first order, lazily
            else:
                classes[visit_class] = [c]
        # What is booked so far with each visit: a bound too, much cheaper, and the order in
        # which the classes' bounds are computed.
        partials: list[tuple[Key, int, VisitClass]] = []
        for n, (visit_class, members) in enumerate(classes.items()):
            days, travel, non_pref = self.with_visit(i, members[0])
            partial = (visit_class[0], days, travel if self.metric else 0, non_pref)
            if partial >= self.best_key:
                hopeless.add(visit_class)
            else:
                partials.append((partial, n, visit_class))
        partials.sort()
        child = [list(lo_s), list(hi_s), list(lo_e), [min(x, cap) for x in hi_e]]
        kept: list[tuple[Key, VisitClass]] = []
        for partial, _, visit_class in partials:
            if visit_class in hopeless or partial >= self.best_key:
                continue
            members = classes[visit_class]
            c = members[0]
            s, e = st.start[c], st.end[c]
            child[0][i] = child[1][i] = s
            child[2][i] = child[3][i] = e
            self.assign(i, c)
            found = self.lower_key(child, self.best_key[0])
            self.unassign(i, c)
            if found is None or found >= self.best_key:
                hopeless.add(visit_class)
                continue
            promising.add(visit_class)
            if node_bound is not None and found <= node_bound:
                yield from sorted(members, key=st.start.__getitem__)
            else:
                kept.append((found, visit_class))
        kept.sort()
        for _, visit_class in kept:
            yield from sorted(classes[visit_class], key=st.start.__getitem__)
        yield from rest

    def choose_stage(self, b: list[list[int]]) -> int:
        """The open stage with the fewest candidates left (fail first), then the earliest."""
        best = -1
        best_key: tuple[int, int, int] = (_INF, _INF, _INF)
        lo_s, hi_s = b[0], b[1]
        for i, c in enumerate(self.assigned):
            if c >= 0:
                continue
            starts = self.stages[i].start
            size = bisect_right(starts, hi_s[i]) - bisect_left(starts, lo_s[i])
            key = (size, lo_s[i], i)
            if key < best_key:
                best, best_key = i, key
        return best

    def count_node(self, may_pause: bool = True) -> bool:
        """Count one more node; False (with the reason in ``stopped``) when a limit says stop."""
        self.nodes += 1
        if self.nodes >= self.limits.node_limit:
            self.stopped = "node limit"
        elif self.nodes >= self.node_budget:
            self.stopped = "optimistic budget"
        elif may_pause and self.nodes >= self.pause_at and self.best is not None:
            self.stopped = "pause"
        elif self.nodes & 15 == 0 and time.perf_counter() > self.deadline:
            self.stopped = "time limit"
        return self.stopped == ""

    def leaf(self) -> bool:
        """Evaluate the complete assignment as a node of its own; True if it is the new best
        route (the caller then runs :meth:`settle_best` once its node's leaves are done)."""
        if not self.count_node(may_pause=False):
            return False
        key = self.full_key()
        if key is None or key >= self.best_key:
            return False
        self.best_key = key
        self.best = list(self.assigned)
        if self.phase2_bound is not None and key <= self.phase2_bound:
            self.stopped = "proven"  # meets the root's bound: nothing can beat it
        return True

    def settle_best(self) -> None:
        """After a better route: sharpen phase 2's root bound against it (once for all the leaves
        of a node), and stop if the route meets it."""
        if self.phase2_bound is not None:
            self.sharpen_root_bound()
            if self.best_key <= self.phase2_bound:
                self.stopped = "proven"

    def expand(
        self,
        depth: int,
        b: list[list[int]],
        i: int,
        c: int,
        cap: int,
        visit_class: VisitClass | None,
        hopeless: set[VisitClass],
        promising: set[VisitClass],
    ) -> None:
        """Search the child of node ``b`` at ``depth`` in which candidate ``c`` of stage ``i`` is
        booked (the caller books it), completing no later than ``cap``: pruned by its bound
        before propagation where that suffices, else propagated, bounded and searched.

        ``hopeless`` and ``promising`` are the node's visit classes (:meth:`dfs`); the child's
        ``visit_class`` joins one of them when its bound before propagation is taken.
        """
        lo_s, hi_s, lo_e, hi_e = b
        st = self.stages[i]
        s, e = st.start[c], st.end[c]
        # Only routes that complete no later than the best one can still beat it.
        capped = [min(x, cap) for x in hi_e]
        touched = [i] + [j for j in range(self.k) if capped[j] != hi_e[j] and j != i]
        child = [list(lo_s), list(hi_s), list(lo_e), capped]
        child[0][i] = child[1][i] = s
        child[2][i] = child[3][i] = e
        if self.completion_proven and visit_class not in promising:
            # The bound over the parent's domains is valid for the child too (they only
            # shrink): often enough to skip the propagation.
            early = self.lower_key(child, self.best_key[0])
            if early is None or early >= self.best_key:
                if visit_class is not None:
                    hopeless.add(visit_class)
                return
            if visit_class is not None:
                promising.add(visit_class)
        visit_day = st.day[c] if st.in_person else None
        if self.propagate(child, touched, visit_day) < 0:
            bound = self.lower_key(child, self.best_key[0])
            if bound is not None and bound < self.best_key:
                self.dfs(depth + 1, child, bound)

    def dfs(self, depth: int, b: list[list[int]], bound: Key | None = None) -> None:
        """Explore the node ``b`` (its lower bound ``bound``, where known) at ``depth``."""
        if not self.count_node():
            return
        if depth == self.k:  # a route given whole (every stage fixed)
            if self.leaf():
                self.settle_best()
            return
        lo_s, hi_s, lo_e, hi_e = b
        i = self.choose_stage(b)
        st = self.stages[i]
        starts, ends = st.start, st.end
        previous: tuple[int, int, int] | None = None
        best_key = self.best_key
        have_best = best_key != _NO_KEY
        strict = 1 if self.completion_only else 0
        cap = self.r + best_key[0] - strict if have_best else _INF
        node_completion = max(lo_e)
        in_start_order = not (have_best and st.in_person and self.completion_proven)
        # Ranking pays where the order matters (far from the leaves) and is cheap (a few hundred
        # candidates at most).
        rank = (
            depth < self.k - RANK_NEAR_LEAVES
            and bisect_right(starts, hi_s[i]) - bisect_left(starts, lo_s[i]) <= RANK_LIMIT
            # Where the times belong to the class, every candidate is a class of its own.
            and self.open_in_person - 1 > JOINERS_EXACT
        )
        last = depth == self.k - 1
        improved = False
        """A leaf of this node is the new best route (:meth:`settle_best` is due)."""
        hopeless: set[VisitClass] = set()
        """Visit classes whose children cannot beat the best route (the best only improves)."""
        promising: set[VisitClass] = set()
        """Visit classes whose unpropagated bound beats the best route (until it improves)."""
        order: Iterable[int] = (
            range(bisect_left(starts, lo_s[i]), bisect_right(starts, hi_s[i]))
            if in_start_order
            else self.ranked(i, b, cap, bound, hopeless, promising)
            if rank
            else self.cheapest_first(i, lo_s[i], hi_s[i])
        )
        for c_now in order:
            s, e = starts[c_now], ends[c_now]
            if s > cap:
                if in_start_order:
                    break
                continue
            if not lo_e[i] <= e <= hi_e[i]:
                continue
            # In-person candidates at the same times and facility are interchangeable: no other
            # in-person stage can take the sibling slot at that time, so one of them suffices.
            signature = (s, e, st.facility[c_now]) if st.in_person else None
            if signature is not None and signature == previous:
                continue
            visit_class: VisitClass | None = None
            if have_best:
                # The bound of the child before any propagation: cheap, and often enough.
                completion = max(node_completion, e) - self.r
                if completion > best_key[0] or (self.completion_only and completion == best_key[0]):
                    continue
                if self.completion_proven:
                    # Until the propagation, a child's bound depends on the candidate only
                    # through its completion, day, facility and place among that day's visits.
                    visit_class = self.visit_class(i, c_now, completion)
                    if visit_class in hopeless:
                        continue
                if completion == best_key[0]:
                    if self.metric:
                        partial = (completion, *self.with_visit(i, c_now))
                    else:
                        days, _, non_pref = self.with_visit(i, c_now)
                        partial = (completion, days, 0, non_pref)
                    if partial >= best_key:
                        if visit_class is not None:
                            hopeless.add(visit_class)
                        continue
            if not self.compatible(i, c_now):
                continue
            previous = signature
            self.assign(i, c_now)
            if last:
                # Every other stage is booked: the child is a complete route.
                improved = self.leaf() or improved
            else:
                self.expand(depth, b, i, c_now, cap, visit_class, hopeless, promising)
            self.unassign(i, c_now)
            if self.stopped != "":
                break
            if self.best_key < best_key:
                have_best = True
                best_key = self.best_key
                cap = self.r + best_key[0] - strict
                promising.clear()
                if self.completion_proven and not last:
                    # A better route: the rest of this node may no longer be worth exploring.
                    bound = self.lower_key(b, best_key[0])
                    if bound is None or bound >= best_key:
                        break
        if improved:
            self.settle_best()


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


def search(cr: CompiledRequest, limits: SearchLimits | None = None) -> SearchOutcome:
    """Find the lexicographically best route of a compiled request (see the module docstring)."""
    return _Search(cr, limits or SearchLimits()).run()
