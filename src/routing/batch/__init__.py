"""Batch planning: one route per patient of a cohort over shared slot capacities.

:func:`plan_batch` plans a cohort (see :mod:`routing.batch.engine` for the method) and returns a
:class:`BatchResult` with first-come-first-served beside it and two lower bounds;
:func:`build_report` turns it into a :class:`BatchReport` (JSON and a readable summary).
"""

from routing.batch.bounds import BatchBound
from routing.batch.engine import BatchProgress, BatchResult, plan_batch
from routing.batch.objective import BatchObjective, miss_cost, priority_weight

__all__ = [
    "BatchBound",
    "BatchObjective",
    "BatchProgress",
    "BatchResult",
    "miss_cost",
    "plan_batch",
    "priority_weight",
]
