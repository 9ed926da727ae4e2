"""Which slots could be withdrawn (a doctor on leave) with the least harm.

Harm is the first-deadline bound's rise (:mod:`.flow`), computed exactly. A slot nobody's first
deadline can use, or one in a group whose slack (places the maximum flow leaves unused) covers
its places, can go with the bound unchanged: the same flow still fits. Those are taken first,
ordered by their service's load (the cohort's demand for the service ÷ its free places in the
whole index: a lightly loaded service has room for the later stages too), then by whether any
first deadline can use them (not first), the group's slack (more first), the start and the id.
When none is left, the flow is solved again without each of the least loaded candidates (at
most :data:`EXACT_TRIES`) and the least harmful goes. Only slots with every place free (no kept
booking) in the window and filters of the budget are candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway
from routing.batch.whatif.candidates import (
    WhatIfInputs,
    WhatIfSetting,
    setting,
    window_days,
    window_pool,
)
from routing.batch.whatif.model import CapacityBudget, Withdrawal, WithdrawalProposal

__all__ = ["EXACT_TRIES", "rank_withdrawals", "service_load"]

logger = logging.getLogger(__name__)

EXACT_TRIES = 32
"""Candidates whose harm is computed by solving the flow again, per step, at most."""


def service_load(s: WhatIfSetting) -> dict[str, float]:
    """Per service key: the cohort's demand (a stage's unit split among its services) ÷ free
    places of the service in the index (``inf`` with demand and no place)."""
    demand: dict[str, float] = {}
    for i in s.cohort.plannable():
        pathway = s.cohort.entries[i].pathway
        assert pathway is not None
        for stage in pathway.stages:
            keys = sorted({str(k) for k in stage.services})
            for key in keys:
                demand[key] = demand.get(key, 0.0) + 1.0 / len(keys)
    load: dict[str, float] = {}
    for key, positions in s.index.by_service.items():
        places = int(np.maximum(s.free[positions], 0).sum())
        wanted = demand.get(key, 0.0)
        load[key] = wanted / places if places else (float("inf") if wanted else 0.0)
    return load


def rank_withdrawals(
    inputs: WhatIfInputs,
    budget: CapacityBudget,
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
) -> WithdrawalProposal:
    """The ``budget.slots`` slots of the window whose withdrawal harms the bound least.

    Parameters
    ----------
    inputs
        A problem, or ``(requests, index)``.
    budget
        How many slots to withdraw, and from which window, services and facilities.
    catalogue, pathways
        Where pathways come from.

    Returns
    -------
    WithdrawalProposal
        In the order chosen, each with the bound before and after it; fewer than asked when
        the window has fewer free slots (the note says so).

    Raises
    ------
    InvalidInputError
        A budget filter naming an unknown facility or service.
    """
    s = setting(inputs, catalogue=catalogue, pathways=pathways)
    days = window_days(s, budget.first_day, budget.working_days)
    index, network = s.index, s.network
    free = s.free.copy()
    capacity = np.asarray([slot.capacity for slot in index.slots], dtype=np.int64)
    candidates = [p for p in window_pool(s, budget, days) if free[p] == capacity[p] > 0]
    load = service_load(s)
    solution = network.solve(free)
    before = solution.must_miss
    slack = solution.slack.copy()
    bound = before

    def order(p: int) -> tuple[float, bool, int, int, str]:
        g = int(network.group_of[p])
        room = int(slack[g]) if g >= 0 else 0
        slot = index.slots[p]
        return (load[str(slot.service)], g >= 0, -room, int(index.start[p]), slot.id)

    chosen: list[Withdrawal] = []
    remaining = sorted(candidates, key=order)
    while len(chosen) < budget.slots and remaining:
        harmless = [
            p
            for p in remaining
            if (g := int(network.group_of[p])) < 0 or int(slack[g]) >= int(free[p])
        ]
        if harmless:
            p = min(harmless, key=order)
            g = int(network.group_of[p])
            if g >= 0:
                slack[g] -= free[p]
            after = bound
        else:
            trials = []
            for q in sorted(remaining, key=order)[:EXACT_TRIES]:
                trial = free.copy()
                trial[q] = 0
                trials.append((network.bound(trial), order(q), q))
            after, _, p = min(trials)
        free[p] = 0
        if not harmless:
            slack = network.solve(free).slack.copy()
        remaining.remove(p)
        slot = index.slots[p]
        chosen.append(
            Withdrawal(
                slot_id=slot.id,
                facility_id=slot.facility_id,
                service=str(slot.service),
                start=slot.start,
                bound_before=bound,
                bound_after=after,
                load=load[str(slot.service)],
            )
        )
        bound = after
    note = "" if len(chosen) == budget.slots else "the window has fewer free slots than asked"
    logger.info("what-if: %d slots to withdraw, bound %d -> %d", len(chosen), before, bound)
    return WithdrawalProposal(
        withdrawals=tuple(chosen),
        bound_before=before,
        bound_after=bound,
        patients_with_deadline=network.entries,
        requested=budget.slots,
        days=days,
        note=note,
    )
