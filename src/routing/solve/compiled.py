"""One request compiled against a slot index: candidate slots per stage and the lag links.

This is the solver-facing form of a request: plain Python ints and lists, built once per request.
Candidates are the slots that satisfy every *unary* rule of a stage (service, facility level and
allowed facilities, visit mode, horizon, facility days off, the patient's unavailability, windows);
the rules between stages are kept as :class:`Link` records for the solver to propagate.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from graphlib import CycleError, TopologicalSorter
from operator import itemgetter
from typing import Final, TypeVar, cast

import numpy as np
import numpy.typing as npt

from nosology.pathway import EventPoint, LagUnit, Pathway, Stage, VisitMode, parse_event
from routing.calendar import WorkingCalendar
from routing.domain import GeoPoint, RouteRequest
from routing.slot_index import SlotIndex
from routing.solve.projection import check_request_dates
from routing.solve.thinning import THINNED, RankArray, facility_ranks, nearest_per_day
from routing.solve.timeaxis import TimeAxis, time_axis

__all__ = [
    "PREPARED_VISITS",
    "REFERRAL_STAGE",
    "CompiledRequest",
    "Link",
    "StageCandidates",
    "cached_on_index",
    "check_pins",
    "compile_request",
    "facility_rules",
    "memoised_in",
    "prepare_pathway_links",
    "prepare_stage_bases",
]

IntArray = npt.NDArray[np.int64]

GROUP_WITH_NUMPY = 600
"""Candidates of a stage from which :meth:`StageCandidates.by_facility` groups them with numpy
(below, a plain loop is faster)."""
REFERRAL_STAGE: Final = -1
"""The stage index that stands for the referral event in a :class:`Link`."""


@dataclass(frozen=True, slots=True)
class Link:
    """``min <= Y - X <= max`` in ``unit`` from event ``X`` to event ``Y``.

    An event is ``(stage index, point)`` with point 0 = start, 1 = end; stage
    :data:`REFERRAL_STAGE` is the referral. ``origin`` says which rule of the pathway made it.
    """

    x_stage: int
    x_point: int
    y_stage: int
    y_point: int
    unit: LagUnit
    min: int | None
    max: int | None
    origin: str


@dataclass(slots=True)
class StageCandidates:
    """The candidate slots of one stage, sorted by start, then end, then slot id.

    Every list has one entry per candidate; ``slot`` is the position in the :class:`SlotIndex`.
    """

    stage_id: str
    in_person: bool
    shares_day: bool
    slot: list[int]
    start: list[int]
    end: list[int]
    day: list[int]
    facility: list[int]
    preferred: list[bool]
    excluded_by: dict[str, int] = field(default_factory=dict)
    """How many slots of the stage's services each unary rule removed (for explanations)."""

    min_duration: int = 0
    """The shortest candidate, in minutes (0 without candidates)."""
    max_duration: int = 0
    """The longest candidate, in minutes (0 without candidates)."""
    arrays: tuple[IntArray, IntArray, IntArray, IntArray] | None = field(
        default=None, compare=False, repr=False
    )
    """``start``, ``end``, ``day`` and ``facility`` as arrays, when the compiler had them."""
    facility_rows: tuple[tuple[tuple[int, list[int]], ...], int] | None = field(
        default=None, compare=False, repr=False
    )
    """The candidates by facility, when the compiler had them grouped: ``(groups, offset)``,
    each group ``(facility, rows)`` with ``rows`` ascending, candidate ``c`` being row
    ``c + offset``; rows outside ``[offset, offset + len(slot))`` are not candidates (the rows
    are shared with other requests: read only)."""

    grouped: list[tuple[int, list[int], int]] | None = field(
        default=None, init=False, compare=False, repr=False
    )
    """:meth:`by_facility`, once computed."""

    def by_facility(self) -> list[tuple[int, list[int], int]]:
        """The candidates by facility, in facility order: ``(facility, rows, offset)``, candidate
        ``c`` of the facility being ``rows[n] - offset`` for the ``n`` with
        ``offset <= rows[n] < offset + len(slot)``; computed once, read only."""
        if self.grouped is None:
            self.grouped = self._group_by_facility()
        return self.grouped

    def _group_by_facility(self) -> list[tuple[int, list[int], int]]:
        if self.facility_rows is not None:
            groups, offset = self.facility_rows
            limit = offset + len(self.slot)
            found = []
            for f, rows in groups:
                n = bisect_left(rows, offset)
                if n < len(rows) and rows[n] < limit:
                    found.append((f, rows, offset))
            return found
        if self.arrays is not None and len(self.slot) >= GROUP_WITH_NUMPY:
            return [(f, rows, 0) for f, rows in _rows_by_facility(self.arrays[3])]
        members: dict[int, list[int]] = {}
        for c, f in enumerate(self.facility):
            listed = members.get(f)
            if listed is None:
                members[f] = [c]
            else:
                listed.append(c)
        return [(f, members[f], 0) for f in sorted(members)]

    def sites(self) -> list[int]:
        """The facilities of the candidates, ascending."""
        return [f for f, _, _ in self.by_facility()]


@dataclass(slots=True)
class CompiledRequest:
    """A request ready for a solver."""

    request: RouteRequest
    pathway: Pathway
    index: SlotIndex
    axis: TimeAxis
    referral_minute: int
    horizon_minute: int
    stages: list[StageCandidates]
    links: list[Link]
    home_minutes: list[int] | None
    """Travel minutes from the patient's home to each facility, or ``None`` without a location."""
    max_visits_per_day: int
    travel_is_metric: bool
    problems: list[str] = field(default_factory=list)
    """Reasons the request cannot be solved at all (a missing reference date, ...)."""
    precedes: list[list[bool]] = field(default_factory=list)
    """``precedes[i][j]``: stage ``j`` starts no earlier than stage ``i`` (by the links)."""


def _event(pathway: Pathway, positions: dict[str, int], event: str) -> tuple[int, int]:
    stage, point = parse_event(event)
    if stage is None:
        return REFERRAL_STAGE, 0
    return positions[stage], 0 if point is EventPoint.START else 1


def compile_links(
    pathway: Pathway, referral_date: date | None = None, region: str = "RU"
) -> tuple[list[Link], list[str]]:
    """The lag links of a pathway, and the rules this solver cannot take (with why).

    Hard deadlines become maximum lags when they apply to a referral on ``referral_date`` in
    ``region`` (all of them when no date is given).
    """
    positions = {s.id: i for i, s in enumerate(pathway.stages)}
    links: list[Link] = []
    problems: list[str] = []
    for i, stage in enumerate(pathway.stages):
        for before in stage.after:
            links.append(
                Link(
                    positions[before],
                    1,
                    i,
                    0,
                    LagUnit.MINUTES,
                    0,
                    None,
                    f"{stage.id} after {before}",
                )
            )
    for n, c in enumerate(pathway.constraints):
        xs, xp = _event(pathway, positions, c.from_event)
        ys, yp = _event(pathway, positions, c.to_event)
        origin = f"constraint {c.from_event} -> {c.to_event}"
        if c.unit is LagUnit.WORKING_DAYS and ((c.min or 0) < 0 or (c.max or 0) < 0):
            problems.append(
                f"constraint {n} ({origin}): negative working-day lags are not supported"
            )
            continue
        links.append(Link(xs, xp, ys, yp, c.unit, c.min, c.max, origin))
    for d in pathway.deadlines:
        if d.hard and (referral_date is None or d.applies_on(referral_date, region)):
            xs, xp = _event(pathway, positions, d.from_event)
            ys, yp = _event(pathway, positions, d.to_event)
            links.append(Link(xs, xp, ys, yp, d.unit, None, d.limit, f"hard deadline {d.id}"))
    return links, problems


def compile_request(
    request: RouteRequest,
    pathway: Pathway,
    index: SlotIndex,
    blocked: npt.NDArray[np.bool_] | None = None,
    *,
    merge_twins: bool = False,
    pins: Mapping[str, int] | None = None,
    per_day: int = 0,
) -> CompiledRequest:
    """Gather each stage's candidate slots and the pathway's links for ``request``.

    ``blocked`` marks slot positions of the index that are no longer free (e.g. taken by other
    patients of a batch); they are not candidates. ``merge_twins`` keeps one of the slots of a
    stage that share facility, start and end (the first by id): right when this request is
    planned alone, wrong for a model in which several patients share the slots.

    ``pins`` (stage id → slot position) makes a slot the only candidate of its stage, blocked
    or not, if it passes the stage's other rules; given, it replaces the request's existing
    bookings (``None``: they are the pins). ``per_day`` keeps at most that many candidates a
    day for each stage that is not pinned (:func:`~routing.solve.thinning.nearest_per_day`;
    0 keeps all).

    Periods the patient is unavailable are clipped to the calendar's span (no slot lies outside
    it).

    Raises
    ------
    CalendarRangeError
        If the referral, or a reference date the pathway's windows read, lies outside the
        index's calendar (:func:`~routing.solve.projection.check_request_dates`).
    """
    if per_day < 0:
        raise ValueError(f"request {request.id}: per_day must be at least 0, not {per_day}")
    if pins is not None:
        check_pins(request, pathway, index, pins)
    calendar = index.calendar
    check_request_dates(request, pathway, calendar)
    axis = time_axis(calendar)
    referral = calendar.minute_of(request.referral)
    referral_day = axis.day_of(referral)
    horizon = axis.first_minute(referral_day + request.horizon_days + 1)
    links, problems, precedes = _pathway_links(
        index,
        pathway,
        calendar.local_date(request.referral),
        request.region,
        request.patient.max_visits_per_day,
    )
    patient = request.patient
    allowed = patient.allowed_facilities
    preferred = set(patient.preferred_facilities)
    fac_allowed, away = facility_rules(index, request)
    in_region = None if away is None else ~away  # the facilities of the request's own region
    fac_preferred_array = _facility_mask(index, frozenset(preferred))
    busy = [
        (_clipped_minute(calendar, axis, p.start), _clipped_minute(calendar, axis, p.end))
        for p in patient.unavailable
        if p.end > request.referral
    ]
    windows: dict[tuple[str, EventPoint], list[tuple[int, int, str]]] = {}
    for w in pathway.windows:
        stage_id, point = parse_event(w.event)
        assert stage_id is not None
        assert point is not None
        ref = request.reference_dates.get(w.reference)
        if ref is None:
            problems.append(
                f"stage {stage_id}: its window needs the reference date {w.reference!r}, "
                "which the request does not give"
            )
            continue
        first = calendar.day_index(ref) + w.min_days
        last = calendar.day_index(ref) + w.max_days
        windows.setdefault((stage_id, point), []).append((first, last, w.reference))

    shared_services, services_of = _pathway_shape(index, pathway)
    home_minutes: list[int] | None = None
    home_array: npt.NDArray[np.int64] | None = None
    metric = index.travel_is_metric
    ranks: RankArray | None = None
    if patient.location is not None:
        home_minutes, home_array, home_metric = _home_legs(index, patient.location)
        metric = metric and home_metric
        if per_day > 0:
            ranks = _home_ranks(index, patient.location, home_array)
    if pins is None:
        pins = {}
        for stage_id, slot_id in request.existing_bookings.items():
            position = index.slot_position.get(slot_id)
            if position is None:
                problems.append(f"stage {stage_id}: the booked slot {slot_id!r} is not known")
            pins[stage_id] = -1 if position is None else position  # -1: no candidate
    stages: list[StageCandidates] = []
    for stage, shared, services in zip(pathway.stages, shared_services, services_of, strict=True):
        merge = merge_twins and (stage.mode is VisitMode.IN_PERSON or not shared)
        pinned = pins.get(stage.id)
        per_slot = pinned is not None or blocked is not None
        # Slots of one place and time are merged before the per-slot filters only when there
        # are none (a taken twin must not hide a free one).
        base = _stage_base(index, stage, services, merge and not per_slot)
        earliest = referral
        not_before = request.not_before.get(stage.id)
        if not_before is not None:
            earliest = max(referral, _clipped_minute(calendar, axis, not_before))
        excluded = base.excluded_between(referral, horizon)
        base_starts = base.lists[1]
        lo = bisect_left(base_starts, referral)
        hi = bisect_left(base_starts, horizon)
        if earliest > referral:
            first = min(bisect_left(base_starts, earliest), hi)
            if first > lo:
                excluded[_NOT_BEFORE] = first - lo
                lo = first
        # Rules by facility narrow the base itself (cached per set of facilities), so that
        # the candidates stay a range of it: no mask, no pick row by row.
        if allowed is not None:
            base, lo, hi = _at_facilities(
                base, fac_allowed, _NOT_ALLOWED, earliest, horizon, hi - lo, excluded
            )
        if stage.mode is VisitMode.IN_PERSON and in_region is not None:
            base, lo, hi = _at_facilities(
                base, in_region, _OTHER_REGION, earliest, horizon, hi - lo, excluded
            )
        keep = _Narrowing(hi - lo, excluded)
        if pinned is not None:
            # A kept booking or a pin: its own slot is the only candidate, taken or not.
            keep.by(base.pos[lo:hi] == pinned, "another slot is booked for the stage")
        elif blocked is not None:
            keep.by(~blocked[base.pos[lo:hi]], "already taken")
        if stage.mode is VisitMode.IN_PERSON and busy:
            free = np.ones(hi - lo, dtype=np.bool_)
            for b_start, b_end in busy:
                a = int(np.searchsorted(base.start, b_start - base.longest, side="left"))
                z = int(np.searchsorted(base.start, b_end, side="left"))
                a, z = max(a, lo), min(z, hi)
                if a < z:
                    free[a - lo : z - lo] &= ~(base.end[a:z] > b_start)
            keep.by(free, "when the patient is unavailable")
        for (stage_id, point), ranges in windows.items():
            if stage_id != stage.id:
                continue
            days = base.day[lo:hi] if point is EventPoint.START else base.end_day[lo:hi]
            for first, last, ref_name in ranges:
                keep.by((days >= first) & (days <= last), f"outside the window after {ref_name}")
        chosen: npt.NDArray[np.int64] | slice = slice(lo, hi)
        if keep.mask is not None or (merge and per_slot):
            # Twins are merged after the per-slot filters, also when those removed nothing.
            rows = np.flatnonzero(keep.mask) if keep.mask is not None else np.arange(hi - lo)
            chosen = lo + rows
            if merge and per_slot and len(chosen) > 1:
                same = (
                    (base.start[chosen[1:]] == base.start[chosen[:-1]])
                    & (base.end[chosen[1:]] == base.end[chosen[:-1]])
                    & (base.facility[chosen[1:]] == base.facility[chosen[:-1]])
                )
                twins = int(np.count_nonzero(same))
                if twins:
                    excluded[_TWINS] = excluded.get(_TWINS, 0) + twins
                    chosen = chosen[np.r_[True, ~same]]
        if per_day > 0 and pinned is None:
            chosen = _thinned(base, chosen, ranks, per_day, excluded)
        start_at, end_at, _, facility_at = arrays = (
            base.start[chosen],
            base.end[chosen],
            base.day[chosen],
            base.facility[chosen],
        )
        slot, start, end, day, facs = _picked(base.lists, chosen)
        if base.uniform >= 0:
            shortest = longest = base.uniform if len(slot) else 0
        else:
            durations = end_at - start_at
            shortest = int(durations.min()) if len(slot) else 0
            longest = int(durations.max()) if len(slot) else 0
        stages.append(
            StageCandidates(
                stage_id=stage.id,
                in_person=stage.mode is VisitMode.IN_PERSON,
                shares_day=stage.shares_day,
                slot=slot,
                start=start,
                end=end,
                day=day,
                facility=facs,
                preferred=(
                    fac_preferred_array[facility_at].tolist() if preferred else [False] * len(slot)
                ),
                excluded_by={k: v for k, v in excluded.items() if v},
                min_duration=shortest,
                max_duration=longest,
                arrays=arrays,
                facility_rows=(base.by_facility, lo) if isinstance(chosen, slice) else None,
            )
        )
    if not metric and index.travel_is_metric and home_array is not None:
        # The legs from home break the triangle inequality somewhere (a far facility of another
        # region, say); only the facilities this request's visits can use matter.
        sites = sorted({f for st in stages if st.in_person for f in st.sites()})
        metric = _home_is_metric_on(home_array, index, sites)
    return CompiledRequest(
        request=request,
        pathway=pathway,
        index=index,
        axis=axis,
        referral_minute=referral,
        horizon_minute=horizon,
        stages=stages,
        links=links,
        home_minutes=home_minutes,
        max_visits_per_day=patient.max_visits_per_day,
        travel_is_metric=metric,
        problems=problems,
        precedes=precedes,
    )


def _clipped_minute(calendar: WorkingCalendar, axis: TimeAxis, moment: datetime) -> int:
    """The minute of ``moment``; before the span ``-1``, after it the span's end minute."""
    if calendar.covers(moment):
        return calendar.minute_of(moment)
    return -1 if calendar.local_date(moment) < calendar.first_date else axis.end_minute


def check_pins(
    request: RouteRequest, pathway: Pathway, index: SlotIndex, pins: Mapping[str, int]
) -> None:
    """Refuse pins to stages ``pathway`` does not have or to positions outside ``index``, with
    a :class:`ValueError` naming the request and the field."""
    stages = {stage.id for stage in pathway.stages}
    for stage_id, position in pins.items():
        if stage_id not in stages:
            raise ValueError(
                f"request {request.id}: pins names stage {stage_id!r}, "
                "which the request's pathway does not have"
            )
        if not 0 <= position < len(index.slots):
            raise ValueError(
                f"request {request.id}: pins puts stage {stage_id!r} on slot position "
                f"{position}, outside the index's {len(index.slots)} slots"
            )


_Links = tuple[Pathway, tuple[Link, ...], tuple[str, ...], tuple[tuple[bool, ...], ...]]

LINKS_CACHED = 10_000
"""Pathway link sets an index keeps (per pathway, hard deadlines in force and visits a day)."""


def _pathway_links(
    index: SlotIndex, pathway: Pathway, referral_date: date, region: str, max_visits: int
) -> tuple[list[Link], list[str], list[list[bool]]]:
    """The links of ``pathway`` (its own and those the same-day rules imply), the rules the
    solver cannot take, and the precedence table; cached on the index (fresh lists each time)."""

    def make() -> _Links:
        links, problems = compile_links(pathway, referral_date, region)
        successors = _successors(links, len(pathway.stages))
        links.extend(_separate_days(pathway, successors, max_visits))
        precedes = _precedence(successors, len(pathway.stages))
        # The pathway is kept so that its id cannot be reused while the entry lives.
        return (pathway, tuple(links), tuple(problems), tuple(map(tuple, precedes)))

    # The date and region matter only through the hard deadlines in force: one entry for all
    # the referrals under the same ones.
    in_force = tuple(d.hard and d.applies_on(referral_date, region) for d in pathway.deadlines)
    key = (id(pathway), in_force, max_visits)
    cached = cached_on_index(index, "links", key, LINKS_CACHED, make, lambda v: v[0] is pathway)
    _, links_t, problems_t, precedes_t = cached
    return list(links_t), list(problems_t), [list(row) for row in precedes_t]


def _thinned(
    base: _StageBase,
    chosen: npt.NDArray[np.int64] | slice,
    ranks: RankArray | None,
    per_day: int,
    excluded: dict[str, int],
) -> npt.NDArray[np.int64] | slice:
    """``chosen`` rows of ``base`` thinned to ``per_day`` a day, the rest counted as excluded
    (``ranks``: the facilities' by distance from home, :func:`facility_ranks`)."""
    facility = base.facility[chosen]  # a range is read as a view, not copied
    if len(facility) <= per_day:
        return chosen
    kept = nearest_per_day(facility, base.start[chosen], base.day[chosen], ranks, per_day)
    if len(kept) < len(facility):
        excluded[THINNED] = excluded.get(THINNED, 0) + len(facility) - len(kept)
    return kept + chosen.start if isinstance(chosen, slice) else chosen[kept]


class _Narrowing:
    """A running mask over a stage's slots in the horizon, counting what each rule removes."""

    def __init__(self, size: int, excluded: dict[str, int]) -> None:
        self.size = size
        self.mask: npt.NDArray[np.bool_] | None = None
        self.excluded = excluded

    def by(self, rule: npt.NDArray[np.bool_], reason: str) -> None:
        """Keep only the slots that also pass ``rule``; count the others under ``reason``.

        A rule that removes nothing leaves the mask as it was (``None`` while every slot
        passes), so that the candidates stay a range of the stage's base.
        """
        if self.mask is None:
            removed = int(self.size - np.count_nonzero(rule))
            kept = rule
        else:
            kept = self.mask & rule
            removed = int(np.count_nonzero(self.mask) - np.count_nonzero(kept))
        if removed:
            self.excluded[reason] = self.excluded.get(reason, 0) + removed
            self.mask = kept


_Lists = tuple[list[int], list[int], list[int], list[int], list[int]]


def _picked(lists: _Lists, rows: npt.NDArray[np.int64] | slice) -> _Lists:
    """``rows`` (a range or ascending row numbers) of each of a base's lists: the base's own
    int objects (:func:`_shared_ints`), not new ones."""
    slot, start, end, day, facs = lists
    if isinstance(rows, slice):
        return slot[rows], start[rows], end[rows], day[rows], facs[rows]
    if len(rows) > 1:
        pick = itemgetter(*rows.tolist())
        return (
            list(pick(slot)),
            list(pick(start)),
            list(pick(end)),
            list(pick(day)),
            list(pick(facs)),
        )
    few = rows.tolist()
    return (
        [slot[r] for r in few],
        [start[r] for r in few],
        [end[r] for r in few],
        [day[r] for r in few],
        [facs[r] for r in few],
    )


def _at_facilities(
    base: _StageBase,
    usable: npt.NDArray[np.bool_],
    reason: str,
    first: int,
    horizon: int,
    size: int,
    excluded: dict[str, int],
) -> tuple[_StageBase, int, int]:
    """``base`` narrowed to the ``usable`` facilities (:meth:`_StageBase.at_facilities`) and the
    rows of its slots starting in ``[first, horizon)``; the ``size`` rows of that range in
    ``base`` less the narrowed range's are counted under ``reason``."""
    narrowed = base.at_facilities(usable)
    starts = narrowed.lists[1]
    hi = bisect_left(starts, horizon)
    lo = min(bisect_left(starts, first), hi)
    removed = size - (hi - lo)
    if removed:
        excluded[reason] = excluded.get(reason, 0) + removed
    return narrowed, lo, hi


_BELOW_LEVEL: Final = "below the facility level required"
_NOT_ALLOWED: Final = "at facilities the patient may not use"
_DAYS_OFF: Final = "on the facility's days off"
_TWINS: Final = "twins of another slot at the same time and place"
_NOT_BEFORE: Final = "before the earliest start the request allows (not_before)"
_OTHER_REGION: Final = "in person in another region, without the patient's consent to travel"


@dataclass(frozen=True, slots=True, eq=False)
class _StageBase:
    """The slots of a stage's services that pass its request-independent rules (cached).

    ``all_start`` holds the start of every slot of the services, sorted, and ``removed`` per
    reason the running count of those the rules removed, so that the counts of any range of
    starts are two look-ups. The kept slots are sorted by start, end, facility and slot id.
    """

    all_start: list[int]
    removed: dict[str, list[int]]
    pos: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    day: npt.NDArray[np.int64]
    end_day: npt.NDArray[np.int64]
    facility: npt.NDArray[np.int64]
    lists: tuple[list[int], list[int], list[int], list[int], list[int]]
    """Slot position, start, end, day and facility of the kept slots, as lists."""
    by_facility: tuple[tuple[int, list[int]], ...]
    """The kept slots' rows by facility (ascending facility, rows ascending)."""
    longest: int
    uniform: int
    """The duration every kept slot has, or -1 when they differ (or there are none)."""
    subsets: OrderedDict[Hashable, object] = field(default_factory=OrderedDict)
    """:meth:`at_facilities` of the last :data:`SUBSETS_CACHED` sets of facilities."""

    def at_facilities(self, usable: npt.NDArray[np.bool_]) -> _StageBase:
        """This base less the slots at the facilities ``usable`` (by facility) rules out;
        itself when it rules out none. Kept for the last :data:`SUBSETS_CACHED` sets of
        facilities asked for: patients of one district share theirs (the routing order).

        The narrowed base keeps this one's :attr:`all_start` and :attr:`removed`, so its
        :meth:`excluded_between` still counts this base's exclusions.
        """

        def make() -> _StageBase:
            rows = np.flatnonzero(usable[self.facility])
            if len(rows) == len(self.pos):
                return self
            return _new_base(
                self.all_start,
                self.removed,
                self.pos[rows],
                (self.start[rows], self.end[rows], self.day[rows], self.end_day[rows]),
                self.facility[rows],
                _picked(self.lists, rows),
            )

        return memoised_in(self.subsets, usable.tobytes(), SUBSETS_CACHED, make)

    def excluded_between(self, first: int, limit: int) -> dict[str, int]:
        """How many slots starting outside ``[first, limit)`` there are, and how many inside it
        each rule removed."""
        lo = bisect_left(self.all_start, first)
        hi = bisect_left(self.all_start, limit)
        counts = {"outside the horizon": len(self.all_start) - (hi - lo)}
        for reason, running in self.removed.items():
            counts[reason] = running[hi] - running[lo]
        return counts


SUBSETS_CACHED: Final = 32
"""Sets of facilities for which a stage base keeps itself narrowed (:meth:`_StageBase.
at_facilities`): each holds at most the base's slots."""


def prepare_stage_bases(index: SlotIndex, pathway: Pathway, *, per_slot: bool = False) -> int:
    """Build on ``index`` the stage bases that :func:`compile_request` reads for ``pathway``
    when a request is planned alone (``merge_twins``), so that the first requests do not pay
    for them; ``per_slot``: for requests with slots blocked (a live state), whose twins are not
    merged in the base. Returns how many stages it prepared."""
    shared, services_of = _pathway_shape(index, pathway)
    for stage, shares, services in zip(pathway.stages, shared, services_of, strict=True):
        merge = stage.mode is VisitMode.IN_PERSON or not shares
        _stage_base(index, stage, services, merge and not per_slot)
    return len(pathway.stages)


PREPARED_VISITS: Final = (1, 2, 3)
"""Visits a day for which :func:`prepare_pathway_links` builds a pathway's links (2 is the
default; other values are built on first use)."""


def prepare_pathway_links(index: SlotIndex, pathway: Pathway, day: date, region: str) -> None:
    """Build on ``index`` the links :func:`compile_request` reads for referrals to ``pathway``
    under the hard deadlines in force on ``day`` in ``region``, for each of
    :data:`PREPARED_VISITS` visits a day, so that the first requests do not pay for them."""
    for visits in PREPARED_VISITS:
        _pathway_links(index, pathway, day, region, visits)


SHAPES_CACHED = 1_000
"""Pathways whose :func:`_pathway_shape` an index keeps."""


def _pathway_shape(
    index: SlotIndex, pathway: Pathway
) -> tuple[tuple[bool, ...], tuple[tuple[str, ...], ...]]:
    """Per stage of ``pathway``: whether another stage shares one of its services, and its
    services as sorted strings (the key of its :func:`_stage_base`); cached on the index."""

    def make() -> tuple[Pathway, tuple[bool, ...], tuple[tuple[str, ...], ...]]:
        stages = pathway.stages
        shared = tuple(
            any(o.id != stage.id and o.service_keys & stage.service_keys for o in stages)
            for stage in stages
        )
        services = tuple(tuple(sorted(str(s) for s in stage.services)) for stage in stages)
        return pathway, shared, services

    cached = cached_on_index(
        index, "shapes", id(pathway), SHAPES_CACHED, make, lambda v: v[0] is pathway
    )
    return cached[1], cached[2]


def _stage_base(
    index: SlotIndex, stage: Stage, services: tuple[str, ...], merge: bool
) -> _StageBase:
    """The cached :class:`_StageBase` of ``stage``'s ``services``, level and mode on ``index``."""
    key = ("stage-base", services, stage.facility_level, stage.mode, merge)
    cached = index.cache.get(key)
    if isinstance(cached, _StageBase):
        return cached
    parts = [index.by_service[s] for s in services if s in index.by_service]
    pos = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    pos = pos[
        np.lexsort((index.id_rank[pos], index.facility[pos], index.end[pos], index.start[pos]))
    ]
    reason = np.full(len(pos), -1, dtype=np.int64)
    rules = (
        index.facility_level_ok(pos, stage.facility_level),
        index.mode_is(pos, stage.mode),
        index.open_day[pos],
    )
    names: tuple[str, ...] = (_BELOW_LEVEL, f"not {stage.mode.value}", _DAYS_OFF)
    for code, passed in enumerate(rules):
        reason[(reason < 0) & ~passed] = code
    if merge:
        # Slots at one facility with the same times are interchangeable for one patient (no
        # other stage can take the twin): keep the first (by slot id).
        kept = np.flatnonzero(reason < 0)
        same = np.zeros(len(kept), dtype=np.bool_)
        if len(kept) > 1:
            same[1:] = (
                (index.start[pos[kept[1:]]] == index.start[pos[kept[:-1]]])
                & (index.end[pos[kept[1:]]] == index.end[pos[kept[:-1]]])
                & (index.facility[pos[kept[1:]]] == index.facility[pos[kept[:-1]]])
            )
        reason[kept[same]] = len(rules)
        names = (*names, _TWINS)
    removed = {
        name: np.concatenate(([0], np.cumsum(reason == code))).astype(np.int64).tolist()
        for code, name in enumerate(names)
    }
    kept_pos = pos[reason < 0]
    start, end, day = index.start[kept_pos], index.end[kept_pos], index.day[kept_pos]
    facility = index.facility[kept_pos]
    base = _new_base(
        index.start[pos].tolist(),
        removed,
        kept_pos,
        (start, end, day, index.end_day[kept_pos]),
        facility,
        (
            kept_pos.tolist(),
            _shared_ints(start),
            _shared_ints(end),
            _shared_ints(day),
            _shared_ints(facility),
        ),
    )
    index.cache[key] = base
    return base


def _new_base(
    all_start: list[int],
    removed: dict[str, list[int]],
    pos: npt.NDArray[np.int64],
    times: tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ],
    facility: npt.NDArray[np.int64],
    lists: _Lists,
) -> _StageBase:
    """A :class:`_StageBase` of the kept slots ``pos`` (``times``: their start, end, day and end
    day), with the durations and the rows by facility derived from them."""
    start, end, day, end_day = times
    return _StageBase(
        all_start=all_start,
        removed=removed,
        pos=pos,
        start=start,
        end=end,
        day=day,
        end_day=end_day,
        facility=facility,
        lists=lists,
        longest=int((end - start).max()) if len(pos) else 0,
        uniform=_uniform(end - start),
        by_facility=_rows_by_facility(facility),
    )


def _shared_ints(values: npt.NDArray[np.int64]) -> list[int]:
    """``values.tolist()``, each distinct value one int object.

    Slots share few distinct times, days and facilities; every request copies slices of these
    lists, and a copy touches each element's object: a few objects stay in the CPU's cache where
    thousands (one per slot) would not.
    """
    if len(values) < 2:
        few: list[int] = values.tolist()
        return few
    distinct, inverse = np.unique(values, return_inverse=True)
    objects = distinct.tolist()
    shared: list[int] = list(itemgetter(*inverse.tolist())(objects))
    return shared


def _uniform(durations: npt.NDArray[np.int64]) -> int:
    """The one value of ``durations``, or -1 when they differ or there are none."""
    if not len(durations) or int(durations.min()) != int(durations.max()):
        return -1
    return int(durations[0])


def _rows_by_facility(facility: npt.NDArray[np.int64]) -> tuple[tuple[int, list[int]], ...]:
    """The rows of ``facility`` grouped by its values: ``(facility, rows ascending)``,
    ascending facility."""
    if not len(facility):
        return ()
    order = np.argsort(facility, kind="stable")
    ordered = facility[order]
    cuts = [0, *(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist(), len(order)]
    rows = order.tolist()
    firsts = ordered[cuts[:-1]].tolist()
    return tuple((f, rows[lo:hi]) for f, lo, hi in zip(firsts, cuts[:-1], cuts[1:], strict=True))


def _facility_mask(index: SlotIndex, ids: frozenset[str] | None) -> npt.NDArray[np.bool_]:
    """Which facilities of the index are in ``ids`` (all of them for ``None``), cached."""
    key = ("facilities", ids)
    cached = index.cache.get(key)
    if cached is None:
        cached = np.array([ids is None or f.id in ids for f in index.facilities], dtype=np.bool_)
        index.cache[key] = cached
    assert isinstance(cached, np.ndarray)
    return cached


def facility_rules(
    index: SlotIndex, request: RouteRequest
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_] | None]:
    """Which facilities of ``index`` ``request``'s patient may use at all (its allowed ones), and
    which a visit in person may not use for standing in another region (``None``: no such
    facility, or the patient travels out of the region); both cached on the index."""
    patient = request.patient
    allowed = _facility_mask(index, patient.allowed_facilities)
    if patient.travels_out_of_region:
        return allowed, None
    return allowed, _other_region_mask(index, request.region)


def _other_region_mask(index: SlotIndex, region: str) -> npt.NDArray[np.bool_] | None:
    """Which facilities stand in a region other than ``region`` (``None`` when none does),
    cached."""
    key = ("other-region", region)
    if key not in index.cache:
        mask = np.array(
            [f.region is not None and f.region != region for f in index.facilities],
            dtype=np.bool_,
        )
        index.cache[key] = mask if mask.any() else None
    cached = index.cache[key]
    assert cached is None or isinstance(cached, np.ndarray)
    return cached


HOMES_CACHED = 50_000
"""Homes whose travel minutes an index keeps (least recently used dropped first)."""


def _home_legs(index: SlotIndex, home: GeoPoint) -> tuple[list[int], npt.NDArray[np.int64], bool]:
    """Travel minutes from ``home`` to each facility (as a list and as an array), and whether
    they keep the triangle inequality with the travel between facilities; cached per home (the
    last :data:`HOMES_CACHED` homes, so that a long-running service does not grow without
    end)."""

    def make() -> tuple[list[int], npt.NDArray[np.int64], bool]:
        sites = cached_on_index(
            index, "facility sites", None, 1, lambda: index.travel.sites(index.facilities)
        )
        minutes = index.travel.from_home_to_sites(home, sites)
        array = np.asarray(minutes, dtype=np.int64)
        return minutes, array, _home_is_metric(array, index)

    return cached_on_index(index, "homes", (home.lat, home.lon), HOMES_CACHED, make)


def _home_ranks(index: SlotIndex, home: GeoPoint, minutes: npt.NDArray[np.int64]) -> RankArray:
    """The facilities' ranks by travel from ``home`` (:func:`facility_ranks`, for thinning),
    cached per home as :func:`_home_legs` is."""
    return cached_on_index(
        index,
        "home ranks",
        (home.lat, home.lon),
        HOMES_CACHED,
        lambda: facility_ranks(minutes, len(minutes)),
    )


_T = TypeVar("_T")


def cached_on_index(
    index: SlotIndex,
    name: str,
    key: Hashable,
    limit: int,
    make: Callable[[], _T],
    valid: Callable[[_T], bool] | None = None,
) -> _T:
    """``make()`` memoised in the index's cache ``name`` under ``key`` (remade unless ``valid``
    accepts the entry), keeping the last ``limit`` entries used, so that a long-running service
    does not grow without end."""
    cache = index.cache.setdefault(name, OrderedDict())
    assert isinstance(cache, OrderedDict)
    return memoised_in(cache, key, limit, make, valid)


def memoised_in(
    cache: OrderedDict[Hashable, object],
    key: Hashable,
    limit: int,
    make: Callable[[], _T],
    valid: Callable[[_T], bool] | None = None,
) -> _T:
    """``make()`` memoised in ``cache`` under ``key`` (remade unless ``valid`` accepts the
    entry), the last ``limit`` entries used kept (:func:`cached_on_index` on an index)."""
    value = cast("_T | None", cache.get(key))
    if value is None or (valid is not None and not valid(value)):
        value = make()
        cache[key] = value
        if len(cache) > limit:
            cache.popitem(last=False)
    else:
        with suppress(KeyError):  # another thread may have dropped it meanwhile
            cache.move_to_end(key)
    return value


def _home_is_metric(h: npt.NDArray[np.int64], index: SlotIndex) -> bool:
    return _keeps_triangle(h, index.travel_minutes)


def _home_is_metric_on(home: npt.NDArray[np.int64], index: SlotIndex, sites: list[int]) -> bool:
    """:func:`_home_is_metric` over the facilities ``sites`` only (the travel between them
    being metric already)."""
    if not sites:
        return True
    chosen = np.asarray(sites, dtype=np.int64)
    return _keeps_triangle(home[chosen], index.travel_minutes[np.ix_(chosen, chosen)])


def _keeps_triangle(h: npt.NDArray[np.int64], t: npt.NDArray[np.int64]) -> bool:
    # Both legs of a tour: h[b] <= h[a] + t[a, b] (going out) and h[a] <= t[a, b] + h[b]
    # (back), that is |h[b] - h[a]| <= t[a, b].
    return bool(np.all(np.abs(h[None, :] - h[:, None]) <= t))


def _successors(links: list[Link], n: int) -> dict[int, set[int]]:
    """Per stage, the stages whose start a link puts no earlier than one of its events (``after``
    and non-negative minimum lags)."""
    successors: dict[int, set[int]] = {i: set() for i in range(n)}
    for link in links:
        if (
            link.x_stage != REFERRAL_STAGE
            and link.y_stage != REFERRAL_STAGE
            and link.y_point == 0
            and link.min is not None
            and link.min >= 0
            and link.x_stage != link.y_stage
        ):
            successors[link.x_stage].add(link.y_stage)
    return successors


def _precedence(successors: dict[int, set[int]], n: int) -> list[list[bool]]:
    """``precedes[i][j]``: stage ``j`` starts no earlier than stage ``i`` (transitively)."""
    precedes = [[j in successors[i] for j in range(n)] for i in range(n)]
    for m in range(n):
        for i in range(n):
            if precedes[i][m]:
                row_m, row_i = precedes[m], precedes[i]
                for j in range(n):
                    if row_m[j]:
                        row_i[j] = True
    return precedes


def _separate_days(
    pathway: Pathway, successors: dict[int, set[int]], max_visits: int
) -> list[Link]:
    """Links implied by the same-day rules along the stage order (they cut no route).

    When in-person stage ``b`` starts after in-person stage ``a`` (through a chain of ``after``
    and non-negative minimum lags to ``b``'s start, see :func:`_successors`), every in-person
    stage on the chain starts between them. So ``b`` starts at least one calendar day after ``a``
    when the two may not share a day (one of them does not share days), and at least
    ``ceil(n / V) - 1`` days after it when the chain holds ``n`` in-person stages and the patient
    comes at most ``V`` times a day.
    """
    n = len(pathway.stages)
    stages = pathway.stages
    in_person = [s.mode is VisitMode.IN_PERSON for s in stages]
    try:
        order = list(TopologicalSorter({i: successors[i] for i in range(n)}).static_order())
    except CycleError:
        return []  # stages tied at one instant: nothing to add
    # visits[a][c]: the most in-person stages on a chain from a to c, both included (-1: none).
    visits = [[-1] * n for _ in range(n)]
    for a in order:  # each stage after all its successors
        own = 1 if in_person[a] else 0
        visits[a][a] = own
        for b in successors[a]:
            for c in range(n):
                if visits[b][c] >= 0:
                    visits[a][c] = max(visits[a][c], own + visits[b][c])
    implied = []
    for a in range(n):
        for b in range(n):
            if a == b or visits[a][b] < 0 or not (in_person[a] and in_person[b]):
                continue
            sa, sb = stages[a], stages[b]
            gap = -(-visits[a][b] // max_visits) - 1
            if not (sa.shares_day and sb.shares_day):
                gap = max(gap, 1)
            if gap <= 0:
                continue
            origin = f"{sb.id} on a later day than {sa.id} (same-day rules)"
            implied.append(Link(a, 0, b, 0, LagUnit.CALENDAR_DAYS, gap, None, origin))
    return implied
