"""HL7 FHIR Bundles of Slot, Schedule and the Schedule's actors, read into a :class:`SlotBatch`.

A Bundle (``searchset`` or ``collection``) holds Slots, their Schedules and the Schedules' actors
(Location, HealthcareService, PractitionerRole, Practitioner), either as entries of their own
(included by ``_include``, ``search.mode = include``) or ``contained`` in the resource that
refers to them.
Each entry is validated with the ``fhir.resources`` models of its FHIR version (R5, or R4B for
R4/R4B bundles), then checked for what the models do not check. A bad entry becomes a
:class:`SourceIssue` naming ``Bundle.entry[i]`` (and the resource id) and the rest loads, unless
``strict``.

What becomes a slot
-------------------
Only ``free`` slots are offered; ``busy``, ``busy-unavailable``, ``busy-tentative`` and
``entered-in-error`` slots are counted in :attr:`BundleStats.by_status`. **Every free slot is
offered or reported**: a free slot left out of the batch gets exactly one issue whose
:attr:`SourceIssue.slot` names it (its would-be id, or ``Bundle.entry[i]`` without a usable id),
so ``offered + rejected + outside == free`` (:class:`BundleStats`), and without a window or a
service filter ``len(batch.slots) + #issues with a slot == free``. A free slot flagged
``overbooked`` is already booked beyond its capacity: it is rejected (an issue, counted in
:attr:`BundleStats.overbooked`) unless :attr:`FhirOptions.offer_overbooked`.

References
----------
A reference resolves, in this order, as FHIR's bundle rules say:

- ``#id``: a resource ``contained`` in the referring resource (or, from a contained resource, in
  its container). Contained Schedules, Locations, HealthcareServices, PractitionerRoles and
  Practitioners are validated like entries (an issue names ``Bundle.entry[i] (Type/id)
  contained[j]``).
- an absolute URL or ``urn:uuid:``: the entry with that ``fullUrl``; a relative ``Type/id``: the
  entry with that ``fullUrl`` on the referring entry's server (the base of its fullUrl), else the
  only entry with that type and id.
- a logical reference (``{"identifier": {...}}`` without ``reference``, as aggregators write
  Organizations and Locations known only by their identifier): the only entry of a fitting type
  carrying that identifier (system and value); none is not an error (logical references need not
  resolve).

Aggregators publish many vendors' agendas in one bundle, so two entries may share ``Type/id``
when their fullUrls are on different servers: both are kept, and their slot and facility ids are
qualified by the server (``"fhir:vendor-b.example/fhir/Slot/17"``). Ids that occur once stay
short (``"fhir:17"``). Two entries with one ``Type/id`` on the same server (or without absolute
fullUrls) are duplicates: the later is skipped.

Mapping
-------
========================  =======================================================================
Slot field                from
========================  =======================================================================
``id``                    ``"<prefix>:<Slot.id>"`` (prefix ``"fhir"`` by default), qualified by
                          server when the id recurs on another server
``facility_id``           the Schedule's actor Location, else the first location of its
                          HealthcareService, else of its PractitionerRole: ``"<prefix>:<id>"``,
                          or ``"<prefix>:<Type>/<container id>#<id>"`` for a contained Location.
                          A remote slot prefers a virtual Location, an in-person one a physical
                          Location (the SMART Scheduling Links example Schedule names both)
``service``               the first usable coding of Slot.serviceType, else Schedule.serviceType,
                          else the HealthcareService's type, else Slot.specialty, else
                          Schedule.specialty (R5 CodeableReference: its concept, or the type of
                          the HealthcareService it references). Codings that are telehealth
                          markers (below) are never a service: the specialty stays the service
``resource``              ``"Practitioner/<id>"``, else ``"PractitionerRole/<id>"``, else
                          ``"Schedule/<id>"``
``mode``                  remote when a telehealth marker (below) is found, else in person
``capacity``              the SMART Scheduling Links ``slot-capacity`` extension
                          (:data:`SLOT_CAPACITY_EXTENSION_URL`, ``valueInteger`` ≥ 1), else 1
========================  =======================================================================

Telehealth markers (exactly these; more codings via :attr:`FhirOptions.virtual_codings`):

- a coding in :data:`VIRTUAL_CODINGS` — HL7 v3 ActCode ``VR`` ("virtual", under
  ``http://terminology.hl7.org/CodeSystem/v3-ActCode``, ``http://hl7.org/fhir/v3/ActCode`` or
  ``urn:oid:2.16.840.1.113883.5.4``) or location-physical-type ``vi`` ("Virtual") — in the Slot's
  appointmentType, serviceCategory or serviceType, the Schedule's serviceCategory or serviceType,
  the HealthcareService actor's type or category, or the Location's type, physicalType (R4) or
  form (R5);
- an R5 Location with ``virtualService``;
- the extension :data:`VIRTUAL_EXTENSION_URL` (``virtual-service-base``, as SMART Scheduling Links
  clients read it) on the Slot, Schedule, HealthcareService or Location, unless its
  ``valueBoolean`` is false.

HL7 v2 table 0276 (appointment reason: CHECKUP, EMERGENCY, FOLLOWUP, ROUTINE, WALKIN) has no
telehealth code, so no appointmentType of that table makes a slot remote.

A Location becomes a :class:`Facility`: name (``"Location <id>"`` when missing),
``position`` → :class:`GeoPoint`, ``address.district`` → district, ``address.text`` (else its
lines, city and postal code) → address, the first ``telecom`` phone → phone, level from
:attr:`FhirOptions.levels` (by Location id), else the extension :data:`LEVEL_EXTENSION_URL`
(``valueInteger`` 1–3), else 1; services: those of its offered slots.

Coding systems (:func:`service_system`): a system (``urn:oid:<oid>``, an
``nsi.rosminzdrav.ru`` URL holding the OID, or exactly as written) found in
:attr:`FhirOptions.systems` or :data:`KNOWN_SYSTEMS` maps to its name there
(``1.2.643.5.1.13.13.11.1070``, the Номенклатура медицинских услуг → ``"nmu"``); any other system
becomes a slug of its URL (``http://snomed.info/sct`` → ``"snomed.info-sct"``).

FHIR versions
-------------
R4, R4B and R5 are read. A bundle of another version raises :class:`InvalidInputError` naming the
version found: the version the sender declared (``declared_version``: the ``fhirVersion``
parameter of the response's mime type, e.g. ``3.0``, or a CapabilityStatement's ``fhirVersion``,
e.g. ``3.0.2``), else structural markers — DSTU2: a Slot with ``freeBusyType`` or a Schedule whose
``actor`` is a single reference; STU3: a Slot's or Schedule's ``serviceCategory``, a
HealthcareService's ``category`` or a Location's ``type`` that is a single CodeableConcept. With
``version="auto"`` and nothing declared, R4 or R5 is chosen by the shape of serviceType and
appointmentType; when no Slot validates under that version the other is tried, and when none
validates under either an issue on ``Bundle`` says both were tried (each Slot keeps its own).

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
from routing.adapters.fhir_version import choose_version
from routing.adapters.source import SlotBatch, SourceIssue, check_window
from routing.domain import Facility, GeoPoint, Slot, resolve_timezone
from routing.exceptions import InvalidInputError, InvalidProblemError
from routing.problem import parse_json_document

__all__ = [
    "KNOWN_SYSTEMS",
    "LEVEL_EXTENSION_URL",
    "SLOT_CAPACITY_EXTENSION_URL",
    "SLOT_STATUSES",
    "VIRTUAL_CODINGS",
    "VIRTUAL_EXTENSION_URL",
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

VIRTUAL_EXTENSION_URL = (
    "http://fhir-registry.smarthealthit.org/StructureDefinition/virtual-service-base"
)
"""The extension SMART Scheduling Links clients read as "a virtual (telehealth) visit"."""

SLOT_CAPACITY_EXTENSION_URL = (
    "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity"
)
"""The SMART Scheduling Links Slot extension whose ``valueInteger`` is the slot's capacity."""

_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"

VIRTUAL_CODINGS: frozenset[tuple[str, str]] = frozenset(
    {
        (_ACT_CODE, "VR"),  # ActEncounterCode "virtual"
        ("http://hl7.org/fhir/v3/ActCode", "VR"),  # the same code system's pre-THO URL
        ("urn:oid:2.16.840.1.113883.5.4", "VR"),  # ... and its OID
        (_PHYSICAL_TYPE, "vi"),  # "Virtual" (Location.physicalType, R5 Location.form)
    }
)
"""``(system, code)`` codings that mark a slot, schedule, service or place as telehealth."""

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
_CONTAINABLE = _RESOURCE_TYPES - {"Slot"}
_BUNDLE_TYPES = frozenset({"searchset", "collection"})
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_OID = re.compile(r"(?:^|[/:])([0-2](?:\.\d+){3,})(?:$|[/?#])")
_SERVICE_SYSTEM = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_NAIVE_REASON = "a datetime without a UTC offset: add one (e.g. +03:00) or name a timezone"
FhirVersion = Literal["auto", "R4", "R4B", "R5"]


@dataclass(frozen=True)
class FhirOptions:
    """How a FHIR bundle is read.

    Attributes
    ----------
    version
        ``"R5"``, ``"R4B"`` or ``"R4"`` (read with the R4B models), or ``"auto"``: R4 when the
        bundle's serviceType and appointmentType have the R4 shape, else R5 (the other is tried
        when no Slot validates).
    timezone
        IANA zone in which a datetime without offset is read; ``None`` rejects such datetimes.
    levels
        Location id → facility level (1–3); wins over the level extension.
    systems
        Coding system (OID or exact system string) → service system, before :data:`KNOWN_SYSTEMS`.
    strict
        Raise :class:`InvalidProblemError` listing every issue instead of returning them.
    offer_overbooked
        Offer free slots flagged ``overbooked`` (capacity 1) instead of rejecting them.
    id_prefix
        Prefix of slot and facility ids (``"fhir"`` gives ``"fhir:<id>"``).
    level_extension
        The URL of the Location extension holding the facility level.
    virtual_codings
        More ``(system, code)`` codings that mark telehealth, besides :data:`VIRTUAL_CODINGS`.
    """

    version: FhirVersion = "auto"
    timezone: str | None = None
    levels: Mapping[str, int] = field(default_factory=dict)
    systems: Mapping[str, str] = field(default_factory=dict)
    strict: bool = False
    offer_overbooked: bool = False
    id_prefix: str = "fhir"
    level_extension: str = LEVEL_EXTENSION_URL
    virtual_codings: Collection[tuple[str, str]] = ()

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

    ``offered + rejected + outside == free``.

    Attributes
    ----------
    version
        The FHIR version read (``"R5"`` or ``"R4B"``).
    entries
        Entries in the bundle.
    by_status
        Valid slots by status (offered or not).
    free
        Slot entries whose status is ``free``, valid or not.
    rejected
        Free slots left out with an issue naming them (overbooked ones included).
    overbooked
        Free slots rejected because they are overbooked.
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
    free: int
    rejected: int
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
    schedule: Any
    service_types: list[Codings | str]
    specialties: list[Codings]
    remote: bool
    capacity: Any


@dataclass(slots=True)
class _Entry:
    index: int
    kind: str
    id: str
    model: Any
    label: str
    full_url: str | None = None
    base: str | None = None
    container: _Entry | None = None
    contained: dict[str, _Entry] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.id}"

    @property
    def root(self) -> _Entry:
        return self.container if self.container is not None else self


@dataclass
class _ScheduleInfo:
    schedule: _Entry
    actors: list[_Entry]
    remote: bool
    service: ServiceRef | None
    late_codings: list[Codings]
    resource: str


class _RejectedError(Exception):
    """A free slot cannot be offered: the issue's field and reason."""

    def __init__(self, field_: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_
        self.reason = reason


@dataclass
class _Reader:
    """One pass over one bundle: state shared by the steps below."""

    options: FhirOptions
    source: str
    zone: tzinfo | None
    version: str = "R5"
    issues: list[SourceIssue] = field(default_factory=list)
    by_key: dict[str, list[_Entry]] = field(default_factory=dict)
    by_url: dict[str, _Entry] = field(default_factory=dict)
    by_identifier: dict[tuple[str, str], list[_Entry]] = field(default_factory=dict)
    slots: list[_Entry] = field(default_factory=list)
    free: int = 0
    rejected: int = 0
    slots_validated: int = 0
    slots_invalid: int = 0
    validation_seconds: float = 0.0
    reported: set[str] = field(default_factory=set)
    facilities: dict[str, Facility] = field(default_factory=dict)
    schedules: dict[int, _ScheduleInfo] = field(default_factory=dict)
    services: dict[tuple[tuple[str, str], ...], ServiceRef | None] = field(default_factory=dict)
    virtual: frozenset[tuple[str, str]] = VIRTUAL_CODINGS

    def issue(self, record: str, field_: str, reason: str, slot: str | None = None) -> None:
        self.issues.append(
            SourceIssue(source=self.source, record=record, field=field_, reason=reason, slot=slot)
        )

    def reject(self, record: str, field_: str, reason: str, slot: str) -> None:
        """An issue that keeps the free slot ``slot`` out of the batch."""
        self.rejected += 1
        self.issue(record, field_, reason, slot)

    # -- pass 1: entries ---------------------------------------------------------------------

    def add_entry(self, index: int, entry: Any) -> None:
        """Read one entry; a free Slot that is not kept gets one issue naming it."""
        before = len(self.issues)
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        free = (
            isinstance(resource, Mapping)
            and resource.get("resourceType") == "Slot"
            and resource.get("status") == "free"
        )
        kept = self.read_entry(index, entry)
        if not free:
            return
        self.free += 1
        if kept:
            return
        rid = resource.get("id") if isinstance(resource, Mapping) else None
        name = (
            f"{self.options.id_prefix}:{rid}"
            if isinstance(rid, str) and _FHIR_ID.match(rid)
            else f"Bundle.entry[{index}]"
        )
        self.rejected += 1
        # every path of read_entry that drops a Slot reports it: the first issue names the slot
        first = self.issues[before]
        self.issues[before] = first.model_copy(update={"slot": name})

    def read_entry(self, index: int, entry: Any) -> bool:
        label = f"Bundle.entry[{index}]"
        if not isinstance(entry, Mapping):
            self.issue(label, "", "expected an object")
            return False
        resource = entry.get("resource")
        if not isinstance(resource, Mapping):
            self.issue(label, "resource", "expected a resource object")
            return False
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            self.issue(label, "resource.resourceType", "expected a string")
            return False
        if kind not in _RESOURCE_TYPES:
            logger.debug("%s: skipped a %s", label, kind if _FHIR_ID.match(kind) else "resource")
            return False
        rid = resource.get("id")
        if not isinstance(rid, str) or not _FHIR_ID.match(rid):
            self.issue(label, "resource.id", "expected a FHIR id (letters, digits, '-', '.')")
            return False
        key = f"{kind}/{rid}"
        label = f"{label} ({key})"
        full_url = entry.get("fullUrl")
        if full_url is not None and not isinstance(full_url, str):
            self.issue(label, "fullUrl", "expected a string")
            return False
        if isinstance(full_url, str) and full_url in self.by_url:
            first = self.by_url[full_url].index
            self.issue(label, "fullUrl", f"the fullUrl of Bundle.entry[{first}] again; skipped")
            return False
        base = _base_of(full_url, key)
        for other in self.by_key.get(key, ()):
            if base is None or other.base is None or base == other.base:
                reason = f"{key} is also Bundle.entry[{other.index}]; skipped"
                self.issue(label, "resource.id", reason)
                return False
        item = self.load(index, kind, rid, label, resource)
        if item is None:
            return False
        item.full_url, item.base = full_url, base
        self.by_key.setdefault(key, []).append(item)
        if isinstance(full_url, str):
            self.by_url[full_url] = item
        self.index_identifiers(item)
        if kind == "Slot":
            self.slots.append(item)
        return True

    def load(
        self, index: int, kind: str, rid: str, label: str, resource: Mapping[str, Any]
    ) -> _Entry | None:
        """Validate a resource (its contained resources apart) into an entry."""
        data = self.prepare(label, kind, resource)
        if data is None:
            return None
        contained = data.pop("contained", None)
        model = self.validate(label, kind, data)
        if kind == "Slot":
            if model is None:
                self.slots_invalid += 1
                return None
            self.slots_validated += 1
        if model is None:
            return None
        if kind == "Slot":
            model = _slot_facts(model, self.version, self.virtual)
        item = _Entry(index=index, kind=kind, id=rid, model=model, label=label)
        self.add_contained(item, contained)
        return item

    def add_contained(self, owner: _Entry, contained: Any) -> None:
        if contained is None:
            return
        if not isinstance(contained, list):
            self.issue(owner.label, "contained", "expected a list of resources")
            return
        for position, resource in enumerate(contained):
            where = f"contained[{position}]"
            if not isinstance(resource, Mapping):
                self.issue(owner.label, where, "expected a resource object")
                continue
            kind, rid = resource.get("resourceType"), resource.get("id")
            if kind not in _CONTAINABLE:
                continue
            if not isinstance(rid, str) or not _FHIR_ID.match(rid):
                self.issue(owner.label, f"{where}.id", "expected a FHIR id")
                continue
            if rid in owner.contained:
                self.issue(owner.label, f"{where}.id", f"#{rid} is contained twice; skipped")
                continue
            data = dict(resource)
            data.pop("contained", None)  # dom-2: a contained resource contains nothing
            model = self.validate(f"{owner.label} {where}", str(kind), data)
            if model is not None:
                label = f"{owner.label} {where} ({kind}/{rid})"
                item = _Entry(owner.index, str(kind), rid, model, label, container=owner)
                owner.contained[rid] = item

    def index_identifiers(self, item: _Entry) -> None:
        identifiers = getattr(item.model, "identifier", None) if item.kind != "Slot" else None
        for identifier in identifiers or ():
            if identifier.system and identifier.value:
                key = (identifier.system, identifier.value)
                self.by_identifier.setdefault(key, []).append(item)

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
                reason = f"not valid FHIR {self.version}: {detail['msg']}"[:300]
                self.issue(label, where, reason)
            return None
        except (ValueError, TypeError, RecursionError):  # the library's own failures on odd input
            self.issue(label, "", f"not a valid FHIR {self.version} {kind}")
            return None
        finally:
            self.validation_seconds += time.perf_counter() - started

    # -- references --------------------------------------------------------------------------

    def resolve(
        self, reference: Any, kinds: Collection[str], owner: _Entry
    ) -> _Entry | Literal[False] | None:
        """The entry ``reference`` points to from ``owner``.

        ``None`` if it names nothing (or is a logical reference not in the bundle), ``False`` if
        it names a resource that is not in the bundle.
        """
        text = reference if isinstance(reference, str) else _ref_text(reference)
        if not text:
            return self.resolve_identifier(reference, kinds)
        if text.startswith("#"):
            found: _Entry | None = owner.root.contained.get(text[1:])
        else:
            found = self.by_url.get(text)
            if found is None:
                found = self.resolve_relative(text, owner)
        if found is None or found.kind not in kinds:
            return False
        return found

    def resolve_relative(self, text: str, owner: _Entry) -> _Entry | None:
        parts = text.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) < 2:
            return None
        key = f"{parts[-2]}/{parts[-1]}"
        base = owner.root.base
        if base is not None and "://" not in text and f"{base}{key}" in self.by_url:
            return self.by_url[f"{base}{key}"]
        candidates = self.by_key.get(key, [])
        return candidates[0] if len(candidates) == 1 else None

    def resolve_identifier(self, reference: Any, kinds: Collection[str]) -> _Entry | None:
        identifier = getattr(reference, "identifier", None)
        system = getattr(identifier, "system", None)
        value = getattr(identifier, "value", None)
        if not system or not value:
            return None
        wanted = getattr(reference, "type", None)
        found = [
            entry
            for entry in self.by_identifier.get((system, value), ())
            if entry.kind in kinds and (not wanted or entry.kind == wanted)
        ]
        return found[0] if len(found) == 1 else None

    def resolve_many(
        self, references: Sequence[Any] | None, kinds: Collection[str], owner: _Entry, where: str
    ) -> list[_Entry]:
        """The entries found among ``references``; the missing reported once for ``owner``."""
        found: list[_Entry] = []
        for position, reference in enumerate(references or ()):
            entry = self.resolve(reference, kinds, owner)
            if entry is False:
                self.report_once(owner, f"{where}[{position}]", _missing(_ref_text(reference)))
            elif entry is not None:
                found.append(entry)
        return found

    def report_once(self, owner: _Entry, where: str, reason: str) -> None:
        key = f"{owner.label}|{where}"
        if key not in self.reported:
            self.reported.add(key)
            self.issue(owner.label, where, reason)

    # -- names -------------------------------------------------------------------------------

    def name_of(self, entry: _Entry) -> str:
        """``Type/id``, qualified by server when the key recurs, or by container."""
        if entry.container is not None:
            return f"{self.name_of(entry.container)}#{entry.id}"
        if len(self.by_key.get(entry.key, ())) > 1 and entry.base is not None:
            return _without_scheme(entry.base) + entry.key
        return entry.key

    def record_id(self, entry: _Entry) -> str:
        """The domain id of a Slot or Location entry: ``"<prefix>:<id>"`` unless qualified."""
        name = self.name_of(entry)
        text = entry.id if name == entry.key else name
        if len(text) > 180:
            digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]
            text = f"{text[:150]}~{digest}"
        return f"{self.options.id_prefix}:{text}"

    # -- pass 2: slots -----------------------------------------------------------------------

    def read_slot(self, item: _Entry) -> Slot | None:
        """The slot of a free Slot entry, or ``None`` with one issue naming it."""
        slot_id = self.record_id(item)
        try:
            return self.map_slot(item, slot_id)
        except _RejectedError as rejected:
            self.reject(item.label, rejected.field, rejected.reason, slot_id)
            return None

    def map_slot(self, item: _Entry, slot_id: str) -> Slot:
        slot: _SlotFacts = item.model
        schedule = self.resolve(slot.schedule, ("Schedule",), item)
        if not isinstance(schedule, _Entry):
            raise _RejectedError("schedule", _missing(_ref_text(slot.schedule)))
        info = self.schedule_info(schedule)
        remote = slot.remote or info.remote
        place = self.place_of(info.actors, remote)
        if place is None:
            reason = (
                "its Schedule names no usable Location (directly or via a HealthcareService "
                "or role)"
            )
            raise _RejectedError("schedule", reason)
        remote = remote or self.is_virtual_place(place)
        facility = self.facility(place)
        if facility is None:
            raise _RejectedError("schedule", "its Location is not a usable facility")
        service = self.first_service(self.service_codings(slot.service_types, schedule))
        if service is None:
            service = info.service
        if service is None:
            service = self.first_service([*slot.specialties, *info.late_codings])
        if service is None:
            raise _RejectedError("serviceType", "no service coding with a system and code found")
        capacity = 1
        if slot.capacity is not None:
            if not isinstance(slot.capacity, int) or slot.capacity < 1:
                reason = "the slot-capacity extension must be a positive integer"
                raise _RejectedError("extension", reason)
            capacity = slot.capacity
        try:
            return Slot(
                id=slot_id,
                facility_id=facility.id,
                service=service,
                start=slot.start,
                end=slot.end,
                capacity=capacity,
                resource=info.resource,
                mode=VisitMode.REMOTE if remote else VisitMode.IN_PERSON,
            )
        except (ValidationError, InvalidInputError) as error:
            raise _RejectedError("", f"not a usable slot ({_first_message(error)})") from None

    def schedule_info(self, schedule: _Entry) -> _ScheduleInfo:
        """What every slot of ``schedule`` shares: actors, remote marker, fallback services."""
        info = self.schedules.get(id(schedule))
        if info is not None:
            return info
        model = schedule.model
        actors = self.resolve_many(model.actor, _RESOURCE_TYPES, schedule, "actor")
        items = _service_items(model.serviceType, self.version)
        remote = self.marks_virtual(_concepts(model.serviceCategory), model.extension)
        remote = remote or any(self.virtual_codings(item) for item in items if item)
        codings = self.service_codings(items, schedule)
        for actor in actors:
            if actor.kind == "HealthcareService":
                concepts = [*(actor.model.type or ()), *_concepts(actor.model.category)]
                remote = remote or self.marks_virtual(concepts, actor.model.extension)
                codings += [_codings(c) for c in actor.model.type or ()]
        info = _ScheduleInfo(
            schedule=schedule,
            actors=actors,
            remote=remote,
            service=self.first_service(codings),
            late_codings=[_codings(c) for c in model.specialty or ()],
            resource=self.resource_of(schedule, actors),
        )
        self.schedules[id(schedule)] = info
        return info

    def resource_of(self, schedule: _Entry, actors: list[_Entry]) -> str:
        for kind in ("Practitioner", "PractitionerRole"):
            for actor in actors:
                if actor.kind == kind:
                    return self.name_of(actor)
        return self.name_of(schedule)

    def place_of(self, actors: list[_Entry], remote: bool) -> _Entry | None:
        """The Location of the actors; a virtual one first when ``remote``, else a physical one."""
        places: list[_Entry] = []
        for kind in ("Location", "HealthcareService", "PractitionerRole"):
            for actor in actors:
                if actor.kind != kind:
                    continue
                if kind == "Location":
                    places.append(actor)
                else:
                    places += self.resolve_many(
                        actor.model.location, ("Location",), actor, "location"
                    )
        for place in places:
            if self.is_virtual_place(place) == remote:
                return place
        return places[0] if places else None

    def is_virtual_place(self, place: _Entry) -> bool:
        model = place.model
        concepts = [
            *_concepts(getattr(model, "type", None)),
            *_concepts(getattr(model, "physicalType", None)),
            *_concepts(getattr(model, "form", None)),
        ]
        return bool(getattr(model, "virtualService", None)) or self.marks_virtual(
            concepts, model.extension
        )

    def marks_virtual(self, concepts: Sequence[Any], extensions: Sequence[Any] | None) -> bool:
        if any(self.virtual_codings(_codings(c)) for c in concepts):
            return True
        return _has_virtual_extension(extensions)

    def virtual_codings(self, codings: Codings | str) -> bool:
        return not isinstance(codings, str) and any(pair in self.virtual for pair in codings)

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
            target = self.resolve(item, ("HealthcareService",), owner)
            if isinstance(target, _Entry):
                found.extend(_codings(c) for c in target.model.type or ())
            elif target is False:
                self.report_once(owner, "serviceType.reference", _missing(item))
        return found

    def service_ref(self, key: Codings) -> ServiceRef | None:
        """The service of the best coding (a mapped system first; no telehealth marker)."""
        if key in self.services:
            return self.services[key]
        found = None
        usable = [pair for pair in key if pair not in self.virtual]
        for system, code in sorted(usable, key=lambda pair: _rank(pair[0], self.options.systems)):
            try:
                found = ServiceRef(system=service_system(system, self.options.systems), code=code)
                break
            except ValidationError:
                continue
        self.services[key] = found
        return found

    def facility(self, location: _Entry) -> Facility | None:
        facility_id = self.record_id(location)
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
                address=_address_text(getattr(model, "address", None)),
                phone=_phone(getattr(model, "telecom", None)),
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


def _base_of(full_url: str | None, key: str) -> str | None:
    """The server base of an absolute http(s) fullUrl ending in ``key`` (``"https://a/fhir/"``)."""
    if not isinstance(full_url, str) or not full_url.startswith(("http://", "https://")):
        return None
    if not full_url.endswith("/" + key):
        return None
    return full_url[: -len(key)]


def _without_scheme(base: str) -> str:
    return re.sub(r"^https?://", "", base)


def _ref_text(reference: Any) -> str | None:
    text = getattr(reference, "reference", None)
    return text if isinstance(text, str) else None


def _codings(concept: Any) -> Codings:
    return tuple((c.system, c.code) for c in concept.coding or () if c.system and c.code)


def _concepts(value: Any) -> list[Any]:
    """A CodeableConcept or a list of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _has_virtual_extension(extensions: Sequence[Any] | None) -> bool:
    return any(
        extension.url == VIRTUAL_EXTENSION_URL and extension.valueBoolean is not False
        for extension in extensions or ()
    )


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


def _slot_facts(slot: Any, version: str, virtual: Collection[tuple[str, str]]) -> _SlotFacts:
    service_types = _service_items(slot.serviceType, version)
    concepts = [*_concepts(slot.appointmentType), *_concepts(slot.serviceCategory)]
    remote = (
        any(pair in virtual for concept in concepts for pair in _codings(concept))
        or any(
            pair in virtual for item in service_types if not isinstance(item, str) for pair in item
        )
        or _has_virtual_extension(slot.extension)
    )
    capacity = None
    for extension in slot.extension or ():
        if extension.url == SLOT_CAPACITY_EXTENSION_URL:
            capacity = extension.valueInteger if extension.valueInteger is not None else "bad"
    return _SlotFacts(
        status=str(slot.status),
        start=slot.start,
        end=slot.end,
        overbooked=bool(slot.overbooked),
        schedule=slot.schedule,
        service_types=service_types,
        specialties=[_codings(c) for c in slot.specialty or ()],
        remote=remote,
        capacity=capacity,
    )


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


def _read_entries(
    entries: list[Any], options: FhirOptions, source: str, version: str, release: bool
) -> _Reader:
    reader = _Reader(options=options, source=source, zone=options.zone(), version=version)
    if options.virtual_codings:
        reader.virtual = VIRTUAL_CODINGS | frozenset(options.virtual_codings)
    for index, entry in enumerate(entries):
        reader.add_entry(index, entry)
        if release:
            entries[index] = None
    return reader


def parse_bundle(
    bundle: Mapping[str, Any] | str | bytes | Path,
    options: FhirOptions | None = None,
    *,
    source: str = "fhir",
    start: datetime | None = None,
    end: datetime | None = None,
    services: Collection[ServiceRef] | None = None,
    declared_version: str | None = None,
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
    declared_version
        The FHIR version the sender declared, if any: the ``fhirVersion`` parameter of the
        response's mime type (``"4.0"``) or a CapabilityStatement's ``fhirVersion``
        (``"4.0.1"``). Wins over ``options.version``.

    Returns
    -------
    BundleRead
        The batch (facilities of the offered slots, the offered slots, the issues) and statistics.

    Raises
    ------
    InvalidInputError
        If the document is not a searchset or collection Bundle, is of a FHIR version other than
        R4, R4B or R5 (the error names it), or the options are invalid.
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
    version, guessed = choose_version(entries, options.version, declared_version)
    # parsed here and not guessed: entries may be released as they are read
    release = data is not bundle and not guessed
    reader = _read_entries(entries, options, source, version, release)
    if guessed and reader.slots_invalid and not reader.slots_validated:
        other = "R4B" if version == "R5" else "R5"
        retry = _read_entries(entries, options, source, other, False)
        if retry.slots_validated:
            reader = retry
        else:
            reason = (
                f"no Slot is valid FHIR {version} or {other}: the bundle declares no version "
                "and shows no DSTU2 or STU3 shape, so both were tried"
            )
            reader.issue("Bundle", "entry", reason)
    wanted = None if services is None else {str(s) for s in services}
    by_status: dict[str, int] = {}
    overbooked = outside = 0
    offered: list[Slot] = []
    for item in reader.slots:
        model: _SlotFacts = item.model
        status = model.status
        free = status == "free"
        if model.end <= model.start:
            reason = "end must be after start"
            if free:
                reader.reject(item.label, "end", reason, reader.record_id(item))
            else:
                reader.issue(item.label, "end", reason)
            continue
        by_status[status] = by_status.get(status, 0) + 1
        if not free:
            continue
        if model.overbooked and not options.offer_overbooked:
            overbooked += 1
            reason = "overbooked (booked beyond its capacity); not offered (offer_overbooked)"
            reader.reject(item.label, "overbooked", reason, reader.record_id(item))
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
        free=reader.free,
        rejected=reader.rejected,
        overbooked=overbooked,
        outside=outside,
        offered=len(offered),
        validation_seconds=reader.validation_seconds,
        seconds=time.perf_counter() - began,
    )
    logger.debug(
        "%s: %d entries, %d free slots, %d offered, %d issues",
        source,
        stats.entries,
        stats.free,
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


def _address_text(address: Any) -> str | None:
    """A Location's address as one line: its ``text``, else its lines, city and postal code."""
    if address is None:
        return None
    text = (getattr(address, "text", None) or "").strip()
    if not text:
        parts = [*(getattr(address, "line", None) or ()), getattr(address, "city", None)]
        postal = getattr(address, "postalCode", None)
        text = ", ".join(p.strip() for p in ([postal] if postal else []) + parts if p and p.strip())
    text = " ".join(text.split())
    return text[:500] or None


def _phone(telecom: Any) -> str | None:
    """The first phone number among a Location's contact points."""
    for point in telecom or ():
        value = (getattr(point, "value", None) or "").strip()
        if getattr(point, "system", None) == "phone" and value:
            return " ".join(value.split())[:100]
    return None
