"""Patients: a pseudonymous id and the few facts routing needs, nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import Field, Strict, StringConstraints, field_serializer, model_validator

from nosology.pathway import FrozenModel, PlainText
from routing.domain.common import Instant, PatientId, RecordId, record_name
from routing.domain.geo import GeoPoint
from routing.exceptions import InvalidInputError

__all__ = ["Patient", "Period"]


class Period(FrozenModel):
    """A time interval ``[start, end)``; ``end`` after ``start``, both timezone-aware."""

    start: Instant
    end: Instant

    @model_validator(mode="after")
    def _check_times(self) -> Self:
        if self.end <= self.start:
            raise InvalidInputError("period", "end", "end must be after start")
        return self

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether ``[start, end)`` (aware datetimes) shares any time with this period."""
        return start < self.end and self.start < end


class Patient(FrozenModel):
    """A patient, pseudonymous: no name, document or other personal field exists here.

    The repr and every message show the id only.

    Attributes
    ----------
    id
        A pseudonymous id: letters, digits, ``-`` and ``_``.
    location
        Home location, if known (for travel).
    district
        Home district, if known.
    unavailable
        Periods when the patient cannot come.
    max_visits_per_day
        In-person appointments a day at most; each stage booked in person counts once, even two at
        the same facility.
    allowed_facilities
        A regional routing restriction: the facilities the patient may be routed to; ``None`` for
        any.
    preferred_facilities
        Own or attachment facilities, most preferred first.
    travels_out_of_region
        The patient's consent to in-person visits at facilities of another region (a federal
        centre in Moscow, say); without it only remote stages may be served from another region.
    """

    id: PatientId
    location: GeoPoint | None = None
    district: Annotated[PlainText, StringConstraints(min_length=1, max_length=200)] | None = None
    unavailable: tuple[Period, ...] = ()
    max_visits_per_day: Annotated[int, Strict(), Field(ge=1, le=24)] = 2
    allowed_facilities: frozenset[RecordId] | None = None
    preferred_facilities: tuple[RecordId, ...] = ()
    travels_out_of_region: Annotated[bool, Strict()] = False

    @model_validator(mode="after")
    def _check_facilities(self) -> Self:
        record = record_name("patient", self.id)
        if self.allowed_facilities is not None and not self.allowed_facilities:
            raise InvalidInputError(
                record, "allowed_facilities", "name at least one facility, or null for any"
            )
        if len(set(self.preferred_facilities)) != len(self.preferred_facilities):
            raise InvalidInputError(record, "preferred_facilities", "a facility is listed twice")
        return self

    @field_serializer("allowed_facilities", when_used="json")
    def _sorted(self, value: frozenset[str] | None) -> list[str] | None:
        return None if value is None else sorted(value)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        return [("id", self.id)]

    def may_use(self, facility_id: str) -> bool:
        """Whether the routing restriction allows the facility."""
        return self.allowed_facilities is None or facility_id in self.allowed_facilities
