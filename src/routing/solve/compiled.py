"""One request compiled against a slot index: candidate slots per stage and the lag links.

This is the solver-facing form of a request: plain Python ints and lists, built once per request.
Candidates are the slots that satisfy every *unary* rule of a stage (service, facility level and
allowed facilities, visit mode, horizon, facility days off, the patient's unavailability, windows);
the rules between stages are kept as :class:`Link` records for the solver to propagate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from graphlib import CycleError, TopologicalSorter

import numpy as np
import numpy.typing as npt

from nosology.pathway import EventPoint, LagUnit, Pathway, VisitMode, parse_event
from routing.domain import RouteRequest
from routing.slot_index import SlotIndex
from routing.solve.timeaxis import TimeAxis, time_axis

__all__ = ["REFERRAL_STAGE", "CompiledRequest", "Link", "StageCandidates", "compile_request"]

REFERRAL_STAGE = -1
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
    end_day: list[int]
    facility: list[int]
    preferred: list[bool]
    excluded_by: dict[str, int] = field(default_factory=dict)
    """How many slots of the stage's services each unary rule removed (for explanations)."""

    min_duration: int = 0
    """The shortest candidate, in minutes (0 without candidates)."""
    max_duration: int = 0
    """The longest candidate, in minutes (0 without candidates)."""

    def subset(self, keep: list[int], reason: str) -> StageCandidates:
        """The stage with only the candidates at ``keep``; the rest counted under ``reason``."""
        excluded = dict(self.excluded_by)
        if len(self.slot) > len(keep):
            excluded[reason] = excluded.get(reason, 0) + len(self.slot) - len(keep)
        durations = [self.end[c] - self.start[c] for c in keep]
        return StageCandidates(
            stage_id=self.stage_id,
            in_person=self.in_person,
            shares_day=self.shares_day,
            slot=[self.slot[c] for c in keep],
            start=[self.start[c] for c in keep],
            end=[self.end[c] for c in keep],
            day=[self.day[c] for c in keep],
            end_day=[self.end_day[c] for c in keep],
            facility=[self.facility[c] for c in keep],
            preferred=[self.preferred[c] for c in keep],
            excluded_by=excluded,
            min_duration=min(durations, default=0),
            max_duration=max(durations, default=0),
        )


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
) -> CompiledRequest:
    """Gather each stage's candidate slots and the pathway's links for ``request``.

    ``blocked`` marks slot positions of the index that are no longer free (e.g. taken by other
    patients of a batch); they are not candidates. ``merge_twins`` keeps one of the slots of a
    stage that share facility, start and end (the first by id): right when this request is
    planned alone, wrong for a model in which several patients share the slots.

    Raises
    ------
    CalendarRangeError
        If the referral lies outside the years the index's calendar knows.
    """
    calendar = index.calendar
    axis = time_axis(calendar)
    referral = calendar.minute_of(request.referral)
    referral_day = axis.day_of(referral)
    horizon = axis.first_minute(referral_day + request.horizon_days + 1)
    links, problems = compile_links(pathway, calendar.local_date(request.referral), request.region)
    patient = request.patient
    allowed = patient.allowed_facilities
    preferred = set(patient.preferred_facilities)
    fac_allowed = np.array(
        [allowed is None or f.id in allowed for f in index.facilities], dtype=np.bool_
    )
    fac_preferred = [f.id in preferred for f in index.facilities]
    busy = [
        (calendar.minute_of(p.start), calendar.minute_of(p.end))
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

    shared_services = {
        stage.id: any(
            other.id != stage.id and other.service_keys & stage.service_keys
            for other in pathway.stages
        )
        for stage in pathway.stages
    }
    stages: list[StageCandidates] = []
    for stage in pathway.stages:
        excluded: dict[str, int] = {}
        parts = []
        for service in stage.services:
            positions = index.by_service.get(str(service))
            if positions is None or len(positions) == 0:
                continue
            starts = index.service_starts[str(service)]
            lo = int(np.searchsorted(starts, referral, side="left"))
            hi = int(np.searchsorted(starts, horizon, side="left"))
            excluded["outside the horizon"] = excluded.get("outside the horizon", 0) + (
                len(positions) - (hi - lo)
            )
            parts.append(positions[lo:hi])
        pos = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        pos = _keep(
            pos,
            index.facility_level_ok(pos, stage.facility_level),
            excluded,
            "below the facility level required",
        )
        pos = _keep(
            pos, fac_allowed[index.facility[pos]], excluded, "at facilities the patient may not use"
        )
        pos = _keep(pos, index.mode_is(pos, stage.mode), excluded, f"not {stage.mode.value}")
        pos = _keep(pos, index.open_day[pos], excluded, "on the facility's days off")
        booked = request.existing_bookings.get(stage.id)
        if booked is not None:
            # A kept booking: its own slot is the only candidate, taken or not.
            position = index.slot_position.get(booked)
            if position is None:
                problems.append(f"stage {stage.id}: the booked slot {booked!r} is not known")
            pos = _keep(pos, pos == position, excluded, "another slot is booked for the stage")
        elif blocked is not None:
            pos = _keep(pos, ~blocked[pos], excluded, "already taken")
        if stage.mode is VisitMode.IN_PERSON and busy:
            free = np.ones(len(pos), dtype=np.bool_)
            for b_start, b_end in busy:
                free &= ~((index.start[pos] < b_end) & (index.end[pos] > b_start))
            pos = _keep(pos, free, excluded, "when the patient is unavailable")
        for (stage_id, point), ranges in windows.items():
            if stage_id != stage.id:
                continue
            days = index.day[pos] if point is EventPoint.START else index.end_day[pos]
            for first, last, ref_name in ranges:
                pos = _keep(
                    pos,
                    (days >= first) & (days <= last),
                    excluded,
                    f"outside the window after {ref_name}",
                )
                days = index.day[pos] if point is EventPoint.START else index.end_day[pos]
        order = np.lexsort(
            (index.id_rank[pos], index.facility[pos], index.end[pos], index.start[pos])
        )
        pos = pos[order]
        if merge_twins and (stage.mode is VisitMode.IN_PERSON or not shared_services[stage.id]):
            # Slots at one facility with the same times are interchangeable for one patient
            # (no other stage can take the twin): keep the first (by slot id).
            same = np.zeros(len(pos), dtype=np.bool_)
            if len(pos) > 1:
                same[1:] = (
                    (index.start[pos[1:]] == index.start[pos[:-1]])
                    & (index.end[pos[1:]] == index.end[pos[:-1]])
                    & (index.facility[pos[1:]] == index.facility[pos[:-1]])
                )
            pos = _keep(pos, ~same, excluded, "twins of another slot at the same time and place")
        facs = index.facility[pos].tolist()
        durations = index.end[pos] - index.start[pos]
        stages.append(
            StageCandidates(
                stage_id=stage.id,
                in_person=stage.mode is VisitMode.IN_PERSON,
                shares_day=stage.shares_day,
                slot=pos.tolist(),
                start=index.start[pos].tolist(),
                end=index.end[pos].tolist(),
                day=index.day[pos].tolist(),
                end_day=index.end_day[pos].tolist(),
                facility=facs,
                preferred=[fac_preferred[f] for f in facs],
                excluded_by={k: v for k, v in excluded.items() if v},
                min_duration=int(durations.min()) if len(pos) else 0,
                max_duration=int(durations.max()) if len(pos) else 0,
            )
        )
    links.extend(_separate_days(pathway, links, patient.max_visits_per_day))
    home_minutes: list[int] | None = None
    metric = index.travel_is_metric
    if patient.location is not None:
        home_minutes = [index.travel.from_home(patient.location, f) for f in index.facilities]
        metric = metric and _home_is_metric(home_minutes, index)
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
    )


def _keep(
    pos: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_], excluded: dict[str, int], reason: str
) -> npt.NDArray[np.int64]:
    removed = int(len(pos) - np.count_nonzero(mask))
    if removed:
        excluded[reason] = excluded.get(reason, 0) + removed
    kept: npt.NDArray[np.int64] = pos[mask]
    return kept


def _home_is_metric(home: list[int], index: SlotIndex) -> bool:
    h = np.asarray(home, dtype=np.int64)
    # Both legs of a tour: h[b] <= h[a] + t[a, b] (going out) and h[a] <= t[a, b] + h[b] (back).
    via = h[:, None] + index.travel_minutes
    back = index.travel_minutes + h[None, :]
    return bool(np.all(h[None, :] <= via) and np.all(h[:, None] <= back))


def _separate_days(pathway: Pathway, links: list[Link], max_visits: int) -> list[Link]:
    """Links implied by the same-day rules along the stage order (they cut no route).

    When in-person stage ``b`` starts after in-person stage ``a`` (through a chain of ``after``
    and non-negative minimum lags to ``b``'s start), every in-person stage on the chain starts
    between them. So ``b`` starts at least one calendar day after ``a`` when the two may not share
    a day (one of them does not share days), and at least ``ceil(n / V) - 1`` days after it when
    the chain holds ``n`` in-person stages and the patient comes at most ``V`` times a day.
    """
    n = len(pathway.stages)
    stages = pathway.stages
    in_person = [s.mode is VisitMode.IN_PERSON for s in stages]
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
