"""Planning a country-day: the federal capacity shared out, then each region planned alone.

Regions share no regional slot, so they decompose; what they share is the federal centres'
capacity. The scheme:

1. :func:`allot_federal` gives every federal slot to one region, in time order, each to the
   region whose demand (its referrals) is least served so far (the D'Hondt rule: the largest
   ``demand / (slots given + 1)``, ties by code). Every region gets federal places in proportion
   to its demand, spread over the days; no place is given twice, so the regional plans can
   never conflict over one.
2. :func:`plan_region` plans one region with its own slots and its federal allotment, by
   :func:`routing.batch.plan_batch` measured in work (single-route searches in proportion to its
   referrals, so the plan does not depend on the machine's speed or load), and sums it up.
3. :func:`plan_country` runs the regions through a *runner*: in this process by default, or on
   Dask (:mod:`routing.country.distributed`). Every region is a pure task of its own input, so
   the answer is the same whichever runner and however many workers, byte for byte.

A federal place one region leaves unused is not offered to another (a second round would be);
the figures say how many there are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from routing.batch import plan_batch
from routing.batch.report import plan_document
from routing.country.generate import Country
from routing.domain import Slot
from routing.exceptions import InvalidInputError
from routing.problem import Problem
from routing.result import RouteResult

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
    """One region's input: its problem with its federal allotment, and the limits."""

    code: str
    problem: Problem
    seed: int
    work_limit: int
    time_limit: float
    bound_probes: int = 0

    @property
    def patients(self) -> int:
        """The region's referrals."""
        return len(self.problem.requests)


@dataclass(frozen=True, slots=True)
class RegionOutcome:
    """One region's plan, summed up (``plan_sha256`` identifies the plan document).

    ``federal_places`` are the federal places the region was given, ``federal_used`` those its
    plan takes.
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


@dataclass(frozen=True, slots=True)
class CountryResult:
    """Every region's outcome (by code) and the country's totals."""

    outcomes: tuple[RegionOutcome, ...]

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
            "mean_days": sum(x.completion_days for x in o) / max(1, routed),
            "fcfs_mean_days": sum(x.fcfs_completion_days for x in o) / max(1, fcfs_routed),
            "federal_places": sum(x.federal_places for x in o),
            "federal_used": sum(x.federal_used for x in o),
        }

    def key(self) -> str:
        """Every region's plan, as one digest: equal keys, equal plans."""
        joined = "\n".join(f"{x.code} {x.plan_sha256}" for x in self.outcomes)
        return hashlib.sha256(joined.encode()).hexdigest()


Runner = Callable[[Sequence[RegionTask]], list[RegionOutcome]]
"""Runs region tasks and returns their outcomes (any order; every task once)."""


def allot_federal(country: Country) -> dict[str, tuple[Slot, ...]]:
    """Region code → the federal slots it is given (see the module docstring)."""
    demand = {code: len(p.requests) for code, p in country.regions.items()}
    given = dict.fromkeys(demand, 0)
    allotted: dict[str, list[Slot]] = {code: [] for code in demand}
    for slot in sorted(country.federal.slots, key=lambda s: (s.start, s.id)):
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
    federal = country.federal.facilities
    tasks = []
    for n, code in enumerate(sorted(country.regions)):
        own = country.regions[code]
        problem = own.model_copy(
            update={
                "facilities": (*own.facilities, *federal),
                "slots": (*own.slots, *allotment[code]),
            }
        )
        work = work_per_patient * max(1, len(own.requests))
        tasks.append(RegionTask(code, problem, seed + n, work, time_limit))
    return tasks


def plan_region(task: RegionTask) -> RegionOutcome:
    """Plan one region (a pure function of ``task``: same task, same outcome but ``seconds``)."""
    started = time.perf_counter()
    result = plan_batch(
        task.problem,
        seed=task.seed,
        time_limit=task.time_limit,
        work_limit=task.work_limit,
        exact_max_patients=0,
        bound_probes=task.bound_probes,
    )
    document = json.dumps(plan_document(result), sort_keys=True, ensure_ascii=False)
    federal = {s.id for s in task.problem.slots if s.facility_id.startswith("fed-")}
    used = sum(b.slot_id in federal for r in result.routes for b in r.bookings)
    return RegionOutcome(
        code=task.code,
        patients=len(result.routes),
        unplanned=result.objective.unplanned,
        fcfs_unplanned=result.fcfs_objective.unplanned,
        deadlines=sum(len([d for d in r.deadlines if not d.hard]) for r in result.routes),
        missed=_missed(result.routes),
        fcfs_missed=_missed(result.fcfs_routes),
        must_miss=result.capacity_bound.first_deadline_misses or 0,
        completion_days=_days(result.routes),
        fcfs_completion_days=_days(result.fcfs_routes),
        federal_places=sum(s.capacity for s in task.problem.slots if s.id in federal),
        federal_used=used,
        plan_sha256=hashlib.sha256(document.encode()).hexdigest(),
        seconds=time.perf_counter() - started,
    )


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
) -> CountryResult:
    """Plan the country-day (module docstring); ``runner`` runs the regions (here by default).

    Raises
    ------
    InvalidInputError
        If the runner loses a region or returns one twice (never silently).
    """
    tasks = region_tasks(
        country, seed=seed, work_per_patient=work_per_patient, time_limit=time_limit
    )
    outcomes = (runner or in_process)(tasks)
    by_code: Mapping[str, RegionOutcome] = {o.code: o for o in outcomes}
    wanted = [t.code for t in tasks]
    if len(outcomes) != len(tasks) or set(by_code) != set(wanted):
        missing = sorted(set(wanted) - set(by_code))
        raise InvalidInputError(
            "country plan", "regions", f"the run lost regions {missing or '(duplicates)'}"
        )
    logger.info("country: %d regions planned", len(outcomes))
    return CountryResult(tuple(by_code[c] for c in wanted))
