"""The Saint Petersburg city appointment portal: its JSON records, envelope and mapping to slots.

The portal's JSON API (``/_api/api/v2``) wraps every answer in an envelope
``{result, success, errorCode, message, stackTrace, requestId}``. This module reads those answers
(as bytes, text or decoded JSON) into frozen models and maps them onto the library's
:class:`~routing.domain.Facility` and :class:`~routing.domain.Slot`. The live client and the crawl
are in :mod:`routing.adapters.gorzdrav_client`.

Envelope outcomes
-----------------
- ``success: true``: the ``result`` list, each record validated on its own; a bad record is
  rejected (kept in :attr:`PortalAnswer.rejected`) and the others are used.
- error codes 37 (no specialties), 38 (no doctors), 39 (no free tickets): an empty answer.
- error codes 603 / 616 (the clinic's own system timed out or failed):
  :class:`PortalRetryableError`.
- any other error: :class:`PortalError` naming the endpoint, the code and the ``requestId``.

Times
-----
The portal gives local times without a zone (``"2025-02-17T10:30:00"``). They are read as
Europe/Moscow wall-clock time (or the zone given to the parser), never as UTC.

Mapping
-------
- LPU → :class:`Facility` with id ``"gorzdrav:<lpuId>"``; level from :class:`MappingOptions`
  (by LPU id, else by the portal's ``lpuType``, else 1; see :data:`DEFAULT_TYPE_LEVELS`).
  Inactive LPUs are skipped, each reported as an issue.
- specialty ``ferId`` → ``ServiceRef("fer", ferId)``; ``ferId`` missing or ``"0"`` means no
  federal code, so no service.
- doctor → :attr:`Slot.resource` as ``"gorzdrav:<lpuId>:<doctorId>"`` (an id, never the name).
- appointment → :class:`Slot` with id ``"gorzdrav:<lpuId>:<appointment id>"``, capacity 1, in
  person.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel

from nosology.pathway import ServiceRef, VisitMode
from routing.adapters.source import SourceIssue
from routing.domain import Facility, GeoPoint, Slot, record_name
from routing.exceptions import InvalidInputError, RoutingError

__all__ = [
    "DEFAULT_OPTIONS",
    "DEFAULT_TYPE_LEVELS",
    "EMPTY_CODES",
    "PORTAL_TIMEZONE",
    "RETRYABLE_CODES",
    "SOURCE_NAME",
    "Appointment",
    "District",
    "Doctor",
    "Envelope",
    "GorzdravError",
    "GorzdravFormatError",
    "Lpu",
    "MappingOptions",
    "PortalAnswer",
    "PortalError",
    "PortalModel",
    "PortalRetryableError",
    "Specialty",
    "TimetableDay",
    "appointment_to_slot",
    "appointments_to_slots",
    "decode_json",
    "facility_id",
    "lpu_to_facility",
    "lpus_to_facilities",
    "parse_appointments",
    "parse_districts",
    "parse_doctors",
    "parse_lpus",
    "parse_specialties",
    "parse_timetable",
    "read_envelope",
    "resource_id",
    "specialty_service",
    "timetable_appointments",
]

logger = logging.getLogger(__name__)

SOURCE_NAME = "gorzdrav"
"""The prefix of every id this adapter makes, and its name in :class:`SourceIssue` records."""

PORTAL_TIMEZONE = ZoneInfo("Europe/Moscow")
"""The zone of the portal's naive local times."""

EMPTY_CODES: Mapping[int, str] = MappingProxyType(
    {37: "no specialties", 38: "no doctors", 39: "no free tickets"}
)
"""Error codes that mean an empty answer, not a failure."""

RETRYABLE_CODES: Mapping[int, str] = MappingProxyType(
    {603: "timeout at the clinic's own system", 616: "error at the clinic's own system"}
)
"""Error codes of a failure at the clinic's own system: trying again later may succeed."""

DEFAULT_TYPE_LEVELS: Mapping[str, int] = MappingProxyType({"Онкоцентр": 2, "Больница": 3})
"""Facility level by the portal's ``lpuType``; any type not listed is level 1.

``Онкоцентр`` (an outpatient oncology centre, ЦАОП) is the inter-district level 2; ``Больница``
(a hospital) is level 3. Polyclinics, children's polyclinics, women's consultations, dentistry and
the district dispensaries the portal lists (``Дерматология и венерология``, ``Психиатрия``,
``Фтизиатрия``, ``Наркология``) are district outpatient services: level 1.
"""

_TIMEZONE_KEY = "timezone"
_MAX_ID = 100


class GorzdravError(RoutingError):
    """Base class of every error about the city portal's answers."""


class GorzdravFormatError(GorzdravError, InvalidInputError):
    """An answer that is not in the portal's format: not JSON, or a record with a bad field."""


class PortalError(GorzdravError):
    """The portal answered with an error envelope.

    Parameters
    ----------
    endpoint
        The endpoint path that answered (ids only, no patient data).
    error_code
        The envelope's ``errorCode``.
    request_id
        The envelope's ``requestId``, for the portal's support; ``None`` if absent.

    The portal's free-text ``message`` is left out: it is not needed to act and may echo input.
    """

    retryable: ClassVar[bool] = False

    def __init__(self, endpoint: str, error_code: int | None, request_id: str | None) -> None:
        self.endpoint = endpoint
        self.error_code = error_code
        self.request_id = request_id
        known = RETRYABLE_CODES.get(error_code) if error_code is not None else None
        what = f"portal error {error_code}" + (f" ({known})" if known else "")
        super().__init__(f"{SOURCE_NAME} {endpoint}: {what}, request id {request_id or 'absent'}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.endpoint, self.error_code, self.request_id))


class PortalRetryableError(PortalError):
    """Error 603 or 616: the clinic's own system failed; trying again later may succeed."""

    retryable: ClassVar[bool] = True


# --------------------------------------------------------------------------- field types


def _attach_zone(value: datetime, info: ValidationInfo) -> datetime:
    if value.tzinfo is not None:
        return value
    context = info.context
    zone = context.get(_TIMEZONE_KEY) if isinstance(context, dict) else None
    return value.replace(tzinfo=zone if isinstance(zone, tzinfo) else PORTAL_TIMEZONE)


PortalTime = Annotated[datetime, AfterValidator(_attach_zone)]
"""A portal time: naive local time gets the parser's zone (Europe/Moscow by default)."""


def _number_to_str(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


PortalId = Annotated[
    str,
    BeforeValidator(_number_to_str),
    StringConstraints(pattern=r"^\S+$", max_length=_MAX_ID),
]
"""A portal id (the portal gives some as numbers, some as strings): non-empty, no whitespace."""


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


Latitude = Annotated[
    Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None,
    BeforeValidator(_blank_to_none),
]
Longitude = Annotated[
    Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None,
    BeforeValidator(_blank_to_none),
]
Count = Annotated[int, Field(ge=0)] | None
Text = Annotated[str, StringConstraints(max_length=2000)] | None


# --------------------------------------------------------------------------- records


class PortalModel(BaseModel):
    """Base of the portal's records: frozen, camelCase names, unknown fields ignored.

    The portal adds fields over time, so unknown ones are ignored (unlike the domain models);
    input values are never echoed in errors.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        hide_input_in_errors=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )


class Envelope(PortalModel):
    """The envelope of every answer."""

    result: Any = None
    success: bool
    error_code: int | None = None
    message: Any = None
    """The portal's free text: never put in errors or logs (it may echo input)."""
    request_id: Text = None


class District(PortalModel):
    """A city district (``/shared/districts``)."""

    id: PortalId
    name: Text = None
    okato: int | None = None


class Lpu(PortalModel):
    """A facility (ЛПУ) of a district (``/shared/district/{id}/lpus``).

    ``is_active`` absent means active. Coordinates come as strings; blank means unknown.
    """

    id: PortalId
    lpu_full_name: Text = None
    lpu_short_name: Text = None
    lpu_type: Text = None
    district_id: PortalId | None = None
    district_name: Text = None
    address: Text = None
    phone: Text = None
    latitude: Latitude = None
    longitude: Longitude = None
    is_active: bool = True


class Specialty(PortalModel):
    """A specialty with free tickets at a facility (``/schedule/lpu/{id}/specialties``)."""

    id: PortalId
    fer_id: PortalId | None = None
    name: Text = None
    count_free_participant: Count = None
    count_free_ticket: Count = None
    last_date: PortalTime | None = None
    nearest_date: PortalTime | None = None


class Doctor(PortalModel):
    """A doctor of a specialty (``.../speciality/{id}/doctors``)."""

    id: PortalId
    name: Text = None
    comment: Text = None
    free_participant_count: Count = None
    free_ticket_count: Count = None
    last_date: PortalTime | None = None
    nearest_date: PortalTime | None = None


class Appointment(PortalModel):
    """A free appointment (``.../doctor/{id}/appointments``), e.g. id
    ``"17.02.2025;10:30;п100.136"``."""

    id: Annotated[str, StringConstraints(pattern=r"^[^\s\x00-\x1f\x7f]+$", max_length=150)]
    visit_start: PortalTime
    visit_end: PortalTime
    address: Text = None
    number: Text = None
    room: Text = None


class TimetableDay(PortalModel):
    """A day of a doctor's timetable (``.../doctor/{id}/timetable``) with its free appointments."""

    visit_start: PortalTime
    visit_end: PortalTime
    recordable_day: bool = False
    deny_cause: Text = None
    appointments: tuple[Appointment, ...] = ()


# --------------------------------------------------------------------------- parsing

T = TypeVar("T", bound=PortalModel)


@dataclass(frozen=True, slots=True)
class PortalAnswer(Generic[T]):
    """A successful (or empty) answer of one endpoint.

    Attributes
    ----------
    records
        The records that validated, in the portal's order.
    rejected
        One error per record that did not validate (the others are still used).
    empty_code
        37, 38 or 39 when the portal said there was nothing; else ``None``.
    request_id
        The envelope's ``requestId``, if any.
    """

    records: tuple[T, ...]
    rejected: tuple[GorzdravFormatError, ...] = ()
    empty_code: int | None = None
    request_id: str | None = None


def decode_json(raw: bytes | bytearray | str, endpoint: str = "response") -> Any:
    """Decode a body as JSON (UTF-8).

    Raises
    ------
    GorzdravFormatError
        If it is not UTF-8 JSON.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        return json.loads(text)
    except UnicodeDecodeError:
        raise GorzdravFormatError(_where(endpoint), "", "not UTF-8 text") from None
    except (ValueError, RecursionError) as error:
        position = f" at position {error.pos}" if isinstance(error, json.JSONDecodeError) else ""
        raise GorzdravFormatError(_where(endpoint), "", f"not valid JSON{position}") from None


def _where(endpoint: str) -> str:
    return f"{SOURCE_NAME} {endpoint}"


def _first_error(error: ValidationError) -> tuple[str, str]:
    details = error.errors(include_url=False, include_input=False)
    if not details:  # pragma: no cover - pydantic always gives at least one
        return "", "invalid"
    first = details[0]
    location = ".".join(str(part) for part in first["loc"])
    reason = first["msg"]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, InvalidInputError):  # raised by a domain model's own check
        location = ".".join(part for part in (location, cause.field) if part)
        reason = cause.reason
    if len(details) > 1:
        reason += f" (and {len(details) - 1} more)"
    return location, reason


def read_envelope(raw: Any, endpoint: str = "response") -> Envelope:
    """Read the envelope of an answer (bytes, text or decoded JSON) and check its outcome.

    Raises
    ------
    GorzdravFormatError
        If the answer is not a JSON object with a boolean ``success``.
    PortalRetryableError
        For error codes 603 and 616.
    PortalError
        For any other error code except 37, 38 and 39 (which give an envelope with no result).
    """
    data = decode_json(raw, endpoint) if isinstance(raw, bytes | bytearray | str) else raw
    if not isinstance(data, Mapping):
        raise GorzdravFormatError(_where(endpoint), "", "expected a JSON object (the envelope)")
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as error:
        location, reason = _first_error(error)
        raise GorzdravFormatError(_where(endpoint), location, reason) from None
    if envelope.success:
        return envelope
    code = envelope.error_code
    if code is not None and code in EMPTY_CODES:
        return envelope
    if code is not None and code in RETRYABLE_CODES:
        raise PortalRetryableError(endpoint, code, envelope.request_id)
    raise PortalError(endpoint, code, envelope.request_id)


def _record_label(noun: str, index: int, item: Any) -> str:
    item_id = _number_to_str(item.get("id")) if isinstance(item, Mapping) else None
    named = record_name(noun, item_id)
    return named if named != noun else f"{noun} result[{index}]"


class _ListAnswer(PortalModel, Generic[T]):
    """The envelope of a list endpoint, read in one pass (the fast path of :func:`_parse_list`)."""

    result: list[T] | None = None
    success: bool
    error_code: int | None = None
    request_id: Text = None


_LIST_ANSWERS: dict[type[PortalModel], type[_ListAnswer[Any]]] = {
    model: _ListAnswer[model]  # type: ignore[valid-type]
    for model in (District, Lpu, Specialty, Doctor, Appointment, TimetableDay)
}


def _fast_parse(raw: Any, model: type[T], context: dict[str, Any]) -> _ListAnswer[T] | None:
    """The whole answer validated at once, or ``None`` if anything is wrong with it."""
    envelope = _LIST_ANSWERS[model]
    try:
        if isinstance(raw, bytes | bytearray | str):
            answer: _ListAnswer[T] = envelope.model_validate_json(raw, context=context)
        else:
            answer = envelope.model_validate(raw, context=context)
    except (ValidationError, RecursionError):
        return None
    return answer


def _parse_list(
    raw: Any, model: type[T], noun: str, endpoint: str, zone: tzinfo
) -> PortalAnswer[T]:
    context = {_TIMEZONE_KEY: zone}
    fast = _fast_parse(raw, model, context)
    if fast is not None and fast.success:
        return PortalAnswer(tuple(fast.result or ()), request_id=fast.request_id)
    envelope = read_envelope(raw, endpoint)
    if not envelope.success:
        return PortalAnswer((), empty_code=envelope.error_code, request_id=envelope.request_id)
    items = envelope.result
    if items is None:
        items = []
    if not isinstance(items, list):
        raise GorzdravFormatError(_where(endpoint), "result", f"expected a list of {noun}s")
    good: list[T] = []
    rejected: list[GorzdravFormatError] = []
    for index, item in enumerate(items):
        try:
            good.append(model.model_validate(item, context=context))
        except ValidationError as error:
            location, reason = _first_error(error)
            rejected.append(GorzdravFormatError(_record_label(noun, index, item), location, reason))
    if rejected:
        logger.debug("%s: %d of %d records rejected", endpoint, len(rejected), len(items))
    return PortalAnswer(tuple(good), tuple(rejected), request_id=envelope.request_id)


def parse_districts(raw: Any, endpoint: str = "/shared/districts") -> PortalAnswer[District]:
    """The districts of a ``/shared/districts`` answer (see :func:`read_envelope` for errors)."""
    return _parse_list(raw, District, "district", endpoint, PORTAL_TIMEZONE)


def parse_lpus(raw: Any, endpoint: str = "/shared/district/lpus") -> PortalAnswer[Lpu]:
    """The facilities of a ``/shared/district/{id}/lpus`` answer."""
    return _parse_list(raw, Lpu, "lpu", endpoint, PORTAL_TIMEZONE)


def parse_specialties(
    raw: Any, endpoint: str = "/schedule/lpu/specialties", *, zone: tzinfo = PORTAL_TIMEZONE
) -> PortalAnswer[Specialty]:
    """The specialties of a ``/schedule/lpu/{id}/specialties`` answer."""
    return _parse_list(raw, Specialty, "specialty", endpoint, zone)


def parse_doctors(
    raw: Any, endpoint: str = "/schedule/lpu/speciality/doctors", *, zone: tzinfo = PORTAL_TIMEZONE
) -> PortalAnswer[Doctor]:
    """The doctors of a ``.../speciality/{id}/doctors`` answer."""
    return _parse_list(raw, Doctor, "doctor", endpoint, zone)


def parse_appointments(
    raw: Any,
    endpoint: str = "/schedule/lpu/doctor/appointments",
    *,
    zone: tzinfo = PORTAL_TIMEZONE,
) -> PortalAnswer[Appointment]:
    """The free appointments of a ``.../doctor/{id}/appointments`` answer.

    Examples
    --------
    >>> body = '''{"success": true, "errorCode": 0, "result": [{"id": "17.02.2025;10:30;d1",
    ...   "visitStart": "2025-02-17T10:30:00", "visitEnd": "2025-02-17T10:45:00"}]}'''
    >>> parse_appointments(body).records[0].visit_start.isoformat()
    '2025-02-17T10:30:00+03:00'
    >>> parse_appointments('{"success": false, "errorCode": 39}').empty_code
    39
    """
    return _parse_list(raw, Appointment, "appointment", endpoint, zone)


def parse_timetable(
    raw: Any, endpoint: str = "/schedule/lpu/doctor/timetable", *, zone: tzinfo = PORTAL_TIMEZONE
) -> PortalAnswer[TimetableDay]:
    """The days of a ``.../doctor/{id}/timetable`` answer, free appointments nested."""
    return _parse_list(raw, TimetableDay, "timetable day", endpoint, zone)


def timetable_appointments(days: Iterable[TimetableDay]) -> tuple[Appointment, ...]:
    """The free appointments of the bookable (``recordableDay``) days, in order."""
    return tuple(a for day in days if day.recordable_day for a in day.appointments)


# --------------------------------------------------------------------------- mapping


def _level(value: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3:
        raise InvalidInputError("gorzdrav mapping options", where, "a level is 1, 2 or 3")
    return value


@dataclass(frozen=True)
class MappingOptions:
    """How portal records become the library's facilities.

    Attributes
    ----------
    type_levels
        Facility level by the portal's ``lpuType`` (default :data:`DEFAULT_TYPE_LEVELS`).
    lpu_levels
        Facility level by portal LPU id; wins over ``type_levels``.
    default_level
        The level of an LPU whose type is not listed.
    """

    type_levels: Mapping[str, int] = field(default_factory=lambda: DEFAULT_TYPE_LEVELS)
    lpu_levels: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    default_level: int = 1

    def __post_init__(self) -> None:
        for name in ("type_levels", "lpu_levels"):
            table = {str(k): _level(v, f"{name}.{k}") for k, v in getattr(self, name).items()}
            object.__setattr__(self, name, MappingProxyType(table))
        _level(self.default_level, "default_level")

    def level_of(self, lpu: Lpu) -> int:
        """The level of ``lpu``: by id, else by type, else the default."""
        level = self.lpu_levels.get(lpu.id)
        if level is None and lpu.lpu_type is not None:
            level = self.type_levels.get(lpu.lpu_type.strip())
        return self.default_level if level is None else level


DEFAULT_OPTIONS = MappingOptions()


def facility_id(lpu_id: str) -> str:
    """The library's id of a portal LPU: ``"gorzdrav:<lpuId>"``."""
    return f"{SOURCE_NAME}:{lpu_id}"


def resource_id(lpu_id: str, doctor_id: str) -> str:
    """The library's resource id of a portal doctor: ``"gorzdrav:<lpuId>:<doctorId>"``."""
    return f"{SOURCE_NAME}:{lpu_id}:{doctor_id}"


def specialty_service(specialty: Specialty) -> ServiceRef | None:
    """``ServiceRef("fer", ferId)``, or ``None`` if the specialty has no federal code.

    Examples
    --------
    >>> str(specialty_service(Specialty(id="4", fer_id="27")))
    'fer:27'
    >>> specialty_service(Specialty(id="896", fer_id="0")) is None
    True
    """
    fer = specialty.fer_id
    if fer is None or fer.strip("0") == "":
        return None
    return ServiceRef(system="fer", code=fer)


def lpu_to_facility(
    lpu: Lpu,
    services: Iterable[ServiceRef] = (),
    options: MappingOptions = DEFAULT_OPTIONS,
) -> Facility:
    """The facility of a portal LPU (active or not; see :func:`lpus_to_facilities`).

    ``services`` are what it offers (duplicates are dropped).

    Raises
    ------
    GorzdravFormatError
        If the record cannot make a valid facility.
    """
    fid = facility_id(lpu.id)
    location = None
    if lpu.latitude is not None and lpu.longitude is not None:
        location = GeoPoint(lat=lpu.latitude, lon=lpu.longitude)
    unique = tuple({str(s): s for s in services}.values())
    name = (lpu.lpu_full_name or "").strip() or (lpu.lpu_short_name or "").strip() or fid
    district = (lpu.district_name or "").strip() or None
    try:
        return Facility(
            id=fid,
            name=name[:500],
            location=location,
            district=district[:200] if district else None,
            level=options.level_of(lpu),
            services=unique,
            address=_shown(lpu.address, 500),
            phone=_shown(lpu.phone, 100),
        )
    except ValidationError as error:
        location_, reason = _first_error(error)
        raise GorzdravFormatError(record_name("facility", fid), location_, reason) from None


def lpus_to_facilities(
    lpus: Iterable[Lpu],
    services: Mapping[str, Iterable[ServiceRef]] | None = None,
    options: MappingOptions = DEFAULT_OPTIONS,
) -> tuple[tuple[Facility, ...], tuple[SourceIssue, ...]]:
    """The facilities of the active LPUs, and an issue per LPU skipped.

    Parameters
    ----------
    lpus
        Portal records; an id seen twice is used once.
    services
        Services offered, by portal LPU id.
    options
        Level mapping.

    Returns
    -------
    facilities, issues
        Inactive LPUs are skipped, each with an issue (field ``isActive``); so is any LPU that
        cannot make a valid facility.
    """
    facilities: list[Facility] = []
    issues: list[SourceIssue] = []
    seen: set[str] = set()
    for lpu in lpus:
        if lpu.id in seen:
            continue
        seen.add(lpu.id)
        if not lpu.is_active:
            issues.append(
                SourceIssue(
                    source=SOURCE_NAME,
                    record=record_name("facility", facility_id(lpu.id)),
                    field="isActive",
                    reason="inactive on the portal; skipped",
                )
            )
            continue
        try:
            offered = () if services is None else services.get(lpu.id, ())
            facilities.append(lpu_to_facility(lpu, offered, options))
        except GorzdravFormatError as error:
            issues.append(SourceIssue.from_error(SOURCE_NAME, error))
    return tuple(facilities), tuple(issues)


@dataclass(frozen=True, slots=True)
class _Shared:
    """The fields that all slots of one answer share (one string each, not one per slot)."""

    lpu_id: str
    service: ServiceRef
    doctor_id: str | None
    prefix: str = field(init=False)
    facility: str = field(init=False)
    resource: str | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", f"{SOURCE_NAME}:{self.lpu_id}:")
        object.__setattr__(self, "facility", facility_id(self.lpu_id))
        doctor = self.doctor_id
        object.__setattr__(
            self, "resource", None if doctor is None else resource_id(self.lpu_id, doctor)
        )


def _shown(text: str | None, limit: int) -> str | None:
    """A contact text as shown to the patient: stripped, control characters dropped, cut to
    ``limit``; ``None`` when blank."""
    if text is None:
        return None
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return cleaned[:limit].strip() or None


def _fields_for(appointment: Appointment, shared: _Shared) -> dict[str, Any]:
    return {
        "id": shared.prefix + appointment.id,
        "facility_id": shared.facility,
        "service": shared.service,
        "start": appointment.visit_start,
        "end": appointment.visit_end,
        "capacity": 1,
        "resource": shared.resource,
        "mode": VisitMode.IN_PERSON,
        "room": _shown(appointment.room, 100),
        "address": _shown(appointment.address, 500),
    }


def appointment_to_slot(
    appointment: Appointment,
    lpu_id: str,
    service: ServiceRef,
    doctor_id: str | None = None,
) -> Slot:
    """The slot of a free appointment: capacity 1, in person.

    Raises
    ------
    GorzdravFormatError
        If the appointment cannot make a valid slot (e.g. its end is not after its start).
    """
    try:
        return Slot.model_validate(_fields_for(appointment, _Shared(lpu_id, service, doctor_id)))
    except ValidationError as error:
        location, reason = _first_error(error)
        raise GorzdravFormatError(
            record_name("appointment", appointment.id), location, reason
        ) from None


_SLOTS: TypeAdapter[list[Slot]] = TypeAdapter(list[Slot])


def appointments_to_slots(
    appointments: Iterable[Appointment],
    lpu_id: str,
    service: ServiceRef,
    doctor_id: str | None = None,
) -> tuple[tuple[Slot, ...], tuple[SourceIssue, ...]]:
    """The slots of free appointments, and an issue per appointment that could not be used."""
    appointments = tuple(appointments)
    shared = _Shared(lpu_id, service, doctor_id)
    fields = [_fields_for(a, shared) for a in appointments]
    try:  # the fast path: every slot is good
        return tuple(_SLOTS.validate_python(fields)), ()
    except ValidationError:
        pass
    slots: list[Slot] = []
    issues: list[SourceIssue] = []
    for appointment in appointments:
        try:
            slots.append(appointment_to_slot(appointment, lpu_id, service, doctor_id))
        except GorzdravFormatError as error:
            issues.append(SourceIssue.from_error(SOURCE_NAME, error))
    return tuple(slots), tuple(issues)
