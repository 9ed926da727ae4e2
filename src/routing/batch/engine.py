"""``plan_batch``: one route per patient of a cohort over shared slots, anytime.

The engine, in order:

1. **Cohort** (:mod:`routing.batch.cohort`): pathways resolved once; bad records set aside with
   their reasons; kept bookings reserved.
2. **No competition** (:mod:`routing.batch.bounds`): each patient's fastest route alone, the
   first lower bound and a cache: a patient whose fastest route is still free takes it without a
   search (candidate pruning: most patients of a real region never need a second search).
3. **First come, first served** (:mod:`routing.batch.fcfs`): the baseline every report shows.
4. **Deadline-aware greedy**: the same sequential planning, by due time (when the patient must
   start to meet the first deadline counted from the referral, see :meth:`_Engine.due_order`)
   instead of arrival; each patient takes the fastest route that meets all its soft deadlines
   (a later slot when the earliest one is not needed), and a patient who can no longer meet
   them is deferred and routed after everyone else (the Moore–Hodgson rule: one who misses
   anyway does not take a slot another needs to meet theirs). A second start does the same
   with the slots of the first deadlines given by a maximum matching
   (:mod:`routing.batch.matching`: who gets the scarce early slots). The best of these and
   first come, first served is the starting plan, so the plan is never worse than the baseline.
   (Each start is skipped when the phases before it took half the time limit.)
5. **Exact model** (:mod:`routing.batch.exact`) when the cohort has at most
   ``exact_max_patients`` plannable patients: solved to proven optimality within the limits.
6. **Sweeps**: each planned patient in arrival order is planned again over what the others
   leave, as the polish (step 9) does, keeping a route that costs no more. A route of the same
   cost may use other slots (fewer visit days, less travel), and a patient later in the order
   may then find a strictly better route. Sweeps repeat while one makes some route strictly
   better, in at most half of the search's time (:data:`SETTLE_SHARE`); none runs when
   ``max_iterations`` is 0. On 1,000 contended patients the first sweeps did what the rest of
   the search could not (``benchmarks/README_batch.md``). When the last of them bettered
   nothing (not cut by its time), a sweep runs again during the search (step 7) after every
   :data:`SWEEP_AFTER` iterations a plannable patient: the search's kept moves leave the
   patients it re-planned with their earliest routes only, and a sweep moves them to routes of
   the same cost that leave other slots free.
7. **Large-neighbourhood search** for the rest of the time. Each iteration picks a patient
   worse off than alone (unplanned, missing a deadline, or later than its fastest route): with
   probability ½ among the eight worst, 0.35 among those missing a deadline they meet alone,
   else among all of them. It destroys that patient and up to ``max_destroy`` others
   (decomposition by conflict: only patients that compete for the same slots are re-planned
   together): with probability :data:`QUEUE_SHARE` those ahead of it in its queues (holding full
   slots of a service it books later than alone, between the two times), else those holding the
   full slots of its fastest route. It then repairs: the chosen patient first, the others by
   urgency or in a seeded random order, each with a deadline-aware route when one is left, else
   the fastest. The chosen patient's route is also searched for the fewest visit days, least
   travel and preferred facilities among those that complete as early (as the sweeps do): it
   takes other slots than the fastest search's route (and, when no route meets every soft
   deadline, may miss more of them: the iteration then costs more and is undone). On 1,000
   contended patients that made the minutes up to 0.6 % lower in the same time, never
   measurably higher; every repaired patient searching so halved the iterations for no gain
   (``benchmarks/README_batch.md``). The result is kept if the objective is no worse
   (sideways moves allowed), else undone; a repair stops as soon as what it has planned plus
   the bounds of the rest costs more than before (it would be undone). The patients the search
   may pick are kept up to date as routes change (:mod:`routing.batch.worse_off`), not found by
   a scan of the cohort. With ``search_processes=2`` the iterations run in two processes in
   rounds, the helper's kept changes merged when they still fit
   (:mod:`routing.batch.paired_search`).
8. **Capacity bound**: the cohort splits into groups sharing no service; each small group gets
   the exact model's proven bound, the others their no-competition bound; the matching's least
   cost of the first deadlines nobody can meet raises the deadline term when it is larger; the
   completion flow and the day-indexed LP over all stages (:mod:`routing.batch.stage_lp`; up
   to ``staged_max_variables``, larger ones by ``staged_iterations`` of a first-order method)
   raise the minutes term when they are larger.
9. **Polish**: the searches above prove each patient's earliest completion only (what the batch
   objective counts). In the time kept for it (three times what the no-competition routes took,
   at most ``polish_share`` of the limit), each planned patient in
   arrival order is planned again over what the others leave, now also for the fewest visit
   days, least travel and preferred facilities, and keeps the new route when its batch cost is
   no worse. Patients the time does not reach keep their route (FEASIBLE, its reasons say so).

The plan is proven OPTIMAL when its objective equals the capacity bound. Stops: proof, the time
limit (status FEASIBLE, ``time_limit_hit``), ``max_iterations``, or no patient left worse off
than alone. Deterministic for a given seed, worker count and search processes when it stops on
anything but the wall clock (each single-patient search is limited by nodes, CP-SAT by
deterministic time). For the length of the call, what is alive at each reported step is kept
out of the cyclic garbage collector's full scans (:mod:`routing.batch.long_lived`; a tenth of
the time before).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import NonNegativeInt

from nosology.catalogue import Catalogue
from nosology.pathway import FrozenModel, LagUnit, Pathway
from routing.batch.bounds import (
    BatchBound,
    groups,
    no_competition_bound,
    no_competition_routes,
    patient_bound,
)
from routing.batch.cohort import Cohort, CohortEntry, build_cohort
from routing.batch.completion_flow import completion_flow_bound
from routing.batch.exact import solve_exact, supports_exact
from routing.batch.fcfs import Assignment, first_come_first_served, plan_in_order
from routing.batch.holders import SlotHolders
from routing.batch.long_lived import LongLived
from routing.batch.matching import FirstDeadlineMatching, match_first_deadlines
from routing.batch.objective import BatchObjective, Cost, DeadlineMeasure, replaced, total_cost
from routing.batch.paired_search import SearchState, can_pair, search_in_pairs
from routing.batch.stage_lp import STAGED_MAX_VARIABLES, staged_lp_bound
from routing.batch.worse_off import WorseOff
from routing.domain import RouteRequest
from routing.live import LiveSlots
from routing.problem import Problem
from routing.result import RouteResult, SolveStatus
from routing.slot_index import SlotIndex
from routing.solve.plan import SolveOptions

__all__ = ["BatchProgress", "BatchResult", "plan_batch"]

logger = logging.getLogger(__name__)

_DAY_UNITS = (LagUnit.WORKING_DAYS, LagUnit.CALENDAR_DAYS)
IntArray = npt.NDArray[np.int64]
POLISH_NODES = 500
"""Search nodes of each polish search: best effort (its result says whether it is proven)."""
SETTLE_SHARE = 0.5
"""The largest share of the search's time the sweeps before it may take."""

SWEEP_AFTER = 2.0
"""Search iterations between two sweeps during the search (:meth:`_Engine.sweep_when_due`), as
a multiple of the plannable patients (counted, so the plans stay deterministic). Chosen on seeds
7, 100 and 101 at 1,000 patients among 1.5, 2 and 3, after a prototype sweeping every 5, 10 or
20 seconds, and none (``benchmarks/README_batch.md``)."""

QUEUE_SHARE = 0.5
"""The share of search iterations that destroy the patients ahead of the chosen one in its
queues (:meth:`_Engine.queue_ahead`) instead of the holders of its fastest route's slots.
Chosen on seeds 7, 100 and 101 among 0, ¼, ½ and 0.8 (``benchmarks/README_batch.md``)."""


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """A progress report: ``phase`` with ``done`` of ``total`` steps (0: unknown), best so far."""

    phase: str
    done: int
    total: int
    best: Cost | None
    elapsed: float
    time_limit: float


class BatchResult(FrozenModel):
    """A batch plan, its baseline and bounds.

    Attributes
    ----------
    status
        OPTIMAL when proven (objective equals ``capacity_bound``), else FEASIBLE.
    stop_reason
        Why the search ended.
    time_limit_hit
        Whether the wall-clock limit ended the search before a proof.
    objective, fcfs_objective
        The plan's and first-come-first-served's objective.
    deadline_measure
        How the objectives count a missed soft deadline (:mod:`routing.batch.objective`).
    routes, fcfs_routes, alone_routes
        One result per request in the input order: the plan, the baseline, and each
        patient's fastest route with no competition.
    no_competition_bound, capacity_bound
        The two lower bounds.
    moved
        Requests whose existing bookings the plan changes (only with moving allowed).
    input_issues
        Records of the slot index left out, each naming its record and field (a slot outside
        the calendar's span; see :attr:`SlotIndex.issues`).
    deadline_ids
        Per request, the ids of its pathway's soft deadlines in force on its referral day
        (empty without a pathway): what a report counts as missed for a patient without a route.
    """

    status: SolveStatus
    stop_reason: str
    time_limit_hit: bool
    objective: BatchObjective
    fcfs_objective: BatchObjective
    deadline_measure: DeadlineMeasure = "misses"
    routes: tuple[RouteResult, ...]
    fcfs_routes: tuple[RouteResult, ...]
    alone_routes: tuple[RouteResult, ...]
    weights: tuple[int, ...]
    deadline_ids: tuple[tuple[str, ...], ...] = ()
    no_competition_bound: BatchBound
    capacity_bound: BatchBound
    moved: tuple[str, ...] = ()
    seed: int
    workers: NonNegativeInt
    search_processes: int = 1
    """Processes the large-neighbourhood search ran in (1, or 2 when it could fork)."""
    iterations: NonNegativeInt
    improvements: NonNegativeInt
    polished: NonNegativeInt = 0
    """Routes planned again for the secondary objectives (see ``polish_share``)."""
    sweeps: NonNegativeInt = 0
    """Sweeps before and during the search: each planned patient planned again, one by one."""
    swept: NonNegativeInt = 0
    """Routes those sweeps made strictly better (by the batch objective)."""
    input_issues: tuple[str, ...] = ()
    runtime_seconds: float
    seconds_to_bound: float | None = None
    """Wall-clock seconds until the plan was proven to meet the capacity bound (before the
    polish), ``None`` when it was not proven."""


def plan_batch(
    cohort_input: Problem | tuple[Sequence[RouteRequest], SlotIndex | LiveSlots],
    *,
    seed: int = 0,
    time_limit: float = 60.0,
    workers: int = 1,
    progress: Callable[[BatchProgress], None] | None = None,
    allow_moving_existing: bool = False,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    max_iterations: int | None = None,
    max_destroy: int = 6,
    exact_max_patients: int = 20,
    options: SolveOptions | None = None,
    per_day: int = 20,
    horizon_days: int = 21,
    polish_share: float = 0.25,
    work_limit: int | None = None,
    bound_probes: int = 1500,
    staged_max_variables: int = STAGED_MAX_VARIABLES,
    staged_iterations: int = 0,
    deadline_measure: DeadlineMeasure = "misses",
    search_processes: int = 1,
) -> BatchResult:
    """Plan every request of a cohort at once over shared slot capacities.

    Parameters
    ----------
    cohort_input
        A problem (its requests, slots and pathways) or ``(requests, index)``, where the index
        may be a live state (:class:`~routing.live.LiveSlots`): then each slot starts with its
        free places, plus those the requests' own existing bookings hold in it (at most its
        held and booked places: a request's kept booking is taken to be one of them). The live
        state is not changed.
    seed
        Seeds the search (same input, seed and workers: same plan, unless the wall clock stops
        the search).
    time_limit
        Wall-clock seconds for the whole call; the baselines always complete.
    workers
        CP-SAT workers of the exact model; the heuristic phases run in this process.
    progress
        Called with a :class:`BatchProgress` as the work advances.
    allow_moving_existing
        Let the plan move patients' existing bookings (otherwise they are kept).
    catalogue, pathways
        Where pathways come from; a problem's own pathways are added to ``pathways``.
    max_iterations
        Large-neighbourhood iterations at most (``None``: until another stop).
    max_destroy
        Patients holding a blocking slot destroyed with the chosen one, at most.
    exact_max_patients
        Cohorts (and groups, for the bound) this small go to the exact model.
    options
        Limits of each single-patient search.
    per_day, horizon_days
        Keep each patient's search independent of the region's size: at most ``per_day``
        candidates a day per stage, the nearest first, and a first look only ``horizon_days``
        past the referral (see :func:`~routing.batch.cohort.build_cohort`; 0 turns either off).
    polish_share
        The largest share of the time limit kept for polishing the routes (fewest visit days,
        least travel, preferred facilities); 0 skips it.
    work_limit
        Measure the run in work instead of wall-clock time: single-route searches at most
        (the baselines always complete; CP-SAT gets a deterministic time in proportion, and
        each search's own clock a minute's safety margin). Every phase then stops on work
        alone, so the same input, seed and workers give the same plan on any machine and
        under any load, as long as ``time_limit`` (a safety net here) does not bind.
    bound_probes
        Single-route searches the completion-flow bound may spend, at most (see
        :func:`~routing.batch.completion_flow.completion_flow_bound`; 0 prices only with each
        patient's fastest route and the stages' tails).
    staged_max_variables
        The largest day-indexed LP over all stages solved for the bound (see
        :func:`~routing.batch.stage_lp.staged_lp_bound`; a size, so the same on every run;
        0 skips it, unless ``staged_iterations`` is given).
    staged_iterations
        Iterations of the first-order method for a staged LP larger than
        ``staged_max_variables`` (its bound from the method's last multipliers, weaker than the
        optimum but valid; a count, so the same on every run); 0 leaves such an LP unsolved. It
        takes time from the search: at 1,000 patients 3,000 iterations take about 18 s
        (``benchmarks/README_batch.md``).
    deadline_measure
        How the objective counts a missed soft deadline: ``"misses"`` (each miss costs its
        patient's weight, however late: a patient who misses anyway takes no early slot from
        another for a smaller overrun) or ``"overrun"`` (a bigger overrun costs more, before
        any minute counts); see :mod:`routing.batch.objective`.
    search_processes
        Processes the large-neighbourhood search runs in: 1, or 2 for two cores (in epochs,
        merged deterministically: :mod:`routing.batch.paired_search`; the same input, seed,
        workers and processes give the same plan when the iterations or the work limit stop
        it). Where processes cannot fork (a daemonic process, no ``fork`` start method) the
        search runs in one process.

    Returns
    -------
    BatchResult
        The plan, the baseline and both bounds; bad records appear as routes with status
        INVALID (or INFEASIBLE) and their reasons.

    Examples
    --------
    >>> from routing.examples import load_example
    >>> result = plan_batch(load_example(), seed=1, time_limit=30)
    >>> result.objective.unplanned, result.objective.key() <= result.fcfs_objective.key()
    (0, True)
    """
    started = time.perf_counter()
    if not 0 <= polish_share < 1:
        raise ValueError("polish_share must be in [0, 1)")
    if staged_iterations < 0:
        raise ValueError("staged_iterations must be at least 0")
    if search_processes not in (1, 2):
        raise ValueError("search_processes must be 1 or 2")
    if work_limit is not None:
        if work_limit < 1:
            raise ValueError("work_limit must be at least 1")
        if options is not None:  # the node limit ends each search, the clock is a safety net
            options = dataclasses.replace(options, time_limit=max(options.time_limit, 60.0))
    # the routes so far, kept out of the collector's full scans (routing.batch.long_lived)
    with LongLived() as long_lived:
        capacity: IntArray | None = None
        if isinstance(cohort_input, Problem):
            problem = cohort_input
            index = SlotIndex.for_problem(problem)
            requests: Sequence[RouteRequest] = problem.requests
            pathways = {**{p.id: p for p in problem.pathways}, **(pathways or {})}
        else:
            requests, given = cohort_input
            if isinstance(given, LiveSlots):
                capacity = _live_capacity(requests, given)
            index = given.index if isinstance(given, LiveSlots) else given
        cohort = build_cohort(
            requests,
            index,
            catalogue=catalogue,
            pathways=pathways,
            allow_moving_existing=allow_moving_existing,
            options=options,
            per_day=per_day,
            horizon_days=horizon_days,
            capacity=capacity,
            deadline_measure=deadline_measure,
        )
        engine = _Engine(
            cohort, seed, time_limit, workers, progress, started, max_destroy, polish_share
        )
        engine.work_limit = work_limit
        engine.bound_probes = max(0, bound_probes)
        engine.staged_max_variables = max(0, staged_max_variables)
        engine.staged_iterations = staged_iterations
        engine.search_processes = search_processes
        engine.long_lived = long_lived
        return engine.run(max_iterations, exact_max_patients)


def _live_capacity(requests: Sequence[RouteRequest], live: LiveSlots) -> IntArray:
    """The places a cohort shares over ``live``: the free ones, and those its requests' existing
    bookings hold (at most the slot's held and booked places)."""
    capacity = live.remaining()
    own: dict[int, int] = {}
    for request in requests:
        for slot_id in request.existing_bookings.values():
            p = live.index.slot_position.get(slot_id)
            if p is not None:
                own[p] = own.get(p, 0) + 1
    for p, n in own.items():
        state = live.state(live.index.slots[p].id)
        capacity[p] += min(n, state.held + state.booked)
    return capacity


DET_SECONDS_PER_SEARCH = 0.002
"""CP-SAT deterministic seconds a single-route search of the work limit is worth."""


class _Engine:
    def __init__(
        self,
        cohort: Cohort,
        seed: int,
        time_limit: float,
        workers: int,
        progress: Callable[[BatchProgress], None] | None,
        started: float,
        max_destroy: int,
        polish_share: float,
    ) -> None:
        self.cohort = cohort
        self.seed = seed
        self.rng = random.Random(seed)
        self.time_limit = time_limit
        self.deadline = started + time_limit
        self.workers = workers
        self.progress = progress
        self.started = started
        self.max_destroy = max(0, max_destroy)
        self.iterations = 0
        self.improvements = 0
        self.polished = 0
        self.sweeps = 0
        self.swept = 0
        self.settled = False
        """Whether the sweeps before the search ended with one that bettered nothing (not cut
        by their share of the time)."""
        self.next_sweep: int | None = None
        """The iteration count at which the search sweeps next (:meth:`sweep_when_due`), or
        ``None``: no sweeps during the search."""
        self.polish_share = polish_share
        self.polish_reserve = 0.0
        self.alone: list[RouteResult] = []
        self.alone_cost: list[Cost] = []
        self._urgency: dict[int, int] | None = None
        self._matching: FirstDeadlineMatching | None = None
        self.work_limit: int | None = None
        """Single-route searches at most (see :func:`plan_batch`); ``None``: the wall clock."""
        self.bound_probes = 1500
        self.staged_max_variables = STAGED_MAX_VARIABLES
        self.staged_iterations = 0
        self.processes_used = 1
        """Processes the search ran in (one when it could not fork)."""
        self.search_processes = 1
        """Processes of the large-neighbourhood search (:mod:`routing.batch.paired_search`)."""
        self.long_lived = LongLived()
        """Settled at each step reported (each patient of a phase, every tenth iteration)."""

    def used(self) -> float:
        """The share of the limit used: searches over ``work_limit``, else seconds over the
        time limit."""
        if self.work_limit is not None:
            return self.cohort.searches[0] / self.work_limit
        return (time.perf_counter() - self.started) / self.time_limit

    def solver_time(self, share: float) -> tuple[float, float | None]:
        """``(time_limit, deterministic_time)`` for CP-SAT given ``share`` of what is left:
        seconds of the wall clock (and as much deterministic time), or, by work, a
        deterministic time of :data:`DET_SECONDS_PER_SEARCH` per search left (the wall clock
        then only a safety net)."""
        if self.work_limit is not None:
            left = max(0, self.work_limit - self.cohort.searches[0])
            return self.time_limit, max(0.05, share * left * DET_SECONDS_PER_SEARCH)
        remaining = max(0.05, self.deadline - time.perf_counter())
        return remaining * share, remaining * share

    def report(self, phase: str, done: int, total: int, best: Cost | None) -> None:
        self.long_lived.settle()
        if self.progress is not None:
            elapsed = time.perf_counter() - self.started
            self.progress(BatchProgress(phase, done, total, best, elapsed, self.time_limit))

    def counter(self, phase: str) -> Callable[[int], None]:
        total = len(self.cohort)
        return lambda n: self.report(phase, n, total, None)

    # -- the phases --------------------------------------------------------------------------
    def run(self, max_iterations: int | None, exact_max: int) -> BatchResult:
        cohort = self.cohort
        began = time.perf_counter()
        alone = no_competition_routes(cohort, on_patient=self.counter("no competition"))
        # A polish search (all objectives) costs a few no-competition searches (the earliest
        # completion only): keep three times their cost, at most the polish share of the limit
        # (a share of the limit; by work, one search a patient).
        if self.work_limit is not None:
            estimate = len(cohort.plannable()) / self.work_limit
        else:
            estimate = 3.0 * (time.perf_counter() - began) / self.time_limit
        self.polish_reserve = min(self.polish_share, estimate)
        self.alone = alone
        self.alone_cost = [cohort.cost(i, r) for i, r in enumerate(alone)]
        nc_bound = no_competition_bound(cohort, alone)
        fcfs = first_come_first_served(cohort, free=alone, on_patient=self.counter("first come"))
        fcfs_total = plan_total = fcfs.total()
        plan = fcfs.copy()
        if self.used() < 0.5:
            greedy = plan_in_order(
                cohort,
                self.due_order(),
                free=alone,
                on_patient=self.counter("deadline-aware greedy"),
                meet_deadlines=True,
            )
            if greedy.total() < plan_total:
                plan, plan_total = greedy, greedy.total()
        if self.used() < 0.5:
            matched = self.matched_start()
            if matched.total() < plan_total:
                plan, plan_total = matched, matched.total()
        else:
            # By work, a limit that small is the caller's choice; by the clock, a surprise.
            log = logger.info if self.work_limit is not None else logger.warning
            log("the baselines took half the limit; the greedy start is skipped")
        logger.info("first come, first served %s, start %s", fcfs_total, plan_total)
        plannable = cohort.plannable()
        stop = ""
        cap_bound: BatchBound | None = None
        if plannable and len(plannable) <= exact_max and supports_exact(cohort):
            plan, cap_bound = self.exact(plan, plannable, nc_bound)
        if cap_bound is None:
            cap_bound = self.capacity_bound(nc_bound, exact_max, plan)
        cap_bound = self.with_completion_flow(self.with_first_deadlines(cap_bound, nc_bound))
        cap_bound = self.with_staged_lp(cap_bound, plan)
        best = plan.total()
        if best <= cap_bound.key():
            stop = "proven optimal"
        else:
            if max_iterations != 0:
                self.settle(plan)
            stop = self.search(plan, max_iterations, cap_bound.key())
        to_bound = time.perf_counter() - self.started if stop == "proven optimal" else None
        if self.polish_share > 0:
            self.polish(plan)
        best = plan.total()
        proven = best <= cap_bound.key()
        if proven:
            stop = "proven optimal"
        assert plan.check_capacity(), "a plan exceeds a slot's capacity"
        self.report("done", 1, 1, best)
        return BatchResult(
            status=SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE,
            stop_reason=stop,
            time_limit_hit=stop == "time limit",
            objective=BatchObjective.of(best),
            fcfs_objective=BatchObjective.of(fcfs_total),
            deadline_measure=cohort.deadline_measure,
            routes=tuple(self.final(plan)),
            fcfs_routes=tuple(self.final(fcfs)),
            alone_routes=tuple(alone),
            weights=tuple(e.weight for e in cohort.entries),
            deadline_ids=tuple(self.soft_deadline_ids(e) for e in cohort.entries),
            no_competition_bound=nc_bound,
            capacity_bound=cap_bound,
            moved=self.moved(plan),
            input_issues=tuple(str(issue) for issue in cohort.index.issues),
            seed=self.seed,
            workers=self.workers,
            search_processes=self.processes_used,
            iterations=self.iterations,
            improvements=self.improvements,
            polished=self.polished,
            sweeps=self.sweeps,
            swept=self.swept,
            runtime_seconds=time.perf_counter() - self.started,
            seconds_to_bound=to_bound,
        )

    def final(self, plan: Assignment) -> list[RouteResult]:
        out = []
        for i, r in enumerate(plan.results):
            out.append(r if r is not None else self.cohort.route(i, plan.blocked(i)))
        return out

    def moved(self, plan: Assignment) -> tuple[str, ...]:
        moved = []
        for e, r in zip(self.cohort.entries, plan.results, strict=True):
            held = e.request.existing_bookings
            if not held or r is None or not r.has_route:
                continue
            booked = {b.stage_id: b.slot_id for b in r.bookings}
            if any(booked.get(stage) != slot for stage, slot in held.items()):
                moved.append(e.request.id)
        return tuple(moved)

    def matched_start(self) -> Assignment:
        """The deadline-aware greedy, with the first deadlines' slots given by a matching.

        The patients of a maximum matching to the slots that meet their first deadline
        (:func:`~routing.batch.matching.match_first_deadlines`) go first, by due time, each
        routed through its matched slot; then the others.
        """
        cohort = self.cohort
        order = self.due_order()
        matched = self.matching().pins
        first = [i for i in order if i in matched] + [i for i in order if i not in matched]
        return plan_in_order(
            cohort,
            first,
            free=self.alone,
            on_patient=self.counter("matched greedy"),
            meet_deadlines=True,
            pins={i: {stage: slot} for i, (stage, slot) in matched.items()},
        )

    def with_completion_flow(self, bound: BatchBound) -> BatchBound:
        """``bound`` with the completion flow's minutes, or its unplanned count, when larger
        (see :mod:`routing.batch.completion_flow`)."""
        cohort = self.cohort
        routed = len(cohort) - bound.unplanned
        flow = completion_flow_bound(
            cohort, self.alone, routed=routed, max_probes=self.bound_probes
        )
        least_unplanned = len(cohort) - flow.max_routed
        if least_unplanned > bound.unplanned:
            return BatchBound(
                method="completion min-cost flow: the last stages cannot place more patients",
                unplanned=least_unplanned,
                deadline_cost=0,
                weighted_minutes=flow.weighted_minutes,
                patients_covered=flow.patients,
                first_deadline_misses=bound.first_deadline_misses,
                flow_minutes=flow.weighted_minutes,
            )
        update: dict[str, object] = {"flow_minutes": flow.weighted_minutes}
        if flow.weighted_minutes > bound.weighted_minutes:
            update["weighted_minutes"] = flow.weighted_minutes
            update["method"] = f"{bound.method}; minutes by a completion min-cost flow"
        return bound.model_copy(update=update)

    def with_staged_lp(self, bound: BatchBound, plan: Assignment) -> BatchBound:
        """``bound`` with the staged LP's minutes when larger (see
        :mod:`routing.batch.stage_lp`); unchanged when the LP is larger than
        ``staged_max_variables`` and no ``staged_iterations`` are given.

        By the first-order method only when ``plan`` routes as many patients as the bound
        allows: then the LP has a solution (the plan's), while for a count no plan reaches the
        method may return any number, true of no plan and so of no use in the report.
        """
        iterations = self.staged_iterations or None
        if iterations is not None and plan.total()[0] > bound.unplanned:
            logger.info("the plan routes fewer patients than the bound: no first-order LP bound")
            iterations = None
        if not self.staged_max_variables and iterations is None:
            return bound
        routed = len(self.cohort) - bound.unplanned
        self.report("staged LP", 0, 1, None)
        staged = staged_lp_bound(
            self.cohort,
            self.alone,
            routed,
            max_variables=self.staged_max_variables,
            iterations=iterations,
        )
        if staged is None:
            return bound
        update: dict[str, object] = {"staged_minutes": staged.minutes}
        if staged.minutes > bound.weighted_minutes:
            how = (
                ""
                if staged.iterations is None
                else f" ({staged.iterations} first-order iterations)"
            )
            update["weighted_minutes"] = staged.minutes
            update["method"] = f"{bound.method}; minutes by a day-indexed LP over all stages{how}"
        return bound.model_copy(update=update)

    def with_first_deadlines(self, bound: BatchBound, nc_bound: BatchBound) -> BatchBound:
        """``bound`` with the matching's deadline cost when that is larger (see
        :mod:`routing.batch.bounds`); valid for plans that leave only the unroutable
        patients unplanned, so only applied when ``bound`` says no more than those."""
        matching = self.matching()
        bound = bound.model_copy(update={"first_deadline_misses": matching.must_miss})
        if bound.unplanned != nc_bound.unplanned or matching.deadline_cost <= bound.deadline_cost:
            return bound
        return bound.model_copy(
            update={
                "method": f"{bound.method}; first deadlines by a maximum matching",
                "deadline_cost": matching.deadline_cost,
                "weighted_minutes": nc_bound.weighted_minutes,
            }
        )

    def matching(self) -> FirstDeadlineMatching:
        """:func:`~routing.batch.matching.match_first_deadlines` of the plannable entries."""
        if self._matching is None:
            # Those that can be routed at all: every plan at the bound routes them.
            routable = [
                i
                for i in self.cohort.plannable()
                if self.alone[i].status not in (SolveStatus.INVALID, SolveStatus.INFEASIBLE)
            ]
            self._matching = match_first_deadlines(self.cohort, routable)
        return self._matching

    def urgency_order(self) -> list[int]:
        def key(i: int) -> tuple[int, int, float, object, str]:
            e = self.cohort.entries[i]
            soft = [d for d in self.alone[i].deadlines if not d.hard]
            if not soft:
                group, slack = 2, 0.0
            else:
                slack = min(d.slack / max(1, d.limit) for d in soft)
                group = 0 if slack >= 0 else 1
            return (-e.weight, group, slack, e.request.referral, e.request.id)

        return sorted(range(len(self.cohort)), key=key)

    def due_order(self) -> list[int]:
        """Entries by when they must start to meet their deadlines (earliest due first).

        An entry's due time is its referral plus the shortest soft limit counted from the
        referral (working days taken as 7/5 calendar days); higher priority first among equal
        due times, then referral and id. Entries without such a deadline come after, by referral.
        """

        def key(i: int) -> tuple[int, float, int, object, str]:
            e = self.cohort.entries[i]
            limits = [
                d.limit * (1.4 if d.unit is LagUnit.WORKING_DAYS else 1.0)
                for d in (e.pathway.deadlines if e.pathway is not None else ())
                if not d.hard and d.from_event == "referral" and d.unit in _DAY_UNITS
            ]
            due = e.request.referral.timestamp() + 86400 * min(limits) if limits else 0.0
            return (0 if limits else 1, due, -e.weight, e.request.referral, e.request.id)

        return sorted(range(len(self.cohort)), key=key)

    def exact(
        self, plan: Assignment, plannable: list[int], nc_bound: BatchBound
    ) -> tuple[Assignment, BatchBound | None]:
        cohort = self.cohort
        wall, deterministic = self.solver_time(0.8)
        self.report("exact model", 0, 1, plan.total())
        outcome = solve_exact(
            cohort,
            plannable,
            time_limit=wall,
            deterministic_time=deterministic,
            seed=self.seed,
            workers=self.workers,
            hint=dict(enumerate(plan.results)),
            interleave=self.work_limit is not None,
        )
        unroutable = len(cohort) - len(plannable)
        lb = (outcome.bound[0] + unroutable, outcome.bound[1], outcome.bound[2])
        bound = BatchBound(
            method="exact model (CP-SAT) of the whole cohort",
            unplanned=lb[0],
            deadline_cost=lb[1],
            weighted_minutes=lb[2],
            patients_covered=len(plannable),
        )
        if max(lb, nc_bound.key()) != lb:
            bound = nc_bound
        if outcome.objective is None:
            return plan, bound
        candidate = Assignment.empty(cohort)
        for i, slots in sorted(outcome.routes.items()):
            result = cohort.route_fixed(i, slots)
            if result is None:
                logger.debug(
                    "request %s: the exact model's route fails a rule", cohort.entries[i].request.id
                )
            else:
                candidate.place(i, result)
        for i in cohort.arrival_order():
            if candidate.results[i] is None:
                candidate.plan(i, self.alone)
        if not candidate.check_capacity():
            logger.debug("the exact model's plan breaks a capacity; it is not used")
            return plan, bound
        if candidate.total() != outcome.objective:
            logger.debug(
                "the exact model's plan evaluates to %s, not %s",
                candidate.total(),
                outcome.objective,
            )
        return (candidate if candidate.total() < plan.total() else plan), bound

    def soft_deadline_ids(self, entry: CohortEntry) -> tuple[str, ...]:
        """The ids of ``entry``'s soft deadlines in force on its referral day."""
        if entry.pathway is None:
            return ()
        day = self.cohort.index.calendar.local_date(entry.request.referral)
        return tuple(
            d.id
            for d in entry.pathway.deadlines
            if not d.hard and d.applies_on(day, entry.request.region)
        )

    def capacity_bound(self, nc_bound: BatchBound, exact_max: int, plan: Assignment) -> BatchBound:
        cohort = self.cohort
        parts: list[Cost] = []
        covered = 0
        budget = max(0.0, (self.deadline - time.perf_counter()) * 0.2)
        every = groups(cohort)
        small = sum(len(g) <= exact_max for g in every) if supports_exact(cohort) else 0
        _, by_work = self.solver_time(0.2)
        for group in every:
            alone = total_cost(patient_bound(cohort, i, self.alone[i]) for i in group)
            enough = self.work_limit is not None or budget > 0.05
            if len(group) <= exact_max and supports_exact(cohort) and enough:
                t0 = time.perf_counter()
                if self.work_limit is not None:  # the same share for each, by work
                    assert by_work is not None
                    wall, deterministic = self.time_limit, by_work / max(1, small)
                else:
                    wall, deterministic = budget, budget
                outcome = solve_exact(
                    cohort,
                    group,
                    time_limit=wall,
                    deterministic_time=deterministic,
                    seed=self.seed,
                    workers=self.workers,
                    hint={i: plan.results[i] for i in group},
                    interleave=self.work_limit is not None,
                )
                budget -= time.perf_counter() - t0
                parts.append(max(outcome.bound, alone))
                covered += len(group)
            else:
                parts.append(alone)
        unroutable = len(cohort) - len(cohort.plannable())
        u, d, m = total_cost(parts)
        if covered == 0:
            return nc_bound
        return BatchBound(
            method="exact model per group of patients sharing services, "
            "no-competition bound for larger groups",
            unplanned=u + unroutable,
            deadline_cost=d,
            weighted_minutes=m,
            patients_covered=covered,
        )

    # -- polish ------------------------------------------------------------------------------
    def settle(self, plan: Assignment) -> None:
        """Sweeps before the search (:meth:`sweep`), while each makes some route strictly
        better, in at most :data:`SETTLE_SHARE` of what is left before the polish
        (:attr:`settled` says whether the last bettered nothing)."""
        end = self.used() + SETTLE_SHARE * max(0.0, 1.0 - self.polish_reserve - self.used())
        while self.used() < end and time.perf_counter() < self.deadline:
            self.sweeps += 1
            kept, better = self.sweep(plan, end, "sweep")
            self.swept += better
            logger.info("sweep %d: %d routes kept, %d better", self.sweeps, len(kept), better)
            if not better:
                self.settled = True
                break

    def polish(self, plan: Assignment) -> None:
        """One last sweep (:meth:`sweep`) in the time left: the searches before it proved
        each patient's earliest completion only."""
        self.polished += len(self.sweep(plan, 1.0, "polish")[0])

    def sweep(
        self, plan: Assignment, until: float, phase: str
    ) -> tuple[dict[int, RouteResult], int]:
        """Plan each routed patient again, also for visit days, travel and preferences.

        In arrival order until :meth:`used` reaches ``until`` (or the time limit); a new route
        is kept when its batch cost is no worse (a route that met every deadline is searched
        among those that meet them). A route of the same cost may leave other slots free, so
        a patient later in the order may then find a strictly better one.

        Returns
        -------
        tuple
            The patients whose new route was kept, each with the route it replaced (of a
            cost no better), and how many of the new routes are strictly better.
        """
        cohort = self.cohort
        order = [i for i in cohort.arrival_order() if plan.results[i] is not None]
        kept: dict[int, RouteResult] = {}
        better = 0
        total = plan.total()  # kept in step: summing every patient's cost each report is N²
        for n, i in enumerate(order, start=1):
            if self.used() >= until or time.perf_counter() >= self.deadline:
                break
            current = plan.results[i]
            if current is None or not current.has_route:
                continue
            cost = plan.cost(i)
            plan.remove(i)
            met = bool(current.deadlines) and all(d.met for d in current.deadlines if not d.hard)
            blocked = plan.blocked(i)
            found = cohort.route(
                i, blocked, meet_deadlines=met, secondary=True, node_limit=POLISH_NODES
            )
            found_cost = cohort.cost(i, found)
            if found.has_route and found_cost <= cost:
                plan.place(i, found)
                kept[i] = current
                better += found_cost < cost
                total = replaced(total, cost, found_cost)
            else:
                plan.place(i, current)
            if n % 50 == 0:
                self.report(phase, n, len(order), total)
        return kept, better

    # -- large-neighbourhood search ----------------------------------------------------------
    def search(self, plan: Assignment, max_iterations: int | None, bound: Cost) -> str:
        """The large-neighbourhood search until a stop (:meth:`stop_reason`); its reason.

        With :attr:`search_processes` above one (and processes that can fork), the iterations
        run in two processes at once (:mod:`routing.batch.paired_search`)."""
        state = self.search_state(plan)
        self.next_sweep = self.iterations + self.sweep_interval() if self.settled else None
        if self.search_processes > 1 and can_pair():
            self.processes_used = 2
            return search_in_pairs(self, plan, state, max_iterations, bound)
        while True:
            reason = self.stop_reason(state, max_iterations, bound)
            if reason:
                return reason
            self.iterate(plan, state)
            self.sweep_when_due(plan, state)
            if self.iterations % 10 == 0:
                self.report("search", self.iterations, max_iterations or 0, state.best)

    def sweep_interval(self) -> int:
        """Search iterations between two sweeps (:data:`SWEEP_AFTER` a plannable patient)."""
        return max(1, math.ceil(SWEEP_AFTER * len(self.cohort.plannable())))

    def sweep_when_due(self, plan: Assignment, state: SearchState) -> list[int]:
        """A sweep (:meth:`sweep`) when the search has run :meth:`sweep_interval` iterations
        since the last one, the search's bookkeeping then brought in step for the routes it
        replaced (:meth:`follow`); those patients, by entry (none when no sweep was due).

        Only when the sweeps before the search ended with one that bettered nothing
        (:attr:`settled`): when their share of the time cut them short (10,000 patients), the
        search keeps the rest of its time."""
        if self.next_sweep is None or self.iterations < self.next_sweep:
            return []
        self.next_sweep = self.iterations + self.sweep_interval()
        self.sweeps += 1
        kept, better = self.sweep(plan, 1.0 - self.polish_reserve, "sweep")
        self.swept += better
        logger.info(
            "sweep %d (searching): %d routes kept, %d better", self.sweeps, len(kept), better
        )
        self.follow(plan, state, kept)
        return sorted(kept)

    def search_state(self, plan: Assignment) -> SearchState:
        """The search's bookkeeping over ``plan``: costs, slot holders, bounds, who is worse off."""
        cohort = self.cohort
        costs = [plan.cost(i) for i in range(len(cohort))]
        holders = SlotHolders(len(cohort.capacity), len(cohort))
        for i, r in enumerate(plan.results):
            self.hold(holders, i, r)
        lower = [patient_bound(cohort, i, a) for i, a in enumerate(self.alone)]
        worse = WorseOff(self.alone_cost, [a.has_route for a in self.alone])
        for i in cohort.plannable():
            worse.update(i, costs[i])
        return SearchState(costs, holders, lower, worse, total_cost(costs))

    def search_end(self) -> float:
        """The wall-clock time the search must end by (the polish's time kept)."""
        if self.work_limit is not None:
            return self.deadline
        return self.deadline - self.polish_reserve * self.time_limit

    def stop_reason(self, state: SearchState, max_iterations: int | None, bound: Cost) -> str:
        """Why the search stops before another iteration, or ``""`` to go on."""
        if state.best <= bound:
            return "proven optimal"
        if max_iterations is not None and self.iterations >= max_iterations:
            return "iteration limit"
        if self.work_limit is not None:
            if self.used() >= 1.0 - self.polish_reserve:
                return "work limit"
            if time.perf_counter() >= self.deadline:
                return "time limit"
        elif time.perf_counter() >= self.search_end():
            return "time limit"
        if not state.worse.members:
            return "every patient has a route as good as alone"
        return ""

    def iterate(self, plan: Assignment, state: SearchState) -> list[int] | None:
        """One iteration: pick, destroy, repair; the patients re-planned when the result is
        kept (no worse), else ``None`` (undone)."""
        self.iterations += 1
        costs, holders, worse = state.costs, state.holders, state.worse
        chosen = self.pick(worse)
        if self.rng.random() < QUEUE_SHARE:
            destroyed = [chosen, *self.queue_ahead(chosen, plan, holders)]
        else:
            destroyed = [chosen, *self.blockers(chosen, plan, holders)]
        before = total_cost(costs[i] for i in destroyed)
        old = {i: plan.remove(i) for i in destroyed}
        for i, r in old.items():
            self.unhold(holders, i, r)
        order = [chosen, *self.repair_order(destroyed[1:])]
        after = self.repair(plan, order, before, state.lower)
        if after is not None and after <= before:
            for i in destroyed:
                costs[i] = plan.cost(i)
                worse.update(i, costs[i])
                self.hold(holders, i, plan.results[i])
            if after < before:
                self.improvements += 1
                state.best = replaced(state.best, before, after)
            return destroyed
        for i in destroyed:
            plan.remove(i)
        for i, r in old.items():
            assert r is not None
            plan.place(i, r)
            self.hold(holders, i, r)
        return None

    def set_routes(
        self, plan: Assignment, state: SearchState, routes: Mapping[int, RouteResult | None]
    ) -> None:
        """Give the patients of ``routes`` these routes (the caller knows they fit), the
        search's bookkeeping in step."""
        old = {i: plan.remove(i) for i in routes}
        for i, r in routes.items():
            if r is not None:
                plan.place(i, r)
        self.follow(plan, state, old)

    def follow(
        self, plan: Assignment, state: SearchState, old: Mapping[int, RouteResult | None]
    ) -> None:
        """Bring the search's bookkeeping in step with ``plan`` after the patients of ``old``
        left those routes for the ones they have in ``plan`` now."""
        before = total_cost(state.costs[i] for i in old)
        for i, r in old.items():
            self.unhold(state.holders, i, r)
            self.hold(state.holders, i, plan.results[i])
            state.costs[i] = plan.cost(i)
            state.worse.update(i, state.costs[i])
        state.best = replaced(state.best, before, total_cost(state.costs[i] for i in old))

    def repair(
        self, plan: Assignment, order: list[int], before: Cost, lower: Sequence[Cost]
    ) -> Cost | None:
        """Plan ``order`` again, one after another; their new cost, or ``None`` as soon as it
        is sure to exceed ``before`` (the rest not planned).

        The first of ``order`` (the chosen patient) is searched also for the fewest visit days,
        least travel and preferred facilities among its fastest routes (``secondary``, the
        deadline-aware route and the fastest alike), the others for the earliest completion
        only.

        Each patient not yet planned counts at its ``lower`` bound (:func:`patient_bound`, below
        any route's cost), and a sum of costs each at least its bound is at least the sum of the
        bounds (the lexicographic order is kept by addition): an iteration given up this way
        would have been undone, so the plans are the same, with fewer searches.
        """
        at_least = total_cost(lower[i] for i in order)
        for i in order:
            plan.plan(i, self.alone, meet_deadlines=True, secondary=i == order[0])
            at_least = replaced(at_least, lower[i], plan.cost(i))
            if at_least > before:
                return None
        return at_least  # every bound replaced: the new cost

    def pick(self, worse: WorseOff) -> int:
        """Half the time one of the eight worst off, else mostly one missing a deadline."""
        roll = self.rng.random()
        if roll < 0.5:
            worst = worse.worst(8)
            return worst[self.rng.randrange(len(worst))]
        late = worse.late
        if late and roll < 0.85:
            return late[self.rng.randrange(len(late))]
        members = worse.members
        return members[self.rng.randrange(len(members))]

    def blockers(self, chosen: int, plan: Assignment, holders: SlotHolders) -> list[int]:
        slots = np.asarray(self.cohort.routed_slots(chosen, self.alone[chosen]), dtype=np.int64)
        found = holders.of(slots[plan.full[slots]])
        return self.at_most_destroyed(found - {chosen})

    def queue_ahead(self, chosen: int, plan: Assignment, holders: SlotHolders) -> list[int]:
        """Up to :attr:`max_destroy` patients ahead of ``chosen`` in the queues it waits in.

        For each stage that ``chosen`` books later than alone, the holders of the full slots of
        the booked service that start from the stage's time alone up to its booked time (the
        index's slots of each service by start).
        """
        current = plan.results[chosen]
        assert current is not None
        index = self.cohort.index
        alone_at = {b.stage_id: b for b in self.alone[chosen].bookings}
        found: set[int] = set()
        full = plan.full
        for b in current.bookings:
            a = alone_at.get(b.stage_id)
            if a is None or b.start <= a.start:
                continue
            key = str(b.service)  # a booked slot's service: the index has its slots
            starts = index.service_starts[key]
            lo = np.searchsorted(starts, index.start[index.slot_position[a.slot_id]])
            hi = np.searchsorted(starts, index.start[index.slot_position[b.slot_id]])
            ahead = index.by_service[key][lo:hi]
            found |= holders.of(ahead[full[ahead]])  # none for a slot full of kept bookings
        return self.at_most_destroyed(found - {chosen})

    def at_most_destroyed(self, found: set[int]) -> list[int]:
        """``found`` in order, or a seeded sample of :attr:`max_destroy` of them when more."""
        pool = sorted(found)
        if len(pool) > self.max_destroy:
            pool = sorted(self.rng.sample(pool, self.max_destroy))
        return pool

    def repair_order(self, others: list[int]) -> list[int]:
        if self.rng.random() < 0.5:
            rank = self.urgency_rank()
            return sorted(others, key=lambda i: rank[i])
        shuffled = list(others)
        self.rng.shuffle(shuffled)
        return shuffled

    def urgency_rank(self) -> dict[int, int]:
        """Each patient's place in :meth:`urgency_order` (computed once)."""
        if self._urgency is None:
            self._urgency = {i: n for n, i in enumerate(self.urgency_order())}
        return self._urgency

    def hold(self, holders: SlotHolders, i: int, r: RouteResult | None) -> None:
        if r is not None and r.has_route:
            holders.add(self.cohort.routed_slots(i, r), i)

    def unhold(self, holders: SlotHolders, i: int, r: RouteResult | None) -> None:
        if r is not None and r.has_route:
            holders.discard(self.cohort.routed_slots(i, r), i)
