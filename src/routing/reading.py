"""Reading a problem record by record: the good records are used, each bad one is reported.

:func:`read_problem` is the forgiving reader beside the all-or-nothing
:func:`~routing.problem.load_problem`. Each facility, slot, pathway and request is validated on
its own; a bad one is left out with an issue naming it (by id, else by position) and the field.
A record that refers to a left-out or missing one (a slot of a rejected facility, a request whose
facility, booked slot or pathway was rejected) is left out too, with its own issue. Only a
document that cannot be read at all raises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from nosology.pathway import Pathway
from routing.domain import Facility, RouteRequest, Slot, TravelModel, record_name
from routing.domain.common import NAIVE_TIMEZONE_KEY, resolve_timezone
from routing.domain.issues import issues_from_validation_error
from routing.exceptions import InvalidInputError
from routing.problem import _COLLECTIONS, FORMAT_VERSION, Problem, _naive_zone, _read

__all__ = ["ProblemReading", "read_problem"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProblemReading:
    """A problem read record by record: what could be used, and what was left out and why.

    Attributes
    ----------
    problem
        The problem built from the valid records (and the records they need).
    issues
        One issue per problem found, in document order: facilities, slots, pathways, requests,
        travel. Each names the record (by id, else by position) and the field; the offending value
        is on the issue's ``value`` attribute, never in its message.
    rejected
        Collection → the number of its records left out.
    """

    problem: Problem
    issues: tuple[InvalidInputError, ...]
    rejected: Mapping[str, int]

    @property
    def complete(self) -> bool:
        """Whether every record was used (no issue)."""
        return not self.issues


_MODELS: dict[str, type[BaseModel]] = {
    "facilities": Facility,
    "slots": Slot,
    "pathways": Pathway,
    "requests": RouteRequest,
}
_KNOWN_KEYS = frozenset({"format_version", "timezone", "travel", *_MODELS})


class _Reader:
    """Validate the records of a raw document one by one, keeping the good ones."""

    def __init__(self, raw: Mapping[str, Any], context: dict[str, Any] | None) -> None:
        self.raw = raw
        self.context = context
        self.issues: list[InvalidInputError] = []
        self.rejected: dict[str, int] = dict.fromkeys(_MODELS, 0)
        self.failed_ids: dict[str, set[str]] = {key: set() for key in _MODELS}

    def records(self, key: str) -> dict[str, Any]:
        """The valid records of collection ``key`` by id (the first of a repeated id wins)."""
        noun, model = _COLLECTIONS[key], _MODELS[key]
        items = self.raw.get(key, [])
        if not isinstance(items, list):
            self.issues.append(InvalidInputError("problem", key, "expected a list of records"))
            return {}
        kept: dict[str, Any] = {}
        first: dict[str, int] = {}
        for n, item in enumerate(items):
            raw_id = item.get("id") if isinstance(item, Mapping) else None
            name = record_name(noun, raw_id)
            if name == noun:
                name = f"{key}[{n}]"
            try:
                record = model.model_validate(item, context=self.context)
            except ValidationError as error:
                found = issues_from_validation_error(error, item, {}, root=name).issues
                self._reject(key, raw_id, found)
                continue
            except InvalidInputError as error:
                self._reject(key, raw_id, [error])
                continue
            record_id: str = record.id  # type: ignore[attr-defined]
            if record_id in first:
                reason = f"the id is used twice (first by {key}[{first[record_id]}])"
                self._reject(key, None, [InvalidInputError(name, "id", reason)])
                continue
            first[record_id] = n
            kept[record_id] = record
        return kept

    def _reject(self, key: str, raw_id: object, issues: Sequence[InvalidInputError]) -> None:
        self.issues.extend(issues)
        self.rejected[key] += 1
        if isinstance(raw_id, str):
            self.failed_ids[key].add(raw_id)

    def drop(self, key: str, record_id: str, field: str, reason: str) -> None:
        """Leave out a valid record because of what it refers to."""
        record = record_name(_COLLECTIONS[key], record_id)
        self.issues.append(InvalidInputError(record, field, reason))
        self._reject(key, record_id, [])

    def missing(self, key: str, record_id: str) -> str:
        """Why a referenced id of collection ``key`` is not there."""
        noun = _COLLECTIONS[key]
        if record_id in self.failed_ids[key]:
            return f"{noun} {record_id!r} was rejected"
        return f"unknown {noun} {record_id!r}"


def _request_problem(
    request: RouteRequest, reader: _Reader, facilities: Mapping[str, Any], slots: Mapping[str, Any]
) -> tuple[str, str] | None:
    """The first broken reference of a request: ``(field, reason)``, or ``None``."""
    patient = request.patient
    unknown = sorted((patient.allowed_facilities or frozenset()) - facilities.keys())
    if unknown:
        return "patient.allowed_facilities", reader.missing("facilities", unknown[0])
    for position, preferred in enumerate(patient.preferred_facilities):
        if preferred not in facilities:
            field = f"patient.preferred_facilities.{position}"
            return field, reader.missing("facilities", preferred)
    for stage_id, slot_id in request.existing_bookings.items():
        if slot_id not in slots:
            return f"existing_bookings.{stage_id}", reader.missing("slots", slot_id)
    if request.pathway is None and request.pathway_id in reader.failed_ids["pathways"]:
        return "pathway_id", reader.missing("pathways", request.pathway_id)
    return None


def _travel(reader: _Reader, facilities: Mapping[str, Any]) -> TravelModel:
    raw = reader.raw.get("travel")
    if raw is None:
        return TravelModel()
    try:
        travel = TravelModel.model_validate(raw)
    except ValidationError as error:
        found = issues_from_validation_error(error, raw, {}, root="travel").issues
        reader.issues.extend(found)
        return TravelModel()
    matrix: dict[str, dict[str, int]] = {}
    for origin, row in travel.matrix.items():
        if origin not in facilities:
            reason = reader.missing("facilities", origin)
            reader.issues.append(InvalidInputError("travel", f"matrix.{origin}", reason))
            continue
        for target, minutes in row.items():
            if target not in facilities:
                reason = reader.missing("facilities", target)
                field = f"matrix.{origin}.{target}"
                reader.issues.append(InvalidInputError("travel", field, reason))
                continue
            matrix.setdefault(origin, {})[target] = minutes
    return travel.model_copy(update={"matrix": matrix})


def read_problem(
    source: str | Path | Mapping[str, Any], *, naive_timezone: str | None = None
) -> ProblemReading:
    """Read a problem record by record: the valid records, and an issue for each one left out.

    A record is left out when a field of it is bad, when its id repeats an earlier record's, or
    when it refers to a record that is missing or was left out (a slot of a rejected facility, a
    request whose allowed or preferred facility, booked slot or ``pathway_id`` was rejected).
    Travel-matrix entries of unknown facilities are dropped; a bad ``travel`` gives the default
    model. Unknown top-level fields are issues and are ignored.

    Parameters
    ----------
    source, naive_timezone
        As for :func:`~routing.problem.load_problem`.

    Returns
    -------
    ProblemReading
        The problem of the good records, the issues and the count left out per collection.

    Raises
    ------
    InvalidInputError
        Only when the document as a whole cannot be used: not JSON, not an object, a
        ``format_version`` other than 1, a ``timezone`` (or ``naive_timezone``) that is not a
        known zone.
    OSError
        If a file cannot be read.

    Examples
    --------
    >>> reading = read_problem({"format_version": 1, "facilities": [{"id": "F1", "name": "A",
    ...     "level": True}], "slots": [], "requests": []})
    >>> [(i.record, i.field, i.value) for i in reading.issues], reading.rejected["facilities"]
    ([("facility 'F1'", 'level', True)], 1)
    """
    raw = _read(source)
    if not isinstance(raw, Mapping):
        raise InvalidInputError("problem", "", "expected a JSON object with the problem's fields")
    version = raw.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        reason = f"expected {FORMAT_VERSION} (the only version this library reads)"
        raise InvalidInputError("problem", "format_version", reason)
    timezone = raw.get("timezone")
    if timezone is not None:
        try:
            if not isinstance(timezone, str):
                raise ValueError("expected an IANA time-zone name such as 'Europe/Moscow'")
            resolve_timezone(timezone)
        except ValueError as error:
            raise InvalidInputError("problem", "timezone", str(error)) from None
    zone = _naive_zone(raw, naive_timezone)
    reader = _Reader(raw, {NAIVE_TIMEZONE_KEY: zone} if zone is not None else None)
    for key in raw:
        if key not in _KNOWN_KEYS:
            shown = repr(key[:40]) if isinstance(key, str) and key.isprintable() else "a field"
            reader.issues.append(InvalidInputError("problem", "", f"unknown field {shown}"))
    facilities = reader.records("facilities")
    slots: dict[str, Slot] = {}
    for slot_id, slot in reader.records("slots").items():
        if slot.facility_id in facilities:
            slots[slot_id] = slot
        else:
            reason = reader.missing("facilities", slot.facility_id)
            reader.drop("slots", slot_id, "facility_id", reason)
    pathways = reader.records("pathways")
    requests: dict[str, RouteRequest] = {}
    for request_id, request in reader.records("requests").items():
        broken = _request_problem(request, reader, facilities, slots)
        if broken is None:
            requests[request_id] = request
        else:
            reader.drop("requests", request_id, *broken)
    problem = Problem(
        format_version=1,
        timezone=timezone,
        facilities=tuple(facilities.values()),
        slots=tuple(slots.values()),
        requests=tuple(requests.values()),
        pathways=tuple(pathways.values()),
        travel=_travel(reader, facilities),
    )
    if reader.issues:
        logger.info(
            "read a problem with %d issue(s); left out: %s",
            len(reader.issues),
            ", ".join(f"{n} {key}" for key, n in reader.rejected.items() if n) or "nothing",
        )
    return ProblemReading(problem, tuple(reader.issues), dict(reader.rejected))
