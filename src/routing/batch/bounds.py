"""Lower bounds on the batch objective: with no competition, and with capacity respected.

No competition
--------------
Each patient's fastest route when no other patient of the cohort holds anything (only kept
bookings are taken), searched over every candidate slot (the planning searches see only the
nearest few a day). It gives the lexicographic bound ``(U, 0, M)``: ``U`` patients cannot be
routed even alone (invalid or proven infeasible), so every plan leaves at least ``U`` unplanned;
a plan that leaves exactly those unplanned and misses no deadline has weighted minutes at least
``M``, the weighted sum of the fastest completions (or the search's proven bound where it stopped
early). The deadline cost of the fastest routes is reported beside it as a reference figure, not
a proof: a slower route can meet a deadline that the fastest one misses. Easy, and loose when
capacity is tight.

Capacity respected
------------------
Patients whose pathways share no service never compete, so the cohort splits into independent
groups. Each group small enough is solved by the exact model (:mod:`routing.batch.exact`), whose
proven bound respects every capacity; the others contribute their no-competition bound. The sum
of lexicographic bounds of independent groups is a lexicographic bound of the whole.

A bound on the minutes under capacity comes from a min-cost flow of the patients to the
places of their last stage (:mod:`routing.batch.completion_flow`): it holds for every plan that
routes as many patients, whatever its deadline cost, so the capacity bound takes the larger of
its minutes and the groups' (and, when the flow cannot place as many as the bound leaves
planned, more unplanned patients).

A second bound on the deadline cost comes from a maximum matching of the patients to the slots
that meet their first deadline (:mod:`routing.batch.matching`): those it cannot match miss it in
every plan that routes them. The capacity bound takes the larger deadline cost of the two (with
the no-competition minutes when the matching's is the larger).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from networkx.utils import UnionFind
from pydantic import NonNegativeInt

from nosology.pathway import FrozenModel
from routing.batch.cohort import Cohort
from routing.batch.objective import Cost
from routing.result import RouteResult, SolveStatus

__all__ = ["BatchBound", "groups", "no_competition_bound", "no_competition_routes"]


class BatchBound(FrozenModel):
    """A lexicographic lower bound on the batch objective, and how it was obtained.

    ``key()`` is ``(unplanned, deadline_cost, weighted_minutes)``, valid for every plan.
    ``reference_deadline_cost`` (no-competition bound only) is the deadline cost of the fastest
    routes, for comparison.
    """

    method: str
    unplanned: NonNegativeInt
    deadline_cost: NonNegativeInt
    weighted_minutes: NonNegativeInt
    reference_deadline_cost: NonNegativeInt | None = None
    patients_covered: NonNegativeInt = 0
    """Patients whose share of the bound respects capacity (capacity bound only)."""
    first_deadline_misses: NonNegativeInt | None = None
    """Patients who miss their first deadline in every plan that routes everyone it can
    (capacity bound only; see :mod:`routing.batch.matching`)."""
    flow_minutes: NonNegativeInt | None = None
    """The least weighted completion minutes of any plan that routes as many patients as this
    bound leaves planned, by a min-cost flow of the last stages' places (capacity bound only;
    see :mod:`routing.batch.completion_flow`)."""
    staged_minutes: NonNegativeInt | None = None
    """The least weighted completion minutes of any plan that routes as many patients as this
    bound leaves planned, by the day-indexed LP over all stages (capacity bound only, small
    cohorts; see :mod:`routing.batch.stage_lp`)."""

    def key(self) -> Cost:
        """``(unplanned, deadline_cost, weighted_minutes)``."""
        return (self.unplanned, self.deadline_cost, self.weighted_minutes)


def no_competition_routes(
    cohort: Cohort, *, on_patient: Callable[[int], None] | None = None
) -> list[RouteResult]:
    """Each entry's fastest route with no other patient competing (kept bookings respected).

    The searches see every candidate (:meth:`Cohort.route` with ``every_candidate``), not the
    nearest :attr:`Cohort.per_day` a day: the bounds built on these routes must hold for every
    route, and a thinned search can miss a faster one (a slot further from home that ends
    earlier; 744 of 10,000 patients of the contended benchmark region). What the unthinned
    searches cost is measured in ``benchmarks/README_batch.md`` ("The bounds over every
    candidate").
    """
    full = cohort.blocked(np.zeros(len(cohort.capacity), dtype=np.int64))
    routes: list[RouteResult] = []
    for i in range(len(cohort)):
        routes.append(cohort.route(i, cohort.unblock_own(full, i), every_candidate=True))
        if on_patient is not None:
            on_patient(i + 1)
    return routes


def patient_bound(cohort: Cohort, entry: int, alone: RouteResult) -> Cost:
    """Entry's share of the no-competition bound: ``(1, 0, 0)`` if it cannot be routed at all."""
    weight = cohort.entries[entry].weight
    if alone.status in (SolveStatus.INVALID, SolveStatus.INFEASIBLE):
        return (1, 0, 0)
    bound = alone.bound or alone.objective
    minutes = bound.completion_minutes if bound is not None else 0
    return (0, 0, weight * max(0, minutes))


def no_competition_bound(cohort: Cohort, routes: Sequence[RouteResult]) -> BatchBound:
    """The bound ``(U, 0, M)`` of the fastest routes (see the module docstring)."""
    u = d = m = 0
    for i, alone in enumerate(routes):
        a, _, c = patient_bound(cohort, i, alone)
        u += a
        m += c
        if alone.has_route:
            d += cohort.cost(i, alone)[1]
    return BatchBound(
        method="each patient's fastest route with no competition",
        unplanned=u,
        deadline_cost=0,
        weighted_minutes=m,
        reference_deadline_cost=d,
    )


def groups(cohort: Cohort) -> list[list[int]]:
    """Plannable entries in groups that share no service (each sorted, groups by first entry)."""
    sharing = UnionFind()
    services: dict[int, list[str]] = {}
    for i in cohort.plannable():
        pathway = cohort.entries[i].pathway
        assert pathway is not None
        keys = sorted({str(s) for stage in pathway.stages for s in stage.services})
        services[i] = keys
        sharing.union(*keys)
    by_root: dict[str, list[int]] = {}
    for i, keys in services.items():
        by_root.setdefault(sharing[keys[0]], []).append(i)
    return sorted((sorted(g) for g in by_root.values()), key=lambda g: g[0])
