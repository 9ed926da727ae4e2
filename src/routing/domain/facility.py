"""Facilities (медицинские организации): where services are given."""

from __future__ import annotations

from datetime import date
from functools import cached_property
from typing import Annotated

from pydantic import Field, Strict, StringConstraints, field_validator

from nosology.pathway import FrozenModel, PlainText, ServiceRef
from routing.domain.common import RecordId, Region
from routing.domain.geo import GeoPoint

__all__ = ["Facility"]


class Facility(FrozenModel):
    """A medical facility: where it is, its level and the services it offers.

    Attributes
    ----------
    id
        Unique in a problem; non-empty, no whitespace.
    name
        Display name.
    location
        Where it is, if known (used for travel times).
    district
        The administrative district, if known.
    level
        1 polyclinic, 2 inter-district centre (ЦАОП), 3 hospital or dispensary.
    services
        The services it offers, each once.
    days_off
        Its own closed days, besides the production calendar's days off.
    address
        The postal address shown to the patient, if the source carries it.
    phone
        The phone number shown to the patient (registry), if the source carries it.
    region
        The ISO 3166-2 region (federal subject) it stands in, e.g. ``"RU-MOW"`` for a federal
        centre in Moscow; ``None`` means the region of the request being planned.
    """

    id: RecordId
    name: Annotated[
        PlainText, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)
    ]
    location: GeoPoint | None = None
    district: Annotated[PlainText, StringConstraints(min_length=1, max_length=200)] | None = None
    level: Annotated[int, Strict(), Field(ge=1, le=3)]
    services: tuple[ServiceRef, ...] = ()
    days_off: tuple[date, ...] = ()
    address: Annotated[PlainText, StringConstraints(min_length=1, max_length=500)] | None = None
    phone: Annotated[PlainText, StringConstraints(min_length=1, max_length=100)] | None = None
    region: Region | None = None

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: tuple[ServiceRef, ...]) -> tuple[ServiceRef, ...]:
        if len({str(s) for s in services}) != len(services):
            raise ValueError("a service is listed twice")
        return services

    @cached_property
    def service_keys(self) -> frozenset[str]:
        """The services as ``"system:code"`` strings."""
        return frozenset(str(s) for s in self.services)

    def offers(self, service: ServiceRef | str) -> bool:
        """Whether the facility offers ``service`` (a :class:`ServiceRef` or ``"system:code"``)."""
        return str(service) in self.service_keys
