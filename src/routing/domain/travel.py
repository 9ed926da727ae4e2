"""Travel times between facilities."""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil, cos, radians
from typing import Annotated

from pydantic import Field, Strict

from nosology.pathway import FrozenModel
from routing.domain.common import RecordId, Region
from routing.domain.facility import Facility
from routing.domain.geo import GeoPoint
from routing.domain.homelegs import minutes_to_sites

__all__ = ["TravelModel"]

_Minutes = Annotated[int, Strict(), Field(ge=0, le=100_000)]
_Days = Annotated[int, Strict(), Field(ge=0, le=60)]

DAY_MINUTES = 1440
"""Minutes in a day of inter-region travel."""


class TravelModel(FrozenModel):
    """Minutes a patient needs to get from one facility to another.

    ``minutes(a, b)`` is 0 for the same facility; else the matrix entry ``a → b`` (or ``b → a``)
    if there is one; else, between facilities of different regions (a facility without a
    region stands in the home region of the requests), whole days of ``1440`` minutes: the
    ``region_days`` entry of the two regions (either way), else ``other_region_days``; else
    ``ceil(distance_km / speed_kmh · 60) + overhead_minutes`` when both locations are known;
    else ``unknown_minutes``.

    Attributes
    ----------
    speed_kmh
        Average door-to-door speed in the city.
    overhead_minutes
        Added to every distance-based trip (waiting, walking, parking).
    matrix
        Facility id → facility id → minutes; overrides the distance.
    unknown_minutes
        Assumed when a location is missing and the matrix has no entry.
    region_days
        Region → region → days of travel between them (e.g. ``{"RU-SPE": {"RU-MOW": 1}}``).
    other_region_days
        Days of travel between two regions ``region_days`` does not list.
    """

    speed_kmh: Annotated[float, Strict(), Field(gt=0, le=1000, allow_inf_nan=False)] = 20.0
    overhead_minutes: _Minutes = 15
    matrix: dict[RecordId, dict[RecordId, _Minutes]] = Field(default_factory=dict)
    unknown_minutes: _Minutes = 60
    region_days: dict[Region, dict[Region, _Days]] = Field(default_factory=dict)
    other_region_days: _Days = 1

    def __hash__(self) -> int:
        return hash(
            (
                self.speed_kmh,
                self.overhead_minutes,
                self.unknown_minutes,
                len(self.matrix),
                len(self.region_days),
                self.other_region_days,
            )
        )

    def minutes(self, a: Facility, b: Facility) -> int:
        """Travel minutes from ``a`` to ``b``.

        Examples
        --------
        >>> from routing.domain import Facility, GeoPoint
        >>> f1 = Facility(id="F1", name="One", level=1, location=GeoPoint(lat=59.93, lon=30.31))
        >>> f2 = Facility(id="F2", name="Two", level=1, location=GeoPoint(lat=59.93, lon=30.41))
        >>> TravelModel().minutes(f1, f2), TravelModel().minutes(f1, f1)
        (32, 0)
        """
        if a.id == b.id:
            return 0
        given = self.matrix.get(a.id, {}).get(b.id)
        if given is None:
            given = self.matrix.get(b.id, {}).get(a.id)
        if given is not None:
            return given
        if a.region != b.region:
            return DAY_MINUTES * self.region_travel_days(a.region, b.region)
        if a.location is None or b.location is None:
            return self.unknown_minutes
        return self._by_distance(a.location, b.location)

    def region_travel_days(self, a: str | None, b: str | None) -> int:
        """Days of travel between regions ``a`` and ``b`` (``None``: the home region), 0 for
        the same one."""
        if a == b:
            return 0
        if a is not None and b is not None:
            days = self.region_days.get(a, {}).get(b)
            if days is None:
                days = self.region_days.get(b, {}).get(a)
            if days is not None:
                return days
        return self.other_region_days

    def from_home(self, home: GeoPoint, facility: Facility) -> int:
        """Travel minutes between a patient's home and ``facility`` (either way).

        By distance as for two facilities; ``unknown_minutes`` when the facility has no location.
        """
        if facility.location is None:
            return self.unknown_minutes
        return self._by_distance(home, facility.location)

    def from_home_to_each(self, home: GeoPoint, facilities: Sequence[Facility]) -> list[int]:
        """:meth:`from_home` to each of ``facilities``, in order: the same minutes, computed
        with the same floating-point operations, without a call per facility (the solver needs
        them for every request; it keeps :meth:`sites` of its facilities and calls
        :meth:`from_home_to_sites`)."""
        return self.from_home_to_sites(home, self.sites(facilities))

    @staticmethod
    def sites(facilities: Sequence[Facility]) -> list[tuple[float, float, float] | None]:
        """Per facility, what :meth:`from_home_to_sites` reads: its latitude in radians, that
        latitude's cosine and its longitude in degrees (``None`` without a location)."""
        out: list[tuple[float, float, float] | None] = []
        for facility in facilities:
            location = facility.location
            if location is None:
                out.append(None)
            else:
                phi = radians(location.lat)
                out.append((phi, cos(phi), location.lon))
        return out

    def from_home_to_sites(
        self, home: GeoPoint, sites: Sequence[tuple[float, float, float] | None]
    ) -> list[int]:
        """:meth:`from_home` to each facility of :meth:`sites`: the same floating-point
        operations, with the facility's own terms computed once
        (:func:`~routing.domain.homelegs.minutes_to_sites`, compiled in the wheel)."""
        return minutes_to_sites(
            home.lat,
            home.lon,
            sites,
            self.speed_kmh,
            self.overhead_minutes,
            self.unknown_minutes,
        )

    def _by_distance(self, a: GeoPoint, b: GeoPoint) -> int:
        driving = a.distance_km(b) / self.speed_kmh * 60
        return ceil(driving - 1e-9) + self.overhead_minutes
