"""Where to add capacity: greedy on the first-deadline bound, guided by its minimum cut.

Each step solves the first-deadline network (:mod:`.flow`) with the places added so far. Only a
copy of a slot in a group on the source side of the minimum cut can lower the bound (elsewhere
no augmenting path ends), so the candidates of a step are the pool's slots in those groups. A
copy's improvement is the flow solved again with its places added: one for a one-place slot
there (an augmenting path exists, and one place carries one unit), computed for larger ones.
The step takes the largest improvement per added slot (so slots of more places are
tried first); among equals, the group whose classes
have the most patients still unmatched (where the next place is likeliest to help again), then
the earliest start, then the slot id. It stops at the budget or when no candidate improves the
bound (the note says so).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway
from routing.batch.whatif.candidates import (
    WhatIfInputs,
    WhatIfSetting,
    copy_slot,
    resolve_candidates,
    setting,
    window_days,
    window_pool,
)
from routing.batch.whatif.flow import FlowSolution, IntArray
from routing.batch.whatif.model import Addition, CandidateSlot, CapacityBudget, CapacityProposal
from routing.exceptions import InvalidInputError

__all__ = ["propose_additions"]

logger = logging.getLogger(__name__)

EXACT_TRIES = 16
"""Copies of slots with more than one place whose improvement is computed each step, at most."""


def propose_additions(
    inputs: WhatIfInputs,
    budget: CapacityBudget | Sequence[CandidateSlot],
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    at_most: int | None = None,
) -> CapacityProposal:
    """Propose where to add slots so that the most patients can meet their first deadline.

    Parameters
    ----------
    inputs
        A problem, or ``(requests, index)``, as :func:`~routing.batch.plan_batch` takes.
    budget
        A :class:`CapacityBudget` (``slots`` copies of slots in a window, a slot may be copied
        more than once), or candidate additions (each added at most once; all are ranked).
    catalogue, pathways
        Where pathways come from.
    at_most
        With candidate additions: propose at most this many of them (the first ones the greedy
        chooses); ``None``: rank them all. Ignored with a :class:`CapacityBudget`.

    Returns
    -------
    CapacityProposal
        The additions in the order chosen, each with the bound's improvement; empty (and
        correct) for a cohort with no first deadline.

    Raises
    ------
    InvalidInputError
        An empty candidate list, or a candidate (or budget filter) naming an unknown facility or
        service, or no slot to copy; ``at_most`` below 1.

    Examples
    --------
    >>> from routing.region import RegionParameters, generate_region
    >>> problem = generate_region(RegionParameters(patients=40, contention=1.5, seed=3))
    >>> proposal = propose_additions(problem, CapacityBudget(slots=3))
    >>> proposal.bound_after <= proposal.bound_before
    True
    """
    if isinstance(budget, CapacityBudget):
        s = setting(inputs, catalogue=catalogue, pathways=pathways)
        days = window_days(s, budget.first_day, budget.working_days)
        pool = window_pool(s, budget, days)
        count, repeat = budget.slots, True
    else:
        candidates = list(budget)
        if not candidates:
            raise InvalidInputError("candidates", "", "give at least one candidate slot")
        for n, c in enumerate(candidates):
            if not isinstance(c, CandidateSlot):
                raise InvalidInputError(f"candidates[{n}]", "", "expected a CandidateSlot")
        s = setting(inputs, catalogue=catalogue, pathways=pathways)
        pool = resolve_candidates(s, candidates)
        days = tuple(sorted({c.day for c in candidates}))
        if at_most is not None and (isinstance(at_most, bool) or at_most < 1):
            raise InvalidInputError("candidates", "at_most", "must be a whole number ≥ 1")
        count = len(candidates) if at_most is None else min(at_most, len(candidates))
        repeat = False
    return _greedy(s, pool, count, repeat, days)


def _greedy(
    s: WhatIfSetting,
    pool: list[int],
    count: int,
    repeat: bool,
    days: tuple[date, ...],
) -> CapacityProposal:
    network, index = s.network, s.index
    free = s.free.copy()
    solution = network.solve(free)
    before = solution.must_miss
    remaining = list(pool)  # one entry per candidate (a list) or per slot (a budget)
    additions: list[Addition] = []
    note = ""
    while len(additions) < count:
        if solution.must_miss == 0:
            note = "the bound is 0: no patient must miss their first deadline"
            break
        choice = _best(s, remaining, free, solution)
        if choice is None:
            note = "no slot of the pool lowers the bound further"
            break
        p, after = choice
        original = index.slots[p]
        free[p] += original.capacity
        if not repeat:
            remaining.remove(p)
        additions.append(
            Addition(
                slot=copy_slot(original, len(additions) + 1),
                copy_of=original.id,
                service=str(original.service),
                facility_id=original.facility_id,
                day=index.calendar.local_date(original.start),
                bound_before=solution.must_miss,
                bound_after=after.must_miss,
            )
        )
        solution = after
    if len(additions) < count and not note:
        note = "the pool is exhausted"
    logger.info(
        "what-if: %d slots proposed, first-deadline bound %d -> %d",
        len(additions),
        before,
        solution.must_miss,
    )
    return CapacityProposal(
        additions=tuple(additions),
        bound_before=before,
        bound_after=solution.must_miss,
        patients_with_deadline=network.entries,
        requested=count,
        pool=tuple(index.slots[p].id for p in pool),
        repeat=repeat,
        days=days,
        note=note if len(additions) < count else "",
    )


def _best(
    s: WhatIfSetting, remaining: list[int], free: IntArray, solution: FlowSolution
) -> tuple[int, FlowSolution] | None:
    """The candidate with the largest improvement per slot (ties: see the module docstring)."""
    network, index = s.network, s.index
    pressure = {
        g: int(sum(int(solution.unmatched[k]) for k in network.group_users[g]))
        for g in np.flatnonzero(solution.reachable).tolist()
    }
    options = sorted(
        {p for p in remaining if (g := int(network.group_of[p])) >= 0 and g in pressure},
        key=lambda p: (
            -index.slots[p].capacity,
            -pressure[int(network.group_of[p])],
            int(index.start[p]),
            index.slots[p].id,
        ),
    )
    best: tuple[tuple[int, int, int, str], int, FlowSolution] | None = None
    tried = 0
    for p in options:
        capacity = index.slots[p].capacity
        if capacity == 1 and best is not None:
            break  # one place gains at most one: no better than the best so far
        if capacity > 1:
            if tried >= EXACT_TRIES:
                continue
            tried += 1
        trial = free.copy()
        trial[p] += capacity
        after = network.solve(trial)
        gain = solution.must_miss - after.must_miss
        if gain <= 0:
            continue
        key = (-gain, -pressure[int(network.group_of[p])], int(index.start[p]), index.slots[p].id)
        if best is None or key < best[0]:
            best = (key, p, after)
        if capacity == 1:
            break
    if best is None:
        return None
    return best[1], best[2]
