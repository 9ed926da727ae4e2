"""The batch objective: what a plan of a whole cohort costs, as an exact integer tuple.

A plan is compared by ``(unplanned, deadline_cost, weighted_minutes)``, lexicographically, smaller
better:

1. ``unplanned``: patients left without a feasible route (a count, every patient alike);
2. ``deadline_cost``: the weighted misses of soft regulatory deadlines (how a miss is counted:
   the :data:`DeadlineMeasure`);
3. ``weighted_minutes``: the weighted sum of each planned patient's minutes from referral to the
   end of the last stage.

Weights and misses
------------------
A patient's weight is ``1 + p`` for the request's priority ``p`` clamped to ``[0, 99]`` (routine 0,
suspected cancer or cardiovascular disease typically 1 or more): a higher priority counts more
in terms 2 and 3. A missed soft deadline costs, by the measure (``overrun = actual - limit`` in
the deadline's own unit):

- ``"misses"`` (the default): ``100 × weight``, however late. Term 2 is then the weighted count
  of misses in hundredths, and what a miss overruns by counts only through the patient's
  minutes (term 3): a patient who misses anyway is not held to an early slot another needs.
- ``"overrun"``: ``weight × (100 + ceil(100 × overrun / max(1, limit)))``, that is
  ``weight × (1 + overrun / limit)`` in hundredths, rounded up: a miss always costs at least
  ``100 × weight``, and a bigger overrun, relative to the limit, costs more whatever the unit,
  before any minute counts.

Met deadlines and hard deadlines (which a route always meets) cost nothing. An unplanned patient
adds 1 to term 1 and nothing to terms 2 and 3.

Examples
--------
>>> priority_weight(0), priority_weight(2), priority_weight(-5)
(1, 3, 1)
>>> miss_cost(limit=3, actual=5, weight=2)
200
>>> miss_cost(limit=3, actual=5, weight=2, measure="overrun")
334
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from pydantic import NonNegativeInt

from nosology.pathway import FrozenModel
from routing.result import RouteResult

__all__ = [
    "DEADLINE_MEASURES",
    "MAX_PRIORITY",
    "BatchObjective",
    "DeadlineMeasure",
    "miss_cost",
    "priority_weight",
    "replaced",
    "route_cost",
    "total_cost",
]

MAX_PRIORITY = 99
"""Priorities above this weigh as this one (priorities below 0 weigh as 0)."""

Cost = tuple[int, int, int]

DeadlineMeasure = Literal["misses", "overrun"]
"""How the objective counts a missed soft deadline: ``"misses"`` (each miss alike) or
``"overrun"`` (more for a bigger overrun); see the module's docstring."""
DEADLINE_MEASURES: tuple[DeadlineMeasure, ...] = get_args(DeadlineMeasure)


class BatchObjective(FrozenModel):
    """The cost of a batch plan; compare with :meth:`key` (lexicographic, smaller better)."""

    unplanned: NonNegativeInt
    deadline_cost: NonNegativeInt
    weighted_minutes: NonNegativeInt

    def key(self) -> Cost:
        """``(unplanned, deadline_cost, weighted_minutes)``."""
        return (self.unplanned, self.deadline_cost, self.weighted_minutes)

    @classmethod
    def of(cls, cost: Cost) -> BatchObjective:
        """The objective of a cost tuple."""
        return cls(unplanned=cost[0], deadline_cost=cost[1], weighted_minutes=cost[2])


def priority_weight(priority: int) -> int:
    """``1 + priority``, the priority clamped to ``[0, MAX_PRIORITY]``."""
    return 1 + min(max(priority, 0), MAX_PRIORITY)


def miss_cost(*, limit: int, actual: int, weight: int, measure: DeadlineMeasure = "misses") -> int:
    """The cost of a soft deadline measured at ``actual`` against ``limit`` (0 when met)."""
    overrun = actual - limit
    if overrun <= 0:
        return 0
    if measure == "misses":
        return weight * 100
    relative = -((-100 * overrun) // max(1, limit))  # ceil(100 * overrun / limit)
    return weight * (100 + relative)


def route_cost(
    result: RouteResult | None, weight: int, measure: DeadlineMeasure = "misses"
) -> Cost:
    """One patient's share of the objective: ``(1, 0, 0)`` without a route."""
    if result is None or not result.has_route or result.objective is None:
        return (1, 0, 0)
    deadlines = sum(
        miss_cost(limit=d.limit, actual=d.actual, weight=weight, measure=measure)
        for d in result.deadlines
        if not d.hard
    )
    return (0, deadlines, weight * max(0, result.objective.completion_minutes))


def total_cost(costs: Iterable[Cost]) -> Cost:
    """The element-wise sum of cost tuples."""
    a = b = c = 0
    for x, y, z in costs:
        a += x
        b += y
        c += z
    return (a, b, c)


def replaced(total: Cost, old: Cost, new: Cost) -> Cost:
    """``total`` with the part ``old`` replaced by ``new`` (element-wise ``total - old + new``)."""
    return (total[0] - old[0] + new[0], total[1] - old[1] + new[1], total[2] - old[2] + new[2])
