"""An exact CP-SAT model of batch planning, for small cohorts and as the oracle of the engine.

Variables (three passes: variables, constraints, objective)
-----------------------------------------------------------
- ``x[p, s, c]``: patient ``p`` books candidate ``c`` of stage ``s`` (the candidates of
  :func:`~routing.solve.compiled.compile_request`, kept bookings pinned);
- ``u[p]``: patient ``p`` is left unplanned; ``Σ_c x[p, s, c] = 1 - u[p]`` for every stage.

Constraints
-----------
- capacity: for every slot, ``Σ x ≤ capacity - reserved`` over the stages that are not kept
  bookings; one patient never books a slot twice;
- lags (``after``, temporal constraints, hard deadlines): with ``X`` booked at candidate ``c``,
  ``t(Y) ≥ min_forward(t_c, min)`` and ``t(Y) ≤ max_forward(t_c, max)`` in the lag's unit
  (:class:`~routing.solve.timeaxis.TimeAxis`), exact because ``X`` is a single point;
- same-day rules of in-person stages (as :mod:`routing.solve.search`): at most
  ``max_visits_per_day`` a day, a stage with ``shares_day = False`` alone on its day, no two
  overlapping, and room to travel between two visits, on one day or on two dates across
  midnight (a visit until 00:05 and one at 00:20): ``start_b >= end_a + travel(a, b)`` for every
  pair in time order, exact for consecutive visits when travel times obey the triangle
  inequality, which :func:`supports_exact` requires.

Objective
---------
The batch tuple of :mod:`routing.batch.objective`, solved lexicographically in three phases:
minimise ``Σ u``; fix it; minimise the deadline cost (per soft deadline, the cost of the booked
pair of events, linearised per candidate of the earlier event); fix it; minimise
``Σ weight × completion``. A phase that ends without proof gives the bound of its term and the
later terms' bounds are 0. Deterministic with one worker, a seed and ``deterministic_time``.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from ortools.sat.python import cp_model

from nosology.pathway import Deadline, EventPoint, parse_event
from routing.batch.cohort import Cohort
from routing.batch.objective import Cost, miss_cost
from routing.result import RouteResult, SolveStatus
from routing.solve.compiled import CompiledRequest, compile_request
from routing.solve.explain import measure
from routing.solve.links import REFERRAL_STAGE, Link
from routing.solve.modes import has_either

__all__ = ["ExactOutcome", "solve_exact", "supports_exact"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExactOutcome:
    """What the exact model found.

    Attributes
    ----------
    status
        OPTIMAL (all three terms proven), FEASIBLE (a plan, not proven best) or TIME_LIMIT (no
        plan within the limits).
    routes
        Entry → stage id → slot position, for the patients planned.
    objective
        The model's value of the plan found.
    bound
        A lexicographic lower bound on the objective of every plan of these entries.
    runtime_seconds
        Wall-clock time of the three phases.
    """

    status: SolveStatus
    routes: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    objective: Cost | None = None
    bound: Cost = (0, 0, 0)
    runtime_seconds: float = 0.0


def supports_exact(cohort: Cohort) -> bool:
    """Whether the model is exact for ``cohort``: travel times obey the triangle inequality,
    and no stage may be done either in person or remotely (the model fixes each stage's mode;
    such cohorts are planned by the heuristic phases, each route searched by cases)."""
    return cohort.index.travel_is_metric and not any(
        e.pathway is not None and has_either(e.pathway) for e in cohort.entries
    )


@dataclass(slots=True)
class _Patient:
    entry: int
    cr: CompiledRequest
    u: cp_model.IntVar
    x: list[list[cp_model.IntVar]]
    completion: cp_model.IntVar | None = None
    deadline_costs: list[cp_model.IntVar] = field(default_factory=list)


class _Model:
    def __init__(self, cohort: Cohort, entries: Sequence[int]) -> None:
        self.cohort = cohort
        self.model = cp_model.CpModel()
        self.patients: list[_Patient] = []
        self.solution: tuple[dict[int, dict[str, int]], Cost] | None = None
        for i in entries:
            self._variables(i)
        self._capacity()
        for p in self.patients:
            self._links(p)
            self._same_day(p)
            self._across_midnight(p)
            self._objective_terms(p)

    # -- variables -------------------------------------------------------------------------
    def _variables(self, i: int) -> None:
        cohort = self.cohort
        e = cohort.entries[i]
        assert e.pathway is not None
        cr = compile_request(
            e.request,
            e.pathway,
            cohort.index,
            cohort.blocked(np.zeros_like(cohort.reserved), i),
            pins=e.fixed,
            narrow_by_lags=True,
        )
        m = self.model
        u = m.new_bool_var(f"u{i}")
        x: list[list[cp_model.IntVar]] = []
        for s, st in enumerate(cr.stages):
            row = [m.new_bool_var(f"x{i}_{s}_{c}") for c in range(len(st.slot))]
            m.add(sum(row) == 1 - u)
            x.append(row)
        if cr.problems:
            m.add(u == 1)
        self.patients.append(_Patient(i, cr, u, x))

    # -- constraints -----------------------------------------------------------------------
    def _capacity(self) -> None:
        cohort = self.cohort
        by_slot: dict[int, list[cp_model.IntVar]] = {}
        for p in self.patients:
            fixed = cohort.entries[p.entry].fixed
            own: dict[int, list[cp_model.IntVar]] = {}
            for st, row in zip(p.cr.stages, p.x, strict=True):
                for slot, var in zip(st.slot, row, strict=True):
                    own.setdefault(slot, []).append(var)
                    if st.stage_id not in fixed:
                        by_slot.setdefault(slot, []).append(var)
            for vars_ in own.values():
                if len(vars_) > 1:
                    self.model.add(sum(vars_) <= 1)
        for slot, vars_ in by_slot.items():
            free = int(cohort.capacity[slot] - cohort.reserved[slot])
            if len(vars_) > free:
                self.model.add(sum(vars_) <= max(free, 0))

    def _times(self, p: _Patient, stage: int, point: int) -> list[int]:
        st = p.cr.stages[stage]
        return st.start if point == 0 else st.end

    def _links(self, p: _Patient) -> None:
        m = self.model
        axis = p.cr.axis
        r = p.cr.referral_minute
        for link in p.cr.links:
            xs, ys = link.x_stage, link.y_stage
            if xs == REFERRAL_STAGE and ys == REFERRAL_STAGE:
                continue

            def ok(tx: int, ty: int, link: Link = link) -> bool:
                if link.min is not None and ty < axis.min_forward(tx, link.min, link.unit):
                    return False
                return link.max is None or ty <= axis.max_forward(tx, link.max, link.unit)

            if xs in (REFERRAL_STAGE, ys) or ys == REFERRAL_STAGE:
                stage = ys if xs == REFERRAL_STAGE else xs
                for c in range(len(p.x[stage])):
                    tx = r if xs == REFERRAL_STAGE else self._times(p, xs, link.x_point)[c]
                    ty = r if ys == REFERRAL_STAGE else self._times(p, ys, link.y_point)[c]
                    if not ok(tx, ty):
                        m.add(p.x[stage][c] == 0)
                continue
            tys = self._times(p, ys, link.y_point)
            for c, tx in enumerate(self._times(p, xs, link.x_point)):
                bad = [p.x[ys][d] for d, ty in enumerate(tys) if not ok(tx, ty)]
                if len(bad) == len(tys):
                    m.add(p.x[xs][c] == 0)
                elif bad:
                    m.add(sum(bad) == 0).only_enforce_if(p.x[xs][c])

    def _same_day(self, p: _Patient) -> None:
        m = self.model
        stages = p.cr.stages
        travel = self.cohort.index.travel_minutes
        in_person = [s for s, st in enumerate(stages) if st.in_person]
        by_day: dict[int, dict[int, list[int]]] = {}
        for s in in_person:
            for c, day in enumerate(stages[s].day):
                by_day.setdefault(day, {}).setdefault(s, []).append(c)
        for day_stages in by_day.values():
            present = sorted(day_stages)
            if len(present) < 2:
                continue
            day_sum = {s: sum(p.x[s][c] for c in day_stages[s]) for s in present}
            if len(present) > p.cr.max_visits_per_day:
                m.add(sum(day_sum.values()) <= p.cr.max_visits_per_day)
            for a_n, a in enumerate(present):
                for b in present[a_n + 1 :]:
                    sa, sb = stages[a], stages[b]
                    if not (sa.shares_day and sb.shares_day):
                        m.add(day_sum[a] + day_sum[b] <= 1)
                        continue
                    for ca in day_stages[a]:
                        s1, e1, f1 = sa.start[ca], sa.end[ca], sa.facility[ca]
                        for cb in day_stages[b]:
                            s2, e2, f2 = sb.start[cb], sb.end[cb], sb.facility[cb]
                            clash = (
                                (s1 < e2 and s2 < e1)
                                or (e1 <= s2 and e1 + int(travel[f1, f2]) > s2)
                                or (e2 <= s1 and e2 + int(travel[f2, f1]) > s1)
                            )
                            if clash:
                                m.add(p.x[a][ca] + p.x[b][cb] <= 1)

    def _across_midnight(self, p: _Patient) -> None:
        """Pairs of in-person candidates on two dates that overlap or leave too little time to
        travel: only a visit that ends less than the dearest trip before the next midnight (or
        after it) can meet one of a later date."""
        m = self.model
        stages = p.cr.stages
        axis = p.cr.axis
        table = self.cohort.index.travel_table
        reach = max((max(row) for row in table), default=0)
        in_person = [s for s, st in enumerate(stages) if st.in_person]
        for a in in_person:
            sa = stages[a]
            for b in in_person:
                if b == a:
                    continue
                sb = stages[b]
                for ca, (e1, day, f1) in enumerate(zip(sa.end, sa.day, sa.facility, strict=True)):
                    midnight = axis.first_minute(day + 1)
                    if e1 + reach <= midnight:
                        continue
                    first = bisect_left(sb.start, midnight)
                    for cb in range(first, bisect_left(sb.start, e1 + reach, lo=first)):
                        if e1 + table[f1][sb.facility[cb]] > sb.start[cb]:
                            m.add(p.x[a][ca] + p.x[b][cb] <= 1)

    # -- objective -------------------------------------------------------------------------
    def _objective_terms(self, p: _Patient) -> None:
        m = self.model
        cr = p.cr
        r = cr.referral_minute
        horizon = max([max(st.end, default=r) for st in cr.stages] + [r]) - r
        p.completion = m.new_int_var(0, horizon, f"comp{p.entry}")
        for st, row in zip(cr.stages, p.x, strict=True):
            if row:
                m.add(p.completion >= sum(v * (e - r) for v, e in zip(row, st.end, strict=True)))
        entry = self.cohort.entries[p.entry]
        request = entry.request
        calendar = self.cohort.index.calendar
        referral_date = calendar.local_date(request.referral)
        assert entry.pathway is not None
        positions = {st.stage_id: n for n, st in enumerate(cr.stages)}
        slots = self.cohort.index.slots
        counted = self.cohort.deadline_measure

        def moments(event: str) -> tuple[int, list[datetime]] | None:
            stage_id, point = parse_event(event)
            if stage_id is None:
                return None
            s = positions[stage_id]
            at_start = point is EventPoint.START
            return s, [slots[q].start if at_start else slots[q].end for q in cr.stages[s].slot]

        for d in entry.pathway.deadlines:
            if d.hard or not d.applies_on(referral_date, request.region):
                continue

            def cost(first: datetime, second: datetime, d: Deadline = d) -> int:
                actual = measure(calendar, first, second, d.unit)
                return miss_cost(limit=d.limit, actual=actual, weight=entry.weight, measure=counted)

            fx, fy = moments(d.from_event), moments(d.to_event)
            # (guard, [(x, cost)]): cost >= Σ x·cost, enforced when the guard is booked
            rows: list[tuple[cp_model.IntVar | None, list[tuple[cp_model.IntVar, int]]]] = []
            if fx is not None and fy is not None and fx[0] != fy[0]:
                for c, tx in enumerate(fx[1]):
                    paid = [(p.x[fy[0]][k], cost(tx, ty)) for k, ty in enumerate(fy[1])]
                    rows.append((p.x[fx[0]][c], paid))
            elif fx is not None and fy is not None:
                pairs = zip(fx[1], fy[1], strict=True)
                rows.append((None, [(p.x[fx[0]][c], cost(a, b)) for c, (a, b) in enumerate(pairs)]))
            elif fy is not None:
                rows.append(
                    (
                        None,
                        [(p.x[fy[0]][c], cost(request.referral, t)) for c, t in enumerate(fy[1])],
                    )
                )
            elif fx is not None:
                rows.append(
                    (
                        None,
                        [(p.x[fx[0]][c], cost(t, request.referral)) for c, t in enumerate(fx[1])],
                    )
                )
            top = max((g for _, terms in rows for _, g in terms), default=0)
            if top == 0:
                continue
            var = m.new_int_var(0, top, f"dl{p.entry}_{d.id}")
            for guard, terms in rows:
                paid = [(v, g) for v, g in terms if g]
                if not paid:
                    continue
                constraint = m.add(var >= sum(v * g for v, g in paid))
                if guard is not None:
                    constraint.only_enforce_if(guard)
            p.deadline_costs.append(var)

    def terms(self) -> tuple[cp_model.LinearExprT, cp_model.LinearExprT, cp_model.LinearExprT]:
        weights = [self.cohort.entries[p.entry].weight for p in self.patients]
        unplanned = sum(p.u for p in self.patients)
        deadlines = sum(v for p in self.patients for v in p.deadline_costs)
        minutes = sum(
            w * p.completion
            for w, p in zip(weights, self.patients, strict=True)
            if p.completion is not None
        )
        return unplanned, deadlines, minutes

    def hint(self, routes: Mapping[int, RouteResult | None]) -> None:
        index = self.cohort.index
        for p in self.patients:
            result = routes.get(p.entry)
            booked: dict[str, int] = {}
            if result is not None and result.has_route:
                booked = {b.stage_id: index.slot_position[b.slot_id] for b in result.bookings}
            self.model.add_hint(p.u, 0 if booked else 1)
            for st, row in zip(p.cr.stages, p.x, strict=True):
                chosen = booked.get(st.stage_id)
                for slot, var in zip(st.slot, row, strict=True):
                    self.model.add_hint(var, 1 if slot == chosen else 0)


def solve_exact(
    cohort: Cohort,
    entries: Sequence[int] | None = None,
    *,
    time_limit: float = 10.0,
    deterministic_time: float | None = None,
    seed: int = 0,
    workers: int = 1,
    hint: Mapping[int, RouteResult | None] | None = None,
    interleave: bool = False,
) -> ExactOutcome:
    """Solve the batch of ``entries`` (all plannable ones by default) exactly, in three phases.

    Parameters
    ----------
    cohort
        The cohort; only the listed entries compete (the others hold nothing).
    entries
        Plannable entry positions.
    time_limit
        Wall-clock seconds for all phases together.
    deterministic_time
        CP-SAT's deterministic time for all phases together (use it for reproducible runs).
    seed, workers
        CP-SAT's ``random_seed`` and ``num_workers``.
    hint
        A plan to start from (entry → result).
    interleave
        Make several workers deterministic (CP-SAT's ``interleave_search``): with a
        ``deterministic_time`` that binds before ``time_limit``, the same input, seed and
        workers give the same answer.
    """
    started = time.perf_counter()
    chosen = list(cohort.plannable() if entries is None else entries)
    built = _Model(cohort, chosen)
    if hint:
        built.hint(hint)
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = max(1, workers)
    if interleave and workers > 1:
        solver.parameters.interleave_search = True
    terms = built.terms()
    values: list[int] = []
    bound: list[int] = []
    status = SolveStatus.OPTIMAL
    found = False
    for n, term in enumerate(terms):
        remaining = time_limit - (time.perf_counter() - started)
        solver.parameters.max_time_in_seconds = max(0.01, remaining / (len(terms) - n))
        if deterministic_time is not None:
            solver.parameters.max_deterministic_time = deterministic_time / len(terms)
        built.model.minimize(term)
        code = solver.solve(built.model)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            status = SolveStatus.TIME_LIMIT if not found else SolveStatus.FEASIBLE
            bound.extend([0] * (len(terms) - n))
            break
        found = True
        _keep_solution(built, solver)
        value = round(solver.objective_value)
        if code == cp_model.OPTIMAL:
            values.append(value)
            bound.append(value)
            if not isinstance(term, int):
                built.model.add(term == value)
            continue
        status = SolveStatus.FEASIBLE
        bound.append(max(0, -int(-solver.best_objective_bound // 1)))
        bound.extend([0] * (len(terms) - n - 1))
        break
    routes, objective = built.solution if built.solution is not None else ({}, None)
    outcome = ExactOutcome(
        status=status if found else SolveStatus.TIME_LIMIT,
        routes=routes,
        objective=objective,
        bound=(bound[0], bound[1], bound[2]),
        runtime_seconds=time.perf_counter() - started,
    )
    logger.info(
        "exact model: %d patients, %s, objective %s, bound %s",
        len(chosen),
        outcome.status.value,
        outcome.objective,
        outcome.bound,
    )
    return outcome


def _keep_solution(built: _Model, solver: cp_model.CpSolver) -> None:
    """Store the solver's current solution on ``built`` and hint it for the next phase."""
    routes: dict[int, dict[str, int]] = {}
    built.model.clear_hints()  # type: ignore[no-untyped-call]
    for p in built.patients:
        unplanned = bool(solver.value(p.u))
        built.model.add_hint(p.u, int(unplanned))
        booked: dict[str, int] = {}
        for st, row in zip(p.cr.stages, p.x, strict=True):
            for slot, var in zip(st.slot, row, strict=True):
                value = int(solver.value(var))
                built.model.add_hint(var, value)
                if value:
                    booked[st.stage_id] = slot
        if not unplanned:
            routes[p.entry] = booked
    a, b, c = (t if isinstance(t, int) else int(solver.value(t)) for t in built.terms())
    built.solution = (routes, (a, b, c))
