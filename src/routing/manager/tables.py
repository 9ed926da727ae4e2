"""The manager's tables: one row per patient, per booked stage, and per facility, service and day.

Pure functions of a :class:`~routing.batch.BatchResult` and the
:class:`~routing.slot_index.SlotIndex` it was planned over. Every request of the batch has
exactly one patient row, planned or not, so that every figure built on them counts every patient.

A patient's *outcome* is one of:

- ``unplanned``: no route in the plan (infeasible, invalid, or left out for capacity);
- ``missed``: a route that misses at least one soft deadline;
- ``at_risk``: every soft deadline met, but one with a slack of at most ``at_risk_slack`` units of
  its own (working or calendar days, hours, minutes);
- ``met``: every soft deadline met with room to spare (or none measured).

:func:`csv_text` writes a table with the :mod:`csv` module; :func:`parquet_bytes` gives the same
table as Parquet, with typed columns, when the optional ``pyarrow`` package is installed (the
``report`` extra; :func:`parquet_available` says whether it is).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date, tzinfo
from enum import StrEnum
from typing import Any

from routing.batch.engine import BatchResult
from routing.result import RouteResult
from routing.slot_index import SlotIndex

__all__ = [
    "AT_RISK_SLACK",
    "FacilityDayRow",
    "Outcome",
    "PatientRow",
    "StageRow",
    "Tables",
    "build_tables",
    "csv_text",
    "facility_day_rows",
    "outcome_of",
    "parquet_available",
    "parquet_bytes",
    "stage_rows",
]

AT_RISK_SLACK = 1
"""A met deadline with at most this slack (in its own unit) puts the patient at risk."""


class Outcome(StrEnum):
    """A patient's deadline outcome in the plan (see the module docstring)."""

    MET = "met"
    AT_RISK = "at_risk"
    MISSED = "missed"
    UNPLANNED = "unplanned"


@dataclass(frozen=True, slots=True)
class PatientRow:
    """One request of the batch and what the plan, FCFS and the bound give it."""

    request_id: str
    patient_id: str
    pathway_id: str
    district: str
    status: str
    outcome: str
    deadlines_measured: int
    deadlines_missed: int
    min_slack: int | None
    completion_days: float | None
    """Days from the referral to the end of the last stage in the plan."""
    fcfs_completion_days: float | None
    bound_completion_days: float | None
    """The same with no competition (the patient's fastest route alone: a lower bound)."""
    first_facility: str
    last_facility: str
    stages: int


@dataclass(frozen=True, slots=True)
class StageRow:
    """One booked stage of a planned route."""

    request_id: str
    patient_id: str
    stage_id: str
    facility_id: str
    service: str
    day: str
    """The local date of the start (in the calendar's zone)."""
    start: str
    end: str
    mode: str
    wait_minutes: int | None
    critical: bool


@dataclass(frozen=True, slots=True)
class FacilityDayRow:
    """Places offered and taken by the plan at one facility, for one service, on one local day."""

    facility_id: str
    district: str
    service: str
    day: str
    capacity: int
    used: int
    fill: float


@dataclass(frozen=True, slots=True)
class Tables:
    """The three tables of a batch."""

    patients: tuple[PatientRow, ...]
    stages: tuple[StageRow, ...]
    facility_days: tuple[FacilityDayRow, ...]


NO_VALUE = "—"
"""The key of a row whose pathway, district or facility is not known."""


def _days(route: RouteResult) -> float | None:
    if not route.has_route or route.objective is None:
        return None
    return round(route.objective.completion_minutes / 1440, 3)


def outcome_of(route: RouteResult, at_risk_slack: int = AT_RISK_SLACK) -> Outcome:
    """The patient's outcome (see the module docstring)."""
    if not route.has_route:
        return Outcome.UNPLANNED
    soft = [d for d in route.deadlines if not d.hard]
    if any(not d.met for d in soft):
        return Outcome.MISSED
    if any(d.slack <= at_risk_slack for d in soft):
        return Outcome.AT_RISK
    return Outcome.MET


def _patient_row(
    route: RouteResult,
    fcfs: RouteResult,
    alone: RouteResult,
    district: str | None,
    at_risk_slack: int,
) -> PatientRow:
    soft = [d for d in route.deadlines if not d.hard] if route.has_route else []
    ordered = sorted(route.bookings, key=lambda b: (b.start, b.end, b.stage_id))
    return PatientRow(
        request_id=route.request_id,
        patient_id=route.patient_id,
        pathway_id=route.pathway_id or NO_VALUE,
        district=district or NO_VALUE,
        status=route.status.value,
        outcome=outcome_of(route, at_risk_slack).value,
        deadlines_measured=len(soft),
        deadlines_missed=sum(not d.met for d in soft),
        min_slack=min((d.slack for d in soft), default=None),
        completion_days=_days(route),
        fcfs_completion_days=_days(fcfs),
        bound_completion_days=_days(alone),
        first_facility=ordered[0].facility_id if ordered else NO_VALUE,
        last_facility=ordered[-1].facility_id if ordered else NO_VALUE,
        stages=len(ordered),
    )


def stage_rows(route: RouteResult, zone: tzinfo) -> list[StageRow]:
    """The booked stages of ``route`` as rows, in time order (local days in ``zone``)."""
    waits = {w.stage_id: w for w in route.waits}
    rows = []
    for b in sorted(route.bookings, key=lambda b: (b.start, b.end, b.stage_id)):
        wait = waits.get(b.stage_id)
        rows.append(
            StageRow(
                request_id=route.request_id,
                patient_id=route.patient_id,
                stage_id=b.stage_id,
                facility_id=b.facility_id,
                service=str(b.service),
                day=b.start.astimezone(zone).date().isoformat(),
                start=b.start.isoformat(),
                end=b.end.isoformat(),
                mode=b.mode.value,
                wait_minutes=None if wait is None else wait.wait_minutes,
                critical=False if wait is None else wait.critical,
            )
        )
    return rows


def facility_day_rows(
    index: SlotIndex,
    used: Mapping[str, int],
    offered: Mapping[str, int] | None = None,
) -> tuple[FacilityDayRow, ...]:
    """Places offered and taken per facility, service and local day.

    Parameters
    ----------
    index
        The slots and facilities.
    used
        Places taken, by slot id (a slot not named: none).
    offered
        Places offered, by slot id (a slot not named: its capacity); a facility, service and
        day that offers no place and has none taken gets no row.
    """
    zone = index.calendar.zone
    capacity: Counter[tuple[str, str, date]] = Counter()
    taken: Counter[tuple[str, str, date]] = Counter()
    for slot in index.slots:
        key = (slot.facility_id, str(slot.service), slot.start.astimezone(zone).date())
        places = slot.capacity if offered is None else offered.get(slot.id, slot.capacity)
        capacity[key] += max(places, used.get(slot.id, 0))
        taken[key] += used.get(slot.id, 0)
    district = {f.id: f.district or NO_VALUE for f in index.facilities}
    return tuple(
        FacilityDayRow(
            facility_id=facility,
            district=district.get(facility, NO_VALUE),
            service=service,
            day=day.isoformat(),
            capacity=capacity[key],
            used=taken[key],
            fill=round(taken[key] / capacity[key], 4),
        )
        for key in sorted(capacity)
        if capacity[key] > 0
        for facility, service, day in (key,)
    )


def build_tables(
    result: BatchResult,
    index: SlotIndex,
    *,
    districts: Mapping[str, str | None] | None = None,
    at_risk_slack: int = AT_RISK_SLACK,
) -> Tables:
    """The patient, stage and facility-day tables of a batch.

    Parameters
    ----------
    result
        The batch, planned over ``index``.
    index
        Its slots and facilities.
    districts
        Each request's patient's home district, by request id (:attr:`Patient.district`); a
        missing one is shown as ``"—"``.
    at_risk_slack
        A met deadline with at most this slack puts the patient at risk.

    Returns
    -------
    Tables
        One patient row per request in the input order, the booked stages of every planned
        route, and one row per facility, service and local day that has slots.
    """
    districts = districts or {}
    patients = tuple(
        _patient_row(r, f, a, districts.get(r.request_id), at_risk_slack)
        for r, f, a in zip(result.routes, result.fcfs_routes, result.alone_routes, strict=True)
    )
    stages = tuple(
        row for r in result.routes if r.has_route for row in stage_rows(r, index.calendar.zone)
    )
    used = Counter(b.slot_id for r in result.routes if r.has_route for b in r.bookings)
    return Tables(patients=patients, stages=stages, facility_days=facility_day_rows(index, used))


def _columns(row_type: type[Any]) -> list[str]:
    return [f.name for f in fields(row_type)]


def csv_text(rows: Sequence[Any], row_type: type[Any]) -> str:
    """The rows of one table as CSV text with a header (``None`` as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_columns(row_type))
    for row in rows:
        writer.writerow(["" if v is None else v for v in astuple(row)])
    return buffer.getvalue()


_ARROW_TYPES = {
    "str": "string",
    "int": "int64",
    "int | None": "int64",
    "float": "float64",
    "float | None": "float64",
    "bool": "bool_",
}


def parquet_available() -> bool:
    """Whether :func:`parquet_bytes` can write Parquet (``pyarrow`` is installed)."""
    return importlib.util.find_spec("pyarrow") is not None


def parquet_bytes(rows: Sequence[Any], row_type: type[Any]) -> bytes:
    """The rows of one table as a Parquet file, one typed column per field (nulls allowed).

    Raises
    ------
    ImportError
        If ``pyarrow`` is not installed (the ``report`` extra).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [(f.name, getattr(pa, _ARROW_TYPES[str(f.type)])()) for f in fields(row_type)]
    )
    columns = list(zip(*(astuple(row) for row in rows), strict=True)) or [()] * len(schema)
    table = pa.Table.from_arrays(
        [pa.array(list(c), type=t) for c, t in zip(columns, schema.types, strict=True)],
        schema=schema,
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
