"""Planning a country-day: the federal capacity shared out, then each region planned alone.

Regions share no regional slot, so they decompose; what they share is the federal centres'
capacity. The scheme:

1. :func:`allot_federal` gives every federal slot to one region, in time order, each to the
   region whose demand (its referrals) is least served so far (the D'Hondt rule: the largest
   ``demand / (slots given + 1)``, ties by code). Every region gets federal places in proportion
   to its demand, spread over the days; no place is given twice, so the regional plans can
   never conflict over one.
2. :func:`plan_region` generates one region (from the country's parameters, where it runs) and
   plans it with its own slots and its federal allotment, by :func:`routing.batch.plan_batch`
   measured in work (single-route searches in proportion to its referrals, so the plan does not
   depend on the machine's speed or load), and sums it up.
3. A second round offers the federal places the first round's plans left unused to the regions
   that could use more: those with patients unplanned or deadlines missed whose plan took every
   place of some federal service it was given places of. The places go out by the same rule,
   weighted by that need; each such region is planned again with the places its first plan used
   and its new share, and keeps the better plan (fewer unplanned, then fewer misses, then fewer
   days), so a second round never makes a region worse. The shares are disjoint from each other
   and from every kept plan's places, so the plans still cannot conflict.
4. :func:`plan_country` runs the regions through a *runner*: in this process by default, or on
   Dask (:mod:`routing.country.distributed`). Every region is a pure task of its own input, so
   the answer is the same whichever runner and however many workers, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from routing.batch import plan_batch
from routing.batch.cohort import build_cohort
from routing.batch.matching import match_first_deadlines
from routing.batch.report import plan_document
from routing.calendar import calendar_for
from routing.country.generate import (
    Country,
    CountryParameters,
    federal_problem,
    region_problem,
)
from routing.domain import Facility, Slot
from routing.exceptions import InvalidInputError
from routing.problem import Problem
from routing.result import RouteResult, SolveStatus
from routing.slot_index import SlotIndex

__all__ = [
    "CountryResult",
    "RegionOutcome",
    "RegionTask",
    "Runner",
    "allot_federal",
    "plan_country",
    "plan_region",
    "region_tasks",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RegionTask:
    """One region's input: how to generate it, its federal allotment, and the limits.

    Small by design: the region's own facilities, slots and referrals are generated from
    ``parameters`` where the task runs (:meth:`problem`), so a distributed run ships parameters,
    not the country.
    """

    code: str
    parameters: CountryParameters
    federal_facilities: tuple[Facility, ...]
    federal_slots: tuple[Slot, ...]
    patients: int
    seed: int
    work_limit: int
    time_limit: float
    bound_probes: int = 0
    round: int = 1

    def problem(self) -> Problem:
        """The region's problem with its federal allotment (generated now, the same each time)."""
        own = region_problem(self.parameters, self.code)
        return own.model_copy(
            update={
                "facilities": (*own.facilities, *self.federal_facilities),
                "slots": (*own.slots, *self.federal_slots),
            }
        )


@dataclass(frozen=True, slots=True)
class RegionOutcome:
    """One region's plan, summed up (``plan_sha256`` identifies the plan document).

    ``federal_places`` are the federal places the region was given for this plan,
    ``federal_used`` those its plan takes (``federal_used_slots``: their ids). ``federal_short``
    says whether the plan took every place of some federal service it was given places of: the
    sign that more might help it. ``round`` is the round whose plan this is.

    ``must_miss`` is the region's matching bound with its federal allotment (patients who miss
    their first deadline in every plan of the region that routes all its routable patients);
    ``country_must_miss`` the same with every federal place open to the region, a relaxation
    of every share-out: summed over the regions, a bound for every plan of the country.
    """

    code: str
    patients: int
    unplanned: int
    fcfs_unplanned: int
    deadlines: int
    missed: int
    fcfs_missed: int
    must_miss: int
    completion_days: float
    fcfs_completion_days: float
    federal_places: int
    federal_used: int
    plan_sha256: str
    seconds: float
    federal_used_slots: tuple[str, ...] = ()
    federal_short: bool = False
    round: int = 1
    country_must_miss: int = 0

    @property
    def need(self) -> int:
        """Patients left unplanned and deadlines missed."""
        return self.unplanned + self.missed

    def rank(self) -> tuple[int, int, float]:
        """The plan's quality, smaller is better: unplanned, missed, days to completion."""
        return (self.unplanned, self.missed, self.completion_days)


@dataclass(frozen=True, slots=True)
class CountryResult:
    """Every region's outcome (by code) and the country's totals.

    ``federal_total`` counts every federal place; ``reoffered`` the unused places given out
    again in the second round, to ``replanned`` regions, of which ``improved`` kept the new plan.
    """

    outcomes: tuple[RegionOutcome, ...]
    federal_total: int = 0
    reoffered: int = 0
    replanned: int = 0
    improved: int = 0

    def totals(self) -> dict[str, float | int]:
        """Sums over the regions; mean days over the routed patients."""
        o = self.outcomes
        routed = sum(x.patients - x.unplanned for x in o)
        fcfs_routed = sum(x.patients - x.fcfs_unplanned for x in o)
        return {
            "regions": len(o),
            "patients": sum(x.patients for x in o),
            "unplanned": sum(x.unplanned for x in o),
            "fcfs_unplanned": sum(x.fcfs_unplanned for x in o),
            "deadlines": sum(x.deadlines for x in o),
            "missed": sum(x.missed for x in o),
            "fcfs_missed": sum(x.fcfs_missed for x in o),
            "must_miss": sum(x.must_miss for x in o),
            "country_must_miss": sum(x.country_must_miss for x in o),
            "mean_days": sum(x.completion_days for x in o) / max(1, routed),
            "fcfs_mean_days": sum(x.fcfs_completion_days for x in o) / max(1, fcfs_routed),
            "federal_places": self.federal_total,
            "federal_used": sum(x.federal_used for x in o),
            "federal_reoffered": self.reoffered,
            "replanned_regions": self.replanned,
            "improved_regions": self.improved,
        }

    def key(self) -> str:
        """Every region's plan, as one digest: equal keys, equal plans."""
        joined = "\n".join(f"{x.code} {x.plan_sha256}" for x in self.outcomes)
        return hashlib.sha256(joined.encode()).hexdigest()


Runner = Callable[[Sequence[RegionTask]], list[RegionOutcome]]
"""Runs region tasks and returns their outcomes (any order; every task once)."""


def allot_federal(country: Country) -> dict[str, tuple[Slot, ...]]:
    """Region code → the federal slots it is given (see the module docstring)."""
    return _dhondt(country.federal.slots, country.sizes)


def _dhondt(slots: Iterable[Slot], demand: Mapping[str, int]) -> dict[str, tuple[Slot, ...]]:
    """Each slot, in time order, to the region of the largest ``demand / (given + 1)``."""
    given = dict.fromkeys(demand, 0)
    allotted: dict[str, list[Slot]] = {code: [] for code in demand}
    for slot in sorted(slots, key=lambda s: (s.start, s.id)):
        code = max(demand, key=lambda c: (demand[c] / (given[c] + 1), _reverse(c)))
        allotted[code].append(slot)
        given[code] += slot.capacity
    return {code: tuple(slots) for code, slots in allotted.items()}


def _reverse(code: str) -> tuple[int, ...]:
    """A key that makes ``max`` prefer the smaller code on ties."""
    return tuple(-ord(ch) for ch in code)


def region_tasks(
    country: Country, *, seed: int = 0, work_per_patient: int = 12, time_limit: float = 3600.0
) -> list[RegionTask]:
    """One task per region, by code, each with its federal allotment and a work limit of
    ``work_per_patient`` single-route searches per referral (the baselines take about four)."""
    if work_per_patient < 1:
        raise InvalidInputError("country plan", "work_per_patient", "must be at least 1")
    allotment = allot_federal(country)
    return [
        RegionTask(
            code=code,
            parameters=country.parameters,
            federal_facilities=country.federal.facilities,
            federal_slots=allotment[code],
            patients=country.sizes[code],
            seed=seed + n,
            work_limit=work_per_patient * max(1, country.sizes[code]),
            time_limit=time_limit,
        )
        for n, code in enumerate(country.codes)
    ]


def plan_region(task: RegionTask) -> RegionOutcome:
    """Plan one region (a pure function of ``task``: same task, same outcome but ``seconds``)."""
    started = time.perf_counter()
    problem = task.problem()
    result = plan_batch(
        problem,
        seed=task.seed,
        time_limit=task.time_limit,
        work_limit=task.work_limit,
        exact_max_patients=0,
        bound_probes=task.bound_probes,
    )
    document = json.dumps(plan_document(result), sort_keys=True, ensure_ascii=False)
    must_miss = result.capacity_bound.first_deadline_misses or 0
    # More places never make the bound larger: nothing to look for when it is 0 already.
    open_must_miss = _open_must_miss(task, problem, result.alone_routes) if must_miss else 0
    federal = {s.id: s for s in task.federal_slots}
    used = sorted({b.slot_id for r in result.routes for b in r.bookings if b.slot_id in federal})
    given = Counter[str]()
    for s in task.federal_slots:
        given[str(s.service)] += s.capacity
    taken = Counter(str(federal[i].service) for i in used)
    services = set(_federal_services(task))
    return RegionOutcome(
        code=task.code,
        patients=len(result.routes),
        unplanned=result.objective.unplanned,
        fcfs_unplanned=result.fcfs_objective.unplanned,
        deadlines=sum(len([d for d in r.deadlines if not d.hard]) for r in result.routes),
        missed=_missed(result.routes),
        fcfs_missed=_missed(result.fcfs_routes),
        must_miss=must_miss,
        completion_days=_days(result.routes),
        fcfs_completion_days=_days(result.fcfs_routes),
        federal_places=sum(given.values()),
        federal_used=len(used),
        plan_sha256=hashlib.sha256(document.encode()).hexdigest(),
        seconds=time.perf_counter() - started,
        federal_used_slots=tuple(used),
        federal_short=any(0 < given[s] <= taken[s] for s in services),
        round=task.round,
        country_must_miss=open_must_miss,
    )


def _open_must_miss(task: RegionTask, problem: Problem, alone: Sequence[RouteResult]) -> int:
    """The region's first-deadline matching bound with every federal place open to it.

    Over the patients its plan found routable alone (routable with more places too; a bound
    over fewer patients is weaker, never wrong): patients that miss their first deadline
    whatever share of the federal capacity the region gets."""
    own = {s.id for s in task.federal_slots}
    everything = federal_problem(task.parameters).slots
    slots = (*(s for s in problem.slots if s.id not in own), *everything)
    index = SlotIndex.build(
        problem.facilities, slots, calendar=calendar_for(problem.timezone), travel=problem.travel
    )
    cohort = build_cohort(problem.requests, index, pathways={p.id: p for p in problem.pathways})
    unroutable = (SolveStatus.INVALID, SolveStatus.INFEASIBLE)
    routable = [i for i in cohort.plannable() if alone[i].status not in unroutable]
    return match_first_deadlines(cohort, routable).must_miss


def _federal_services(task: RegionTask) -> Iterable[str]:
    """The services the federal centres give."""
    return (str(s) for f in task.federal_facilities for s in f.services)


def _missed(routes: Sequence[RouteResult]) -> int:
    return sum(1 for r in routes for d in r.deadlines if not d.hard and not d.met)


def _days(routes: Sequence[RouteResult]) -> float:
    """Days to completion summed over the routed patients."""
    return sum(r.objective.completion_minutes / 1440 for r in routes if r.objective is not None)


def in_process(tasks: Sequence[RegionTask]) -> list[RegionOutcome]:
    """The :data:`Runner` of this process: one region after another."""
    return [plan_region(task) for task in tasks]


def plan_country(
    country: Country,
    *,
    seed: int = 0,
    work_per_patient: int = 12,
    time_limit: float = 3600.0,
    runner: Runner | None = None,
    second_round: bool = True,
) -> CountryResult:
    """Plan the country-day (module docstring); ``runner`` runs the regions (here by default).

    Raises
    ------
    InvalidInputError
        If the runner loses a region or returns one twice (never silently).
    """
    run = runner or in_process
    tasks = region_tasks(
        country, seed=seed, work_per_patient=work_per_patient, time_limit=time_limit
    )
    first = _checked(run(tasks), tasks)
    federal_total = sum(s.capacity for s in country.federal.slots)
    if not second_round:
        return CountryResult(tuple(first[t.code] for t in tasks), federal_total)
    again, pool = _second_round(tasks, first)
    second = _checked(run(again), again) if again else {}
    final = {
        code: (second[code] if code in second and second[code].rank() < o.rank() else o)
        for code, o in first.items()
    }
    logger.info(
        "country: %d regions planned; %d federal places offered again to %d regions",
        len(final),
        pool,
        len(again),
    )
    return CountryResult(
        tuple(final[t.code] for t in tasks),
        federal_total,
        reoffered=pool,
        replanned=len(again),
        improved=sum(1 for code in second if final[code] is second[code]),
    )


def _second_round(
    tasks: Sequence[RegionTask], first: Mapping[str, RegionOutcome]
) -> tuple[list[RegionTask], int]:
    """The second round's tasks and how many places they share (module docstring)."""
    used = {t.code: set(first[t.code].federal_used_slots) for t in tasks}
    unused = [s for t in tasks for s in t.federal_slots if s.id not in used[t.code]]
    wanting = {
        t.code: first[t.code].need
        for t in tasks
        if first[t.code].need > 0 and first[t.code].federal_short
    }
    if not unused or not wanting:
        return [], 0
    shares = _dhondt(unused, wanting)
    again = []
    for t in tasks:
        if t.code not in wanting or not shares[t.code]:
            continue
        kept = tuple(s for s in t.federal_slots if s.id in used[t.code])
        slots = tuple(sorted(kept + shares[t.code], key=lambda s: s.id))
        again.append(replace(t, federal_slots=slots, round=2))
    return again, sum(s.capacity for t in again for s in shares[t.code])


def _checked(
    outcomes: Sequence[RegionOutcome], tasks: Sequence[RegionTask]
) -> dict[str, RegionOutcome]:
    """The outcomes by code; a lost or repeated region is an error naming it."""
    by_code: dict[str, RegionOutcome] = {o.code: o for o in outcomes}
    wanted = [t.code for t in tasks]
    if len(outcomes) != len(tasks) or set(by_code) != set(wanted):
        missing = sorted(set(wanted) - set(by_code))
        raise InvalidInputError(
            "country plan", "regions", f"the run lost regions {missing or '(duplicates)'}"
        )
    return by_code
