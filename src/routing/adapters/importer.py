"""Import slots from several files or servers at once, summarise them, write a slots file.

Each input names one source, recognised by its form:

========================================  ===================================================
input                                     source
========================================  ===================================================
``http://...`` or ``https://...``         a FHIR server (:class:`FhirRestSource`)
``slots.csv,facilities.csv``              a CSV pair (:class:`CsvSource`; the slots file is
                                          the one whose header has ``slot_id``)
a directory                               its ``slots.csv`` and ``facilities.csv``
``*.csv``                                 a slots file alone (facilities from other inputs)
``*.json`` holding a FHIR Bundle          a bundle (:class:`FhirBundleSource`)
``*.json`` holding a problem document     its facilities and slots (:class:`ProblemFileSource`)
========================================  ===================================================

The sources' batches are merged by :func:`routing.adapters.source.combine`. A source that fails
while reading becomes an issue; an input that names no usable source raises.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pydantic import NonNegativeInt, ValidationError

from nosology.pathway import FrozenModel, ServiceRef
from routing.adapters.csv_source import CsvSource
from routing.adapters.fhir import FhirBundleSource, FhirOptions, read_json
from routing.adapters.fhir_rest import FhirRestSource
from routing.adapters.source import (
    CombinedSource,
    SlotBatch,
    SlotSource,
    SourceIssue,
    check_window,
    combine,
    select_slots,
)
from routing.domain import Slot, resolve_timezone
from routing.domain.issues import issues_from_validation_error
from routing.exceptions import InvalidInputError
from routing.problem import Problem
from routing.reading import read_problem

__all__ = [
    "ProblemFileSource",
    "ServiceSummary",
    "import_sources",
    "slots_problem",
    "source_for",
    "summarize",
]

logger = logging.getLogger(__name__)

_COLLECTIONS = {"facilities": "facility", "slots": "slot"}


@dataclass(frozen=True)
class ProblemFileSource:
    """The facilities and slots of a problem file (its requests are ignored).

    The file is read record by record (:func:`~routing.problem.read_problem`): a bad facility or
    slot, and a slot of a rejected facility, is an issue naming it and its field; the rest is
    used. A file that cannot be read at all raises :class:`InvalidInputError`.
    """

    path: Path
    timezone: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"problem:{self.path.name}")

    def fetch(
        self,
        start: datetime,
        end: datetime,
        services: Collection[ServiceRef] | None = None,
    ) -> SlotBatch:
        """The problem's slots starting in ``[start, end)``, with all its facilities."""
        check_window(start, end, record=self.name)
        reading = read_problem(self.path, naive_timezone=self.timezone)
        problem = reading.problem
        chosen = tuple(select_slots(problem.slots, start, end, services))
        issues = tuple(
            SourceIssue.from_error(self.name, issue)
            for issue in reading.issues
            if not issue.record.startswith(("request", "pathway"))
        )
        return SlotBatch(facilities=problem.facilities, slots=chosen, issues=issues)


def _csv_pair(first: Path, second: Path, timezone: str | None) -> CsvSource:
    for path in (first, second):
        if not path.is_file():
            raise InvalidInputError(str(path.name), "", "no such file")
    if "slot_id" not in _header(first) and "slot_id" in _header(second):
        first, second = second, first
    return CsvSource(first, second, timezone=timezone)


def _header(path: Path) -> str:
    try:
        with path.open(encoding="utf-8-sig") as stream:
            return stream.readline()
    except UnicodeDecodeError:
        return ""


def source_for(spec: str, *, timezone: str | None = None) -> SlotSource:
    """The source an input names (see the module docstring).

    Raises
    ------
    InvalidInputError
        If the input names no file, directory or URL of a known kind.
    """
    options = FhirOptions(timezone=timezone)
    if spec.startswith(("http://", "https://")):
        return FhirRestSource(spec, options)
    parts = [part.strip() for part in spec.split(",")]
    if len(parts) == 2 and all(part.lower().endswith(".csv") for part in parts):
        return _csv_pair(Path(parts[0]), Path(parts[1]), timezone)
    path = Path(spec)
    if path.is_dir():
        slots, facilities = path / "slots.csv", path / "facilities.csv"
        missing = [p.name for p in (slots, facilities) if not p.is_file()]
        if missing:
            reason = f"the directory has no {' or '.join(missing)}"
            raise InvalidInputError(path.name or spec, "", reason)
        return CsvSource(slots, facilities, timezone=timezone, name=f"csv:{path.name}")
    if not path.is_file():
        raise InvalidInputError(path.name or spec, "", "no such file, directory or URL")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return CsvSource(path, None, timezone=timezone)
    if suffix == ".json":
        document = read_json(path, record=path.name)
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            return FhirBundleSource(document, options, name=f"fhir:{path.name}")
        if isinstance(document, dict) and "format_version" in document:
            return ProblemFileSource(path, timezone)
        reason = "neither a FHIR Bundle nor a problem document (format_version)"
        raise InvalidInputError(path.name, "", reason)
    raise InvalidInputError(path.name, "", "expected a .csv or .json file, a directory or a URL")


def import_sources(
    paths_or_urls: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    services: Collection[ServiceRef] | None = None,
    timezone: str | None = None,
) -> SlotBatch:
    """The free slots starting in ``[start, end)`` from every input, combined.

    Parameters
    ----------
    paths_or_urls
        The inputs, first wins conflicts (see the module docstring for their forms).
    start, end
        The window (timezone-aware).
    services
        Only these services, if given.
    timezone
        IANA zone in which datetimes without offset are read; ``None`` rejects them.

    Raises
    ------
    InvalidInputError
        If an input names no usable source, the window is invalid, or the zone is unknown.
    """
    check_window(start, end, record="import_sources")
    if timezone is not None:
        try:
            resolve_timezone(timezone)
        except ValueError as error:
            raise InvalidInputError("import_sources", "timezone", str(error)) from None
    if not paths_or_urls:
        raise InvalidInputError("import_sources", "paths_or_urls", "give at least one input")
    sources = tuple(source_for(spec, timezone=timezone) for spec in paths_or_urls)
    batch = CombinedSource(sources, name="import").fetch(start, end, services)
    logger.info(
        "imported %d slots at %d facilities from %d sources (%d issues)",
        len(batch.slots),
        len(batch.facilities),
        len(sources),
        len(batch.issues),
    )
    return batch


class ServiceSummary(FrozenModel):
    """The slots of one service at one facility.

    Attributes
    ----------
    facility_id, service
        What is summarised.
    count
        Number of slots.
    capacity
        Sum of their capacities.
    first_date, last_date
        Local dates (in the slots' own offsets) of the first and last slot start.
    """

    facility_id: str
    service: ServiceRef
    count: NonNegativeInt
    capacity: NonNegativeInt
    first_date: date
    last_date: date


def summarize(batch: SlotBatch) -> list[ServiceSummary]:
    """One :class:`ServiceSummary` per facility and service, sorted by facility, then service."""
    groups: dict[tuple[str, str], list[Slot]] = {}
    for slot in batch.slots:
        groups.setdefault((slot.facility_id, str(slot.service)), []).append(slot)
    summaries = []
    for (facility_id, _), slots in sorted(groups.items()):
        dates = [s.start.date() for s in slots]
        summaries.append(
            ServiceSummary(
                facility_id=facility_id,
                service=slots[0].service,
                count=len(slots),
                capacity=sum(s.capacity for s in slots),
                first_date=min(dates),
                last_date=max(dates),
            )
        )
    return summaries


def slots_problem(batch: SlotBatch | Iterable[SlotBatch]) -> Problem:
    """The facilities and slots as a problem document with no requests, in a stable order.

    The slots are sorted by start, facility and id, the facilities by id, so the same batch
    always gives the same document (``routing slots import -o`` writes it to a file).

    Raises
    ------
    InvalidProblemError
        If the records do not form a valid problem (e.g. a slot at a facility not in the batch).
    """
    if not isinstance(batch, SlotBatch):
        batch = combine(batch)
    facilities = tuple(sorted(batch.facilities, key=lambda f: f.id))
    slots = tuple(sorted(batch.slots, key=lambda s: (s.start, s.facility_id, s.id)))
    try:
        return Problem(format_version=1, facilities=facilities, slots=slots, requests=())
    except ValidationError as error:
        raw = {"facilities": facilities, "slots": slots}
        raise issues_from_validation_error(error, raw, _COLLECTIONS) from None
