"""Where slots could be added: the window, the pool of slots to copy, and the copies.

A new slot is a **copy** of an existing one: the same facility, service, start, end, mode and
capacity, on a resource of its own (another doctor or room), with a synthetic id derived from
the original's and a number (``whatif/<n>/<original id>``: the same proposal gives the same
ids). A copy serves exactly the stages and patients the original serves, so the first-deadline
network (:mod:`.flow`) sees it as more places at the original's position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway
from routing.batch.cohort import Cohort, build_cohort
from routing.batch.whatif.flow import FirstDeadlineNetwork
from routing.batch.whatif.model import CandidateSlot, CapacityBudget
from routing.calendar import calendar_for
from routing.domain import RouteRequest, Slot
from routing.exceptions import InvalidInputError
from routing.problem import Problem
from routing.slot_index import SlotIndex

__all__ = [
    "WhatIfInputs",
    "WhatIfSetting",
    "copy_slot",
    "resolve_candidates",
    "setting",
    "window_days",
    "window_pool",
]

IntArray = npt.NDArray[np.int64]

WhatIfInputs = Problem | tuple[Sequence[RouteRequest], SlotIndex]
"""A problem, or ``(requests, index)``: what :func:`~routing.batch.plan_batch` takes."""

COPY_PREFIX = "whatif"


@dataclass(frozen=True, slots=True)
class WhatIfSetting:
    """The inputs resolved once: requests, index, pathways, cohort, network and free places."""

    requests: tuple[RouteRequest, ...]
    index: SlotIndex
    pathways: Mapping[str, Pathway] | None
    catalogue: Catalogue | None
    cohort: Cohort
    network: FirstDeadlineNetwork
    free: IntArray


def setting(
    inputs: WhatIfInputs,
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
) -> WhatIfSetting:
    """Resolve ``inputs`` as :func:`~routing.batch.plan_batch` does, and build the network."""
    if isinstance(inputs, Problem):
        index = SlotIndex.build(
            inputs.facilities,
            inputs.slots,
            calendar=calendar_for(inputs.timezone),
            travel=inputs.travel,
        )
        requests: Sequence[RouteRequest] = inputs.requests
        pathways = {**{p.id: p for p in inputs.pathways}, **(pathways or {})}
    else:
        requests, index = inputs
    cohort = build_cohort(requests, index, catalogue=catalogue, pathways=pathways)
    network = FirstDeadlineNetwork(cohort, cohort.plannable())
    free: IntArray = (cohort.capacity - cohort.reserved).astype(np.int64)
    return WhatIfSetting(tuple(requests), index, pathways, catalogue, cohort, network, free)


def window_days(s: WhatIfSetting, first_day: date | None, working_days: int) -> tuple[date, ...]:
    """``working_days`` working days from ``first_day`` (default: the earliest referral, else
    the earliest slot); empty when there is neither.

    Raises
    ------
    InvalidInputError
        ``first_day`` outside the years the calendar knows.
    """
    calendar = s.index.calendar
    if first_day is None:
        referrals = [calendar.local_date(r.referral) for r in s.requests]
        starts = [calendar.local_date(slot.start) for slot in s.index.slots]
        if not referrals and not starts:
            return ()
        first_day = min(referrals) if referrals else min(starts)
    if not calendar.first_date <= first_day <= calendar.last_date:
        raise InvalidInputError("capacity budget", "first_day", "outside the calendar's years")
    days: list[date] = []
    day = first_day
    while len(days) < working_days and day <= calendar.last_date:
        if calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return tuple(days)


def window_pool(s: WhatIfSetting, budget: CapacityBudget, days: Sequence[date]) -> list[int]:
    """Positions of the slots a budget's addition may copy: in the window, of the services
    and at the facilities allowed, in index order.

    Raises
    ------
    InvalidInputError
        A service or facility of the budget that the index does not know.
    """
    index = s.index
    for n, key in enumerate(budget.services or ()):
        if key not in index.by_service:
            raise InvalidInputError("capacity budget", f"services.{n}", "no slot of this service")
    for n, fid in enumerate(budget.facilities or ()):
        if fid not in index.facility_position:
            raise InvalidInputError("capacity budget", f"facilities.{n}", "unknown facility")
    allowed_days = set(days)
    services = set(budget.services) if budget.services is not None else None
    facilities = set(budget.facilities) if budget.facilities is not None else None
    calendar = index.calendar
    pool: list[int] = []
    for p, slot in enumerate(index.slots):
        if services is not None and str(slot.service) not in services:
            continue
        if facilities is not None and slot.facility_id not in facilities:
            continue
        if calendar.local_date(slot.start) in allowed_days:
            pool.append(p)
    return pool


def resolve_candidates(s: WhatIfSetting, candidates: Sequence[CandidateSlot]) -> list[int]:
    """The position of the slot each candidate copies.

    Raises
    ------
    InvalidInputError
        An unknown facility or service, or no slot of the service at the facility that day (at
        that start) to copy; the record is ``candidates[n]``.
    """
    index = s.index
    calendar = index.calendar
    positions: list[int] = []
    for n, c in enumerate(candidates):
        record = f"candidates[{n}]"
        if c.facility_id not in index.facility_position:
            raise InvalidInputError(record, "facility_id", "unknown facility")
        if c.service not in index.by_service:
            raise InvalidInputError(record, "service", "no slot of this service in the index")
        found = [
            int(p)
            for p in index.by_service[c.service]
            if index.slots[p].facility_id == c.facility_id
            and calendar.local_date(index.slots[p].start) == c.day
            and (
                c.start is None or index.slots[p].start.astimezone(calendar.zone).time() == c.start
            )
        ]
        if not found:
            field = "day" if c.start is None else "start"
            raise InvalidInputError(
                record, field, "the facility has no slot of this service then to copy"
            )
        positions.append(min(found, key=lambda p: (int(index.start[p]), index.slots[p].id)))
    return positions


def copy_slot(original: Slot, number: int) -> Slot:
    """A copy of ``original`` on a resource of its own, with a synthetic deterministic id."""
    tag = f"{COPY_PREFIX}/{number}"
    resource = f"{original.resource or original.facility_id}/{tag}"[:200]
    return original.model_copy(update={"id": f"{tag}/{original.id}"[:200], "resource": resource})
