"""The problem file: facilities, slots, route requests, extra pathways and travel in one document.

A problem is a JSON object::

    {"format_version": 1, "timezone": "Europe/Moscow",
     "facilities": [...], "slots": [...], "requests": [...],
     "pathways": [...], "travel": {...}}

``timezone``, ``pathways`` and ``travel`` are optional. Every datetime must carry its offset,
unless the document gives ``timezone`` (or the caller passes ``naive_timezone``): then a naive
value is read as local time in that zone. Nothing is ever read as UTC by default.

Each record checks its own fields; the references between records are checked once, here, by
:class:`Problem`. Built-in pathway ids named by ``pathway_id`` are left to the caller (this module
does not read the catalogue).

Two ways to read a problem
--------------------------
:func:`load_problem` is all-or-nothing: any issue raises :class:`InvalidProblemError` listing
every issue (for a service that wants a valid document or none).
:func:`routing.reading.read_problem` keeps the
good records: it returns the problem built from the records that are valid, with an issue for
each record left out, and a record that refers to a rejected one (a slot of a rejected facility,
a request naming a rejected pathway or slot) is itself left out with its own issue. Only a
document that cannot be read at all (not JSON, not an object, a wrong ``format_version`` or
``timezone``) raises.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from nosology.pathway import FrozenModel, Pathway
from routing.domain import Facility, RouteRequest, Slot, TravelModel, record_name
from routing.domain.common import NAIVE_TIMEZONE_KEY, TimezoneName, resolve_timezone
from routing.domain.issues import issues_from_validation_error
from routing.exceptions import InvalidInputError, InvalidProblemError

__all__ = [
    "FORMAT_VERSION",
    "Problem",
    "dump_problem",
    "load_problem",
    "parse_json_document",
    "problem_json_schema",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""The version of the problem format this module reads and writes."""

_COLLECTIONS = {
    "facilities": "facility",
    "slots": "slot",
    "requests": "request",
    "pathways": "pathway",
}
_JSON_SCALAR = re.compile(
    r"^(true|false|null|NaN|-?Infinity|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)$"
)


class Problem(FrozenModel):
    """A routing problem: where care is given, the free slots, and whom to route.

    Attributes
    ----------
    format_version
        Always 1.
    timezone
        The IANA zone in which :func:`load_problem` reads naive datetimes, if any.
    facilities, slots, requests
        The records; ids are unique within each.
    pathways
        Pathways besides the built-in catalogue; ids unique.
    travel
        How travel time between facilities is estimated.
    """

    format_version: Literal[1]
    timezone: TimezoneName | None = None
    facilities: tuple[Facility, ...]
    slots: tuple[Slot, ...]
    requests: tuple[RouteRequest, ...]
    pathways: tuple[Pathway, ...] = ()
    travel: TravelModel = Field(default_factory=TravelModel)

    _facilities: dict[str, Facility] = PrivateAttr(default_factory=dict)
    _slots: dict[str, Slot] = PrivateAttr(default_factory=dict)
    _requests: dict[str, RouteRequest] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        issues = list(_reference_issues(self))
        if issues:
            raise InvalidProblemError(issues)
        return self

    def model_post_init(self, context: Any, /) -> None:
        """Index the records by id (the ids are unique once validation has passed)."""
        self._facilities = {f.id: f for f in self.facilities}
        self._slots = {s.id: s for s in self.slots}
        self._requests = {r.id: r for r in self.requests}

    def __hash__(self) -> int:
        return hash((self.timezone, self.facilities, self.slots, self.requests, self.pathways))

    def facility(self, facility_id: str) -> Facility:
        """The facility with this id; :class:`KeyError` naming it if there is none."""
        try:
            return self._facilities[facility_id]
        except KeyError:
            raise KeyError(f"no facility {facility_id!r}") from None

    def slot(self, slot_id: str) -> Slot:
        """The slot with this id; :class:`KeyError` naming it if there is none."""
        try:
            return self._slots[slot_id]
        except KeyError:
            raise KeyError(f"no slot {slot_id!r}") from None

    def request(self, request_id: str) -> RouteRequest:
        """The request with this id; :class:`KeyError` naming it if there is none."""
        try:
            return self._requests[request_id]
        except KeyError:
            raise KeyError(f"no request {request_id!r}") from None


def _duplicates(collection: str, ids: Sequence[str]) -> Iterator[InvalidInputError]:
    first: dict[str, int] = {}
    for index, record_id in enumerate(ids):
        if record_id in first:
            noun = _COLLECTIONS[collection]
            yield InvalidInputError(
                record_name(noun, record_id),
                "id",
                f"the id is used twice (first by {collection}[{first[record_id]}])",
            )
        else:
            first[record_id] = index


def _reference_issues(problem: Problem) -> Iterator[InvalidInputError]:
    """Every broken reference between the records of ``problem``, in document order."""
    yield from _duplicates("facilities", [f.id for f in problem.facilities])
    yield from _duplicates("slots", [s.id for s in problem.slots])
    yield from _duplicates("requests", [r.id for r in problem.requests])
    yield from _duplicates("pathways", [p.id for p in problem.pathways])
    facilities = {f.id for f in problem.facilities}
    slots = {s.id for s in problem.slots}
    for slot in problem.slots:
        if slot.facility_id not in facilities:
            yield InvalidInputError(
                record_name("slot", slot.id),
                "facility_id",
                f"unknown facility {slot.facility_id!r}",
            )
    for request in problem.requests:
        record = record_name("request", request.id)
        patient = request.patient
        for unknown in sorted((patient.allowed_facilities or frozenset()) - facilities):
            yield InvalidInputError(
                record, "patient.allowed_facilities", f"unknown facility {unknown!r}"
            )
        for unknown in [f for f in patient.preferred_facilities if f not in facilities]:
            yield InvalidInputError(
                record, "patient.preferred_facilities", f"unknown facility {unknown!r}"
            )
        for stage_id, slot_id in request.existing_bookings.items():
            if slot_id not in slots:
                yield InvalidInputError(
                    record, f"existing_bookings.{stage_id}", f"unknown slot {slot_id!r}"
                )
    for origin, row in problem.travel.matrix.items():
        if origin not in facilities:
            yield InvalidInputError("travel", f"matrix.{origin}", "unknown facility")
        for target in row:
            if target not in facilities:
                yield InvalidInputError("travel", f"matrix.{origin}.{target}", "unknown facility")


_MAX_DIGITS = 40
"""The most digits a JSON number may have (no field takes more than a few)."""


class _DocumentError(Exception):
    """Raised inside the JSON hooks; turned into an :class:`InvalidInputError` by the caller."""


@cache
def _field_names() -> frozenset[str]:
    """Every field name of the problem format (the only keys a message may show)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(Problem.model_json_schema())
    return frozenset(names)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Other keys (a reference-date key, say) may be personal data: not shown.
            shown = repr(key) if key in _field_names() else "a key"
            raise _DocumentError(f"a JSON object has {shown} twice")
        result[key] = value
    return result


def _number(text: str) -> int | float:
    if len(text.lstrip("-").replace(".", "").split("e")[0].split("E")[0]) > _MAX_DIGITS:
        raise _DocumentError(f"a number with more than {_MAX_DIGITS} digits")
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def _constant(name: str) -> float:
    raise _DocumentError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def parse_json_document(text: str | bytes, *, label: str = "problem") -> Any:
    """Parse the JSON text of a problem (or slots) document, strictly.

    Duplicate keys, ``NaN`` and ``Infinity``, numbers of more than 40 digits and nesting too deep
    for the parser are errors, as are empty text and bytes that are not UTF-8 (named by their
    offset, never shown).

    Parameters
    ----------
    text
        The document, as text or as the bytes of a file.
    label
        How messages name the document (a file name, or ``"problem"``).

    Raises
    ------
    InvalidInputError
        Naming ``label``, the line and column where it can, and what is wrong.

    Examples
    --------
    >>> parse_json_document('{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
    >>> parse_json_document('{"capacity": NaN}')
    Traceback (most recent call last):
    ...
    routing.exceptions.InvalidInputError: problem: not valid JSON: NaN is not a JSON number (JSON has no NaN or Infinity)
    """  # noqa: E501
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            reason = f"not UTF-8 text (an invalid byte at offset {error.start})"
            raise InvalidInputError(label, "", reason) from None
    if not text.strip():
        raise InvalidInputError(label, "", "empty: expected a JSON object")
    if "\x00" in text:
        offset = text.index("\x00")
        raise InvalidInputError(label, "", f"not valid JSON: a NUL character at offset {offset}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_int=_number,
            parse_float=_number,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as error:
        reason = f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        raise InvalidInputError(label, "", reason) from None
    except _DocumentError as error:
        raise InvalidInputError(label, "", f"not valid JSON: {error}") from None
    except RecursionError:
        raise InvalidInputError(label, "", "not valid JSON: nested too deeply") from None
    except ValueError:
        raise InvalidInputError(label, "", "not valid JSON") from None


def _parse_json(text: str) -> Any:
    return parse_json_document(text)


def _read(source: str | Path | Mapping[str, Any]) -> Any:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, str):
        stripped = source.strip()
        if not stripped or stripped[0] in '{["' or _JSON_SCALAR.match(stripped):
            return _parse_json(source)
        source = Path(source)
    if isinstance(source, Path):
        return parse_json_document(source.read_bytes(), label=source.name or "problem")
    raise TypeError("a problem is a path, JSON text or a mapping")


def _naive_zone(raw: Mapping[str, Any], naive_timezone: str | None) -> ZoneInfo | None:
    """The zone for naive datetimes: the document's ``timezone`` if valid, else the caller's."""
    if naive_timezone is not None:
        try:
            fallback = resolve_timezone(naive_timezone)
        except ValueError as error:
            raise InvalidInputError("load_problem", "naive_timezone", str(error)) from None
    else:
        fallback = None
    given = raw.get("timezone")
    if isinstance(given, str):
        try:
            return resolve_timezone(given)
        except ValueError:
            pass  # validation reports the field
    return fallback


def load_problem(
    source: str | Path | Mapping[str, Any], *, naive_timezone: str | None = None
) -> Problem:
    """Read and validate a problem.

    Parameters
    ----------
    source
        A path to a JSON file, JSON text (a string that starts with ``{``), or the parsed mapping.
    naive_timezone
        The IANA zone for naive datetimes when the document gives no ``timezone`` (the document's
        own ``timezone`` wins). Without either, a naive datetime is an error.

    Returns
    -------
    Problem
        The validated problem.

    Raises
    ------
    InvalidProblemError
        Listing every issue, each naming the record (by id, else by position) and the field.
    InvalidInputError
        If the text is not JSON, not an object, or ``naive_timezone`` is not a known zone.
    OSError
        If a file cannot be read.

    Examples
    --------
    >>> problem = load_problem('{"format_version": 1, "facilities": [], "slots": [], '
    ...                        '"requests": []}')
    >>> len(problem.slots)
    0
    """
    raw = _read(source)
    if not isinstance(raw, Mapping):
        raise InvalidInputError("problem", "", "expected a JSON object with the problem's fields")
    zone = _naive_zone(raw, naive_timezone)
    context = {NAIVE_TIMEZONE_KEY: zone} if zone is not None else None
    try:
        problem = Problem.model_validate(dict(raw), context=context)
    except ValidationError as error:
        raise issues_from_validation_error(error, raw, _COLLECTIONS) from error
    logger.debug(
        "loaded a problem: %d facilities, %d slots, %d requests, %d pathways",
        len(problem.facilities),
        len(problem.slots),
        len(problem.requests),
        len(problem.pathways),
    )
    return problem


def dump_problem(problem: Problem) -> str:
    """The problem as JSON text with sorted keys; ``load_problem(dump_problem(p)) == p``.

    Every datetime is written with its UTC offset, so the text never depends on ``timezone``.
    """
    data = problem.model_dump(mode="json")
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def problem_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the problem document, for clients in other languages."""
    schema = Problem.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
