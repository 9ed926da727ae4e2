"""A lower bound on the cohort's weighted completion minutes under capacity, by a min-cost flow.

Choose one stage ``s_p`` of each routed patient ``p``. In any plan, ``p`` takes a place of a
slot ``u`` for it, and its completion, in minutes from its referral ``r_p`` to the end of its
last visit, is at least ``L_p(day(u))``: the least completion ``p`` can have at all when
``s_p`` starts on that day or later, nobody else competing. ``L_p`` never decreases, is at
least ``C_p`` (the fastest completion, the no-competition search's optimum or proven bound) and
at least the day's start ``- r_p + tail_p``, where ``tail_p`` is the least time the pathway
needs from the end of ``s_p`` to the end of its last stage (:func:`stage_tails`). Places are
shared: a slot gives at most its free capacity (capacity less kept bookings), and a kept booking
takes its own reserved place. So for any plan that routes ``k`` patients, its weighted minutes
``Σ w_p · completion_p`` are at least the least cost of assigning ``k`` patients to distinct
places of their chosen stage's slots at cost ``w_p · L_p(day(u))`` — a min-cost flow of ``k``
units, which this module solves with OR-Tools' ``SimpleMinCostFlow``. A patient that cannot be
routed even alone takes no part. Any choice of stages gives a bound; :func:`completion_flow_bound`
tries the last stage, the first, and the one whose services offer the fewest places, and keeps
the largest.

The flow relaxes, which keeps it a bound (a bound over more choices is lower): a patient may
use any slot of its chosen stage's services at a facility of the level asked, in the stage's
mode, on an open day, that starts on or after its referral's local day (the patient's allowed
facilities, the horizon and the earlier stages are ignored). The places are counted by day: a
node per day and stage kind passes the free places of that day's slots (more freedom than the
slots give, so still a bound), and a patient has an arc to each day at a lower bound of
``L_p`` there: ``C_p`` up to the day its fastest route puts the stage on; for a few days more
(a deterministic budget of single-route searches, see :func:`completion_flow_bound`) the
optimum, or proven bound, of a search with the stage held back to that day
(``RouteRequest.not_before``); after those the last such figure or the day's start plus the
tail, whichever is more. So the flow sees that a patient who gets a later consultation
finishes later, which a bound on the last stage alone does not.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from nosology.pathway import LagUnit, Pathway, Stage, VisitMode, parse_event
from routing.batch.cohort import Cohort
from routing.result import RouteResult, SolveStatus
from routing.slot_index import SlotIndex
from routing.solve.indexcache import cached_on_index

__all__ = [
    "STAGE_CHOICES",
    "CompletionFlowBound",
    "completion_flow_bound",
    "last_stage",
    "stage_tails",
    "taking_part",
]

STAGE_CHOICES = ("last", "first", "scarcest")
"""Which stage of each patient a flow places (see :func:`completion_flow_bound`)."""

logger = logging.getLogger(__name__)

_SOURCE, _SINK = 0, 1


@dataclass(frozen=True, slots=True)
class CompletionFlowBound:
    """The flow's answer.

    Attributes
    ----------
    patients
        Entries taking part (plannable, routable alone).
    max_routed
        The most of them whose last stage can get a place at once: every plan leaves at least
        ``patients - max_routed`` of them unplanned.
    routed
        The number of routed patients the bound is for.
    weighted_minutes
        The least weighted completion minutes of any plan that routes ``routed`` patients.
    stages
        The choice of stages whose flow gave ``weighted_minutes``.
    """

    patients: int
    max_routed: int
    routed: int
    weighted_minutes: int
    stages: str = "last"


def last_stage(pathway: Pathway) -> Stage:
    """The pathway's last stage that no other stage follows (through ``after`` or a temporal
    constraint with a minimum lag)."""
    followed: set[str] = {earlier for stage in pathway.stages for earlier in stage.after}
    for c in pathway.constraints:
        first, _ = parse_event(c.from_event)
        then, _ = parse_event(c.to_event)
        if first is not None and then is not None and first != then and c.min is not None:
            followed.add(first)
    sinks = [s for s in pathway.stages if s.id not in followed]
    return (sinks or list(pathway.stages))[-1]


@dataclass(slots=True)
class _Patient:
    entry: int
    weight: int
    referral: int
    completion: int
    kind: tuple[tuple[str, ...], int | None, VisitMode]
    fixed: int | None
    tail: int
    stage_id: str


def completion_flow_bound(
    cohort: Cohort,
    alone: Sequence[RouteResult],
    routed: int | None = None,
    *,
    probe_days: int = 4,
    max_probes: int = 1500,
    weighted: bool = True,
) -> CompletionFlowBound:
    """The bound for plans that route ``routed`` of the patients taking part (default: as many
    as can be routed at once); see the module docstring.

    One flow per choice of :data:`STAGE_CHOICES`: the fewest patients routable at once among
    them bounds every plan, and for that many (or ``routed``, when fewer) the most minutes of
    the flows.

    Parameters
    ----------
    cohort
        The cohort.
    alone
        Each entry's fastest route with nobody competing
        (:func:`~routing.batch.bounds.no_competition_routes`).
    routed
        How many patients the plans route (capped at :attr:`CompletionFlowBound.max_routed`).
    probe_days
        Days after the fastest route's day of a chosen stage for which a search holds the
        stage back, at most.
    max_probes
        The searches of all patients and choices together, at most: ``probe_days`` shrinks to
        fit (a work limit, so the bound is the same on every run).
    """
    free = cohort.capacity - cohort.reserved
    probes: dict[tuple[int, str, int], int | None] = {}  # choices often pick the same stage
    taking_part = max(1, len(cohort.plannable()))
    probe_days = max(0, min(probe_days, max_probes // (taking_part * len(STAGE_CHOICES))))
    graphs = [
        (choice, *_graph(cohort, alone, choice, free, probe_days, probes, weighted))
        for choice in STAGE_CHOICES
    ]
    most = min(graph.solve(None)[0] for _, graph, _ in graphs)
    k = most if routed is None else max(0, min(routed, most))
    answer = CompletionFlowBound(graphs[0][2], most, k, 0, graphs[0][0])
    for choice, graph, patients in graphs:
        _, cost = graph.solve(k)
        logger.info("completion flow (%s stages): %d weighted minutes for %d", choice, cost, k)
        if cost > answer.weighted_minutes:
            answer = CompletionFlowBound(patients, most, k, cost, choice)
    return answer


def _graph(
    cohort: Cohort,
    alone: Sequence[RouteResult],
    choice: str,
    free: npt.NDArray[np.int64],
    probe_days: int,
    probes: dict[tuple[int, str, int], int | None],
    weighted: bool = True,
) -> tuple[_Graph, int]:
    """The flow network of one choice of stages, and how many patients take part."""
    patients = _patients(cohort, alone, choice, free, weighted)
    graph = _Graph(len(patients))
    days_of_kind: dict[tuple[tuple[str, ...], int | None, VisitMode], dict[int, int]] = {}
    for n, p in enumerate(patients):
        node = 2 + n
        graph.arc(_SOURCE, node, 1, 0)
        costs = _day_costs(cohort, alone[p.entry], p, probe_days, probes)
        if p.fixed is not None:  # its own reserved place of its kept booking
            day = cohort.index.calendar.day_of_minute(int(cohort.index.start[p.fixed]))
            if day in costs:
                graph.arc(node, _SINK, 1, p.weight * costs[day])
            continue
        if p.kind not in days_of_kind:
            days_of_kind[p.kind] = _day_nodes(cohort, graph, p.kind, free)
        for day, day_node in days_of_kind[p.kind].items():
            if day in costs:
                graph.arc(node, day_node, 1, p.weight * costs[day])
    return graph, len(patients)


def _day_nodes(
    cohort: Cohort,
    graph: _Graph,
    kind: tuple[tuple[str, ...], int | None, VisitMode],
    free: npt.NDArray[np.int64],
) -> dict[int, int]:
    """Day index → a node passing to the sink the free places of the kind's slots that day."""
    index = cohort.index
    services, level, mode = kind
    parts = [index.by_service[s] for s in services if s in index.by_service]
    if not parts:
        return {}
    pos = np.concatenate(parts)
    keep = index.facility_level_ok(pos, level) & index.mode_is(pos, mode) & index.open_day[pos]
    pos = pos[keep & (free[pos] > 0)]
    places: dict[int, int] = {}
    calendar = index.calendar
    for position, start in zip(pos.tolist(), index.start[pos].tolist(), strict=True):
        day = calendar.day_of_minute(int(start))
        places[day] = places.get(day, 0) + int(free[position])
    nodes: dict[int, int] = {}
    for day in sorted(places):
        nodes[day] = graph.node()
        graph.arc(nodes[day], _SINK, places[day], 0)
    return nodes


def _day_costs(
    cohort: Cohort,
    alone: RouteResult,
    p: _Patient,
    probe_days: int,
    probes: dict[tuple[int, str, int], int | None],
) -> dict[int, int]:
    """Day index → the least completion minutes of ``p`` when its chosen stage starts that
    day or later, for every day from its referral's to the end of the calendar: its fastest
    completion up to the day the fastest route puts the stage on; for the next
    ``probe_days`` days a search with the stage held back (``RouteRequest.not_before``: its
    optimum, or its proven bound when it stops early; no route, no later day; ``probes`` keeps
    each search's answer for the other choices of the same stage); after those,
    the last probe's figure or the day's start plus the stage's tail, whichever is more."""
    index = cohort.index
    calendar = index.calendar
    first = calendar.day_of_minute(p.referral)
    # No place lies after the last slot's day: costs beyond it would never be read (the
    # calendar's span runs years further).
    last = min(calendar.day_index(calendar.last_date), _last_slot_day(index))
    at = {b.stage_id: b.slot_id for b in alone.bookings}.get(p.stage_id)
    position = None if at is None else index.slot_position.get(at)
    fastest = calendar.day_of_minute(int(index.start[position])) if position is not None else first
    costs = {day: p.completion for day in range(first, min(fastest, last) + 1)}
    floor = p.completion
    day = fastest
    for day in range(fastest + 1, min(fastest + probe_days, last) + 1):
        key = (p.entry, p.stage_id, day)
        if key not in probes:
            probes[key] = _probe(cohort, p, day)
        probed = probes[key]
        if probed is None:
            return costs
        floor = max(floor, probed)
        costs[day] = floor
    for later in range(day + 1, last + 1):
        costs[later] = max(floor, calendar.day_start_minute(later) - p.referral + p.tail)
    return costs


def _last_slot_day(index: SlotIndex) -> int:
    """The day index of the latest slot start (``-1`` without slots), cached on the index."""
    return cached_on_index(
        index, "last slot day", None, 1, lambda: int(index.day.max()) if len(index) else -1
    )


def _probe(cohort: Cohort, p: _Patient, day: int) -> int | None:
    """The least completion of ``p`` with its chosen stage starting on ``day`` or later
    (``None``: no route)."""
    from routing.solve.plan import plan_route  # the batch layer calls the single-route solver

    entry = cohort.entries[p.entry]
    calendar = cohort.index.calendar
    start = datetime.combine(calendar.date_at(day), time(0), tzinfo=calendar.zone)
    request = entry.request.model_copy(
        update={
            "pathway": entry.pathway,
            "not_before": {**entry.request.not_before, p.stage_id: start},
        }
    )
    result = plan_route(request, cohort.index, options=cohort.options)
    if result.status in (SolveStatus.INFEASIBLE, SolveStatus.INVALID):
        return None
    bound = result.bound or result.objective
    return None if bound is None else max(0, bound.completion_minutes)


def _patients(
    cohort: Cohort,
    alone: Sequence[RouteResult],
    choice: str,
    free: npt.NDArray[np.int64],
    weighted: bool = True,
) -> list[_Patient]:
    calendar = cohort.index.calendar
    out: list[_Patient] = []
    # Per pathway, once (choosing the scarcest stage sums the free places of its services).
    tails: dict[str, dict[str, int]] = {}
    chosen: dict[str, Stage] = {}
    for i, completion in taking_part(cohort, alone):
        entry = cohort.entries[i]
        pathway = entry.pathway
        assert pathway is not None
        if pathway.id not in tails:
            tails[pathway.id] = stage_tails(pathway)
            chosen[pathway.id] = _chosen(cohort, pathway, choice, free)
        stage = chosen[pathway.id]
        services = tuple(sorted(str(s) for s in stage.services))
        out.append(
            _Patient(
                entry=i,
                weight=entry.weight if weighted else 1,
                referral=calendar.minute_of(entry.request.referral),
                completion=completion,
                kind=(services, stage.facility_level, stage.mode),
                fixed=entry.fixed.get(stage.id),
                tail=tails[pathway.id][stage.id],
                stage_id=stage.id,
            )
        )
    return out


def taking_part(cohort: Cohort, alone: Sequence[RouteResult]) -> list[tuple[int, int]]:
    """``(entry, fastest completion minutes)`` of each plannable entry that can be routed alone
    (its search's optimum, or its proven bound when the search stopped early), in entry order:
    the patients a bound over the cohort's places counts."""
    out: list[tuple[int, int]] = []
    for i in cohort.plannable():
        result = alone[i]
        if result.status in (SolveStatus.INVALID, SolveStatus.INFEASIBLE):
            continue
        bound = result.bound or result.objective
        out.append((i, max(0, bound.completion_minutes) if bound is not None else 0))
    return out


def _chosen(cohort: Cohort, pathway: Pathway, choice: str, free: npt.NDArray[np.int64]) -> Stage:
    if choice == "last":
        return last_stage(pathway)
    if choice == "first":
        return next(s for s in pathway.stages if not s.after)
    index = cohort.index

    def places(stage: Stage) -> int:
        parts = [index.by_service[str(s)] for s in stage.services if str(s) in index.by_service]
        return int(sum(int(free[p].sum()) for p in parts))

    return min(pathway.stages, key=places)  # the first of the scarcest, in pathway order


def stage_tails(pathway: Pathway) -> dict[str, int]:
    """Stage id → the least minutes from the end of that stage to the end of the pathway's
    last visit, whatever the slots: the longest path over ``after`` (the next stage starts
    at or after the end) and the minimum lags of temporal constraints, where a minimum of
    ``n ≥ 1`` calendar or working days between two events is at least ``(n - 1)·1440 + 1``
    minutes (the dates differ by ``n`` days at least), and of minutes and hours exact. Slot
    durations count as nothing (a slot may be shorter than the stage's nominal duration)."""
    # Events: (stage, "start" | "end"); edges u -> v with least minutes of v after u.
    edges: dict[tuple[str, str], list[tuple[tuple[str, str], int]]] = {}

    def edge(u: tuple[str, str], v: tuple[str, str], minutes: int) -> None:
        edges.setdefault(u, []).append((v, minutes))

    for stage in pathway.stages:
        edge((stage.id, "start"), (stage.id, "end"), 0)
        for earlier in stage.after:
            edge((earlier, "end"), (stage.id, "start"), 0)
    for c in pathway.constraints:
        first, first_point = parse_event(c.from_event)
        then, then_point = parse_event(c.to_event)
        if first is None or then is None or first_point is None or then_point is None:
            continue
        if c.min is None:
            continue
        least = _least_minutes(c.min, c.unit)
        if least is not None:
            edge((first, first_point.value), (then, then_point.value), least)
    memo: dict[tuple[str, str], int] = {}

    def longest(u: tuple[str, str]) -> int:
        """The longest path from ``u`` to any stage's end (0 at an end with nothing after)."""
        if u not in memo:
            memo[u] = 0  # the pathway's graph is acyclic (checked by the catalogue)
            best = 0 if u[1] == "end" else -(10**12)
            for v, minutes in edges.get(u, ()):
                best = max(best, minutes + longest(v))
            memo[u] = max(best, 0)
        return memo[u]

    return {stage.id: longest((stage.id, "end")) for stage in pathway.stages}


def _least_minutes(lag: int, unit: LagUnit) -> int | None:
    """The least minutes between two events ``lag`` units apart (``None``: no bound)."""
    if unit is LagUnit.MINUTES:
        return lag
    if unit is LagUnit.HOURS:
        return 60 * lag
    if lag >= 1:  # calendar or working days: the dates differ by lag days at least
        return (lag - 1) * 1440 + 1
    return None


class _Graph:
    """Arcs gathered in lists, solved by OR-Tools (rebuilt per solve: the solver is one-shot)."""

    def __init__(self, patients: int) -> None:
        self.nodes = 2 + patients
        self.tails: list[int] = []
        self.heads: list[int] = []
        self.capacities: list[int] = []
        self.costs: list[int] = []
        self.patients = patients

    def node(self) -> int:
        self.nodes += 1
        return self.nodes - 1

    def arc(self, tail: int, head: int, capacity: int, cost: int) -> None:
        self.tails.append(tail)
        self.heads.append(head)
        self.capacities.append(capacity)
        self.costs.append(cost)

    def solve(self, units: int | None) -> tuple[int, int]:
        """``(flow, cost)``: the maximum flow at least cost (``units=None``), or exactly
        ``units`` at least cost."""
        if not self.tails or units == 0:
            return 0, 0
        solver = min_cost_flow.SimpleMinCostFlow()
        solver.add_arcs_with_capacity_and_unit_cost(
            np.asarray(self.tails, dtype=np.int32),
            np.asarray(self.heads, dtype=np.int32),
            np.asarray(self.capacities, dtype=np.int64),
            np.asarray(self.costs, dtype=np.int64),
        )
        supply = self.patients if units is None else units
        supplies = np.zeros(self.nodes, dtype=np.int64)
        supplies[_SOURCE], supplies[_SINK] = supply, -supply
        solver.set_nodes_supplies(np.arange(self.nodes, dtype=np.int32), supplies)
        # None: as much as the places allow, at least cost
        status = solver.solve_max_flow_with_min_cost() if units is None else solver.solve()
        if status != solver.OPTIMAL:
            raise RuntimeError(f"the completion min-cost flow ended with status {status}")
        return int(solver.maximum_flow()), int(solver.optimal_cost())
