"""A request compiled up to its blocked slots: what a batch computes once per request.

:func:`prepare_request` does every part of :func:`~routing.solve.compiled.compile_request` that
does not read which slots are taken: the time axis, the pathway's links, the rules by facility,
the travel from home, and each stage's range of its cached base (:mod:`routing.solve.stagebase`)
narrowed by the horizon, ``not_before``, the allowed facilities and region, and the lags
between the stages (:mod:`routing.solve.lagranges`), with the masks over that range of the pin,
the patient's unavailability and the windows. :func:`~routing.solve.compiled.gather` then
finishes a compilation for given blocked slots. A batch routes each patient thousands of times
over the same slots, only the taken ones changing: it prepares each request once.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from nosology.pathway import EventPoint, Pathway, Stage, VisitMode, parse_event
from routing.calendar import WorkingCalendar
from routing.domain import RouteRequest
from routing.slot_index import SlotIndex
from routing.solve.homes import home_legs, home_ranks
from routing.solve.lagranges import lag_ranges
from routing.solve.links import Link, pathway_links
from routing.solve.projection import check_request_dates
from routing.solve.stagebase import (
    StageBase,
    pathway_shape,
    stage_base,
)
from routing.solve.thinning import RankArray
from routing.solve.timeaxis import TimeAxis, time_axis

__all__ = [
    "LagMemo",
    "PreparedRequest",
    "StageSpan",
    "check_pins",
    "facility_rules",
    "prepare_request",
]

LagMemo = dict[
    tuple[int, str, int, int, str, int],
    tuple[
        Pathway, tuple[list[int], ...], tuple[tuple[int, int], ...], list[tuple[int, int]] | None
    ],
]
"""Narrowed stage ranges by request (see
:func:`~routing.solve.compiled.compile_request`'s ``lag_memo``)."""


@dataclass(slots=True)
class StageSpan:
    """One stage as :func:`prepare_request` leaves it: its base's rows ``[lo, hi)`` and the
    rules over those rows that do not depend on the blocked slots."""

    stage: Stage
    merge: bool
    base: StageBase
    lo: int
    hi: int
    excluded: dict[str, int]
    """Rows of the stage's services already left out, by reason (copied at each gather)."""
    pinned: int | None
    rules: tuple[tuple[npt.NDArray[np.bool_], str], ...]
    """Masks over the rows (the pin, the patient's unavailability, the windows), in order."""


@dataclass(slots=True)
class PreparedRequest:
    """A request compiled up to its blocked slots (:func:`prepare_request`).

    Everything :func:`~routing.solve.compiled.compile_request` computes before it reads
    ``blocked``: the time axis, the links, the rules by facility, the travel from home, and each
    stage's range of slots narrowed by the unary rules and the lags. A batch compiles each
    request many times over the same slots, only the blocked ones changing;
    :func:`~routing.solve.compiled.gather` finishes a compilation from this.
    """

    request: RouteRequest
    pathway: Pathway
    index: SlotIndex
    axis: TimeAxis
    referral_minute: int
    horizon_minute: int
    links: list[Link]
    problems: tuple[str, ...]
    precedes: list[list[bool]]
    home_minutes: list[int] | None
    home_array: npt.NDArray[np.int64] | None
    travel_is_metric: bool
    ranks: RankArray | None
    per_day: int
    blocked: bool
    """Whether the compilations will give blocked slots (twins are merged only when not)."""
    preferred: npt.NDArray[np.bool_] | None
    """The patient's preferred facilities as a mask, ``None`` when it prefers none."""
    spans: tuple[StageSpan, ...]


def prepare_request(
    request: RouteRequest,
    pathway: Pathway,
    index: SlotIndex,
    *,
    blocked: bool,
    merge_twins: bool = False,
    pins: Mapping[str, int] | None = None,
    per_day: int = 0,
    narrow_by_lags: bool = False,
    lag_memo: LagMemo | None = None,
) -> PreparedRequest:
    """The part of :func:`~routing.solve.compiled.compile_request` that does not read the
    blocked slots.

    ``blocked`` says whether the compilations (:func:`~routing.solve.compiled.gather`) will give
    blocked slots; the other parameters are
    :func:`~routing.solve.compiled.compile_request`'s.

    Raises
    ------
    CalendarRangeError, ValueError
        As :func:`~routing.solve.compiled.compile_request`.
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
    links, problems, precedes = pathway_links(
        index,
        pathway,
        calendar.local_date(request.referral),
        request.region,
        request.patient.max_visits_per_day,
    )
    patient = request.patient
    allowed = patient.allowed_facilities
    fac_allowed, away = facility_rules(index, request)
    in_region = None if away is None else ~away  # the facilities of the request's own region
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

    shared_services, services_of = pathway_shape(index, pathway)
    home_minutes: list[int] | None = None
    home_array: npt.NDArray[np.int64] | None = None
    metric = index.travel_is_metric
    ranks: RankArray | None = None
    if patient.location is not None:
        home_minutes, home_array, home_metric = home_legs(index, patient.location)
        metric = metric and home_metric
        if per_day > 0:
            ranks = home_ranks(index, patient.location, home_array)
    if pins is None:
        pins = {}
        for stage_id, slot_id in request.existing_bookings.items():
            position = index.slot_position.get(slot_id)
            if position is None:
                problems.append(f"stage {stage_id}: the booked slot {slot_id!r} is not known")
            pins[stage_id] = -1 if position is None else position  # -1: no candidate
    # First each stage's range of its base in the horizon, then the ranges narrowed by the
    # lag links together (:mod:`routing.solve.lagranges`), then the rules over each range.
    spans: list[tuple[StageBase, int, int, dict[str, int]]] = []
    for stage, shared, services in zip(pathway.stages, shared_services, services_of, strict=True):
        merge = merge_twins and (stage.mode is VisitMode.IN_PERSON or not shared)
        per_slot = pins.get(stage.id) is not None or blocked
        # Slots of one place and time are merged before the per-slot filters only when there
        # are none (a taken twin must not hide a free one).
        base = stage_base(index, stage, services, merge and not per_slot)
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
        spans.append((base, lo, hi, excluded))
    narrowed = None
    if narrow_by_lags:
        narrowed = _lag_narrowed(request, pathway, referral, spans, links, axis, lag_memo)
    if narrowed is not None:
        for n, (stage, (base, lo, hi, excluded), (first, limit)) in enumerate(
            zip(pathway.stages, spans, narrowed, strict=True)
        ):
            # A pinned stage keeps its range: its pin is its candidate, or the search says
            # which rule it breaks.
            if (first > lo or limit < hi) and pins.get(stage.id) is None:
                excluded[_BEYOND_LAGS] = (first - lo) + (hi - limit)
                spans[n] = (base, first, limit, excluded)
    prepared: list[StageSpan] = []
    for stage, shared, (base, lo, hi, excluded) in zip(
        pathway.stages, shared_services, spans, strict=True
    ):
        pinned = pins.get(stage.id)
        rules: list[tuple[npt.NDArray[np.bool_], str]] = []
        if pinned is not None:
            # A kept booking or a pin: its own slot is the only candidate, taken or not.
            rules.append((base.pos[lo:hi] == pinned, "another slot is booked for the stage"))
        if stage.mode is VisitMode.IN_PERSON and busy:
            free = np.ones(hi - lo, dtype=np.bool_)
            for b_start, b_end in busy:
                a = int(np.searchsorted(base.start, b_start - base.longest, side="left"))
                z = int(np.searchsorted(base.start, b_end, side="left"))
                a, z = max(a, lo), min(z, hi)
                if a < z:
                    free[a - lo : z - lo] &= ~(base.end[a:z] > b_start)
            rules.append((free, "when the patient is unavailable"))
        for (stage_id, point), ranges in windows.items():
            if stage_id != stage.id:
                continue
            days = base.day[lo:hi] if point is EventPoint.START else base.end_day[lo:hi]
            for first, last, ref_name in ranges:
                rules.append(
                    ((days >= first) & (days <= last), f"outside the window after {ref_name}")
                )
        prepared.append(
            StageSpan(
                stage=stage,
                merge=merge_twins and (stage.mode is VisitMode.IN_PERSON or not shared),
                base=base,
                lo=lo,
                hi=hi,
                excluded=excluded,
                pinned=pinned,
                rules=tuple(rules),
            )
        )
    preferred = patient.preferred_facilities
    return PreparedRequest(
        request=request,
        pathway=pathway,
        index=index,
        axis=axis,
        referral_minute=referral,
        horizon_minute=horizon,
        links=links,
        problems=tuple(problems),
        precedes=precedes,
        home_minutes=home_minutes,
        home_array=home_array,
        travel_is_metric=metric,
        ranks=ranks,
        per_day=per_day,
        blocked=blocked,
        preferred=_facility_mask(index, frozenset(preferred)) if preferred else None,
        spans=tuple(prepared),
    )


def _lag_narrowed(
    request: RouteRequest,
    pathway: Pathway,
    referral: int,
    spans: list[tuple[StageBase, int, int, dict[str, int]]],
    links: list[Link],
    axis: TimeAxis,
    memo: LagMemo | None,
) -> list[tuple[int, int]] | None:
    """:func:`~routing.solve.lagranges.lag_ranges` of the stages' ``spans``, from ``memo`` when
    it holds them for the same request, pathway, slots and ranges.

    The links are the pathway's for the referral's date, region and visits a day (all in the
    key); the slots are the bases' own start lists (compared by identity, which the entry keeps
    alive) and the ranges are compared by value.
    """
    starts = tuple(base.lists[1] for base, _, _, _ in spans)
    ranges = tuple((lo, hi) for _, lo, hi, _ in spans)
    key = (
        id(pathway),
        request.id,
        request.horizon_days,
        referral,
        request.region,
        request.patient.max_visits_per_day,
    )
    if memo is not None:
        hit = memo.get(key)
        if (
            hit is not None
            and hit[0] is pathway
            and hit[2] == ranges
            and all(a is b for a, b in zip(hit[1], starts, strict=True))
        ):
            return hit[3]
    narrowed = lag_ranges(
        starts,
        ranges,
        [(base.shortest, base.longest) for base, _, _, _ in spans],
        links,
        axis,
        referral,
    )
    if memo is not None:
        memo[key] = (pathway, starts, ranges, narrowed)
    return narrowed


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


def _at_facilities(
    base: StageBase,
    usable: npt.NDArray[np.bool_],
    reason: str,
    first: int,
    horizon: int,
    size: int,
    excluded: dict[str, int],
) -> tuple[StageBase, int, int]:
    """``base`` narrowed to the ``usable`` facilities
    (:meth:`~routing.solve.stagebase.StageBase.at_facilities`) and the rows of its slots starting
    in ``[first, horizon)``; the ``size`` rows of that range in ``base`` less the narrowed
    range's are counted under ``reason``."""
    narrowed = base.at_facilities(usable)
    starts = narrowed.lists[1]
    hi = bisect_left(starts, horizon)
    lo = min(bisect_left(starts, first), hi)
    removed = size - (hi - lo)
    if removed:
        excluded[reason] = excluded.get(reason, 0) + removed
    return narrowed, lo, hi


_NOT_ALLOWED: Final = "at facilities the patient may not use"
_NOT_BEFORE: Final = "before the earliest start the request allows (not_before)"
_OTHER_REGION: Final = "in person in another region, without the patient's consent to travel"
_BEYOND_LAGS: Final = "at times the lags between the stages rule out"


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
