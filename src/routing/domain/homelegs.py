"""Travel minutes from one home to many facilities: the loop the solver runs for each new home.

Compiled in the wheel (it reads nothing but floats and the :mod:`math` library): a region-wide
batch calls it once a patient, over every facility of the region. It computes exactly what
:meth:`~routing.domain.travel.TravelModel.from_home` computes for one facility (the haversine
formula of :meth:`~routing.domain.geo.GeoPoint.distance_km`, then minutes at the given speed),
with the same floating-point operations in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import asin, ceil, cos, radians, sin, sqrt
from typing import Final

from routing.domain.geo import EARTH_RADIUS_KM

__all__ = ["minutes_to_sites"]

_TWO_RADII: Final = 2 * EARTH_RADIUS_KM
"""The haversine formula's factor (exact: a doubling)."""


def minutes_to_sites(
    home_lat: float,
    home_lon: float,
    sites: Sequence[tuple[float, float, float] | None],
    speed_kmh: float,
    overhead_minutes: int,
    unknown_minutes: int,
) -> list[int]:
    """Minutes from the home at ``home_lat``, ``home_lon`` (degrees) to each site.

    Parameters
    ----------
    sites
        Per facility, its latitude in radians, that latitude's cosine and its longitude in
        degrees (:meth:`~routing.domain.travel.TravelModel.sites`), or ``None`` without a
        location (then ``unknown_minutes``).
    speed_kmh, overhead_minutes
        The trip takes ``ceil(km / speed_kmh * 60) + overhead_minutes`` (less a nanominute,
        so that a whole number of minutes computed with rounding error stays whole).
    """
    phi1 = radians(home_lat)
    cos_phi1 = cos(phi1)
    minutes: list[int] = []
    for site in sites:
        if site is None:
            minutes.append(unknown_minutes)
            continue
        phi2, cos_phi2, lon2 = site
        d_lambda = radians(lon2 - home_lon)
        a = sin((phi2 - phi1) / 2) ** 2 + cos_phi1 * cos_phi2 * sin(d_lambda / 2) ** 2
        km = _TWO_RADII * asin(min(1.0, sqrt(a)))
        minutes.append(ceil(km / speed_kmh * 60 - 1e-9) + overhead_minutes)
    return minutes
