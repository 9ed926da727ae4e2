"""A cohort ready for batch planning: each request with its pathway, weight and kept bookings.

:func:`build_cohort` resolves every request's pathway once, checks it, and turns the request's
existing bookings into fixed slot positions. A request that cannot be planned (no pathway, a
contradictory pathway, a missing reference date, an existing booking that does not fit its stage
or that exceeds its slot's capacity) gets a reason and takes no part in planning; the rest are
planned.

Capacity
--------
Every slot of the index takes ``slot.capacity`` patients of the cohort, those already holding it
included. Kept bookings are reserved for their holder before anything is planned (in arrival
order; a holder beyond the capacity is reported and not planned), so no plan can take them.
With ``allow_moving_existing`` nothing is reserved: every patient is planned from scratch.

:meth:`Cohort.route` plans one patient over the slots left free, like
:func:`~routing.solve.plan_route` with the pathway resolved once and the kept stages pinned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nosology.catalogue import Catalogue
from nosology.exceptions import NosologyError
from nosology.pathway import Pathway
from routing.batch.objective import (
    DEADLINE_MEASURES,
    Cost,
    DeadlineMeasure,
    priority_weight,
    route_cost,
)
from routing.domain import RouteRequest
from routing.exceptions import CalendarRangeError
from routing.result import RouteResult, SolveStatus
from routing.slot_index import SlotIndex
from routing.solve.compiled import CompiledRequest, compile_request, gather
from routing.solve.modes import search_in_modes
from routing.solve.plan import (
    SolveOptions,
    invalid_result,
    pathway_problem,
    plan_route,
    resolve_pathway,
    route_result,
)
from routing.solve.prepared import LagMemo, PreparedRequest, check_pins, prepare_request
from routing.solve.projection import check_request_dates
from routing.solve.search import SearchLimits

__all__ = [
    "Cohort",
    "CohortEntry",
    "build_cohort",
    "deadline_aware",
    "unplanned_result",
]

logger = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CohortEntry:
    """One request of a cohort.

    Attributes
    ----------
    position
        Its place in the cohort (the order the requests were given in).
    request
        The request.
    weight
        Its priority weight (:func:`~routing.batch.objective.priority_weight`).
    pathway
        The resolved pathway, ``None`` when the request is invalid.
    fixed
        Stage id → slot position of the bookings it keeps.
    invalid
        The result that says why it cannot be planned, or ``None``.
    """

    position: int
    request: RouteRequest
    weight: int
    pathway: Pathway | None
    fixed: Mapping[str, int] = field(default_factory=dict)
    invalid: RouteResult | None = None

    @property
    def plannable(self) -> bool:
        """Whether the entry takes part in planning."""
        return self.invalid is None and self.pathway is not None


@dataclass(frozen=True, eq=False)
class Cohort:
    """Requests, the slot index and the capacities they share.

    Attributes
    ----------
    index
        The slots and facilities.
    entries
        One per request, in the order given.
    capacity
        Capacity of each slot position.
    reserved
        Places of each slot taken by kept bookings.
    options
        The limits of each single-patient search (the node limit keeps it deterministic).
    """

    index: SlotIndex
    entries: tuple[CohortEntry, ...]
    capacity: IntArray
    reserved: IntArray
    options: SolveOptions
    per_day: int = 0
    """Each stage's search sees at most this many candidates a day (0: all; see
    :func:`~routing.solve.thinning.nearest_per_day`)."""
    horizon_days: int = 0
    """The first search of a route looks this many days past the referral (0: the request's own
    horizon); see :meth:`route`."""
    deadline_measure: DeadlineMeasure = "misses"
    """How the batch objective counts a missed soft deadline (:mod:`routing.batch.objective`)."""
    searches: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)
    """How many single-route searches this cohort has run (one counter in a list): the batch's
    deterministic work measure."""
    lag_memo: LagMemo = field(default_factory=dict, compare=False, repr=False)
    """Each request's stage ranges as the lag links narrow them, kept across its searches
    (:func:`~routing.solve.compiled.compile_request`)."""
    variants: dict[tuple[int, int], tuple[Pathway, RouteRequest]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Each entry's pathway with its soft deadlines hard and its request with the short
    horizon, by ``(entry, meet_deadlines)``: made once, not at every search (a batch routes
    each entry thousands of times)."""
    prepared: dict[tuple[int, int, int, bool, int], PreparedRequest] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Each request compiled up to its blocked slots, by entry, request, pathway (their ids:
    each prepared request holds both alive), whether slots are blocked, and candidates a day
    (:func:`~routing.solve.prepared.prepare_request`): a search then only gathers the
    candidates its blocked slots leave."""

    def __len__(self) -> int:
        return len(self.entries)

    def arrival_order(self) -> list[int]:
        """Entry positions by referral time, then request id (first come, first served)."""
        return sorted(
            range(len(self.entries)),
            key=lambda i: (self.entries[i].request.referral, self.entries[i].request.id),
        )

    def plannable(self) -> list[int]:
        """Positions of the entries that take part in planning."""
        return [e.position for e in self.entries if e.plannable]

    def cost(self, entry: int, result: RouteResult | None) -> Cost:
        """Entry's share of the batch objective with ``result`` (``None``: unplanned), its
        misses counted by :attr:`deadline_measure`."""
        return route_cost(result, self.entries[entry].weight, self.deadline_measure)

    def blocked(self, usage: IntArray, entry: int | None = None) -> BoolArray:
        """The slots ``entry`` may not take when the routes use ``usage`` places (without an
        entry: the slots with no place left)."""
        full: BoolArray = (self.reserved + usage) >= self.capacity
        return full if entry is None else self.unblock_own(full, entry)

    def unblock_own(self, full: BoolArray, entry: int) -> BoolArray:
        """``full`` less the slots ``entry`` keeps (a copy when it keeps any)."""
        fixed = self.entries[entry].fixed
        if not fixed:
            return full
        mask = full.copy()
        mask[list(fixed.values())] = False
        return mask

    def route(
        self,
        entry: int,
        blocked: BoolArray | None,
        *,
        meet_deadlines: bool = False,
        secondary: bool = False,
        pins: Mapping[str, int] | None = None,
        node_limit: int | None = None,
        every_candidate: bool = False,
    ) -> RouteResult:
        """The fastest route of ``entry`` avoiding ``blocked`` slots, kept bookings pinned.

        ``pins`` (stage id → slot position) pins more stages to given slots, blocked or not.
        ``node_limit`` replaces the cohort's search node limit for this route.

        The search sees at most :attr:`per_day` candidates a day of each stage, unless
        ``every_candidate``: then it sees them all, and its completion (or proven bound) is a
        lower bound on every route of the entry, which a thinned search's is not (a slot
        further from home can end earlier).

        The search proves the earliest completion only (what the batch objective counts; the
        result is FEASIBLE), unless ``secondary`` asks for the fewest visit days, least travel
        and preferred facilities among the routes that complete that early too.

        With ``meet_deadlines``, the fastest among the routes that meet every soft deadline
        (searched with those deadlines made hard, see :func:`deadline_aware`); a result
        without a route when there is none.

        With :attr:`horizon_days` shorter than the request's horizon, the search first looks
        only that far. A route found there that completes within it is kept: when that search
        is proven, it is the fastest over the whole horizon too (a faster route would end
        earlier, so it uses only slots of the shorter horizon). Otherwise the search runs again
        over the request's own horizon.
        """
        e = self.entries[entry]
        if e.invalid is not None:
            return e.invalid
        assert e.pathway is not None
        self.check_route_options(entry, pins, node_limit)
        pathway, short_request = self._variant(entry, meet_deadlines)
        request = e.request
        short = self.horizon_days
        per_day = 0 if every_candidate else self.per_day
        result: RouteResult | None = None
        if 0 < short < request.horizon_days:
            first = self._route(
                entry,
                short_request,
                pathway,
                blocked,
                secondary,
                pins,
                node_limit,
                per_day,
            )
            done = first.objective.completion_minutes if first.objective is not None else None
            if first.has_route and done is not None and done <= short * 1440:
                result = first
        if result is None:
            result = self._route(
                entry, request, pathway, blocked, secondary, pins, node_limit, per_day
            )
        if meet_deadlines and result.has_route:
            result = _soften(result, e.pathway)
        return result

    def _variant(self, entry: int, meet_deadlines: bool) -> tuple[Pathway, RouteRequest]:
        """The pathway :meth:`route` searches (soft deadlines hard with ``meet_deadlines``) and
        the request with the short horizon (:attr:`horizon_days`; the request itself when that
        is not shorter), kept in :attr:`variants`."""
        key = (entry, int(meet_deadlines))
        found = self.variants.get(key)
        if found is None:
            e = self.entries[entry]
            assert e.pathway is not None
            pathway = _hard_copy(e.pathway) if meet_deadlines else e.pathway
            request = e.request
            if 0 < self.horizon_days < request.horizon_days:
                request = request.model_copy(update={"horizon_days": self.horizon_days})
            found = self.variants[key] = (pathway, request)
        return found

    def check_route_options(
        self, entry: int, pins: Mapping[str, int] | None, node_limit: int | None = None
    ) -> None:
        """Refuse pins to stages the pathway does not have or to slots the index does not
        hold, and a node limit below 1, with a :class:`ValueError` naming the request and the
        field (see :meth:`route`)."""
        e = self.entries[entry]
        if e.pathway is None:
            return  # not plannable: route() returns why
        if node_limit is not None and node_limit < 1:
            raise ValueError(f"request {e.request.id}: node_limit must be at least 1")
        if pins:
            check_pins(e.request, e.pathway, self.index, pins)

    def _route(
        self,
        entry: int,
        request: RouteRequest,
        pathway: Pathway,
        blocked: BoolArray | None,
        secondary: bool,
        pins: Mapping[str, int] | None,
        node_limit: int | None,
        per_day: int,
    ) -> RouteResult:
        e = self.entries[entry]
        started = time.perf_counter()
        self.searches[0] += 1
        fixed = {**e.fixed, **(pins or {})}
        limits = SearchLimits(
            time_limit=self.options.time_limit,
            node_limit=node_limit or self.options.node_limit,
            secondary=secondary,
        )

        def compiled(p: Pathway) -> CompiledRequest:
            # Memoised unless more stages are pinned for this route alone; a hit is checked by
            # identity (ids are only unique among live objects, and a copied cohort's are not).
            key = (entry, id(request), id(p), blocked is not None, per_day)
            prepared = None if pins else self.prepared.get(key)
            if prepared is None or prepared.request is not request or prepared.pathway is not p:
                prepared = self._prepare(request, p, blocked is not None, fixed, per_day)
                if not pins:
                    self.prepared[key] = prepared
            return gather(prepared, blocked, stop_at_empty=True)

        cr, outcome = search_in_modes(compiled, pathway, self.index, limits)
        if outcome is None:
            return _invalid(e.request, pathway, "; ".join(cr.problems))
        return route_result(cr, outcome, started)

    def _prepare(
        self,
        request: RouteRequest,
        pathway: Pathway,
        blocked: bool,
        pins: Mapping[str, int],
        per_day: int,
    ) -> PreparedRequest:
        return prepare_request(
            request,
            pathway,
            self.index,
            blocked=blocked,
            pins=pins,
            per_day=per_day,
            narrow_by_lags=True,
            lag_memo=self.lag_memo,
        )

    def route_fixed(self, entry: int, slots: Mapping[str, int]) -> RouteResult | None:
        """The route of ``entry`` through exactly ``slots`` (stage id → position), if it holds."""
        e = self.entries[entry]
        if e.invalid is not None or e.pathway is None:
            return None
        started = time.perf_counter()
        limits = SearchLimits(
            time_limit=self.options.time_limit, node_limit=self.options.node_limit
        )
        request = e.request
        cr, outcome = search_in_modes(
            lambda p: compile_request(request, p, self.index, None, pins=slots),
            e.pathway,
            self.index,
            limits,
        )
        if outcome is None or set(slots) != {st.stage_id for st in cr.stages}:
            return None
        result = route_result(cr, outcome, started)
        return result if result.has_route else None

    def routed_slots(self, entry: int, result: RouteResult) -> list[int]:
        """Slot positions of ``result`` that count against capacity (kept bookings excluded)."""
        fixed = self.entries[entry].fixed
        position = self.index.slot_position
        return [position[b.slot_id] for b in result.bookings if b.stage_id not in fixed]


_HARD: dict[Pathway, Pathway] = {}


def deadline_aware(pathway: Pathway) -> Pathway:
    """A copy of ``pathway`` whose soft deadlines are hard (the routes that meet them all)."""
    return _hard_copy(pathway)


def _hard_copy(pathway: Pathway) -> Pathway:
    hard = _HARD.get(pathway)
    if hard is None:
        deadlines = tuple(d.model_copy(update={"hard": True}) for d in pathway.deadlines)
        hard = pathway.model_copy(update={"deadlines": deadlines})
        _HARD[pathway] = hard
    return hard


def _soften(result: RouteResult, pathway: Pathway) -> RouteResult:
    """A deadline-aware result as the soft pathway reports it: its deadlines soft again (all met).

    Its status is FEASIBLE and it has no bound: it is not the fastest route of the pathway.
    """
    soft = {d.id for d in pathway.deadlines if not d.hard}
    deadlines = tuple(
        d.model_copy(update={"hard": False}) if d.deadline_id in soft else d
        for d in result.deadlines
    )
    return result.model_copy(
        update={"deadlines": deadlines, "status": SolveStatus.FEASIBLE, "bound": None}
    )


def unplanned_result(request: RouteRequest, reason: str, status: SolveStatus) -> RouteResult:
    """A result without a route, saying why."""
    return RouteResult(
        request_id=request.id,
        patient_id=request.patient.id,
        pathway_id=request.pathway.id if request.pathway is not None else request.pathway_id,
        status=status,
        referral=request.referral,
        reasons=(reason,),
    )


def build_cohort(
    requests: Sequence[RouteRequest],
    index: SlotIndex,
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    allow_moving_existing: bool = False,
    options: SolveOptions | None = None,
    per_day: int = 20,
    horizon_days: int = 21,
    capacity: IntArray | None = None,
    deadline_measure: DeadlineMeasure = "misses",
) -> Cohort:
    """Resolve, check and weigh every request; reserve the bookings that are kept.

    Parameters
    ----------
    requests
        The cohort; request ids must be unique.
    index
        The slots all requests compete for.
    catalogue, pathways
        Where pathways come from (as for :func:`~routing.solve.plan_route`).
    allow_moving_existing
        Plan patients who hold bookings from scratch instead of keeping them.
    options
        Limits of each single-patient search; the default node limit keeps planning
        deterministic (the time limit is generous and only a safety net).
    per_day
        Candidates a day each stage's search sees, at most
        (:func:`~routing.solve.thinning.nearest_per_day`; 0: all).
    horizon_days
        Days past the referral the first search of a route looks (:meth:`Cohort.route`;
        0: the request's own horizon).
    capacity
        The places of each slot position the cohort shares (kept bookings included); each
        slot's ``capacity`` by default.
    deadline_measure
        How the batch objective counts a missed soft deadline: ``"misses"``, each alike, or
        ``"overrun"``, more for a bigger overrun (:mod:`routing.batch.objective`).

    Raises
    ------
    InvalidInputError
        If two requests share an id.
    ValueError
        If ``per_day`` or ``horizon_days`` is negative, or ``deadline_measure`` is not one of
        :data:`~routing.batch.objective.DEADLINE_MEASURES`.
    """
    from routing.exceptions import InvalidInputError

    if deadline_measure not in DEADLINE_MEASURES:
        raise ValueError(
            f"deadline_measure must be one of {', '.join(DEADLINE_MEASURES)}, "
            f"not {deadline_measure!r}"
        )

    if per_day < 0:
        raise ValueError(f"per_day must be at least 0 (0: every candidate), not {per_day}")
    if horizon_days < 0:
        raise ValueError(
            f"horizon_days must be at least 0 (0: each request's horizon), not {horizon_days}"
        )
    opts = options or SolveOptions(time_limit=30.0, node_limit=5_000)
    seen: set[str] = set()
    entries: list[CohortEntry] = []
    for n, request in enumerate(requests):
        if request.id in seen:
            raise InvalidInputError(f"request {request.id!r}", "id", "the id is used twice")
        seen.add(request.id)
        entries.append(_entry(n, request, index, catalogue, pathways, allow_moving_existing))
    if capacity is None:
        capacity = np.array([s.capacity for s in index.slots], dtype=np.int64)
    elif capacity.shape != (len(index.slots),):
        raise ValueError(f"capacity: expected one entry per slot ({len(index.slots)})")
    reserved = np.zeros(len(index.slots), dtype=np.int64)
    cohort = Cohort(index, tuple(entries), capacity, reserved, opts)
    for i in cohort.arrival_order():
        entry = cohort.entries[i]
        if not entry.fixed or entry.invalid is not None:
            continue
        positions = list(entry.fixed.values())
        full = [p for p in positions if reserved[p] >= capacity[p]]
        if full:
            slot_id = index.slots[full[0]].id
            reason = f"existing booking in slot {slot_id!r} exceeds the slot's capacity"
            invalid = unplanned_result(entry.request, reason, SolveStatus.INVALID)
            entries[i] = CohortEntry(i, entry.request, entry.weight, entry.pathway, {}, invalid)
            continue
        for p in positions:
            reserved[p] += 1
    logger.info(
        "cohort: %d requests, %d plannable, %d kept bookings",
        len(entries),
        sum(e.plannable for e in entries),
        int(reserved.sum()),
    )
    return Cohort(
        index, tuple(entries), capacity, reserved, opts, per_day, horizon_days, deadline_measure
    )


def _entry(
    n: int,
    request: RouteRequest,
    index: SlotIndex,
    catalogue: Catalogue | None,
    pathways: Mapping[str, Pathway] | None,
    allow_moving: bool,
) -> CohortEntry:
    weight = priority_weight(request.priority)
    try:
        pathway = resolve_pathway(request, catalogue, pathways)
    except NosologyError:
        # plan_route words the reason without naming any diagnosis
        result = plan_route(request, index, catalogue=catalogue, pathways=pathways)
        return CohortEntry(n, request, weight, None, {}, result)
    problem = pathway_problem(pathway)
    if problem is not None:
        return CohortEntry(n, request, weight, pathway, {}, _invalid(request, pathway, problem))
    try:
        check_request_dates(request, pathway, index.calendar)
    except CalendarRangeError as exc:
        return CohortEntry(n, request, weight, pathway, {}, _invalid(request, pathway, str(exc)))
    if not request.existing_bookings:
        return CohortEntry(n, request, weight, pathway)
    # Checked even when they may move: a booking of an unknown stage or slot is bad input.
    stage_ids = {s.id for s in pathway.stages}
    fixed: dict[str, int] = {}
    for stage_id, slot_id in sorted(request.existing_bookings.items()):
        where = f"existing booking of stage {stage_id!r}"
        if stage_id not in stage_ids:
            reason = f"{where}: pathway {pathway.id!r} has no such stage"
            return CohortEntry(n, request, weight, pathway, {}, _invalid(request, pathway, reason))
        position = index.slot_position.get(slot_id)
        if position is None:
            reason = f"{where}: unknown slot {slot_id!r}"
            return CohortEntry(n, request, weight, pathway, {}, _invalid(request, pathway, reason))
        fixed[stage_id] = position
    if allow_moving:
        return CohortEntry(n, request, weight, pathway)
    cr = compile_request(request, pathway, index, None)
    for st in cr.stages:
        slot = fixed.get(st.stage_id)
        if slot is not None and slot not in st.slot:
            reason = (
                f"existing booking of stage {st.stage_id!r}: slot {index.slots[slot].id!r} does "
                "not fit the stage (service, facility level or restriction, mode, horizon, days "
                "off or the patient's availability)"
            )
            return CohortEntry(n, request, weight, pathway, {}, _invalid(request, pathway, reason))
    return CohortEntry(n, request, weight, pathway, fixed)


def _invalid(request: RouteRequest, pathway: Pathway, reason: str) -> RouteResult:
    return invalid_result(request, reason, pathway.id)
