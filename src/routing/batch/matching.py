"""Who gets the scarce early slots: a maximum matching of patients to first-deadline slots.

Under contention the deadline that binds is the first one counted from the referral (for the
built-in pathways, the oncologist or cardiologist within 3 working days). Whether a patient
meets it depends only on which slot of that stage they get, so the most patients that can meet
it at once is a maximum bipartite matching between the patients and those slots (a slot of
capacity ``c`` taking ``c`` patients), found with Hopcroft–Karp (:mod:`networkx`). The engine
plans each matched patient with that slot pinned (the later stages rarely bind), and the size
of the matching is a bound: every plan leaves at least ``entries - matched`` of them missing
their first deadline, at a cost of at least the cheapest such misses (an overrun of one unit).

Only soft deadlines from the referral to the start or end of a stage, in calendar or working
days, take part; a patient whose stage is already booked (a kept booking) does not.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
from networkx.algorithms import bipartite

from nosology.pathway import EventPoint, LagUnit, parse_event
from routing.batch.cohort import Cohort
from routing.batch.objective import miss_cost
from routing.solve.compiled import compile_request

__all__ = [
    "FirstDeadline",
    "FirstDeadlineMatching",
    "first_deadline_slots",
    "match_first_deadlines",
]

logger = logging.getLogger(__name__)

_DAY_UNITS = (LagUnit.CALENDAR_DAYS, LagUnit.WORKING_DAYS)


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
        The least deadline cost of any plan that routes them all: the ``must_miss`` cheapest
        least miss costs.
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
    soft = [
        d
        for d in pathway.deadlines
        if not d.hard
        and d.from_event == "referral"
        and d.unit in _DAY_UNITS
        and d.applies_on(cohort.index.calendar.local_date(e.request.referral), e.request.region)
    ]
    if not soft:
        return None
    cr = compile_request(e.request, pathway, cohort.index, None, pins=e.fixed)
    if cr.problems:
        return None
    axis = cr.axis
    tightest: FirstDeadline | None = None
    for d in soft:
        stage_id, point = parse_event(d.to_event)
        if stage_id is None or stage_id in e.fixed:
            continue
        st = next(s for s in cr.stages if s.stage_id == stage_id)
        latest = axis.max_forward(cr.referral_minute, d.limit, d.unit)
        times = st.start if point is EventPoint.START else st.end
        slots = tuple(st.slot[c] for c, t in enumerate(times) if t <= latest)
        if tightest is None or len(slots) < len(tightest.slots):
            least = miss_cost(limit=d.limit, actual=d.limit + 1, weight=e.weight)
            tightest = FirstDeadline(entry, d.id, stage_id, slots, least)
    return tightest


def match_first_deadlines(cohort: Cohort, entries: Sequence[int]) -> FirstDeadlineMatching:
    """A maximum set of ``entries`` that can meet their first deadline at once, and the bound.

    Slots take as many matched entries as their free capacity (capacity less kept bookings).
    Deterministic: the graph is built in entry and slot order.
    """
    graph = nx.Graph()
    firsts: dict[int, FirstDeadline] = {}
    free = cohort.capacity - cohort.reserved
    for i in entries:
        first = first_deadline_slots(cohort, i)
        if first is None:
            continue
        firsts[i] = first
        node = ("patient", i)
        graph.add_node(node)
        for position in first.slots:
            for copy in range(int(free[position])):
                graph.add_edge(node, ("slot", position, copy))
    patients = [("patient", i) for i in firsts]
    matching = bipartite.hopcroft_karp_matching(graph, top_nodes=patients) if patients else {}
    pins = {
        i: (first.stage_id, int(matching[("patient", i)][1]))
        for i, first in firsts.items()
        if ("patient", i) in matching
    }
    must_miss = len(firsts) - len(pins)
    cheapest = sorted(first.least_miss_cost for first in firsts.values())[:must_miss]
    logger.info("first deadlines: %d of %d entries can meet theirs at once", len(pins), len(firsts))
    return FirstDeadlineMatching(pins, len(firsts), must_miss, sum(cheapest))
