"""Who gets the scarce early slots: a maximum matching of patients to first-deadline slots.

Under contention the deadline that binds is the first one counted from the referral (for the
built-in pathways, the oncologist or cardiologist within 3 working days). Whether a patient
meets it depends only on which slot of that stage they get, so the most patients that can meet
it at once is a maximum bipartite matching between the patients and those slots (a slot of
capacity ``c`` taking ``c`` patients), found as a maximum flow (OR-Tools' max-flow) between
classes of patients with the same slots and groups of slots with the same patients. The engine
plans each matched patient with that slot pinned (the later stages rarely bind), and the size
of the matching is a bound: every plan leaves at least ``entries - matched`` of them missing
their first deadline, at a cost of at least the cheapest such misses (an overrun of one unit)
within each set of patients that compete for the same slots (a maximum matching is one in each
connected part of the graph, so each part leaves out at least as many as it does here).

Only soft deadlines from the referral to the start or end of a stage, in calendar or working
days, take part; a patient whose stage is already booked (a kept booking) does not.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt
from networkx.utils import UnionFind
from ortools.graph.python import max_flow

from nosology.pathway import EventPoint, LagUnit, parse_event
from routing.batch.cohort import Cohort
from routing.batch.objective import miss_cost
from routing.solve.compiled import compile_request
from routing.solve.timeaxis import time_axis

__all__ = [
    "FirstDeadline",
    "FirstDeadlineMatching",
    "first_deadline_slots",
    "match_first_deadlines",
]

logger = logging.getLogger(__name__)

_DAY_UNITS = (LagUnit.CALENDAR_DAYS, LagUnit.WORKING_DAYS)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class FirstDeadline:
    """The tightest soft deadline of an entry counted from its referral, and its slots.

    ``slots`` are the positions of the stage's candidate slots (all rules of the stage alone,
    nobody else competing) that meet the deadline, earliest first.
    """

    entry: int
    deadline_id: str
    stage_id: str
    slots: tuple[int, ...]
    least_miss_cost: int
    """What missing it costs at least: an overrun of one unit (day or working day)."""


@dataclass(frozen=True, slots=True)
class FirstDeadlineMatching:
    """A maximum matching of entries to the slots that meet their first deadline.

    Attributes
    ----------
    pins
        Matched entry → ``(stage id, slot position)``.
    entries
        Entries with a first deadline.
    must_miss
        Entries that miss their first deadline in every plan (``entries - len(pins)``).
    deadline_cost
        The least deadline cost of any plan that routes them all: in each set of entries that
        compete for the same slots (a connected part of the matching's graph), as many of the
        cheapest least miss costs as the part's entries the matching leaves out.
    """

    pins: dict[int, tuple[str, int]]
    entries: int
    must_miss: int
    deadline_cost: int


def first_deadline_slots(cohort: Cohort, entry: int) -> FirstDeadline | None:
    """The entry's :class:`FirstDeadline`, or ``None`` (no such deadline, or its stage is kept)."""
    e = cohort.entries[entry]
    pathway = e.pathway
    if not e.plannable or pathway is None:
        return None
    calendar = cohort.index.calendar
    referral_date = calendar.local_date(e.request.referral)
    # The soft deadlines from the referral in days, with the stage and point each one ends at
    # (a stage the patient's kept booking fixes is not the matching's to give).
    soft = [
        (d, stage_id, point)
        for d in pathway.deadlines
        if not d.hard
        and d.from_event == "referral"
        and d.unit in _DAY_UNITS
        and d.applies_on(referral_date, e.request.region)
        for stage_id, point in (parse_event(d.to_event),)
        if stage_id is not None and stage_id not in e.fixed
    ]
    if not soft:
        return None
    axis = time_axis(calendar)
    referral = calendar.minute_of(e.request.referral)
    latest = {d.id: axis.max_forward(referral, d.limit, d.unit) for d, _, _ in soft}
    # Only slots up to the latest deadline can meet one: compile no further.
    days = axis.day_of(max(latest.values())) - axis.day_of(referral)
    request = e.request
    if 1 <= days < request.horizon_days:
        request = request.model_copy(update={"horizon_days": days})
    stages = {stage_id for _, stage_id, _ in soft}
    cr = compile_request(request, pathway, cohort.index, None, pins=e.fixed, only=stages)
    if cr.problems:
        return None
    tightest: FirstDeadline | None = None
    for d, stage_id, point in soft:
        st = next(s for s in cr.stages if s.stage_id == stage_id)
        # The candidates are sorted by start, and none that starts after the deadline ends
        # before it: only those before the cut can meet it (all of them, by their start).
        limit = latest[d.id]
        cut = bisect_right(st.start, limit)
        if point is EventPoint.START:
            slots = tuple(st.slot[:cut])
        else:
            slots = tuple(st.slot[c] for c in range(cut) if st.end[c] <= limit)
        if tightest is None or len(slots) < len(tightest.slots):
            least = miss_cost(
                limit=d.limit, actual=d.limit + 1, weight=e.weight, measure=cohort.deadline_measure
            )
            tightest = FirstDeadline(entry, d.id, stage_id, slots, least)
    return tightest


def match_first_deadlines(cohort: Cohort, entries: Sequence[int]) -> FirstDeadlineMatching:
    """A maximum set of ``entries`` that can meet their first deadline at once, and the bound.

    Slots take as many matched entries as their free capacity (capacity less kept bookings).
    Entries with the same stage and slots form one class, and slots used by the same classes
    one group, so that the matching is a maximum flow from classes (as many units as members)
    through groups (as many as their free places): its size does not grow with the product of
    patients and slots. Matched members then take their group's slots earliest first, in entry
    order. Deterministic: classes and groups are built in entry and slot order.
    """
    firsts: dict[int, FirstDeadline] = {}
    members: dict[tuple[str, tuple[int, ...]], list[int]] = {}
    for i in entries:
        first = first_deadline_slots(cohort, i)
        if first is None:
            continue
        firsts[i] = first
        members.setdefault((first.stage_id, first.slots), []).append(i)
    free = cohort.capacity - cohort.reserved
    classes = list(members)
    groups = _slot_groups(classes, free)
    flow = _class_flows(classes, members, groups, free)
    pins = _pins(cohort, classes, members, list(groups.values()), flow, free)
    must_miss = len(firsts) - len(pins)
    least = 0
    for part in _connected(len(classes), list(groups)):
        costs = sorted(firsts[i].least_miss_cost for k in part for i in members[classes[k]])
        left_out = len(costs) - sum(units for k in part for _, units in flow[k])
        least += sum(costs[:left_out])
    logger.info("first deadlines: %d of %d entries can meet theirs at once", len(pins), len(firsts))
    return FirstDeadlineMatching(pins, len(firsts), must_miss, least)


def _connected(n_classes: int, users: list[tuple[int, ...]]) -> list[set[int]]:
    """The classes in sets that share slots, directly or through others (each group of slots
    joins the classes that may use it; a class with no free slot stands alone)."""
    parts = UnionFind(range(n_classes))
    for group_users in users:
        parts.union(*group_users)
    return list(parts.to_sets())


_SOURCE, _SINK = 0, 1


def _slot_groups(
    classes: list[tuple[str, tuple[int, ...]]], free: npt.NDArray[np.int64]
) -> dict[tuple[int, ...], list[int]]:
    """The slots with a free place grouped by the classes that may use them: users (in class
    order) → positions. Groups, and positions within a group, come in the order in which the
    classes, one after another, first name them (so the flow's arcs are in a fixed order)."""
    positions, users = _flattened([class_slots for _, class_slots in classes])
    with_place = free[positions] > 0
    positions, users = positions[with_place], users[with_place]
    # Each position's users are a run of the stable sort by position (classes ascending).
    by_position = np.argsort(positions, kind="stable")
    runs = np.flatnonzero(np.diff(positions[by_position], prepend=-1))
    bounds = np.append(runs, len(by_position)).tolist()
    run_users = users[by_position].tolist()
    run_position = positions[by_position[runs]].tolist()
    groups: dict[tuple[int, ...], list[int]] = {}
    # A run's first row is the position's first mention: runs in that order.
    for r in np.argsort(by_position[runs], kind="stable").tolist():
        key = tuple(run_users[bounds[r] : bounds[r + 1]])
        groups.setdefault(key, []).append(run_position[r])
    return groups


def _flattened(lists: Sequence[Sequence[int]]) -> tuple[IntArray, IntArray]:
    """The values of ``lists`` one after another, and for each the position of its list."""
    sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    values = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(sizes.sum()))
    return values, np.repeat(np.arange(len(lists), dtype=np.int64), sizes)


def _class_flows(
    classes: list[tuple[str, tuple[int, ...]]],
    members: dict[tuple[str, tuple[int, ...]], list[int]],
    groups: dict[tuple[int, ...], list[int]],
    free: npt.NDArray[np.int64],
) -> list[list[tuple[int, int]]]:
    """A maximum flow from the classes (as many units as members) through the groups of slots
    they may use (as many as free places) to a sink, by OR-Tools' max-flow; per class, its
    ``(group, units)`` with units > 0, in group order."""
    n_classes, n_groups = len(classes), len(groups)
    flows: list[list[tuple[int, int]]] = [[] for _ in classes]
    user, group = _flattened(list(groups))
    if not len(user):
        return flows
    # The arcs: source -> each class; then group by group, each of its users -> the group,
    # and the group -> sink (after its users and those of the groups before, one sink arc each).
    members_of = np.fromiter((len(members[key]) for key in classes), np.int64, n_classes)
    between = n_classes + np.arange(len(user)) + group
    to_sink = n_classes + np.cumsum(np.bincount(group, minlength=n_groups)) + np.arange(n_groups)
    tails = np.empty(n_classes + len(user) + n_groups, dtype=np.int32)
    heads = np.empty_like(tails)
    capacities = np.empty(len(tails), dtype=np.int64)
    tails[:n_classes], heads[:n_classes] = _SOURCE, np.arange(2, 2 + n_classes)
    capacities[:n_classes] = members_of
    tails[between], heads[between], capacities[between] = (
        2 + user,
        2 + n_classes + group,
        members_of[user],
    )
    tails[to_sink], heads[to_sink] = 2 + n_classes + np.arange(n_groups), _SINK
    capacities[to_sink] = [int(free[positions].sum()) for positions in groups.values()]
    solver = max_flow.SimpleMaxFlow()
    arcs = solver.add_arcs_with_capacity(tails, heads, capacities)
    status = solver.solve(_SOURCE, _SINK)
    if status != solver.OPTIMAL:
        raise RuntimeError(f"the first-deadline max flow ended with status {status}")
    units = solver.flows(arcs[between])
    used = units > 0
    for k, g, n in zip(
        user[used].tolist(), group[used].tolist(), units[used].tolist(), strict=True
    ):
        flows[k].append((g, n))
    return flows


def _pins(
    cohort: Cohort,
    classes: list[tuple[str, tuple[int, ...]]],
    members: dict[tuple[str, tuple[int, ...]], list[int]],
    groups: list[list[int]],
    flows: list[list[tuple[int, int]]],
    free: npt.NDArray[np.int64],
) -> dict[int, tuple[str, int]]:
    """Each matched entry's slot: per class, its flow into each group as that many of its
    members (in entry order) on the group's earliest slots with places left."""
    start = cohort.index.start
    by_time = [sorted(positions, key=lambda p: (int(start[p]), p)) for positions in groups]
    left = {p: int(free[p]) for positions in groups for p in positions}
    pins: dict[int, tuple[str, int]] = {}
    for k, key in enumerate(classes):
        waiting = iter(members[key])
        for g, units in flows[k]:
            for position in by_time[g]:
                while units > 0 and left[position] > 0:
                    pins[next(waiting)] = (key[0], position)
                    left[position] -= 1
                    units -= 1
    return dict(sorted(pins.items()))
