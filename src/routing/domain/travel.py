"""Travel times between facilities."""

from __future__ import annotations

from math import ceil
from typing import Annotated

from pydantic import Field, Strict

from nosology.pathway import FrozenModel
from routing.domain.common import RecordId
from routing.domain.facility import Facility
from routing.domain.geo import GeoPoint

__all__ = ["TravelModel"]

_Minutes = Annotated[int, Strict(), Field(ge=0, le=100_000)]


class TravelModel(FrozenModel):
    """Minutes a patient needs to get from one facility to another.

    ``minutes(a, b)`` is 0 for the same facility; else the matrix entry ``a → b`` (or ``b → a``)
    if there is one; else ``ceil(distance_km / speed_kmh · 60) + overhead_minutes`` when both
    locations are known; else ``unknown_minutes``.

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
    """

    speed_kmh: Annotated[float, Strict(), Field(gt=0, le=1000, allow_inf_nan=False)] = 20.0
    overhead_minutes: _Minutes = 15
    matrix: dict[RecordId, dict[RecordId, _Minutes]] = Field(default_factory=dict)
    unknown_minutes: _Minutes = 60

    def __hash__(self) -> int:
        return hash((self.speed_kmh, self.overhead_minutes, self.unknown_minutes, len(self.matrix)))

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
        if a.location is None or b.location is None:
            return self.unknown_minutes
        return self._by_distance(a.location, b.location)

    def from_home(self, home: GeoPoint, facility: Facility) -> int:
        """Travel minutes between a patient's home and ``facility`` (either way).

        By distance as for two facilities; ``unknown_minutes`` when the facility has no location.
        """
        if facility.location is None:
            return self.unknown_minutes
        return self._by_distance(home, facility.location)

    def _by_distance(self, a: GeoPoint, b: GeoPoint) -> int:
        driving = a.distance_km(b) / self.speed_kmh * 60
        return ceil(driving - 1e-9) + self.overhead_minutes
