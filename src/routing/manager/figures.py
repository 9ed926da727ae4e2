"""The manager's figures: every aggregate the report shows, as one pydantic model (and JSON).

Built from the :mod:`~routing.manager.tables` only, so that the figures and the tables always
agree. Compliance is counted by patient (each request once, by its outcome: met, at risk,
missed, unplanned) per pathway, per home district and per facility where the route ends (the
stage that completes it, usually the start of treatment; ``—`` without a route). Per deadline it
is counted by deadline: each soft deadline of each planned route once, and each unplanned
patient once under ``unplanned``.

Bottlenecks are ranked by the deadline misses they cause: a missed deadline names the stage that
caused it (:attr:`~routing.result.DeadlineOutcome.caused_by`), and that stage's booking names a
service and a facility.

Trends over time take an optional sequence of dated snapshots (:class:`TrendPoint`): a single
batch has none (the chart says so); the report over the route journal
(:mod:`routing.manager.journal`) supplies one per day of its events.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Literal

from pydantic import AwareDatetime, NonNegativeInt

from nosology.pathway import FrozenModel
from routing._version import __version__
from routing.batch.engine import BatchResult
from routing.batch.report import header_status
from routing.exceptions import InvalidInputError
from routing.manager.tables import Outcome, PatientRow, StageRow, Tables
from routing.result import RouteResult, SolveStatus

__all__ = [
    "Bar",
    "BottleneckRow",
    "CompletionSeries",
    "CountRow",
    "FacilityGantt",
    "JournalSummary",
    "ManagerFigures",
    "PatientGantt",
    "TrendPoint",
    "UtilisationMap",
    "build_figures",
    "figures_of_routes",
]


class CountRow(FrozenModel):
    """Outcomes counted under one key (patients, or deadlines for the per-deadline table)."""

    key: str
    met: NonNegativeInt = 0
    at_risk: NonNegativeInt = 0
    missed: NonNegativeInt = 0
    unplanned: NonNegativeInt = 0

    @property
    def total(self) -> int:
        """Everything counted under the key."""
        return self.met + self.at_risk + self.missed + self.unplanned


class CompletionSeries(FrozenModel):
    """Days from referral to completion of every planned patient, sorted, and their summary."""

    label: str
    days: tuple[float, ...]
    median: float | None
    p90: float | None
    maximum: float | None


class UtilisationMap(FrozenModel):
    """One service's fill rate by facility (rows) and local day (columns); ``None``: no slot."""

    service: str
    facilities: tuple[str, ...]
    days: tuple[str, ...]
    fill: tuple[tuple[float | None, ...], ...]


class BottleneckRow(FrozenModel):
    """A service or facility and the deadline misses its bookings cause."""

    kind: str
    id: str
    misses: NonNegativeInt
    patients: NonNegativeInt


class Bar(FrozenModel):
    """One bar of a Gantt chart."""

    label: str
    stage_id: str
    facility_id: str
    service: str
    start: str
    end: str
    critical: bool


class PatientGantt(FrozenModel):
    """A patient's route, stage by stage."""

    request_id: str
    patient_id: str
    bars: tuple[Bar, ...]


class FacilityGantt(FrozenModel):
    """A facility's bookings on one local day, patient by patient."""

    facility_id: str
    day: str
    bars: tuple[Bar, ...]


class TrendPoint(FrozenModel):
    """Patients by outcome on one date (a snapshot: one batch of a journal)."""

    day: date
    met: NonNegativeInt
    at_risk: NonNegativeInt
    missed: NonNegativeInt
    unplanned: NonNegativeInt


class JournalSummary(FrozenModel):
    """What a report over the route journal was built from (:mod:`routing.manager.journal`)."""

    events: NonNegativeInt
    """Events in the journal."""
    first_event_at: AwareDatetime | None
    last_event_at: AwareDatetime | None
    """The latest event time (the journal's clock: the state is as of then)."""
    routes: NonNegativeInt
    """Routes of the journal, cancelled ones included."""
    cancelled: NonNegativeInt
    """Routes whose referral was cancelled (not counted in the figures)."""
    waiting: NonNegativeInt
    """Routes with a stage waiting for a slot (counted as unplanned)."""
    completed: NonNegativeInt
    """Routes whose every stage was attended."""
    from_referral: NonNegativeInt
    """Routes measured from their request's referral (the request was given)."""
    from_proposal: NonNegativeInt
    """Routes measured from the time they were proposed (no request given for them)."""


class ManagerFigures(FrozenModel):
    """Every aggregate of the manager's report."""

    generator: str
    source: Literal["batch", "journal"] = "batch"
    """A planned batch, or the live state of the route journal."""
    status: SolveStatus | None
    """The weakest of the batch's status and its routes' (see ``header_status``); ``None``
    over the journal."""
    seed: int | None
    """The batch's seed (``None`` over the journal)."""
    requests: NonNegativeInt
    planned: NonNegativeInt
    invalid: NonNegativeInt
    """Requests the engine could not plan as given (no pathway applies, bad pathway)."""
    not_planned: NonNegativeInt
    """Valid requests without a route (infeasible, or left out for capacity)."""
    rejected: tuple[str, ...]
    """Input records that could not be read at all (they are not requests of the batch)."""
    total: CountRow
    by_pathway: tuple[CountRow, ...]
    by_deadline: tuple[CountRow, ...]
    by_district: tuple[CountRow, ...]
    by_facility: tuple[CountRow, ...]
    completion: tuple[CompletionSeries, ...]
    """The plan, first come first served, and the bound (each patient's fastest route alone);
    over the journal, the live routes only."""
    utilisation: tuple[UtilisationMap, ...]
    bottlenecks: tuple[BottleneckRow, ...]
    patient_gantt: PatientGantt | None
    facility_gantt: FacilityGantt | None
    trend: tuple[TrendPoint, ...] = ()
    trend_wired: bool = False
    """Whether a journal supplied the trend."""
    journal: JournalSummary | None = None
    """Over the journal: what the report was built from."""

    def to_json(self) -> str:
        """The figures as JSON text (the same input gives the same text)."""
        return self.model_dump_json(indent=2) + "\n"


def _count(rows: Sequence[PatientRow], key: str) -> tuple[CountRow, ...]:
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        counts.setdefault(getattr(row, key), Counter())[row.outcome] += 1
    return tuple(
        CountRow(key=k, **{o.value: c[o.value] for o in Outcome}) for k, c in sorted(counts.items())
    )


def _by_deadline(
    routes: Sequence[RouteResult], unplanned: int, at_risk_slack: int
) -> tuple[CountRow, ...]:
    counts: dict[str, Counter[str]] = {}
    for route in routes:
        if not route.has_route:
            unplanned += 1
            continue
        for d in route.deadlines:
            if d.hard:
                continue
            if not d.met:
                outcome = Outcome.MISSED
            elif d.slack <= at_risk_slack:
                outcome = Outcome.AT_RISK
            else:
                outcome = Outcome.MET
            counts.setdefault(d.deadline_id, Counter())[outcome.value] += 1
    rows = [
        CountRow(key=k, **{o.value: c[o.value] for o in Outcome}) for k, c in sorted(counts.items())
    ]
    if unplanned:
        rows.append(CountRow(key=Outcome.UNPLANNED.value, unplanned=unplanned))
    return tuple(rows)


def _series(label: str, values: Sequence[float | None]) -> CompletionSeries:
    days = tuple(sorted(v for v in values if v is not None))
    if not days:
        return CompletionSeries(label=label, days=(), median=None, p90=None, maximum=None)
    n = len(days)
    median = days[n // 2] if n % 2 else (days[n // 2 - 1] + days[n // 2]) / 2
    return CompletionSeries(
        label=label,
        days=days,
        median=round(median, 3),
        p90=days[max(0, math.ceil(0.9 * n) - 1)],
        maximum=days[-1],
    )


def _utilisation(tables: Tables) -> tuple[UtilisationMap, ...]:
    maps = []
    services = sorted({r.service for r in tables.facility_days})
    for service in services:
        rows = [r for r in tables.facility_days if r.service == service]
        facilities = tuple(sorted({r.facility_id for r in rows}))
        days = tuple(sorted({r.day for r in rows}))
        fill = {(r.facility_id, r.day): r.fill for r in rows}
        maps.append(
            UtilisationMap(
                service=service,
                facilities=facilities,
                days=days,
                fill=tuple(tuple(fill.get((f, d)) for d in days) for f in facilities),
            )
        )
    return tuple(maps)


def _bottlenecks(routes: Sequence[RouteResult], top: int) -> tuple[BottleneckRow, ...]:
    misses: Counter[tuple[str, str]] = Counter()
    patients: dict[tuple[str, str], set[str]] = {}
    for route in routes:
        if not route.has_route:
            continue
        booking = {b.stage_id: b for b in route.bookings}
        for d in route.deadlines:
            if d.hard or d.met or d.caused_by not in booking:
                continue
            b = booking[d.caused_by]
            for key in (("service", str(b.service)), ("facility", b.facility_id)):
                misses[key] += 1
                patients.setdefault(key, set()).add(route.request_id)
    ranked = sorted(misses, key=lambda k: (-misses[k], -len(patients[k]), k))[:top]
    return tuple(
        BottleneckRow(kind=k[0], id=k[1], misses=misses[k], patients=len(patients[k]))
        for k in ranked
    )


def _bar(label: str, row: StageRow) -> Bar:
    return Bar(
        label=label,
        stage_id=row.stage_id,
        facility_id=row.facility_id,
        service=row.service,
        start=row.start,
        end=row.end,
        critical=row.critical,
    )


def _patient_gantt(tables: Tables, patient: str | None) -> PatientGantt | None:
    rows = tables.patients
    if patient is not None:
        chosen = [r for r in rows if patient in (r.request_id, r.patient_id)]
        if not chosen:
            raise InvalidInputError(
                "report",
                "--patient",
                "no request or patient of the report has this id",
                value=patient,
            )
        row = chosen[0]
    else:
        planned = [r for r in rows if r.completion_days is not None]
        if not planned:
            return None
        # The most delayed: most deadlines missed, then the latest completion.
        row = min(planned, key=lambda r: (-r.deadlines_missed, -(r.completion_days or 0.0)))
    stages = [s for s in tables.stages if s.request_id == row.request_id]
    return PatientGantt(
        request_id=row.request_id,
        patient_id=row.patient_id,
        bars=tuple(_bar(s.stage_id, s) for s in stages),
    )


def _facility_gantt(tables: Tables, facility: str | None, day: date | None) -> FacilityGantt | None:
    days = Counter[tuple[str, str]]()
    for r in tables.facility_days:
        days[(r.facility_id, r.day)] += r.used
    if facility is not None and all(f != facility for f, _ in days):
        raise InvalidInputError(
            "report", "--facility", "no slot of the report is at this facility", value=facility
        )
    if day is not None and all(d != day.isoformat() for _, d in days):
        raise InvalidInputError(
            "report", "--day", "no slot of the report is on this day", value=day
        )
    candidates = [
        k
        for k in days
        if (facility is None or k[0] == facility) and (day is None or k[1] == day.isoformat())
    ]
    if not candidates:
        if facility is not None and day is not None:
            raise InvalidInputError(
                "report", "--day", "the facility has no slot on this day", value=day
            )
        return None
    # The busiest facility-day among those chosen: most places taken, then the earliest.
    chosen = min(candidates, key=lambda k: (-days[k], k))
    stages = [s for s in tables.stages if s.facility_id == chosen[0] and s.day == chosen[1]]
    stages.sort(key=lambda s: (s.start, s.end, s.request_id))
    return FacilityGantt(
        facility_id=chosen[0],
        day=chosen[1],
        bars=tuple(_bar(f"{s.patient_id} · {s.stage_id}", s) for s in stages),
    )


def build_figures(
    result: BatchResult,
    tables: Tables,
    *,
    rejected: Sequence[str] = (),
    patient: str | None = None,
    facility: str | None = None,
    day: date | None = None,
    trend: Sequence[TrendPoint] = (),
    at_risk_slack: int = 1,
    top: int = 10,
) -> ManagerFigures:
    """The figures of a batch and its tables.

    Parameters
    ----------
    result, tables
        The batch and :func:`~routing.manager.tables.build_tables` of it.
    rejected
        Input records the reader could not use.
    patient
        The request or patient id whose route the patient Gantt shows (default: the most
        delayed: most deadlines missed, then the latest completion).
    facility, day
        The facility and local day the facility Gantt shows (default: the busiest).
    trend
        Dated snapshots of earlier batches (from a journal; see the module docstring).
    at_risk_slack
        As in :func:`~routing.manager.tables.build_tables`.
    top
        Bottlenecks shown at most.

    Raises
    ------
    InvalidInputError
        ``--patient``, ``--facility`` or ``--day`` names nothing in the batch (the field is the
        option).
    """
    return figures_of_routes(
        result.routes,
        tables,
        status=header_status(result),
        seed=result.seed,
        rejected=rejected,
        patient=patient,
        facility=facility,
        day=day,
        trend=trend,
        at_risk_slack=at_risk_slack,
        top=top,
    )


def figures_of_routes(
    routes: Sequence[RouteResult],
    tables: Tables,
    *,
    status: SolveStatus | None,
    seed: int | None,
    unplanned: int = 0,
    rejected: Sequence[str] = (),
    patient: str | None = None,
    facility: str | None = None,
    day: date | None = None,
    trend: Sequence[TrendPoint] = (),
    journal: JournalSummary | None = None,
    at_risk_slack: int = 1,
    top: int = 10,
) -> ManagerFigures:
    """The figures of routes and their tables: a batch's (:func:`build_figures`), or the live
    routes of the journal's state (:mod:`routing.manager.journal`).

    Parameters
    ----------
    routes
        The results whose deadline outcomes and bookings are counted (those without a route
        count as unplanned per deadline).
    tables
        Their tables (one patient row per patient).
    status, seed
        Of the batch (``None`` over the journal).
    unplanned
        Patients without a result in ``routes`` who count as unplanned per deadline.
    journal
        Over the journal: what it held. With it, the completion series is the live routes'
        only, and the trend counts as supplied.
    rejected, patient, facility, day, trend, at_risk_slack, top
        As in :func:`build_figures`.

    Raises
    ------
    InvalidInputError
        As :func:`build_figures`.
    """
    rows = tables.patients
    total = _count(rows, "outcome")
    whole = CountRow(
        key="all", **{o.value: sum(getattr(c, o.value) for c in total) for o in Outcome}
    )
    with_route = {r.request_id for r in rows if r.completion_days is not None}
    if journal is None:
        completion: tuple[CompletionSeries, ...] = (
            _series("plan", [r.completion_days for r in rows]),
            _series("first come, first served", [r.fcfs_completion_days for r in rows]),
            _series("bound (alone)", [r.bound_completion_days for r in rows]),
        )
    else:
        completion = (_series("live routes", [r.completion_days for r in rows]),)
    return ManagerFigures(
        generator=f"routing {__version__}",
        source="batch" if journal is None else "journal",
        status=status,
        seed=seed,
        requests=len(rows),
        planned=len(with_route),
        invalid=sum(r.status == SolveStatus.INVALID.value for r in rows),
        not_planned=sum(
            r.status != SolveStatus.INVALID.value and r.request_id not in with_route for r in rows
        ),
        rejected=tuple(rejected),
        total=whole,
        by_pathway=_count(rows, "pathway_id"),
        by_deadline=_by_deadline(routes, unplanned, at_risk_slack),
        by_district=_count(rows, "district"),
        by_facility=_count(rows, "last_facility"),
        completion=completion,
        utilisation=_utilisation(tables),
        bottlenecks=_bottlenecks(routes, top),
        patient_gantt=_patient_gantt(tables, patient),
        facility_gantt=_facility_gantt(tables, facility, day),
        trend=tuple(sorted(trend, key=lambda p: p.day)),
        trend_wired=journal is not None,
        journal=journal,
    )
