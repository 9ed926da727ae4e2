"""Slots and facilities from CSV files (UTF-8, a header row, one record a row).

Slots file (one row a slot)
---------------------------
=============  ========  ==================================================================
column         required  value
=============  ========  ==================================================================
slot_id        yes       unique in the file, no whitespace
facility_id    yes       the facility (in the facilities file, when one is given)
service        yes       ``system:code``, e.g. ``nmu:A06.09.005`` or ``fer:27``
start, end     yes       ISO 8601 date and time; without a UTC offset only when a
                         ``timezone`` is configured (then local time there)
capacity       no        a positive integer; 1 when empty
resource       no        the doctor, room or device
mode           no        ``in_person`` (when empty) or ``remote``
=============  ========  ==================================================================

Facilities file (one row a facility)
------------------------------------
=============  ========  ==================================================================
facility_id    yes       unique in the file
name           yes       display name
level          yes       1, 2 or 3
lat, lon       no        decimal degrees (WGS 84), both or neither
district       no        the district
services       no        ``system:code`` values separated by ``;``
=============  ========  ==================================================================

A header with a missing required column or an unknown column raises an
:class:`InvalidInputError` naming them. A bad row becomes a :class:`SourceIssue` naming the file
and its line (``"slots.csv line 12"``) and the column; the other rows load.

Quotes are read strictly: a quote that is never closed, a quote inside a field that is not quoted
(``ab"c``), or a quoted field that swallows whole rows is an issue on the line where the row
starts, and reading resumes on the next line, so no later row is lost. A quoted field may still
span lines when the row comes out well formed. Datetimes without offset and no ``timezone`` raise
one :class:`~routing.exceptions.NaiveDatetimeError` for the file, not an issue a row.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from nosology.pathway import ServiceRef, VisitMode
from routing.adapters.source import SlotBatch, SourceIssue, check_window, select_slots
from routing.domain import Facility, GeoPoint, Slot, resolve_timezone
from routing.exceptions import InvalidInputError, NaiveDatetimeError

__all__ = [
    "FACILITY_COLUMNS",
    "SLOT_COLUMNS",
    "CsvSource",
    "read_facilities_csv",
    "read_slots_csv",
]

logger = logging.getLogger(__name__)

SLOT_COLUMNS: Mapping[str, bool] = {
    "slot_id": True,
    "facility_id": True,
    "service": True,
    "start": True,
    "end": True,
    "capacity": False,
    "resource": False,
    "mode": False,
}
"""Slots-file column → whether it is required."""

FACILITY_COLUMNS: Mapping[str, bool] = {
    "facility_id": True,
    "name": True,
    "level": True,
    "lat": False,
    "lon": False,
    "district": False,
    "services": False,
}
"""Facilities-file column → whether it is required."""

_INTEGER = re.compile(r"[0-9]{1,9}")

_SLOT_FIELDS = {"id": "slot_id"}
_FACILITY_FIELDS = {"id": "facility_id", "location": "lat"}
"""Model field → the column it comes from, where the names differ."""

CsvInput = Path | str | TextIO
"""A path (``Path`` or ``str``) or an open text stream."""


class _RowError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class _NaiveError(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


_NAIVE_REASON = (
    "datetimes without a UTC offset (the first on {record}) and no time zone to read them in: "
    "pass the zone (routing slots import --timezone Europe/Moscow) or add offsets (+03:00); "
    "nothing of this file was used"
)


def _label(source: CsvInput) -> str:
    if isinstance(source, str | Path):
        return Path(source).name
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) else "csv"


def _rows(
    source: CsvInput,
    columns: Mapping[str, bool],
    label: str,
    delimiter: str,
    issues: list[SourceIssue],
    origin: str,
) -> Iterator[tuple[str, dict[str, str]]]:
    """``(record label, row)`` for every well-formed data row; a header error raises.

    A quoted field may span lines, but a quote that is never closed, a stray quote, or a quoted
    field that swallows lines into a row of the wrong width is an issue naming the line the row
    starts on, and reading resumes on the next line: no later row is lost inside a quoted field.
    """
    if isinstance(source, str | Path):
        with Path(source).open(encoding="utf-8-sig", newline="") as stream:
            yield from _rows(stream, columns, label, delimiter, issues, origin)
        return
    try:
        lines = list(source)
    except UnicodeDecodeError as error:
        reason = f"the file is not UTF-8 text (an invalid byte at offset {error.start})"
        raise InvalidInputError(label, "", reason) from None
    cursor = _Cursor(lines)
    reader = csv.reader(cursor, delimiter=delimiter, strict=True)
    names: list[str] | None = None
    while cursor.position < len(lines):
        line = cursor.position + 1
        problem: str | None = None
        try:
            row = next(reader, None)
        except csv.Error as exc:
            row, problem = None, str(exc)[:120]
        if names is None:
            if problem is not None:
                raise InvalidInputError(label, "header", f"line {line}: not readable as CSV")
            if row is None:
                break
            names = [name.strip().lstrip("\ufeff") for name in row]
            _check_header(names, columns, label)
            continue
        record = f"{label} line {line}"
        spans = cursor.position > line
        if problem is None and row is not None and spans:
            problem = _swallowed(row, len(names), delimiter)
        if problem is None and row is not None and any('"' in cell for cell in row):
            problem = _stray_quote(row, "".join(lines[line - 1 : cursor.position]))
        if problem is not None or (row is not None and spans and len(row) != len(names)):
            reason = problem or "a quoted field runs over lines into a row of the wrong width"
            reason = f"an unbalanced or stray quote ({reason}); read on from line {line + 1}"
            issues.append(SourceIssue(source=origin, record=record, field="", reason=reason[:300]))
            cursor.position = line  # the next physical line: nothing after it is swallowed
            reader = csv.reader(cursor, delimiter=delimiter, strict=True)
            continue
        if row is None or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            reason = f"expected {len(names)} fields, found {len(row)}"
            issues.append(SourceIssue(source=origin, record=record, field="", reason=reason))
            continue
        yield record, {name: cell.strip() for name, cell in zip(names, row, strict=True)}
    if names is None:
        raise InvalidInputError(label, "header", "the file is empty; expected a header row")


def _swallowed(row: Sequence[str], width: int, delimiter: str) -> str | None:
    """Why a row spanning lines looks like rows swallowed by an open quote, or ``None``."""
    for cell in row:
        for embedded in cell.split("\n")[1:]:
            if width > 1 and embedded.count(delimiter) >= width - 1:
                return "a quoted field holds whole rows"
    return None


def _stray_quote(row: Sequence[str], raw: str) -> str | None:
    """Why a row holds a quote outside a quoted field (``ab"c``), or ``None``.

    A cell with a quote is fine only when the raw text holds it quoted, its quotes doubled.
    """
    for cell in row:
        if '"' in cell and '"' + cell.replace('"', '""') + '"' not in raw:
            return "a quote inside a field that is not quoted"
    return None


class _Cursor:
    """The physical lines of a file, read one by one from a position that can be moved."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines
        self.position = 0

    def __iter__(self) -> _Cursor:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]


def _check_header(names: Sequence[str], columns: Mapping[str, bool], label: str) -> None:
    duplicated = sorted({n for n in names if names.count(n) > 1})
    missing = [c for c, required in columns.items() if required and c not in names]
    unknown = [n for n in names if n not in columns]
    problems = []
    if missing:
        problems.append("missing column(s) " + ", ".join(missing))
    if unknown:
        problems.append("unknown column(s) " + ", ".join(repr(n[:40]) for n in unknown[:10]))
    if duplicated:
        problems.append("repeated column(s) " + ", ".join(repr(n[:40]) for n in duplicated[:10]))
    if problems:
        expected = ", ".join(columns)
        raise InvalidInputError(label, "header", f"{'; '.join(problems)} (columns: {expected})")


def _instant(row: Mapping[str, str], name: str, zone: tzinfo | None) -> datetime:
    value = row[name]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) <= 10:
        raise _RowError(name, "expected an ISO 8601 date and time, e.g. 2026-05-12T09:30+03:00")
    if parsed.tzinfo is None:
        if zone is None:
            raise _NaiveError(name)
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _service(value: str, name: str, cache: dict[str, ServiceRef]) -> ServiceRef:
    found = cache.get(value)
    if found is None:
        try:
            found = ServiceRef.model_validate(value)
        except ValidationError:
            raise _RowError(name, "expected 'system:code', e.g. 'nmu:A06.09.005'") from None
        cache[value] = found
    return found


def _first_error(
    error: ValidationError | InvalidInputError, columns: Mapping[str, str]
) -> tuple[str, str]:
    """The column and reason of the first error a model raised for a row."""
    if isinstance(error, InvalidInputError):
        return columns.get(error.field, error.field), error.reason
    details = error.errors(include_url=False, include_input=False)
    if not details:
        return "", "invalid"
    cause = details[0].get("ctx", {}).get("error")
    if isinstance(cause, InvalidInputError):
        return columns.get(cause.field, cause.field), cause.reason
    field = str(details[0]["loc"][0]) if details[0]["loc"] else ""
    return columns.get(field, field), details[0]["msg"]


def _zone(timezone: str | None) -> tzinfo | None:
    if timezone is None:
        return None
    try:
        return resolve_timezone(timezone)
    except ValueError as error:
        raise InvalidInputError("csv", "timezone", str(error)) from None


def read_slots_csv(
    source: CsvInput,
    *,
    timezone: str | None = None,
    delimiter: str = ",",
    origin: str | None = None,
) -> tuple[list[Slot], list[SourceIssue]]:
    """The slots of a slots file, and an issue for every bad row.

    Parameters
    ----------
    source
        A path or an open text stream.
    timezone
        IANA zone in which datetimes without offset are read; ``None`` rejects them.
    delimiter
        The field separator.
    origin
        The source name issues carry (default ``"csv:<file name>"``).

    Raises
    ------
    NaiveDatetimeError
        Once for the file, at the first datetime without offset when ``timezone`` is ``None``.
    InvalidInputError
        If the header lacks a required column or has an unknown one, the file is empty or not
        UTF-8, or ``timezone`` is unknown.
    """
    zone = _zone(timezone)
    label = _label(source)
    origin = origin or f"csv:{label}"
    issues: list[SourceIssue] = []
    slots: list[Slot] = []
    first_line: dict[str, str] = {}
    services: dict[str, ServiceRef] = {}
    for record, row in _rows(source, SLOT_COLUMNS, label, delimiter, issues, origin):
        try:
            slot_id = row["slot_id"]
            if slot_id in first_line:
                raise _RowError("slot_id", f"the id is used twice (first on {first_line[slot_id]})")
            slot = Slot(
                id=slot_id,
                facility_id=row["facility_id"],
                service=_service(row["service"], "service", services),
                start=_instant(row, "start", zone),
                end=_instant(row, "end", zone),
                capacity=_integer(row.get("capacity") or "1", "capacity"),
                resource=row.get("resource") or None,
                mode=_mode(row.get("mode") or ""),
            )
        except _RowError as error:
            issues.append(_row_issue(origin, record, error.field, error.reason))
            continue
        except _NaiveError as error:
            reason = _NAIVE_REASON.format(record=record)
            raise NaiveDatetimeError(label, error.field, reason) from None
        except (ValidationError, InvalidInputError) as error:
            field, reason = _first_error(error, _SLOT_FIELDS)
            issues.append(_row_issue(origin, record, field, reason))
            continue
        first_line[slot_id] = record
        slots.append(slot)
    logger.debug("%s: %d slots, %d issues", origin, len(slots), len(issues))
    return slots, issues


def read_facilities_csv(
    source: CsvInput,
    *,
    delimiter: str = ",",
    origin: str | None = None,
) -> tuple[list[Facility], list[SourceIssue]]:
    """The facilities of a facilities file, and an issue for every bad row.

    Raises
    ------
    InvalidInputError
        If the header lacks a required column or has an unknown one, or the file is empty or
        not UTF-8.
    """
    label = _label(source)
    origin = origin or f"csv:{label}"
    issues: list[SourceIssue] = []
    facilities: list[Facility] = []
    first_line: dict[str, str] = {}
    cache: dict[str, ServiceRef] = {}
    for record, row in _rows(source, FACILITY_COLUMNS, label, delimiter, issues, origin):
        try:
            facility_id = row["facility_id"]
            if facility_id in first_line:
                reason = f"the id is used twice (first on {first_line[facility_id]})"
                raise _RowError("facility_id", reason)
            facility = Facility(
                id=facility_id,
                name=row["name"],
                level=_integer(row["level"], "level"),
                location=_location(row),
                district=row.get("district") or None,
                services=tuple(
                    _service(part.strip(), "services", cache)
                    for part in (row.get("services") or "").split(";")
                    if part.strip()
                ),
            )
        except _RowError as error:
            issues.append(_row_issue(origin, record, error.field, error.reason))
            continue
        except (ValidationError, InvalidInputError) as error:
            field, reason = _first_error(error, _FACILITY_FIELDS)
            issues.append(_row_issue(origin, record, field, reason))
            continue
        first_line[facility_id] = record
        facilities.append(facility)
    logger.debug("%s: %d facilities, %d issues", origin, len(facilities), len(issues))
    return facilities, issues


def _integer(value: str, name: str) -> int:
    if _INTEGER.fullmatch(value) is None:
        raise _RowError(name, "expected a whole number")
    return int(value)


def _mode(value: str) -> VisitMode:
    if not value:
        return VisitMode.IN_PERSON
    if value not in (VisitMode.IN_PERSON.value, VisitMode.REMOTE.value):
        raise _RowError("mode", "expected 'in_person' or 'remote'")
    return VisitMode(value)


def _location(row: Mapping[str, str]) -> GeoPoint | None:
    lat, lon = row.get("lat") or "", row.get("lon") or ""
    if not lat and not lon:
        return None
    if not lat or not lon:
        raise _RowError("lat" if not lat else "lon", "give both lat and lon, or neither")
    try:
        return GeoPoint(lat=float(lat), lon=float(lon))
    except ValueError:
        reason = "expected decimal degrees: lat in [-90, 90], lon in [-180, 180]"
        raise _RowError("lat", reason) from None


def _row_issue(origin: str, record: str, field: str, reason: str) -> SourceIssue:
    return SourceIssue(source=origin, record=record, field=field, reason=reason[:300])


@dataclass(frozen=True)
class CsvSource:
    """A slots file and (optionally) a facilities file as a slot source.

    Slots at a facility the facilities file does not list are issues. The files are read on
    every :meth:`fetch`.

    Attributes
    ----------
    slots
        The slots file.
    facilities
        The facilities file, if any.
    timezone
        IANA zone for datetimes without offset; ``None`` rejects them.
    delimiter
        The field separator of both files.
    name
        The name issues carry (default ``"csv:<slots file name>"``).
    """

    slots: Path
    facilities: Path | None = None
    timezone: str | None = None
    delimiter: str = ","
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"csv:{self.slots.name}")

    def load(self) -> SlotBatch:
        """Every slot and facility of the files, with the issues."""
        slots, issues = read_slots_csv(
            self.slots, timezone=self.timezone, delimiter=self.delimiter, origin=self.name
        )
        facilities: list[Facility] = []
        if self.facilities is not None:
            facilities, facility_issues = read_facilities_csv(
                self.facilities, delimiter=self.delimiter, origin=self.name
            )
            issues = facility_issues + issues
            known = {f.id for f in facilities}
            unknown = [s for s in slots if s.facility_id not in known]
            for slot in unknown:
                issues.append(
                    SourceIssue(
                        source=self.name,
                        record=f"slot {slot.id!r}",
                        field="facility_id",
                        reason="not in the facilities file",
                    )
                )
            if unknown:
                slots = [s for s in slots if s.facility_id in known]
        return SlotBatch(facilities=tuple(facilities), slots=tuple(slots), issues=tuple(issues))

    def fetch(
        self,
        start: datetime,
        end: datetime,
        services: Collection[ServiceRef] | None = None,
    ) -> SlotBatch:
        """The slots starting in ``[start, end)`` (of ``services`` when given)."""
        check_window(start, end, record=self.name)
        batch = self.load()
        chosen = tuple(select_slots(batch.slots, start, end, services))
        return batch.model_copy(update={"slots": chosen})
