"""Field types shared by the domain models: identifiers, time zones and aware instants.

Naive datetimes
---------------
An :data:`Instant` must carry a time zone. A naive value is rejected unless the validation context
names a zone under :data:`NAIVE_TIMEZONE_KEY`; then it is read as local time in that zone, never
as UTC by default::

    Slot.model_validate(data, context={NAIVE_TIMEZONE_KEY: ZoneInfo("Europe/Moscow")})
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from routing.domain.regions import is_known_region

__all__ = [
    "NAIVE_TIMEZONE_KEY",
    "Instant",
    "LowerId",
    "PatientId",
    "RecordId",
    "Region",
    "TimezoneName",
    "record_name",
    "resolve_timezone",
]

NAIVE_TIMEZONE_KEY = "naive_timezone"
"""The validation-context key holding the :class:`~datetime.tzinfo` for naive datetimes."""

RecordId = Annotated[str, StringConstraints(pattern=r"^[^\s\x00-\x1f\x7f]+$", max_length=200)]
"""The id of a facility, slot or request: non-empty, without whitespace or control characters."""

PatientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)]
"""A pseudonymous patient id: letters, digits, ``-`` and ``_`` only."""

LowerId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)]
"""A pathway, stage or reference-date id: a lower-case letter, then letters, digits or ``_``."""


def _known_region(code: str) -> str:
    if not is_known_region(code):
        raise ValueError(f"unknown region {code!r}: give 'RU' or a federal subject's code")
    return code


Region = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"),
    AfterValidator(_known_region),
]
"""``"RU"`` or a federal subject's ISO 3166-2 code such as ``"RU-SPE"``
(:data:`~routing.domain.regions.REGIONS`); any other code is refused."""

_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$"
_DATETIME = TypeAdapter(datetime)


def resolve_timezone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name``.

    Raises
    ------
    ValueError
        If there is no such zone in the system's (or ``tzdata``'s) database.

    Examples
    --------
    >>> resolve_timezone("Europe/Moscow").key
    'Europe/Moscow'
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("not a known IANA time zone (e.g. 'Europe/Moscow')") from None


def _check_zone(name: str) -> str:
    resolve_timezone(name)
    return name


TimezoneName = Annotated[
    str, StringConstraints(pattern=_ZONE_PATTERN, max_length=64), AfterValidator(_check_zone)
]
"""An IANA time-zone name that this system knows, such as ``"Europe/Moscow"``."""


def _context_zone(info: ValidationInfo) -> tzinfo | None:
    context = info.context
    if isinstance(context, Mapping):
        zone = context.get(NAIVE_TIMEZONE_KEY)
        if isinstance(zone, tzinfo):
            return zone
    return None


def _localize(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    zone = _context_zone(info)
    if zone is not None and isinstance(value, str | datetime):
        try:
            parsed = _DATETIME.validate_python(value)
        except ValidationError:
            parsed = None  # the handler reports the malformed value
        if parsed is not None and parsed.tzinfo is None:
            value = parsed.replace(tzinfo=zone)
    return handler(value)


Instant = Annotated[AwareDatetime, WrapValidator(_localize)]
"""A timezone-aware datetime; a naive one only with a zone in the validation context."""


def record_name(noun: str, record_id: object) -> str:
    """How a message names a record: ``"slot 'S17'"``, or the bare noun when the id is unusable.

    Examples
    --------
    >>> record_name("slot", "S17")
    "slot 'S17'"
    >>> record_name("slot", None)
    'slot'
    """
    if not isinstance(record_id, str) or not 0 < len(record_id) <= 200:
        return noun
    if not record_id.isprintable() or any(c.isspace() for c in record_id):
        return noun
    return f"{noun} {record_id!r}"
