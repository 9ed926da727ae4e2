"""Verification by re-planning: the proposal against two baselines of the same size.

Every what-if is checked by :func:`~routing.batch.plan_batch` itself, on the index with the
slots added (or withdrawn). To keep runs deterministic and bounded, the search stops at
``max_iterations`` (the time limit is only a safety net) and polishing, which is limited by the
wall clock, is off. The baselines add as many slots as the proposal, copied from the same pool:

* **random**: slots of the pool drawn uniformly with a seeded generator (with replacement for a
  budget, without for a list of candidates);
* **longest queue**: what a report's bottleneck table suggests: the services with the most
  delayed patients in the plan before (:func:`~routing.batch.report.build_report`) get the slots
  in turn, one at a time to the service with the longest queue left (each slot shortens it by
  its places); within a service, the facilities with the most delayed patients first, spread
  over the window's days (the earliest slot of each facility and day).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway
from routing.batch.engine import BatchResult, plan_batch
from routing.batch.objective import DEADLINE_MEASURES, DeadlineMeasure
from routing.batch.report import build_report
from routing.batch.whatif.candidates import (
    WhatIfInputs,
    WhatIfSetting,
    copy_slot,
    setting,
)
from routing.batch.whatif.model import (
    CapacityProposal,
    PlanFigures,
    WhatIfComparison,
    WithdrawalCheck,
    WithdrawalProposal,
)
from routing.domain import Slot
from routing.exceptions import InvalidInputError
from routing.slot_index import SlotIndex

__all__ = [
    "ReplanOptions",
    "longest_queue_additions",
    "random_additions",
    "replan",
    "verify",
    "verify_withdrawals",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplanOptions:
    """How each re-plan runs (see :func:`~routing.batch.plan_batch`).

    ``max_iterations`` bounds the search so that the same input gives the same plan;
    ``time_limit`` is a safety net only (a run it stops is no longer deterministic).
    ``exact_max_patients`` is 0 by default: the exact model (and the exact bounds of small
    groups) would get a share of the wall-clock limit, which neither bounds nor repeats.
    """

    seed: int = 0
    max_iterations: int = 200
    time_limit: float = 3600.0
    workers: int = 1
    per_day: int = 20
    horizon_days: int = 21
    exact_max_patients: int = 0
    deadline_measure: DeadlineMeasure = "misses"
    search_processes: int = 1

    def __post_init__(self) -> None:
        if self.deadline_measure not in DEADLINE_MEASURES:
            raise InvalidInputError(
                "replan options", "deadline_measure", f"must be one of {DEADLINE_MEASURES}"
            )
        if self.search_processes not in (1, 2):
            raise InvalidInputError("replan options", "search_processes", "must be 1 or 2")
        if self.max_iterations < 0:
            raise InvalidInputError("replan options", "max_iterations", "must be ≥ 0")
        if self.time_limit <= 0:
            raise InvalidInputError("replan options", "time_limit", "must be positive")


def replan(
    s: WhatIfSetting,
    label: str,
    *,
    added: Sequence[Slot] = (),
    withdrawn: Sequence[str] = (),
    options: ReplanOptions | None = None,
) -> tuple[PlanFigures, BatchResult]:
    """Plan the cohort again with ``added`` slots and without the ``withdrawn`` slot ids."""
    options = options or ReplanOptions()
    gone = set(withdrawn)
    index = s.index
    if added or gone:
        index = SlotIndex.build(
            index.facilities,
            [slot for slot in index.slots if slot.id not in gone] + list(added),
            calendar=index.calendar,
            travel=index.travel,
        )
    result = plan_batch(
        (s.requests, index),
        seed=options.seed,
        time_limit=options.time_limit,
        workers=options.workers,
        catalogue=s.catalogue,
        pathways=s.pathways,
        max_iterations=options.max_iterations,
        exact_max_patients=options.exact_max_patients,
        per_day=options.per_day,
        horizon_days=options.horizon_days,
        polish_share=0.0,
        deadline_measure=options.deadline_measure,
        search_processes=options.search_processes,
    )
    if result.time_limit_hit:
        logger.warning("what-if re-plan %r stopped on the time limit: not deterministic", label)
    after = (
        s
        if index is s.index
        else setting((s.requests, index), catalogue=s.catalogue, pathways=s.pathways)
    )
    report = build_report(result, index)
    routes = [r for r in result.routes if r.has_route]
    missing = sum(any(not d.met for d in r.deadlines if not d.hard) for r in routes)
    figures = PlanFigures(
        label=label,
        slots_changed=len(added) + len(gone),
        planned=report.planned,
        unplanned=len(report.unplanned),
        patients_with_deadlines=sum(any(not d.hard for d in r.deadlines) for r in routes),
        patients_missing=missing,
        deadlines_missed=report.deadlines_total.measured - report.deadlines_total.met,
        mean_days=report.completion.mean_days,
        bound=after.network.bound(after.free),
        plan_bound=result.capacity_bound.first_deadline_misses,
        objective=result.objective.key(),
        stop_reason=result.stop_reason,
        iterations=result.iterations,
    )
    logger.info("what-if re-plan %r: %d patients missing a deadline", label, missing)
    return figures, result


def random_additions(s: WhatIfSetting, proposal: CapacityProposal, seed: int) -> list[Slot]:
    """As many copies as the proposal's additions, drawn uniformly from its pool."""
    pool = sorted(proposal.pool)
    n = len(proposal.additions)
    if not pool or n == 0:
        return []
    rng = random.Random(seed)
    chosen = [rng.choice(pool) for _ in range(n)] if proposal.repeat else rng.sample(pool, n)
    slots = s.index.slots
    position = s.index.slot_position
    return [copy_slot(slots[position[sid]], k + 1) for k, sid in enumerate(chosen)]


def longest_queue_additions(
    s: WhatIfSetting, proposal: CapacityProposal, before: BatchResult
) -> list[Slot]:
    """As many copies as the proposal's additions, to the services with the longest queues."""
    n = len(proposal.additions)
    index = s.index
    pool = [index.slot_position[sid] for sid in proposal.pool]
    if n == 0 or not pool:
        return []
    report = build_report(before, index, top=len(index.slots) + len(index.facilities))
    queue = {b.id: b.delayed_patients for b in report.bottlenecks if b.kind == "service"}
    at = {b.id: b.delayed_patients for b in report.bottlenecks if b.kind == "facility"}
    calendar = index.calendar
    by_service: dict[str, list[int]] = {}
    seen: set[tuple[str, str, object]] = set()
    for p in sorted(pool, key=lambda p: (int(index.start[p]), index.slots[p].id)):
        slot = index.slots[p]
        where = (str(slot.service), slot.facility_id, calendar.local_date(slot.start))
        if where not in seen:
            seen.add(where)
            by_service.setdefault(where[0], []).append(p)
    for positions in by_service.values():
        positions.sort(
            key=lambda p: (
                -at.get(index.slots[p].facility_id, 0),
                index.slots[p].facility_id,
                int(index.start[p]),
            )
        )
    # Services of the pool, longest queue first; without any queue, the most offered.
    left = {key: queue.get(key, 0) for key in by_service}
    taken: dict[str, int] = {}
    used: set[int] = set()
    added: list[Slot] = []
    while len(added) < n:
        options = [
            k for k in by_service if proposal.repeat or any(p not in used for p in by_service[k])
        ]
        if not options:
            break
        key = min(options, key=lambda k: (-left[k], -len(by_service[k]), k))
        positions = by_service[key]
        if proposal.repeat:
            p = positions[taken.get(key, 0) % len(positions)]
        else:
            p = next(q for q in positions if q not in used)
        taken[key] = taken.get(key, 0) + 1
        used.add(p)
        left[key] -= index.slots[p].capacity
        added.append(copy_slot(index.slots[p], len(added) + 1))
    return added


def verify(
    proposal: CapacityProposal,
    inputs: WhatIfInputs,
    *,
    options: ReplanOptions | None = None,
    baseline_seed: int = 0,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    before: tuple[PlanFigures, BatchResult] | None = None,
) -> WhatIfComparison:
    """Re-plan with the proposal's slots, and with as many slots by each baseline.

    Parameters
    ----------
    proposal
        From :func:`~routing.batch.whatif.propose_additions` on the same ``inputs``.
    inputs
        A problem, or ``(requests, index)``.
    options
        How each re-plan runs (deterministic by its iteration limit).
    baseline_seed
        Seeds the random baseline.
    before
        The re-plan of the original index, when already done (:func:`replan` with label
        ``before``): four plans instead of three.

    Raises
    ------
    InvalidInputError
        A proposal whose pool names a slot the index does not have.
    """
    options = options or ReplanOptions()
    s = setting(inputs, catalogue=catalogue, pathways=pathways)
    for n, sid in enumerate(proposal.pool):
        if sid not in s.index.slot_position:
            raise InvalidInputError("capacity proposal", f"pool.{n}", "a slot the index lacks")
    if before is None:
        before = replan(s, "before", options=options)
    proposed, _ = replan(s, "proposed", added=proposal.slots, options=options)
    randomly, _ = replan(
        s, "random", added=random_additions(s, proposal, baseline_seed), options=options
    )
    queued, _ = replan(
        s, "longest queue", added=longest_queue_additions(s, proposal, before[1]), options=options
    )
    return WhatIfComparison(
        before=before[0],
        proposed=proposed,
        random=randomly,
        longest_queue=queued,
        seed=options.seed,
        baseline_seed=baseline_seed,
        max_iterations=options.max_iterations,
    )


def verify_withdrawals(
    proposal: WithdrawalProposal,
    inputs: WhatIfInputs,
    *,
    top: int | None = None,
    options: ReplanOptions | None = None,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
) -> WithdrawalCheck:
    """Re-plan without the ``top`` first withdrawals (all by default), and before."""
    options = options or ReplanOptions()
    if top is not None and top < 1:
        raise InvalidInputError("withdrawal check", "top", "must be ≥ 1")
    s = setting(inputs, catalogue=catalogue, pathways=pathways)
    chosen = tuple(w.slot_id for w in proposal.withdrawals[:top])
    for n, sid in enumerate(chosen):
        if sid not in s.index.slot_position:
            raise InvalidInputError("withdrawal proposal", f"withdrawals.{n}", "unknown slot")
    before, _ = replan(s, "before", options=options)
    after, _ = replan(s, "after", withdrawn=chosen, options=options)
    return WithdrawalCheck(before=before, after=after, withdrawn=chosen)
