"""Geographic points and great-circle distance."""

from __future__ import annotations

from math import asin, cos, radians, sin, sqrt
from typing import Annotated

from pydantic import Field, Strict

from nosology.pathway import FrozenModel

__all__ = ["EARTH_RADIUS_KM", "GeoPoint"]

EARTH_RADIUS_KM = 6371.0088
"""The mean Earth radius (IUGG), used by the haversine formula."""


class GeoPoint(FrozenModel):
    """A point on the Earth in decimal degrees (WGS 84).

    Attributes
    ----------
    lat
        Latitude, in ``[-90, 90]``.
    lon
        Longitude, in ``[-180, 180]``.
    """

    lat: Annotated[float, Strict(), Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Strict(), Field(ge=-180, le=180, allow_inf_nan=False)]

    def distance_km(self, other: GeoPoint) -> float:
        """The great-circle (haversine) distance to ``other`` in kilometres.

        Examples
        --------
        >>> spb, moscow = GeoPoint(lat=59.9386, lon=30.3141), GeoPoint(lat=55.7558, lon=37.6173)
        >>> round(spb.distance_km(moscow))
        634
        """
        phi1, phi2 = radians(self.lat), radians(other.lat)
        d_phi = phi2 - phi1
        d_lambda = radians(other.lon - self.lon)
        a = sin(d_phi / 2) ** 2 + cos(phi1) * cos(phi2) * sin(d_lambda / 2) ** 2
        return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(a)))
