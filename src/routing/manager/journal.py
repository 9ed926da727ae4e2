"""The manager's report over the route journal: the live routes, and trends day by day.

The journal (:mod:`routing.lifecycle.journal`) holds events; replaying them gives the live state
(:class:`~routing.lifecycle.model.State`): each route's stages on their current slots, and each
slot's places held and booked. :func:`journal_report` turns that into the same tables and
figures as a planned batch (:mod:`routing.manager.tables`, :mod:`routing.manager.figures`):

- a **patient** is a route whose referral is not cancelled (cancelled ones are counted apart);
- a route with every stage on a slot (active or attended) is measured: each soft deadline of
  its pathway in force on the referral day, in its own unit, from the slots' times (a missed
  deadline is caused by the stage of its later event); its outcome is met / at risk / missed
  as for a batch. A route with a stage waiting for a slot counts as ``unplanned``;
- the **referral** is the request's when the request is given (the cohort's problem files, or
  the service's own requests); the journal itself keeps ids only, so a route whose request is
  not given is measured from the time it was proposed (the service proposes a route at its
  request's referral; ``routing book`` at the time of booking). The summary counts both;
- the patient rows' ``status`` is the route's lifecycle: ``in_progress``, ``completed`` (every
  stage attended) or ``waiting`` (a stage has no slot); there is no first-come-first-served
  baseline or bound, so those columns are empty;
- **utilisation** is the live places taken (held or booked) against the places offered (a
  withdrawn slot offers none);
- the **trend** has one point per day of the journal's clock (the latest event time so far, in
  the calendar's zone): the patients by outcome in the state after the day's last event.

A journal with no event gives an empty, correct report: every chart says it has no data.
Only pseudonymous ids and times are read; nothing is logged but counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from nosology.catalogue import Catalogue
from nosology.exceptions import NosologyError
from nosology.pathway import Pathway, parse_event
from routing.calendar import WorkingCalendar, calendar_for
from routing.domain import RouteRequest
from routing.exceptions import RoutingError
from routing.lifecycle.apply import apply
from routing.lifecycle.events import Event, RouteProposed
from routing.lifecycle.model import RouteState, StageStatus, State
from routing.live import LiveSlots
from routing.manager.figures import JournalSummary, ManagerFigures, TrendPoint, figures_of_routes
from routing.manager.tables import (
    AT_RISK_SLACK,
    NO_VALUE,
    FacilityDayRow,
    Outcome,
    PatientRow,
    Tables,
    facility_day_rows,
    outcome_of,
    stage_rows,
)
from routing.result import DeadlineOutcome, RouteResult, SolveStatus
from routing.solve.explain import deadline_outcomes
from routing.views.living import route_result_of

__all__ = ["JournalReport", "journal_report", "live_routes"]

logger = logging.getLogger(__name__)

_DEFAULT_REGION: str = str(RouteRequest.model_fields["region"].default)
"""The region whose deadlines apply to a route whose request is not given."""


@dataclass(frozen=True, slots=True)
class JournalReport:
    """The report's figures and tables over a journal."""

    figures: ManagerFigures
    tables: Tables


@dataclass(frozen=True, slots=True)
class _Measured:
    """One live route, measured."""

    route: RouteState
    result: RouteResult | None
    """With every stage on a slot: the route as a result (bookings and deadline outcomes)."""
    referral: datetime
    from_request: bool
    note: str | None


class _Context:
    """What measuring a route needs besides the state."""

    def __init__(
        self,
        requests: Mapping[str, RouteRequest],
        pathways: Mapping[str, Pathway],
        catalogue: Catalogue,
        at_risk_slack: int,
    ) -> None:
        self.requests = requests
        self.pathways = pathways
        self.catalogue = catalogue
        self.at_risk_slack = at_risk_slack
        self.proposed_at: dict[str, datetime] = {}
        self.measured: dict[tuple[str, int], _Measured] = {}
        """By route id and revision: every event on a route bumps its revision, and a slot's
        times never change, so a revision is measured once however many days it lasts."""

    def pathway(self, route: RouteState) -> Pathway | None:
        request = self.requests.get(route.request_id)
        if (
            request is not None
            and request.pathway is not None
            and route.pathway_id
            in (
                None,
                request.pathway.id,
            )
        ):
            return request.pathway
        if route.pathway_id is None:
            return None
        if route.pathway_id in self.pathways:
            return self.pathways[route.pathway_id]
        try:
            return self.catalogue.get(route.pathway_id)
        except NosologyError:
            return None


def _calendar(state: State) -> WorkingCalendar:
    return calendar_for(None) if state.live is None else state.live.index.calendar


def _measure(route: RouteState, live: LiveSlots | None, context: _Context) -> _Measured:
    key = (route.route_id, route.revision)
    found = context.measured.get(key)
    if found is None or found.route != route:
        found = context.measured[key] = _measure_now(route, live, context)
    return found


def _measure_now(route: RouteState, live: LiveSlots | None, context: _Context) -> _Measured:
    request = context.requests.get(route.request_id)
    proposed = context.proposed_at.get(route.route_id)
    if request is not None:
        referral, from_request = request.referral, True
    else:
        assert proposed is not None  # every route starts with its proposal
        referral, from_request = proposed, False
    if live is None or not route.planned:
        return _Measured(route, None, referral, from_request, None)
    planned = route_result_of(route, live, referral=referral)
    assert planned is not None  # a planned route has a slot for every stage
    bookings = list(planned.bookings)
    times: dict[str, tuple[datetime, datetime]] = {b.stage_id: (b.start, b.end) for b in bookings}
    note = None
    outcomes: tuple[DeadlineOutcome, ...] = ()
    pathway = context.pathway(route)
    if pathway is None:
        note = f"route {route.route_id!r}: its pathway is not known here: deadlines not measured"
    else:
        calendar = live.index.calendar
        region = request.region if request is not None else _DEFAULT_REGION
        try:
            day = calendar.local_date(referral)
            deadlines = tuple(
                d
                for d in pathway.deadlines
                if d.applies_on(day, region)
                and all(
                    stage is None or stage in times
                    for stage, _ in (parse_event(d.from_event), parse_event(d.to_event))
                )
            )
            outcomes = deadline_outcomes(deadlines, calendar, referral, times, {}, {})
        except RoutingError:
            note = f"route {route.route_id!r}: a date outside the calendar: deadlines not measured"
    result = RouteResult(
        request_id=route.request_id,
        patient_id=route.patient_id,
        pathway_id=route.pathway_id,
        status=SolveStatus.FEASIBLE,
        referral=referral,
        bookings=tuple(sorted(bookings, key=lambda b: (b.start, b.end, b.stage_id))),
        deadlines=outcomes,
    )
    return _Measured(route, result, referral, from_request, note)


def _live_routes(state: State) -> list[RouteState]:
    return [state.routes[k] for k in sorted(state.routes) if not state.routes[k].cancelled]


def _outcome(m: _Measured, at_risk_slack: int) -> Outcome:
    return Outcome.UNPLANNED if m.result is None else outcome_of(m.result, at_risk_slack)


def _lifecycle(route: RouteState, measured: _Measured) -> str:
    if measured.result is None:
        return "waiting"
    if all(s.status == StageStatus.ATTENDED for s in route.stages):
        return "completed"
    return "in_progress"


def _patient_row(m: _Measured, district: str | None, at_risk_slack: int) -> PatientRow:
    result = m.result
    soft = [d for d in result.deadlines if not d.hard] if result is not None else []
    bookings = result.bookings if result is not None else ()
    completion = None
    if result is not None and result.completion is not None:
        completion = round((result.completion - m.referral).total_seconds() / 86400, 3)
    return PatientRow(
        request_id=m.route.request_id,
        patient_id=m.route.patient_id,
        pathway_id=m.route.pathway_id or NO_VALUE,
        district=district or NO_VALUE,
        status=_lifecycle(m.route, m),
        outcome=_outcome(m, at_risk_slack).value,
        deadlines_measured=len(soft),
        deadlines_missed=sum(not d.met for d in soft),
        min_slack=min((d.slack for d in soft), default=None),
        completion_days=completion,
        fcfs_completion_days=None,
        bound_completion_days=None,
        first_facility=bookings[0].facility_id if bookings else NO_VALUE,
        last_facility=bookings[-1].facility_id if bookings else NO_VALUE,
        stages=len(bookings),
    )


def live_routes(
    state: State,
    *,
    requests: Mapping[str, RouteRequest] | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    catalogue: Catalogue | None = None,
    proposed_at: Mapping[str, datetime] | None = None,
) -> tuple[RouteResult, ...]:
    """The routes of ``state`` with every stage on a slot, as results with deadline outcomes.

    Parameters
    ----------
    state
        The journal's state.
    requests
        Requests by id: a route of one of them is measured from its referral, in its region.
    pathways
        Pathways by id, looked up before the catalogue.
    catalogue
        The catalogue (the built-in one by default).
    proposed_at
        When each route (by id) was proposed: the referral of a route whose request is not
        given (by default the state's last event time).
    """
    context = _Context(
        requests or {}, pathways or {}, catalogue or Catalogue.builtin(), AT_RISK_SLACK
    )
    fallback = state.last_event_at
    for route in state.routes.values():
        at = (proposed_at or {}).get(route.route_id, fallback)
        if at is not None:
            context.proposed_at[route.route_id] = at
    measured = [_measure(r, state.live, context) for r in _live_routes(state)]
    return tuple(m.result for m in measured if m.result is not None)


def _trend_point(day: date, state: State, context: _Context) -> TrendPoint:
    counts: Counter[Outcome] = Counter(
        _outcome(_measure(r, state.live, context), context.at_risk_slack)
        for r in _live_routes(state)
    )
    return TrendPoint(
        day=day,
        met=counts[Outcome.MET],
        at_risk=counts[Outcome.AT_RISK],
        missed=counts[Outcome.MISSED],
        unplanned=counts[Outcome.UNPLANNED],
    )


def _local_day(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def journal_report(
    events: Iterable[Event],
    *,
    requests: Iterable[RouteRequest] = (),
    pathways: Mapping[str, Pathway] | None = None,
    catalogue: Catalogue | None = None,
    patient: str | None = None,
    facility: str | None = None,
    day: date | None = None,
    at_risk_slack: int = AT_RISK_SLACK,
    top: int = 10,
) -> JournalReport:
    """The manager's figures and tables over the journal's events (see the module docstring).

    Parameters
    ----------
    events
        Every event of the journal, in the order appended (:meth:`Journal.events
        <routing.lifecycle.journal.Journal.events>`).
    requests
        Requests whose referral, region and home district the routes of them are measured by.
    pathways
        Pathways by id (a problem file's own), looked up before the catalogue.
    catalogue
        The catalogue (the built-in one by default).
    patient, facility, day, at_risk_slack, top
        As in :func:`~routing.manager.figures.build_figures`.

    Returns
    -------
    JournalReport
        The figures (``source="journal"``, with the trend and a :class:`JournalSummary`) and
        the tables.

    Raises
    ------
    InvalidInputError
        ``patient``, ``facility`` or ``day`` names nothing in the journal.
    LifecycleError
        An event the state refuses (a journal written by another program).
    """
    by_id = {r.id: r for r in requests}
    context = _Context(by_id, pathways or {}, catalogue or Catalogue.builtin(), at_risk_slack)
    state = State()
    trend: list[TrendPoint] = []
    clock: datetime | None = None
    first: datetime | None = None
    count = 0
    for event in events:
        if clock is not None and state.live is not None:
            zone = state.live.index.calendar.zone
            if _local_day(max(clock, event.at), zone) != _local_day(clock, zone):
                trend.append(_trend_point(_local_day(clock, zone), state, context))
        state = apply(state, event)
        count += 1
        if isinstance(event, RouteProposed):
            context.proposed_at.setdefault(event.route_id, event.at)
        first = event.at if first is None else min(first, event.at)
        clock = event.at if clock is None else max(clock, event.at)
    calendar = _calendar(state)
    if clock is not None and state.routes:
        trend.append(_trend_point(_local_day(clock, calendar.zone), state, context))
    trend = [p for p in trend if p.met + p.at_risk + p.missed + p.unplanned > 0]
    measured = [_measure(r, state.live, context) for r in _live_routes(state)]
    rows = tuple(
        _patient_row(
            m,
            by_id[m.route.request_id].patient.district if m.route.request_id in by_id else None,
            at_risk_slack,
        )
        for m in measured
    )
    results = [m.result for m in measured if m.result is not None]
    stages = tuple(row for r in results for row in stage_rows(r, calendar.zone))
    facility_days: tuple[FacilityDayRow, ...] = ()
    if state.live is not None:
        snapshot = state.live.snapshot()
        used = {s.slot_id: s.held + s.booked for s in snapshot.states}
        offered = {s.slot_id: 0 if s.withdrawn else s.capacity for s in snapshot.states}
        facility_days = facility_day_rows(state.live.index, used, offered)
    tables = Tables(patients=rows, stages=stages, facility_days=facility_days)
    summary = JournalSummary(
        events=count,
        first_event_at=first,
        last_event_at=clock,
        routes=len(state.routes),
        cancelled=sum(r.cancelled for r in state.routes.values()),
        waiting=sum(m.result is None for m in measured),
        completed=sum(row.status == "completed" for row in rows),
        from_referral=sum(m.from_request for m in measured),
        from_proposal=sum(not m.from_request for m in measured),
    )
    figures = figures_of_routes(
        results,
        tables,
        status=None,
        seed=None,
        unplanned=summary.waiting,
        rejected=tuple(m.note for m in measured if m.note is not None),
        patient=patient,
        facility=facility,
        day=day,
        trend=trend,
        journal=summary,
        at_risk_slack=at_risk_slack,
        top=top,
    )
    logger.info(
        "journal report: %d events, %d routes, %d waiting", count, summary.routes, summary.waiting
    )
    return JournalReport(figures=figures, tables=tables)
