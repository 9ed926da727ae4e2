"""The patients the batch search may pick: those worse off than alone, kept up to date.

Each iteration of the large-neighbourhood search (:mod:`routing.batch.engine`, step 7) picks a
patient whose cost is above its cost alone: among the eight with the largest excess, among
those missing a deadline they meet alone, or among all of them. An iteration changes the costs
of the few patients it re-plans only, so :class:`WorseOff` keeps the three orders and updates
them for those patients (:meth:`WorseOff.update`), instead of scanning the whole cohort each
iteration: that scan grew with the cohort while an iteration's repair does not.

The orders are those a scan would give: patients by position, and the excess ordered by
``(alone − cost)`` term by term, then position.

Examples
--------
>>> w = WorseOff([(0, 0, 10), (0, 0, 10), (0, 0, 5)], [True, True, True])
>>> w.update(0, (0, 0, 30)); w.update(2, (0, 100, 5)); w.update(1, (0, 0, 10))
>>> w.members, w.late, w.worst(8)
([0, 2], [2], [2, 0])
>>> w.update(2, (0, 0, 5)); w.members, w.late
([0], [])
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TypeVar

from routing.batch.objective import Cost

__all__ = ["WorseOff"]

Excess = tuple[int, int, int, int]
_Item = TypeVar("_Item", int, Excess)


class WorseOff:
    """Patients whose cost is above their cost alone (and who have a route alone).

    Parameters
    ----------
    alone_cost
        Each patient's cost alone (by position).
    routed_alone
        Whether each patient has a route alone; those without never count as worse off.

    Attributes
    ----------
    members
        The patients worse off, by position.
    late
        Those of them whose deadline cost is above their deadline cost alone, by position.
    """

    def __init__(self, alone_cost: Sequence[Cost], routed_alone: Sequence[bool]) -> None:
        if len(alone_cost) != len(routed_alone):
            raise ValueError(
                f"alone_cost has {len(alone_cost)} patients, routed_alone {len(routed_alone)}"
            )
        self._alone = list(alone_cost)
        self._routed = list(routed_alone)
        self.members: list[int] = []
        self.late: list[int] = []
        self._by_excess: list[Excess] = []
        self._excess: dict[int, Excess] = {}

    def update(self, patient: int, cost: Cost) -> None:
        """Record ``patient``'s current ``cost``."""
        old = self._excess.pop(patient, None)
        if old is not None:
            _discard(self._by_excess, old)
            _discard(self.members, patient)
            _discard(self.late, patient)
        alone = self._alone[patient]
        if not self._routed[patient] or cost <= alone:
            return
        excess = (alone[0] - cost[0], alone[1] - cost[1], alone[2] - cost[2], patient)
        self._excess[patient] = excess
        bisect.insort(self._by_excess, excess)
        bisect.insort(self.members, patient)
        if cost[1] > alone[1]:
            bisect.insort(self.late, patient)

    def worst(self, n: int) -> list[int]:
        """The ``n`` patients with the largest excess over alone (fewer when fewer are)."""
        return [e[3] for e in self._by_excess[:n]]


def _discard(ordered: list[_Item], item: _Item) -> None:
    at = bisect.bisect_left(ordered, item)
    if at < len(ordered) and ordered[at] == item:
        del ordered[at]
