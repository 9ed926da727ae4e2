"""Builders of tiny routing instances, and the plan-then-evaluate check every solving test uses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nosology.catalogue import Catalogue
from nosology.pathway import (
    Applicability,
    Deadline,
    LagUnit,
    LocalizedText,
    Pathway,
    ServiceRef,
    Stage,
    TemporalConstraint,
    VisitMode,
    Window,
)
from routing.calendar import WorkingCalendar
from routing.domain import Facility, GeoPoint, Patient, Period, RouteRequest, Slot, TravelModel
from routing.evaluate import evaluate_route
from routing.result import RouteResult
from routing.slot_index import SlotIndex
from routing.solve import SolveOptions, plan_route, resolve_pathway

__all__ = [
    "MSK",
    "at",
    "constraint",
    "deadline",
    "facility",
    "make_pathway",
    "make_request",
    "patient",
    "service_of",
    "slot",
    "solve_and_check",
    "stage",
    "unavailable",
    "window",
]

MSK = ZoneInfo("Europe/Moscow")
"""The zone every instance here lives in."""


def at(day: date | str, hhmm: str = "09:00") -> datetime:
    """An aware Moscow datetime on ``day`` (a date or ``"YYYY-MM-DD"``) at ``"HH:MM"``."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=MSK)


def service_of(stage_id: str) -> str:
    """The one service of a test stage: ``"nmu:<STAGE ID IN CAPITALS>"``."""
    return f"nmu:{stage_id.upper()}"


def stage(
    stage_id: str,
    *,
    after: Sequence[str] = (),
    mode: VisitMode = VisitMode.IN_PERSON,
    level: int | None = None,
    shares_day: bool = True,
    duration: int = 30,
    also: Sequence[str] = (),
) -> Stage:
    """A stage served by :func:`service_of` its id (or of the stages ``also`` names)."""
    return Stage(
        id=stage_id,
        title=LocalizedText(ru=stage_id, en=stage_id),
        services=tuple(ServiceRef.model_validate(service_of(s)) for s in (stage_id, *also)),
        duration_minutes=duration,
        mode=mode,
        facility_level=level,
        shares_day=shares_day,
        after=tuple(after),
    )


def constraint(
    from_event: str,
    to_event: str,
    unit: LagUnit,
    *,
    min: int | None = None,
    max: int | None = None,
) -> TemporalConstraint:
    """A lag between two events."""
    return TemporalConstraint(
        from_event=from_event, to_event=to_event, min=min, max=max, unit=unit, source="test"
    )


def window(event: str, reference: str, min_days: int, max_days: int) -> Window:
    """A window of an event relative to a reference date."""
    return Window(
        event=event, reference=reference, min_days=min_days, max_days=max_days, source="test"
    )


def deadline(
    deadline_id: str, from_event: str, to_event: str, limit: int, unit: LagUnit
) -> Deadline:
    """A soft, federal deadline valid at any date."""
    return Deadline(
        id=deadline_id,
        title=LocalizedText(ru=deadline_id, en=deadline_id),
        from_event=from_event,
        to_event=to_event,
        limit=limit,
        unit=unit,
        source="test",
    )


def make_pathway(
    stages: Iterable[Stage],
    *,
    constraints: Iterable[TemporalConstraint] = (),
    windows: Iterable[Window] = (),
    deadlines: Iterable[Deadline] = (),
    pathway_id: str = "micro",
) -> Pathway:
    """A pathway for test stages."""
    return Pathway(
        id=pathway_id,
        title=LocalizedText(ru=pathway_id, en=pathway_id),
        applicability=Applicability(codes=("Z00",)),
        stages=tuple(stages),
        constraints=tuple(constraints),
        windows=tuple(windows),
        deadlines=tuple(deadlines),
    )


def facility(
    facility_id: str,
    *,
    level: int = 3,
    lat: float | None = None,
    lon: float | None = None,
) -> Facility:
    """A facility (optionally located) offering nothing in particular: slots say what it offers."""
    location = GeoPoint(lat=lat, lon=lon) if lat is not None and lon is not None else None
    return Facility(id=facility_id, name=facility_id, level=level, location=location)


def slot(
    slot_id: str,
    stage_id: str,
    day: date | str,
    hhmm: str = "09:00",
    *,
    minutes: int = 30,
    facility_id: str = "F1",
    mode: VisitMode = VisitMode.IN_PERSON,
) -> Slot:
    """A slot of the service of ``stage_id``, ``minutes`` long."""
    start = at(day, hhmm)
    return Slot(
        id=slot_id,
        facility_id=facility_id,
        service=ServiceRef.model_validate(service_of(stage_id)),
        start=start,
        end=start + timedelta(minutes=minutes),
        mode=mode,
    )


def make_request(
    pathway: Pathway | None,
    referral: datetime,
    *,
    patient: Patient | None = None,
    request_id: str = "R1",
    **fields: Any,
) -> RouteRequest:
    """A request for ``pathway`` (inline) or for what ``fields`` name (diagnoses, pathway_id)."""
    return RouteRequest(
        id=request_id,
        patient=patient or Patient(id="P1"),
        pathway=pathway,
        referral=referral,
        **fields,
    )


def patient(**fields: Any) -> Patient:
    """Patient ``P1`` with ``fields``."""
    return Patient(id="P1", **fields)


def unavailable(start: datetime, end: datetime) -> Period:
    """A period when the patient cannot come."""
    return Period(start=start, end=end)


def solve_and_check(
    request: RouteRequest,
    pathway_or_none: Pathway | None,
    facilities: Sequence[Facility],
    slots: Sequence[Slot],
    travel: TravelModel | None = None,
    *,
    calendar: WorkingCalendar | None = None,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    **opts: Any,
) -> RouteResult:
    """Plan ``request``; when a route comes back, check it with the independent evaluator.

    The evaluator must call the route feasible and give the same objective and deadline figures
    as the planner. The pathway is ``pathway_or_none``, or else the one the request resolves to.
    ``opts`` are :class:`SolveOptions` fields (``time_limit``, ``node_limit``).
    """
    index = SlotIndex.build(facilities, slots, calendar=calendar, travel=travel)
    options = SolveOptions(**opts) if opts else None
    result = plan_route(request, index, catalogue=catalogue, pathways=pathways, options=options)
    if result.has_route:
        pathway = pathway_or_none or resolve_pathway(request, catalogue, pathways)
        assert result.objective is not None
        bookings = {b.stage_id: b.slot_id for b in result.bookings}
        assert sorted(bookings) == sorted(s.id for s in pathway.stages)
        evaluation = evaluate_route(
            request,
            pathway,
            bookings,
            slots=slots,
            facilities=facilities,
            travel=travel,
            calendar=calendar,
        )
        assert evaluation.feasible, f"the evaluator rejects the route: {evaluation.violations}"
        assert evaluation.objective == result.objective.key()
        measured = {(d.deadline_id, d.actual, d.met) for d in evaluation.deadlines}
        assert {(d.deadline_id, d.actual, d.met) for d in result.deadlines} == measured
    return result
