"""Sequential planning, and first-come-first-served: today's practice, the baseline of every plan.

Patients are taken one at a time in a given order; each takes its fastest route over the slots
the patients before it left (:meth:`~routing.batch.cohort.Cohort.route`), and its slots' free
places go down by one. First-come-first-served is this in arrival order: by referral time, then
request id.

A patient's fastest route with no competition (see :mod:`routing.batch.bounds`) is reused
whenever none of its slots is full: it is then also the fastest over what is left. A patient
without a route even alone (invalid, or proven infeasible) has none over fewer free slots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from routing.batch.cohort import Cohort
from routing.batch.objective import Cost, total_cost
from routing.result import RouteResult, SolveStatus

__all__ = ["Assignment", "first_come_first_served", "plan_in_order"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(eq=False)
class Assignment:
    """A (partial) plan: a result per entry and the places each slot has given away.

    ``results[i]`` is ``None`` while entry ``i`` is not planned; ``usage`` counts the routed
    bookings per slot position (kept bookings are in :attr:`Cohort.reserved` instead).
    """

    cohort: Cohort
    results: list[RouteResult | None]
    usage: IntArray
    full: BoolArray = field(init=False)
    """Which slots have no place left (kept in step with :attr:`usage`)."""

    def __post_init__(self) -> None:
        self.full = self.cohort.blocked(self.usage)

    @classmethod
    def empty(cls, cohort: Cohort) -> Assignment:
        """Nothing planned."""
        return cls(cohort, [None] * len(cohort), np.zeros(len(cohort.capacity), dtype=np.int64))

    def copy(self) -> Assignment:
        """An independent copy."""
        return Assignment(self.cohort, list(self.results), self.usage.copy())

    def blocked(self, entry: int) -> BoolArray:
        """The slots ``entry`` may not take now (:meth:`Cohort.blocked`, without recounting
        every slot: the full ones are kept up to date as routes come and go)."""
        return self.cohort.unblock_own(self.full, entry)

    def place(self, entry: int, result: RouteResult) -> None:
        """Record ``result`` for ``entry`` and take its slots."""
        assert self.results[entry] is None
        self.results[entry] = result
        if result.has_route:
            self._use(self.cohort.routed_slots(entry, result), 1)

    def remove(self, entry: int) -> RouteResult | None:
        """Unplan ``entry`` and free its slots; its former result."""
        result = self.results[entry]
        self.results[entry] = None
        if result is not None and result.has_route:
            self._use(self.cohort.routed_slots(entry, result), -1)
        return result

    def _use(self, positions: list[int], change: int) -> None:
        """Change the places ``positions`` have given away by ``change``, full slots in step."""
        cohort = self.cohort
        for p in positions:
            self.usage[p] += change
            self.full[p] = self.usage[p] + cohort.reserved[p] >= cohort.capacity[p]

    def fits(self, routes: Mapping[int, RouteResult | None]) -> bool:
        """Whether giving each entry of ``routes`` its route there, in place of its current
        one, leaves no slot giving away more places than it has (kept bookings counted apart);
        the plan is not changed."""
        cohort = self.cohort
        change: Counter[int] = Counter()  # each position as often as place and remove count it
        for entry, result in routes.items():
            current = self.results[entry]
            if result is not None and result.has_route:
                change.update(cohort.routed_slots(entry, result))
            if current is not None and current.has_route:
                change.subtract(cohort.routed_slots(entry, current))
        return all(
            self.usage[p] + cohort.reserved[p] + n <= cohort.capacity[p]
            for p, n in change.items()
            if n > 0
        )

    def cost(self, entry: int) -> Cost:
        """Entry's share of the objective (unplanned when it has no route)."""
        return self.cohort.cost(entry, self.results[entry])

    def total(self) -> Cost:
        """The batch objective of the plan."""
        return total_cost(self.cost(i) for i in range(len(self.results)))

    def plan(
        self,
        entry: int,
        free: Sequence[RouteResult | None] | None = None,
        *,
        meet_deadlines: bool = False,
        defer: bool = False,
        secondary: bool = False,
        pins: Mapping[str, int] | None = None,
    ) -> RouteResult | None:
        """Plan ``entry`` over what is left, place it and return its result.

        ``secondary`` asks each search for the full objective of a single route (visit days,
        travel, preferences after the completion), as :func:`~routing.solve.plan_route` gives;
        otherwise only the earliest completion is proven. ``pins`` (stage id → slot position)
        asks for a route through those slots first, when they are still free.

        With ``meet_deadlines``, the fastest route that meets every soft deadline is preferred
        (:meth:`Cohort.route`); when there is none, the fastest route, or with ``defer``
        nothing: the entry stays unplanned and ``None`` is returned.
        """
        self.cohort.check_route_options(entry, pins)
        blocked = self.blocked(entry)
        result: RouteResult | None = None
        if pins and not blocked[list(pins.values())].any():
            pinned = self.cohort.route(
                entry, blocked, meet_deadlines=meet_deadlines, secondary=secondary, pins=pins
            )
            if pinned.has_route:
                result = pinned
        alone = free[entry] if free is not None else None
        if alone is not None and alone.status in (SolveStatus.INFEASIBLE, SolveStatus.INVALID):
            result = alone  # no route even alone: none with fewer free slots either
        elif result is None and alone is not None and alone.has_route:
            slots = self.cohort.routed_slots(entry, alone)
            if not blocked[slots].any() and (not meet_deadlines or _meets(alone)):
                result = alone
        if result is None and meet_deadlines and _has_soft(self.cohort, entry):
            deadline_aware = self.cohort.route(
                entry, blocked, meet_deadlines=True, secondary=secondary
            )
            if deadline_aware.has_route:
                result = deadline_aware
            elif defer:
                return None
        if result is None:
            result = self.cohort.route(entry, blocked, secondary=secondary)
        self.place(entry, result)
        return result

    def check_capacity(self) -> bool:
        """Whether no slot holds more patients than its capacity (and the full slots are those
        with no place left)."""
        within = bool(np.all(self.usage + self.cohort.reserved <= self.cohort.capacity))
        return within and bool(np.array_equal(self.full, self.cohort.blocked(self.usage)))


def _meets(result: RouteResult) -> bool:
    return all(d.met for d in result.deadlines if not d.hard)


def _has_soft(cohort: Cohort, entry: int) -> bool:
    pathway = cohort.entries[entry].pathway
    return pathway is not None and any(not d.hard for d in pathway.deadlines)


def plan_in_order(
    cohort: Cohort,
    order: Sequence[int],
    *,
    start: Assignment | None = None,
    free: Sequence[RouteResult | None] | None = None,
    on_patient: Callable[[int], None] | None = None,
    meet_deadlines: bool = False,
    secondary: bool = False,
    pins: Mapping[int, Mapping[str, int]] | None = None,
) -> Assignment:
    """Plan the entries of ``order`` one after another, each over what the earlier ones left.

    Parameters
    ----------
    cohort
        The cohort.
    order
        Entry positions; entries not in it stay unplanned (or as in ``start``).
    start
        A partial plan to continue (changed in place); empty by default.
    free
        Each entry's route with no competition, reused while its slots are free.
    on_patient
        Called with the number of entries planned so far, after each.
    meet_deadlines
        Deadline-aware: each entry takes the fastest route that meets all its soft deadlines;
        an entry that has none left is deferred, and the deferred entries take their fastest
        routes, in order, after all the others (so a patient who misses a deadline anyway does
        not take the slot another one needs to meet theirs).
    secondary
        Each entry's route is the best by the full single-route objective (see
        :meth:`Assignment.plan`), not only the earliest completion.
    pins
        Per entry, stages to route through given slots when they are still free.
    """
    plan = start if start is not None else Assignment.empty(cohort)
    deferred: list[int] = []
    for n, i in enumerate(order, start=1):
        pinned = pins.get(i) if pins is not None else None
        if (
            plan.plan(
                i,
                free,
                meet_deadlines=meet_deadlines,
                defer=meet_deadlines,
                secondary=secondary,
                pins=pinned,
            )
            is None
        ):
            deferred.append(i)
        if on_patient is not None:
            on_patient(n)
    for i in deferred:
        plan.plan(i, free, secondary=secondary)
    return plan


def first_come_first_served(
    cohort: Cohort,
    *,
    free: Sequence[RouteResult | None] | None = None,
    on_patient: Callable[[int], None] | None = None,
) -> Assignment:
    """Today's practice: every entry in arrival order, each taking its fastest route left.

    The fastest route is the earliest completion; among equally fast routes, the one the search
    meets first, which books the earliest slots (as a registrar booking each step at the first
    free time would). Booking by visit days or travel instead takes later first appointments and
    misses more deadlines: the baseline here is the stronger one.
    """
    return plan_in_order(cohort, cohort.arrival_order(), free=free, on_patient=on_patient)
