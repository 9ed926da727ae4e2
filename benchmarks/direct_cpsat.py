"""The baseline a user of OR-Tools would write: one CP-SAT model per request, same candidates.

The candidates and lag links come from :func:`routing.solve.compiled.compile_request`, so the
model and ``plan_route`` solve exactly the same problem. The model:

Variables
    ``b[i][c]``: candidate ``c`` is booked for stage ``i`` (``ExactlyOne`` per stage). Per stage,
    integer variables ``start_i = Σ b·start``, ``end_i = Σ b·end`` (minutes after the referral),
    ``day_i = Σ b·day`` and ``end_day_i = Σ b·end_day`` (local day indices), ``fac_i = Σ b·fac``.
Lags (each :class:`~routing.solve.compiled.Link`, ``X → Y``)
    minutes / hours: ``Y − X ≥ min``, ``Y − X ≤ max`` on the minute variables; calendar days: the
    same on the day variables; working days: ``day(Y) ≥ Σ b_X · wd(day_X, min)`` and
    ``day(Y) ≤ Σ b_X · wd(day_X, max)``, with ``wd`` precomputed per candidate of ``X`` (the
    :class:`~routing.solve.timeaxis.TimeAxis` arithmetic), so every lag stays linear.
Same-day rules (in-person stages only)
    a candidate pair of two stages on one day that overlaps, or leaves less than the travel time
    between the facilities (when travel times obey the triangle inequality), is forbidden:
    ``b_a ⇒ ¬b_b`` for each conflicting ``b``; visits a day: ``Σ_i [day_i = d] ≤ max`` for each
    day ``d``; a stage that must have its own day: ``[day_i = d] + [day_j = d] ≤ 1``; one slot is
    booked at most once (``AtMostOne`` over the stages that share it).
Across midnight (in-person stages on two dates)
    a candidate pair of two stages on two dates that overlaps, or (when travel times obey the
    triangle inequality) leaves less than the travel time from the earlier visit's end to the
    later one's start, is forbidden the same way; only a visit that ends less than the dearest
    trip before the next midnight (or after it) can meet one of a later date. Without the
    triangle inequality, where such a pair exists, a chain through all the in-person visits
    (``next_ij``, ``head_i``, ``tail_i``: one head, each visit one successor or the tail, one
    predecessor or the head; ``next_ij ⇒ start_j ≥ end_i + travel(fac_i, fac_j)``) puts them in
    time order and asks room to travel between consecutive ones, whatever their dates.
Day tours (for the objective and the travel rule between consecutive visits of a day)
    ``succ_ij`` (visit ``j`` directly follows ``i`` on the same day), ``first_i``, ``last_i``:
    ``first_i + Σ_j succ_ji = 1``, ``last_i + Σ_j succ_ij = 1``; ``succ_ij ⇒ day_i = day_j ∧
    start_j ≥ end_i + travel(fac_i, fac_j)``; at most one ``first`` a day. Starts strictly increase
    along ``succ``, so each day's visits form exactly one path in time order.
Objective
    the lexicographic key ``(completion, visit days, travel, non-preferred)`` as one weighted sum
    whose weights exceed the range of every later term, so the order is exact:
    ``completion = max end``, ``visit days = Σ first``, ``travel = Σ home legs of first and last +
    Σ travel of succ``, ``non-preferred = Σ`` in-person bookings outside the preferred facilities
    (0 when the patient names none).

Solved with ``num_workers = 1``, a fixed ``random_seed`` and a time limit.
"""

from __future__ import annotations

import itertools
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from nosology.catalogue import Catalogue
from nosology.pathway import LagUnit, Pathway
from routing.domain import RouteRequest
from routing.slot_index import SlotIndex
from routing.solve.compiled import CompiledRequest, compile_request
from routing.solve.links import REFERRAL_STAGE, Link
from routing.solve.plan import resolve_pathway

__all__ = ["DirectResult", "route_key", "solve_compiled", "solve_direct"]

Key = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class DirectResult:
    """What the direct CP-SAT model found.

    Attributes
    ----------
    status
        CP-SAT's status name: ``OPTIMAL``, ``FEASIBLE``, ``INFEASIBLE``, ``UNKNOWN`` or
        ``MODEL_INVALID``.
    key
        ``(completion_minutes, visit_days, travel_minutes, non_preferred)`` of the route found,
        recomputed from the bookings, or ``None`` without a route.
    choice
        The candidate index booked per stage, or ``None``.
    compile_seconds, build_seconds, solve_seconds
        Gathering candidates, building the model, and ``CpSolver.solve``.
    booleans
        Candidate Booleans in the model.
    """

    status: str
    key: Key | None
    choice: tuple[int, ...] | None
    compile_seconds: float
    build_seconds: float
    solve_seconds: float
    booleans: int

    @property
    def seconds(self) -> float:
        """The whole latency: compile, build and solve."""
        return self.compile_seconds + self.build_seconds + self.solve_seconds


def route_key(cr: CompiledRequest, choice: Sequence[int]) -> Key:
    """The objective key of booking candidate ``choice[i]`` for each stage ``i``.

    Completion is the latest end after the referral; visit days are the distinct start days of
    in-person stages; travel is, per such day in time order, home → first facility, between
    consecutive facilities and last facility → home (home legs only with a known home);
    non-preferred counts in-person bookings outside the preferred facilities (0 without any).
    """
    stages = cr.stages
    completion = max(st.end[c] for st, c in zip(stages, choice, strict=True)) - cr.referral_minute
    days: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for st, c in zip(stages, choice, strict=True):
        if st.in_person:
            days[st.day[c]].append((st.start[c], st.end[c], st.facility[c]))
    travel = 0
    matrix = cr.index.travel_minutes
    for visits in days.values():
        visits.sort()
        if cr.home_minutes is not None:
            travel += cr.home_minutes[visits[0][2]] + cr.home_minutes[visits[-1][2]]
        for (_, _, f1), (_, _, f2) in itertools.pairwise(visits):
            travel += int(matrix[f1, f2])
    non_preferred = 0
    if cr.request.patient.preferred_facilities:
        non_preferred = sum(
            1 for st, c in zip(stages, choice, strict=True) if st.in_person and not st.preferred[c]
        )
    return (completion, len(days), travel, non_preferred)


class _Model:
    """The CP-SAT model of one compiled request (see the module docstring)."""

    def __init__(self, cr: CompiledRequest) -> None:
        self.cr = cr
        self.m = cp_model.CpModel()
        self.r = cr.referral_minute
        self.axis = cr.axis
        self.referral_day = cr.axis.day_of(self.r)
        self.b: list[list[cp_model.IntVar]] = []
        self.start: list[cp_model.IntVar] = []
        self.end: list[cp_model.IntVar] = []
        self.day: list[cp_model.IntVar] = []
        self.end_day: list[cp_model.IntVar] = []
        self.fac: list[cp_model.IntVar] = []

    # -- variables ---------------------------------------------------------------------------
    def _sum_var(
        self, lits: list[cp_model.IntVar], values: list[int], name: str
    ) -> cp_model.IntVar:
        var = self.m.new_int_var(min(values, default=0), max(values, default=0), name)
        self.m.add(var == cp_model.LinearExpr.weighted_sum(lits, values))
        return var

    def variables(self) -> None:
        for i, st in enumerate(self.cr.stages):
            lits = [self.m.new_bool_var(f"b{i}_{c}") for c in range(len(st.slot))]
            self.m.add_exactly_one(lits)
            self.b.append(lits)
            self.start.append(self._sum_var(lits, [s - self.r for s in st.start], f"s{i}"))
            self.end.append(self._sum_var(lits, [e - self.r for e in st.end], f"e{i}"))
            self.day.append(self._sum_var(lits, st.day, f"d{i}"))
            self.end_day.append(self._sum_var(lits, self._end_days(i), f"ed{i}"))
            self.fac.append(self._sum_var(lits, st.facility, f"f{i}"))

    def _end_days(self, stage: int) -> list[int]:
        """The local day index of each candidate's end (from the slot index)."""
        positions = self.cr.stages[stage].slot
        return [int(d) for d in self.cr.index.end_day[positions]]

    # -- constraints -------------------------------------------------------------------------
    def _minute(self, stage: int, point: int) -> cp_model.IntVar | int:
        if stage == REFERRAL_STAGE:
            return 0
        return self.start[stage] if point == 0 else self.end[stage]

    def _day(self, stage: int, point: int) -> cp_model.IntVar | int:
        if stage == REFERRAL_STAGE:
            return self.referral_day
        return self.day[stage] if point == 0 else self.end_day[stage]

    def _working_bound(self, link: Link, n: int) -> cp_model.LinearExprT:
        """``wd(date(X), n)`` as a linear expression of X's candidate Booleans."""
        axis = self.axis
        if link.x_stage == REFERRAL_STAGE:
            return axis.add_working(self.referral_day, n)
        st = self.cr.stages[link.x_stage]
        days = st.day if link.x_point == 0 else self._end_days(link.x_stage)
        values = [axis.add_working(d, n) for d in days]
        return cp_model.LinearExpr.weighted_sum(self.b[link.x_stage], values)

    def links(self) -> None:
        for link in self.cr.links:
            if link.unit in (LagUnit.MINUTES, LagUnit.HOURS):
                factor = 60 if link.unit is LagUnit.HOURS else 1
                x, y = (
                    self._minute(link.x_stage, link.x_point),
                    self._minute(link.y_stage, link.y_point),
                )
                if link.min is not None:
                    self.m.add(y - x >= link.min * factor)
                if link.max is not None:
                    self.m.add(y - x <= link.max * factor)
                continue
            x, y = self._day(link.x_stage, link.x_point), self._day(link.y_stage, link.y_point)
            if link.unit is LagUnit.CALENDAR_DAYS:
                if link.min is not None:
                    self.m.add(y - x >= link.min)
                if link.max is not None:
                    self.m.add(y - x <= link.max)
            else:
                if link.min is not None:
                    self.m.add(y >= self._working_bound(link, link.min))
                if link.max is not None:
                    self.m.add(y <= self._working_bound(link, link.max))

    def same_slot(self) -> None:
        users: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for i, st in enumerate(self.cr.stages):
            for c, slot in enumerate(st.slot):
                users[slot].append(self.b[i][c])
        for lits in users.values():
            if len(lits) > 1:
                self.m.add_at_most_one(lits)

    def same_day(self, in_person: list[int]) -> None:
        cr = self.cr
        stages = cr.stages
        travel = cr.index.travel_minutes.tolist()
        by_day: list[dict[int, list[int]]] = []
        for st in stages:
            groups: dict[int, list[int]] = defaultdict(list)
            for c, d in enumerate(st.day):
                groups[d].append(c)
            by_day.append(groups)
        for n, i in enumerate(in_person):
            for j in in_person[n + 1 :]:
                si, sj = stages[i], stages[j]
                if not (si.shares_day and sj.shares_day):
                    continue  # handled by the day indicators below
                for c in range(len(si.slot)):
                    s, e, f = si.start[c], si.end[c], si.facility[c]
                    conflicts = []
                    for c2 in by_day[j].get(si.day[c], ()):
                        s2, e2, f2 = sj.start[c2], sj.end[c2], sj.facility[c2]
                        clash = s < e2 and s2 < e
                        if not clash and cr.travel_is_metric:
                            clash = (e <= s2 and e + travel[f][f2] > s2) or (
                                e2 <= s and e2 + travel[f2][f] > s
                            )
                        if clash:
                            conflicts.append(self.b[j][c2].Not())
                    if conflicts:
                        self.m.add_bool_and(conflicts).only_enforce_if(self.b[i][c])
        indicator: dict[tuple[int, int], cp_model.LinearExpr] = {}
        for i in in_person:
            for d, cands in by_day[i].items():
                indicator[i, d] = cp_model.LinearExpr.sum([self.b[i][c] for c in cands])
        all_days = sorted({d for i in in_person for d in by_day[i]})
        if len(in_person) > cr.max_visits_per_day:
            for d in all_days:
                terms = [indicator[i, d] for i in in_person if (i, d) in indicator]
                if len(terms) > cr.max_visits_per_day:
                    self.m.add(cp_model.LinearExpr.sum(terms) <= cr.max_visits_per_day)
        for i in in_person:
            if stages[i].shares_day:
                continue
            for j in in_person:
                if j == i:
                    continue
                for d in by_day[i]:
                    if (j, d) in indicator:
                        self.m.add(indicator[i, d] + indicator[j, d] <= 1)

    def across_midnight(self, in_person: list[int]) -> None:
        cr = self.cr
        stages = cr.stages
        table = cr.index.travel_table
        metric = cr.travel_is_metric
        reach = max((max(row) for row in table), default=0)
        # A pair that only the chain can judge (not metric): whether it needs room to travel
        # depends on the visits between them.
        undecided = False
        for i in in_person:
            si = stages[i]
            for j in in_person:
                if j == i:
                    continue
                sj = stages[j]
                for c, (e, day, f) in enumerate(zip(si.end, si.day, si.facility, strict=True)):
                    midnight = self.axis.first_minute(day + 1)
                    if e + reach <= midnight:
                        continue
                    conflicts = []
                    first = bisect_left(sj.start, midnight)
                    for c2 in range(first, bisect_left(sj.start, e + reach, lo=first)):
                        s2 = sj.start[c2]
                        if s2 < e or (metric and e + table[f][sj.facility[c2]] > s2):
                            conflicts.append(self.b[j][c2].Not())
                        elif e + table[f][sj.facility[c2]] > s2:
                            undecided = True
                    if conflicts:
                        self.m.add_bool_and(conflicts).only_enforce_if(self.b[i][c])
        if undecided:
            self.chain(in_person)

    def chain(self, in_person: list[int]) -> None:
        """Every in-person visit on one path in time order (slots last more than no time, so
        starts strictly increase along it), with room to travel along each step."""
        m = self.m
        n_fac = len(self.cr.index.facilities)
        table = [int(x) for row in self.cr.index.travel_table for x in row]
        head = {i: m.new_bool_var(f"head{i}") for i in in_person}
        tail = {i: m.new_bool_var(f"tail{i}") for i in in_person}
        nxt = {
            (i, j): m.new_bool_var(f"next{i}_{j}") for i in in_person for j in in_person if i != j
        }
        m.add(sum(head.values()) == 1)
        for i in in_person:
            m.add(head[i] + sum(nxt[j, i] for j in in_person if j != i) == 1)
            m.add(tail[i] + sum(nxt[i, j] for j in in_person if j != i) == 1)
        for (i, j), lit in nxt.items():
            leg = m.new_int_var(0, max(table, default=0), f"nextleg{i}_{j}")
            m.add_element(self.fac[i] * n_fac + self.fac[j], table, leg)
            m.add(self.start[j] >= self.end[i] + leg).only_enforce_if(lit)

    # -- objective ---------------------------------------------------------------------------
    def objective(self, in_person: list[int]) -> tuple[cp_model.LinearExprT, ...]:
        cr = self.cr
        m = self.m
        n_fac = len(cr.index.facilities)
        matrix = cr.index.travel_minutes
        table = [int(matrix[a, b]) for a in range(n_fac) for b in range(n_fac)]
        max_leg = max(table, default=0)
        home = cr.home_minutes
        max_home = max(home, default=0) if home is not None else 0
        horizon = max(max(st.end, default=0) for st in cr.stages) - self.r
        completion = m.new_int_var(0, max(0, horizon), "C")
        for e in self.end:
            m.add(completion >= e)
        first = {i: m.new_bool_var(f"first{i}") for i in in_person}
        last = {i: m.new_bool_var(f"last{i}") for i in in_person}
        succ = {
            (i, j): m.new_bool_var(f"succ{i}_{j}") for i in in_person for j in in_person if i != j
        }
        travel_terms: list[cp_model.IntVar] = []
        for i in in_person:
            m.add(first[i] + sum(succ[j, i] for j in in_person if j != i) == 1)
            m.add(last[i] + sum(succ[i, j] for j in in_person if j != i) == 1)
        for (i, j), lit in succ.items():
            leg = m.new_int_var(0, max_leg, f"leg{i}_{j}")
            m.add_element(self.fac[i] * n_fac + self.fac[j], table, leg)
            m.add(self.day[i] == self.day[j]).only_enforce_if(lit)
            m.add(self.start[j] >= self.end[i] + leg).only_enforce_if(lit)
            cost = m.new_int_var(0, max_leg, f"legcost{i}_{j}")
            m.add(cost == leg).only_enforce_if(lit)
            m.add(cost == 0).only_enforce_if(~lit)
            travel_terms.append(cost)
        for n, i in enumerate(in_person):
            for j in in_person[n + 1 :]:
                same = m.new_bool_var(f"sameday{i}_{j}")
                m.add(self.day[i] != self.day[j]).only_enforce_if(~same)
                m.add(first[i] + first[j] + same <= 2)
        if home is not None:
            for i in in_person:
                h = m.new_int_var(0, max_home, f"home{i}")
                m.add_element(self.fac[i], home, h)
                for flag, name in ((first[i], "out"), (last[i], "back")):
                    cost = m.new_int_var(0, max_home, f"home{name}{i}")
                    m.add(cost == h).only_enforce_if(flag)
                    m.add(cost == 0).only_enforce_if(~flag)
                    travel_terms.append(cost)
        visit_days = sum(first.values())
        travel = sum(travel_terms)
        non_preferred = cp_model.LinearExpr.sum([])
        if cr.request.patient.preferred_facilities:
            non_preferred = cp_model.LinearExpr.sum(
                [
                    self.b[i][c]
                    for i in in_person
                    for c, pref in enumerate(cr.stages[i].preferred)
                    if not pref
                ]
            )
        k = len(in_person)
        w_travel = k + 1
        w_days = w_travel * (k * (2 * max_home + max_leg) + 1)
        w_completion = w_days * (k + 1)
        m.minimize(
            completion * w_completion + visit_days * w_days + travel * w_travel + non_preferred
        )
        return completion, visit_days, travel, non_preferred

    def build(self) -> None:
        in_person = [i for i, st in enumerate(self.cr.stages) if st.in_person]
        self.variables()
        self.links()
        self.same_slot()
        self.same_day(in_person)
        self.across_midnight(in_person)
        self.objective(in_person)


def solve_compiled(
    cr: CompiledRequest, *, time_limit: float = 30.0, seed: int = 0, compile_seconds: float = 0.0
) -> DirectResult:
    """Build and solve the direct model of a compiled request.

    Parameters
    ----------
    cr
        The request compiled by :func:`compile_request`.
    time_limit
        Seconds for ``CpSolver.solve``.
    seed
        CP-SAT's ``random_seed``.
    compile_seconds
        Reported as the compile time (the caller measured it).
    """
    started = time.perf_counter()
    model = _Model(cr)
    model.build()
    built = time.perf_counter()
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = time_limit
    status = solver.solve(model.m)
    solved = time.perf_counter()
    name = solver.status_name(status)
    choice: tuple[int, ...] | None = None
    key: Key | None = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        choice = tuple(
            next(c for c, lit in enumerate(lits) if solver.boolean_value(lit)) for lits in model.b
        )
        key = route_key(cr, choice)
    return DirectResult(
        status=name,
        key=key,
        choice=choice,
        compile_seconds=compile_seconds,
        build_seconds=built - started,
        solve_seconds=solved - built,
        booleans=sum(len(lits) for lits in model.b),
    )


def solve_direct(
    request: RouteRequest,
    index: SlotIndex,
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    time_limit: float = 30.0,
    seed: int = 0,
) -> DirectResult:
    """Resolve the request's pathway, gather its candidates, and solve the direct model.

    Raises
    ------
    nosology.NosologyError
        When the request's pathway cannot be resolved (``plan_route`` says INVALID instead).
    """
    started = time.perf_counter()
    pathway = resolve_pathway(request, catalogue, pathways)
    cr = compile_request(request, pathway, index)
    if cr.problems:
        raise ValueError(f"request {request.id!r}: cannot be planned as given")
    compiled = time.perf_counter() - started
    return solve_compiled(cr, time_limit=time_limit, seed=seed, compile_seconds=compiled)
