"""The first-deadline bound as a flow whose capacities can change, with its minimum cut.

:mod:`routing.batch.matching` bounds how many patients miss their first deadline in every plan
that routes them all: a maximum flow from classes of patients (same stage, same slots) through
groups of slots (used by the same classes) to a sink. For what-if questions the same network is
solved again and again with other slot capacities, so here it is built once over **every** slot
some class may use, whatever its free places (a full slot's group gets capacity 0), and solved
for any vector of free places:

* ``bound(free) = entries - maxflow(free)`` (the patients who must miss);
* the **source side of a minimum cut** (nodes reachable from the source in the residual graph)
  names the groups where capacity binds: one more place in a slot of a reachable group lets one
  more patient meet their deadline (an augmenting path ends there), and a place more anywhere
  else changes nothing;
* a group's **slack** (capacity less flow) is capacity nobody's first deadline needs: that much
  can be withdrawn with the bound unchanged.

A copy of an existing slot (same facility, service, start, end and mode) is a candidate of the
same stages of the same patients as the original, so adding one is adding places to the
original's position: the network never needs rebuilding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import max_flow

from routing.batch.cohort import Cohort
from routing.batch.matching import first_deadline_slots

__all__ = ["FirstDeadlineNetwork", "FlowSolution"]

IntArray = npt.NDArray[np.int64]

_SOURCE, _SINK = 0, 1


@dataclass(frozen=True, slots=True)
class FlowSolution:
    """One solve of a :class:`FirstDeadlineNetwork`.

    Attributes
    ----------
    matched
        Patients who meet their first deadline in a maximum matching.
    must_miss
        Patients with a first deadline less ``matched``: the bound.
    group_capacity, group_flow
        Per group of slots, its places and the flow through them.
    reachable
        Per group, whether it is on the source side of the minimum cut (capacity binds there).
    unmatched
        Per class of patients, its members left without a slot that meets their deadline.
    """

    matched: int
    must_miss: int
    group_capacity: IntArray
    group_flow: IntArray
    reachable: npt.NDArray[np.bool_]
    unmatched: IntArray

    @property
    def slack(self) -> IntArray:
        """Places of each group that no first deadline needs in this matching."""
        result: IntArray = self.group_capacity - self.group_flow
        return result


class FirstDeadlineNetwork:
    """Classes of patients, groups of slots and the arcs between them, built once.

    Parameters
    ----------
    cohort
        The cohort (its index and capacities).
    entries
        The entries that take part (e.g. ``cohort.plannable()``).
    """

    def __init__(self, cohort: Cohort, entries: Sequence[int]) -> None:
        members: dict[tuple[str, tuple[int, ...]], int] = {}
        for i in entries:
            first = first_deadline_slots(cohort, i)
            if first is not None:
                key = (first.stage_id, first.slots)
                members[key] = members.get(key, 0) + 1
        self.entries = sum(members.values())
        classes = list(members)
        using: dict[int, list[int]] = {}
        for k, (_, slots) in enumerate(classes):
            for position in slots:
                using.setdefault(position, []).append(k)
        by_users: dict[tuple[int, ...], list[int]] = {}
        for position, users in using.items():
            by_users.setdefault(tuple(users), []).append(position)
        self.groups: list[tuple[int, ...]] = [tuple(p) for p in by_users.values()]
        self.group_of = np.full(len(cohort.capacity), -1, dtype=np.int64)
        for g, positions in enumerate(self.groups):
            self.group_of[list(positions)] = g
        self.class_size = np.asarray([members[key] for key in classes], dtype=np.int64)
        first_group = 2 + len(classes)
        tails: list[int] = []
        heads: list[int] = []
        caps: list[int] = []
        for g, group_users in enumerate(by_users):
            for k in group_users:
                tails.append(2 + k)
                heads.append(first_group + g)
                caps.append(int(self.class_size[k]))
        self._between = (
            np.asarray(tails, dtype=np.int32),
            np.asarray(heads, dtype=np.int32),
            np.asarray(caps, dtype=np.int64),
        )
        self._first_group = first_group
        self._classes = len(classes)
        self.group_users: list[tuple[int, ...]] = list(by_users)

    def group_capacity(self, free: IntArray) -> IntArray:
        """Free places of each group (negative places count as none)."""
        used = self.group_of >= 0
        places = np.maximum(free, 0)[used]
        sums = np.bincount(self.group_of[used], weights=places, minlength=len(self.groups))
        capacity: IntArray = np.rint(sums).astype(np.int64)
        return capacity

    def solve(self, free: IntArray) -> FlowSolution:
        """The maximum flow with ``free`` places per slot position, and its minimum cut."""
        capacity = self.group_capacity(free)
        n_groups = len(self.groups)
        if self._classes == 0 or n_groups == 0:
            return FlowSolution(
                0,
                self.entries,
                capacity,
                np.zeros(n_groups, dtype=np.int64),
                np.zeros(n_groups, dtype=np.bool_),
                self.class_size.copy(),
            )
        solver = max_flow.SimpleMaxFlow()
        source_arcs = solver.add_arcs_with_capacity(
            np.zeros(self._classes, dtype=np.int32),
            np.arange(2, self._first_group, dtype=np.int32),
            self.class_size,
        )
        solver.add_arcs_with_capacity(*self._between)
        sink_arcs = solver.add_arcs_with_capacity(
            np.arange(self._first_group, self._first_group + n_groups, dtype=np.int32),
            np.full(n_groups, _SINK, dtype=np.int32),
            capacity,
        )
        status = solver.solve(_SOURCE, _SINK)
        if status != solver.OPTIMAL:
            raise RuntimeError(f"the first-deadline max flow ended with status {status}")
        matched = int(solver.optimal_flow())
        flow = np.asarray(solver.flows(sink_arcs), dtype=np.int64)
        reachable = np.zeros(n_groups, dtype=np.bool_)
        for node in solver.get_source_side_min_cut():
            g = int(node) - self._first_group
            if 0 <= g < n_groups:
                reachable[g] = True
        unmatched = self.class_size - np.asarray(solver.flows(source_arcs), dtype=np.int64)
        return FlowSolution(matched, self.entries - matched, capacity, flow, reachable, unmatched)

    def bound(self, free: IntArray) -> int:
        """Patients who miss their first deadline in every plan, with ``free`` places."""
        return self.solve(free).must_miss
