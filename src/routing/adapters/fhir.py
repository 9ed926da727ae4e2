"""HL7 FHIR Bundles of Slot, Schedule and the Schedule's actors, read into a :class:`SlotBatch`.

A Bundle (``searchset`` or ``collection``) holds Slots, their Schedules and the Schedules' actors
(Location, HealthcareService, PractitionerRole, Practitioner). Each entry is validated with the
``fhir.resources`` models of its FHIR version (R5, or R4B for R4/R4B bundles), then checked for
what the models do not check. A bad entry becomes a :class:`SourceIssue` naming
``Bundle.entry[i]`` (and the resource id) and the rest loads, unless ``strict``.

What becomes a slot
-------------------
Only ``free`` slots are offered. ``busy``, ``busy-unavailable``, ``busy-tentative`` and
``entered-in-error`` slots are counted in :attr:`BundleStats.by_status` and not offered. A free slot
flagged ``overbooked`` is already booked beyond its capacity: it is **not offered** (counted in
:attr:`BundleStats.overbooked`) unless :attr:`FhirOptions.offer_overbooked`, when it is offered
with capacity 1 like any other.

Mapping
-------
========================  =======================================================================
Slot field                from
========================  =======================================================================
``id``                    ``"<prefix>:<Slot.id>"`` (prefix ``"fhir"`` by default)
``facility_id``           ``"<prefix>:<Location.id>"``: the Schedule's actor Location, else the
                          first location of its HealthcareService, else of its PractitionerRole
``service``               the first usable coding of Slot.serviceType, else Schedule.serviceType,
                          else the HealthcareService's type, else Slot.specialty, else
                          Schedule.specialty (R5 CodeableReference: its concept, or the type of
                          the HealthcareService it references)
``resource``              ``"Practitioner/<id>"``, else ``"PractitionerRole/<id>"``, else
                          ``"Schedule/<id>"``
``mode``                  remote when Slot.appointmentType or Slot.serviceCategory has the code
                          ``VR`` (HL7 v3 ActCode, virtual), else in person
``capacity``              1
========================  =======================================================================

A Location becomes a :class:`Facility`: name (``"Location <id>"`` when missing),
``position`` → :class:`GeoPoint`, ``address.district`` → district, level from
:attr:`FhirOptions.levels` (by Location id), else the extension :data:`LEVEL_EXTENSION_URL`
(``valueInteger`` 1–3), else 1; services: those of its offered slots.

Coding systems (:func:`service_system`): a system (``urn:oid:<oid>``, an
``nsi.rosminzdrav.ru`` URL holding the OID, or exactly as written) found in
:attr:`FhirOptions.systems` or :data:`KNOWN_SYSTEMS` maps to its name there
(``1.2.643.5.1.13.13.11.1070``, the Номенклатура медицинских услуг → ``"nmu"``); any other system
becomes a slug of its URL (``http://snomed.info/sct`` → ``"snomed.info-sct"``).

Checks beyond the models
------------------------
``end`` not after ``start``; a status outside the value set; a fullUrl or ``Type/id`` twice (the
later entry is skipped); a reference to a resource not in the bundle; a datetime without a UTC
offset (rejected, or read in :attr:`FhirOptions.timezone`). Every entry is validated; slots
outside the requested window are counted, not mapped further. A reference an offered slot needs
(its Schedule, its Location) makes that slot an issue; an unresolved actor that is not needed is
reported once for its Schedule and the slots still load.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from fhir.resources import get_fhir_model_class as _r5_model
from fhir.resources.R4B import get_fhir_model_class as _r4b_model
from pydantic import ValidationError

from nosology.pathway import FrozenModel, ServiceRef, VisitMode
from routing.adapters.source import SlotBatch, SourceIssue, check_window
from routing.domain import Facility, GeoPoint, Slot, resolve_timezone
from routing.exceptions import InvalidInputError, InvalidProblemError
from routing.problem import parse_json_document

__all__ = [
    "KNOWN_SYSTEMS",
    "LEVEL_EXTENSION_URL",
    "SLOT_STATUSES",
    "BundleRead",
    "BundleStats",
    "FhirBundleSource",
    "FhirOptions",
    "parse_bundle",
    "read_json",
    "service_system",
]

logger = logging.getLogger(__name__)

SLOT_STATUSES = ("free", "busy", "busy-unavailable", "busy-tentative", "entered-in-error")
"""The FHIR SlotStatus value set (identical in R4, R4B and R5)."""

LEVEL_EXTENSION_URL = "urn:patient-routing:fhir:StructureDefinition:facility-level"
"""The Location extension whose ``valueInteger`` (1–3) gives the facility level."""

KNOWN_SYSTEMS: Mapping[str, str] = {
    "1.2.643.5.1.13.13.11.1070": "nmu",  # ФРНСИ: Номенклатура медицинских услуг
    "nmu": "nmu",
    "fer": "fer",
}
"""Coding system (OID or exact system string) → :class:`ServiceRef` system.

The federal specialty codes of the appointment hub (``ferId``) have no OID verified here: a
caller whose server codes them under some system adds it via :attr:`FhirOptions.systems`
(e.g. ``{"urn:oid:...": "fer"}``).
"""

_RESOURCE_TYPES = frozenset(
    {"Slot", "Schedule", "Location", "HealthcareService", "PractitionerRole", "Practitioner"}
)
_BUNDLE_TYPES = frozenset({"searchset", "collection"})
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_OID = re.compile(r"(?:^|[/:])([0-2](?:\.\d+){3,})(?:$|[/?#])")
_SERVICE_SYSTEM = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_VIRTUAL_CODES = frozenset({"VR"})
_NAIVE_REASON = "a datetime without a UTC offset: add one (e.g. +03:00) or name a timezone"

FhirVersion = Literal["auto", "R4", "R4B", "R5"]


@dataclass(frozen=True)
class FhirOptions:
    """How a FHIR bundle is read.

    Attributes
    ----------
    version
        ``"R5"``, ``"R4B"`` or ``"R4"`` (read with the R4B models), or ``"auto"``: R4 when the
        bundle's serviceType and appointmentType have the R4 shape, else R5.
    timezone
        IANA zone in which a datetime without offset is read; ``None`` rejects such datetimes.
    levels
        Location id → facility level (1–3); wins over the level extension.
    systems
        Coding system (OID or exact system string) → service system, before :data:`KNOWN_SYSTEMS`.
    strict
        Raise :class:`InvalidProblemError` listing every issue instead of returning them.
    offer_overbooked
        Offer free slots flagged ``overbooked`` (capacity 1) instead of skipping them.
    id_prefix
        Prefix of slot and facility ids (``"fhir"`` gives ``"fhir:<id>"``).
    level_extension
        The URL of the Location extension holding the facility level.
    """

    version: FhirVersion = "auto"
    timezone: str | None = None
    levels: Mapping[str, int] = field(default_factory=dict)
    systems: Mapping[str, str] = field(default_factory=dict)
    strict: bool = False
    offer_overbooked: bool = False
    id_prefix: str = "fhir"
    level_extension: str = LEVEL_EXTENSION_URL

    def zone(self) -> tzinfo | None:
        """The zone for naive datetimes; :class:`InvalidInputError` if it is not a known zone."""
        if self.timezone is None:
            return None
        try:
            return resolve_timezone(self.timezone)
        except ValueError as error:
            raise InvalidInputError("FhirOptions", "timezone", str(error)) from None


class BundleStats(FrozenModel):
    """What reading a bundle found.

    Attributes
    ----------
    version
        The FHIR version read (``"R5"`` or ``"R4B"``).
    entries
        Entries in the bundle.
    by_status
        Valid slots by status (offered or not).
    overbooked
        Free slots not offered because they are overbooked.
    outside
        Free slots outside the requested window or services.
    offered
        Slots returned.
    validation_seconds
        Time spent in ``fhir.resources`` validation.
    seconds
        Total time.
    """

    version: str
    entries: int
    by_status: dict[str, int]
    overbooked: int
    outside: int
    offered: int
    validation_seconds: float
    seconds: float


class BundleRead(FrozenModel):
    """A bundle's slots and facilities, with the issues met and the reading statistics."""

    batch: SlotBatch
    stats: BundleStats


def service_system(system: str, systems: Mapping[str, str] | None = None) -> str:
    """The :class:`ServiceRef` system for a FHIR coding system.

    Examples
    --------
    >>> service_system("urn:oid:1.2.643.5.1.13.13.11.1070")
    'nmu'
    >>> service_system("https://nsi.rosminzdrav.ru/dictionaries/1.2.643.5.1.13.13.11.1070")
    'nmu'
    >>> service_system("http://snomed.info/sct")
    'snomed.info-sct'
    """
    for table in (systems or {}, KNOWN_SYSTEMS):
        if system in table:
            return table[system]
        match = _OID.search(system)
        if match is not None and match.group(1) in table:
            return table[match.group(1)]
    return _slug(system)


def _slug(system: str) -> str:
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", system.strip().lower())
    text = re.sub(r"^(urn:|www\.)", "", text)
    text = re.sub(r"[^a-z0-9_.]+", "-", text).strip("-.")
    if not text or not text[0].isalpha():
        text = "s-" + text
    if len(text) > 40:
        digest = hashlib.sha1(system.encode(), usedforsecurity=False).hexdigest()[:8]
        text = text[:31].rstrip("-.") + "-" + digest
    return text


def read_json(source: str | bytes | Path, *, record: str = "Bundle") -> Any:
    """Parse JSON text, bytes or a file; :class:`InvalidInputError` naming ``record`` if invalid."""
    if isinstance(source, Path):
        source = source.read_bytes()
    # Strict: duplicate keys, NaN, numbers of more than 40 digits and deep nesting are errors.
    return parse_json_document(source, label=record)


Codings = tuple[tuple[str, str], ...]
"""The ``(system, code)`` pairs of a CodeableConcept that have both."""


@dataclass(slots=True)
class _SlotFacts:
    """What pass 2 needs of a validated Slot (the model itself is dropped to save memory)."""

    status: str
    start: datetime
    end: datetime
    overbooked: bool
    schedule: str | None
    service_types: list[Codings | str]
    specialties: list[Codings]
    remote: bool


@dataclass(slots=True)
class _Entry:
    index: int
    kind: str
    id: str
    model: Any
    label: str


@dataclass
class _ScheduleInfo:
    facility: Facility | None
    resource: str
    service: ServiceRef | None
    late_codings: list[Codings]


@dataclass
class _Reader:
    """One pass over one bundle: state shared by the steps below."""

    options: FhirOptions
    source: str
    zone: tzinfo | None
    version: str = "R5"
    issues: list[SourceIssue] = field(default_factory=list)
    by_key: dict[str, _Entry] = field(default_factory=dict)
    by_url: dict[str, _Entry] = field(default_factory=dict)
    slots: list[_Entry] = field(default_factory=list)
    validation_seconds: float = 0.0
    reported: set[str] = field(default_factory=set)
    facilities: dict[str, Facility] = field(default_factory=dict)
    schedules: dict[str, _ScheduleInfo] = field(default_factory=dict)
    services: dict[tuple[tuple[str, str], ...], ServiceRef | None] = field(default_factory=dict)

    def issue(self, record: str, field_: str, reason: str) -> None:
        self.issues.append(
            SourceIssue(source=self.source, record=record, field=field_, reason=reason)
        )

    # -- pass 1: entries ---------------------------------------------------------------------

    def add_entry(self, index: int, entry: Any) -> None:
        label = f"Bundle.entry[{index}]"
        if not isinstance(entry, Mapping):
            self.issue(label, "", "expected an object")
            return
        resource = entry.get("resource")
        if not isinstance(resource, Mapping):
            self.issue(label, "resource", "expected a resource object")
            return
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            self.issue(label, "resource.resourceType", "expected a string")
            return
        if kind not in _RESOURCE_TYPES:
            logger.debug("%s: skipped a %s", label, kind if _FHIR_ID.match(kind) else "resource")
            return
        rid = resource.get("id")
        if not isinstance(rid, str) or not _FHIR_ID.match(rid):
            self.issue(label, "resource.id", "expected a FHIR id (letters, digits, '-', '.')")
            return
        key = f"{kind}/{rid}"
        label = f"{label} ({key})"
        full_url = entry.get("fullUrl")
        if full_url is not None and not isinstance(full_url, str):
            self.issue(label, "fullUrl", "expected a string")
            return
        if isinstance(full_url, str) and full_url in self.by_url:
            first = self.by_url[full_url].index
            self.issue(label, "fullUrl", f"the fullUrl of Bundle.entry[{first}] again; skipped")
            return
        if key in self.by_key:
            first = self.by_key[key].index
            self.issue(label, "resource.id", f"{key} is also Bundle.entry[{first}]; skipped")
            return
        data = self.prepare(label, kind, resource)
        if data is None:
            return
        model = self.validate(label, kind, data)
        if model is None:
            return
        if kind == "Slot":
            model = _slot_facts(model, self.version)
        item = _Entry(index=index, kind=kind, id=rid, model=model, label=label)
        self.by_key[key] = item
        if isinstance(full_url, str):
            self.by_url[full_url] = item
        if kind == "Slot":
            self.slots.append(item)

    def prepare(self, label: str, kind: str, resource: Mapping[str, Any]) -> dict[str, Any] | None:
        """Check what the models do not (status, naive datetimes); localise naive datetimes."""
        data = dict(resource)
        if kind != "Slot":
            return data
        status = data.get("status")
        if isinstance(status, str) and status not in SLOT_STATUSES:
            self.issue(label, "status", f"expected one of {', '.join(SLOT_STATUSES)}")
            return None
        for name in ("start", "end"):
            value = data.get(name)
            if not isinstance(value, str):
                continue
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue  # the model reports the malformed value
            if parsed.tzinfo is None:
                if self.zone is None:
                    self.issue(label, name, _NAIVE_REASON)
                    return None
                data[name] = parsed.replace(tzinfo=self.zone).isoformat()
        return data

    def validate(self, label: str, kind: str, data: dict[str, Any]) -> Any:
        model_class = (_r5_model if self.version == "R5" else _r4b_model)(kind)
        started = time.perf_counter()
        try:
            return model_class.model_validate(data)
        except ValidationError as error:
            for detail in error.errors(include_url=False, include_input=False)[:5]:
                where = ".".join(str(part) for part in detail["loc"])
                self.issue(label, where, f"not valid FHIR {self.version}: {detail['msg']}"[:300])
            return None
        except (ValueError, TypeError, RecursionError):  # the library's own failures on odd input
            self.issue(label, "", f"not a valid FHIR {self.version} {kind}")
            return None
        finally:
            self.validation_seconds += time.perf_counter() - started

    # -- references --------------------------------------------------------------------------

    def resolve(self, text: str | None, kinds: Collection[str]) -> _Entry | Literal[False] | None:
        """The entry a reference points to; ``None`` if it has none, ``False`` if not found."""
        if not text:
            return None
        found = self.by_url.get(text)
        if found is None:
            parts = text.split("/_history/")[0].rstrip("/").split("/")
            if len(parts) >= 2:
                found = self.by_key.get(f"{parts[-2]}/{parts[-1]}")
        if found is None or found.kind not in kinds:
            return False
        return found

    def resolve_many(
        self, references: Sequence[Any] | None, kinds: Collection[str], owner: _Entry, where: str
    ) -> list[_Entry]:
        """The entries found among ``references``; the missing reported once for ``owner``."""
        found: list[_Entry] = []
        for position, reference in enumerate(references or ()):
            text = _ref_text(reference)
            entry = self.resolve(text, kinds)
            if entry is False:
                self.report_once(owner, f"{where}[{position}]", _missing(text))
            elif entry is not None:
                found.append(entry)
        return found

    def report_once(self, owner: _Entry, where: str, reason: str) -> None:
        key = f"{owner.label}|{where}"
        if key not in self.reported:
            self.reported.add(key)
            self.issue(owner.label, where, reason)

    # -- pass 2: slots -----------------------------------------------------------------------

    def read_slot(self, item: _Entry) -> Slot | None:
        slot: _SlotFacts = item.model
        schedule = self.resolve(slot.schedule, ("Schedule",))
        if not isinstance(schedule, _Entry):
            self.issue(item.label, "schedule", _missing(slot.schedule))
            return None
        info = self.schedule_info(schedule)
        if info.facility is None:
            reason = (
                "its Schedule names no usable Location (directly or via a HealthcareService "
                "or role)"
            )
            self.issue(item.label, "schedule", reason)
            return None
        service = self.first_service(self.service_codings(slot.service_types, schedule))
        if service is None:
            service = info.service
        if service is None:
            service = self.first_service([*slot.specialties, *info.late_codings])
        if service is None:
            self.issue(item.label, "serviceType", "no coding with a system and code found")
            return None
        try:
            return Slot(
                id=f"{self.options.id_prefix}:{item.id}",
                facility_id=info.facility.id,
                service=service,
                start=slot.start,
                end=slot.end,
                resource=info.resource,
                mode=VisitMode.REMOTE if slot.remote else VisitMode.IN_PERSON,
            )
        except (ValidationError, InvalidInputError) as error:
            self.issue(item.label, "", f"not a usable slot ({_first_message(error)})")
            return None

    def schedule_info(self, schedule: _Entry) -> _ScheduleInfo:
        """What every slot of ``schedule`` shares: facility, resource, fallback services."""
        info = self.schedules.get(schedule.id)
        if info is not None:
            return info
        actors = self.resolve_many(schedule.model.actor, _RESOURCE_TYPES, schedule, "actor")
        location = self.location_of(actors)
        items = _service_items(schedule.model.serviceType, self.version)
        codings = self.service_codings(items, schedule)
        for actor in actors:
            if actor.kind == "HealthcareService":
                codings += [_codings(c) for c in actor.model.type or ()]
        info = _ScheduleInfo(
            facility=None if location is None else self.facility(location),
            resource=_resource_of(schedule, actors),
            service=self.first_service(codings),
            late_codings=[_codings(c) for c in schedule.model.specialty or ()],
        )
        self.schedules[schedule.id] = info
        return info

    def location_of(self, actors: list[_Entry]) -> _Entry | None:
        for kind in ("Location", "HealthcareService", "PractitionerRole"):
            for actor in actors:
                if actor.kind != kind:
                    continue
                if kind == "Location":
                    return actor
                places = self.resolve_many(actor.model.location, ("Location",), actor, "location")
                if places:
                    return places[0]
        return None

    def first_service(self, codings: Sequence[Codings]) -> ServiceRef | None:
        for key in codings:
            ref = self.service_ref(key)
            if ref is not None:
                return ref
        return None

    def service_codings(self, items: Sequence[Codings | str], owner: _Entry) -> list[Codings]:
        """The codings of serviceType items; a reference stands for its service's types."""
        found: list[Codings] = []
        for item in items:
            if not isinstance(item, str):
                found.append(item)
                continue
            target = self.resolve(item, ("HealthcareService",))
            if isinstance(target, _Entry):
                found.extend(_codings(c) for c in target.model.type or ())
            elif target is False:
                self.report_once(owner, "serviceType.reference", _missing(item))
        return found

    def service_ref(self, key: Codings) -> ServiceRef | None:
        """The service of the best coding (a mapped system first); cached by the codings."""
        if key in self.services:
            return self.services[key]
        found = None
        for system, code in sorted(key, key=lambda pair: _rank(pair[0], self.options.systems)):
            try:
                found = ServiceRef(system=service_system(system, self.options.systems), code=code)
                break
            except ValidationError:
                continue
        self.services[key] = found
        return found

    def facility(self, location: _Entry) -> Facility | None:
        facility_id = f"{self.options.id_prefix}:{location.id}"
        if facility_id in self.facilities:
            return self.facilities[facility_id]
        model = location.model
        position = None
        if model.position is not None:
            try:
                position = GeoPoint(
                    lat=float(model.position.latitude), lon=float(model.position.longitude)
                )
            except (ValidationError, TypeError, ValueError):
                self.issue(location.label, "position", "latitude/longitude out of range")
        district = getattr(model.address, "district", None) if model.address else None
        try:
            facility = Facility(
                id=facility_id,
                name=(model.name or "").strip() or f"Location {location.id}",
                location=position,
                district=district or None,
                level=self.level_of(location),
            )
        except (ValidationError, InvalidInputError) as error:
            self.issue(location.label, "", f"not a usable facility ({_first_message(error)})")
            return None
        self.facilities[facility_id] = facility
        return facility

    def level_of(self, location: _Entry) -> int:
        given = self.options.levels.get(location.id)
        if given is not None:
            return given
        for extension in location.model.extension or ():
            if extension.url == self.options.level_extension:
                value = extension.valueInteger
                if isinstance(value, int) and 1 <= value <= 3:
                    return value
                self.issue(location.label, "extension", "the facility level must be 1, 2 or 3")
        return 1


def _rank(system: str, systems: Mapping[str, str]) -> int:
    """0 for a coding system in a table (preferred), 1 for one that only gets a slug."""
    mapped = service_system(system, systems)
    return 0 if mapped in set(systems.values()) | set(KNOWN_SYSTEMS.values()) else 1


def _missing(text: str | None) -> str:
    if isinstance(text, str) and len(text) <= 200 and text.isprintable():
        return f"refers to {text!r}, which is not in the bundle"
    return "refers to a resource that is not in the bundle"


def _first_message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        details = error.errors(include_url=False, include_input=False)
        if details:
            return ".".join(str(p) for p in details[0]["loc"]) + ": " + details[0]["msg"]
    if isinstance(error, InvalidInputError):
        return error.reason
    return type(error).__name__


def _resource_of(schedule: _Entry, actors: list[_Entry]) -> str:
    for kind in ("Practitioner", "PractitionerRole"):
        for actor in actors:
            if actor.kind == kind:
                return f"{kind}/{actor.id}"
    return f"Schedule/{schedule.id}"


def _ref_text(reference: Any) -> str | None:
    text = getattr(reference, "reference", None)
    return text if isinstance(text, str) else None


def _codings(concept: Any) -> Codings:
    return tuple((c.system, c.code) for c in concept.coding or () if c.system and c.code)


def _service_items(items: Sequence[Any] | None, version: str) -> list[Codings | str]:
    """serviceType as codings, or reference text (R5 CodeableReference without a concept)."""
    found: list[Codings | str] = []
    for item in items or ():
        if version != "R5":
            found.append(_codings(item))
        elif item.concept is not None:
            found.append(_codings(item.concept))
        elif item.reference is not None:
            text = _ref_text(item.reference)
            if text:
                found.append(text)
    return found


def _slot_facts(slot: Any, version: str) -> _SlotFacts:
    appointment_types = slot.appointmentType
    if appointment_types is None:
        appointment_types = []
    elif not isinstance(appointment_types, list):
        appointment_types = [appointment_types]
    remote = any(
        c.code in _VIRTUAL_CODES
        for concept in [*appointment_types, *(slot.serviceCategory or ())]
        for c in concept.coding or ()
    )
    return _SlotFacts(
        status=str(slot.status),
        start=slot.start,
        end=slot.end,
        overbooked=bool(slot.overbooked),
        schedule=_ref_text(slot.schedule),
        service_types=_service_items(slot.serviceType, version),
        specialties=[_codings(c) for c in slot.specialty or ()],
        remote=remote,
    )


def _detect_version(entries: Sequence[Any]) -> str:
    """R4B when serviceType / appointmentType have the R4 shape in most resources, else R5."""
    r4 = r5 = 0
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            continue
        if resource.get("resourceType") not in ("Slot", "Schedule"):
            continue
        items = resource.get("serviceType")
        for item in items if isinstance(items, list) else ():
            if isinstance(item, Mapping):
                r5 += "concept" in item or "reference" in item
                r4 += "coding" in item or "text" in item
        appointment_type = resource.get("appointmentType")
        r4 += isinstance(appointment_type, Mapping)
        r5 += isinstance(appointment_type, list)
    return "R4B" if r4 > r5 else "R5"


def _entries(bundle: Any) -> list[Any]:
    if not isinstance(bundle, Mapping):
        raise InvalidInputError("Bundle", "", "expected a JSON object")
    if bundle.get("resourceType") != "Bundle":
        raise InvalidInputError("Bundle", "resourceType", "expected 'Bundle'")
    if bundle.get("type") not in _BUNDLE_TYPES:
        raise InvalidInputError("Bundle", "type", "expected 'searchset' or 'collection'")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidInputError("Bundle", "entry", "expected a list of entries")
    return entries


def parse_bundle(
    bundle: Mapping[str, Any] | str | bytes | Path,
    options: FhirOptions | None = None,
    *,
    source: str = "fhir",
    start: datetime | None = None,
    end: datetime | None = None,
    services: Collection[ServiceRef] | None = None,
) -> BundleRead:
    """Read a FHIR Bundle into slots, facilities and issues.

    Parameters
    ----------
    bundle
        The parsed Bundle, JSON text or bytes, or a path to a JSON file.
    options
        How to read it (version, zone for naive datetimes, levels, coding systems, strictness).
    source
        The name the issues carry.
    start, end
        Offer only slots starting in ``[start, end)`` (both or neither; timezone-aware).
    services
        Offer only slots of these services.

    Returns
    -------
    BundleRead
        The batch (facilities of the offered slots, the offered slots, the issues) and statistics.

    Raises
    ------
    InvalidInputError
        If the document is not a searchset or collection Bundle, or the options are invalid.
    InvalidProblemError
        With ``options.strict``, listing every issue found.
    """
    began = time.perf_counter()
    options = options or FhirOptions()
    if (start is None) != (end is None):
        raise InvalidInputError("parse_bundle", "end" if end is None else "start", "give both")
    if start is not None and end is not None:
        check_window(start, end, record="parse_bundle")
    data = read_json(bundle) if isinstance(bundle, str | bytes | Path) else bundle
    entries = _entries(data)
    reader = _Reader(options=options, source=source, zone=options.zone())
    reader.version = _detect_version(entries) if options.version == "auto" else options.version
    if reader.version == "R4":
        reader.version = "R4B"
    owned = data is not bundle  # parsed here: entries may be released as they are read
    for index, entry in enumerate(entries):
        reader.add_entry(index, entry)
        if owned:
            entries[index] = None
    wanted = None if services is None else {str(s) for s in services}
    by_status: dict[str, int] = {}
    overbooked = outside = 0
    offered: list[Slot] = []
    for item in reader.slots:
        model: _SlotFacts = item.model
        status = model.status
        if model.end <= model.start:
            reader.issue(item.label, "end", "end must be after start")
            continue
        by_status[status] = by_status.get(status, 0) + 1
        if status != "free":
            continue
        if model.overbooked and not options.offer_overbooked:
            overbooked += 1
            continue
        if start is not None and end is not None and not start <= model.start < end:
            outside += 1
            continue
        slot = reader.read_slot(item)
        if slot is None:
            continue
        if wanted is not None and str(slot.service) not in wanted:
            outside += 1
            continue
        offered.append(slot)
    facilities = _with_services(reader.facilities, offered)
    if options.strict and reader.issues:
        raise InvalidProblemError([issue.to_error() for issue in reader.issues])
    batch = SlotBatch(facilities=facilities, slots=tuple(offered), issues=tuple(reader.issues))
    stats = BundleStats(
        version=reader.version,
        entries=len(entries),
        by_status=by_status,
        overbooked=overbooked,
        outside=outside,
        offered=len(offered),
        validation_seconds=reader.validation_seconds,
        seconds=time.perf_counter() - began,
    )
    logger.debug(
        "%s: %d entries, %d slots offered, %d issues",
        source,
        stats.entries,
        stats.offered,
        len(batch.issues),
    )
    return BundleRead(batch=batch, stats=stats)


def _with_services(facilities: Mapping[str, Facility], slots: list[Slot]) -> tuple[Facility, ...]:
    """The facilities of ``slots``, each listing the services of its slots (sorted)."""
    offered: dict[str, dict[str, ServiceRef]] = {}
    for slot in slots:
        offered.setdefault(slot.facility_id, {})[str(slot.service)] = slot.service
    return tuple(
        facilities[facility_id].model_copy(
            update={"services": tuple(refs[key] for key in sorted(refs))}
        )
        for facility_id, refs in sorted(offered.items())
    )


@dataclass(frozen=True)
class FhirBundleSource:
    """A FHIR Bundle file (or parsed Bundle) as a :class:`~routing.adapters.source.SlotSource`.

    Attributes
    ----------
    bundle
        A path to a Bundle JSON file, or the parsed Bundle.
    options
        How to read it.
    name
        The name issues carry (default ``"fhir:<file name>"``).
    """

    bundle: Path | Mapping[str, Any]
    options: FhirOptions = field(default_factory=FhirOptions)
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            label = self.bundle.name if isinstance(self.bundle, Path) else "bundle"
            object.__setattr__(self, "name", f"fhir:{label}")

    def fetch(
        self,
        start: datetime,
        end: datetime,
        services: Collection[ServiceRef] | None = None,
    ) -> SlotBatch:
        """The free slots of the bundle starting in ``[start, end)``."""
        check_window(start, end, record=self.name)
        read = parse_bundle(
            self.bundle, self.options, source=self.name, start=start, end=end, services=services
        )
        return read.batch
