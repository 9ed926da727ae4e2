"""Travel from a patient's home to every facility of an index, kept per home.

The minutes from home (:func:`home_legs`), whether they keep the triangle inequality with the
travel between facilities (a solver may then skip some checks), and the facilities' ranks by
distance that thinning reads (:func:`home_ranks`); computed once a home and kept on the index
for the last :data:`HOMES_CACHED` homes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from routing.domain import GeoPoint
from routing.slot_index import SlotIndex
from routing.solve.indexcache import cached_on_index
from routing.solve.thinning import RankArray, facility_ranks

__all__ = ["HOMES_CACHED", "home_is_metric_on", "home_legs", "home_ranks"]


HOMES_CACHED = 50_000
"""Homes whose travel minutes an index keeps (least recently used dropped first)."""


def home_legs(index: SlotIndex, home: GeoPoint) -> tuple[list[int], npt.NDArray[np.int64], bool]:
    """Travel minutes from ``home`` to each facility (as a list and as an array), and whether
    they keep the triangle inequality with the travel between facilities; cached per home (the
    last :data:`HOMES_CACHED` homes, so that a long-running service does not grow without
    end)."""

    def make() -> tuple[list[int], npt.NDArray[np.int64], bool]:
        sites = cached_on_index(
            index, "facility sites", None, 1, lambda: index.travel.sites(index.facilities)
        )
        minutes = index.travel.from_home_to_sites(home, sites)
        array = np.asarray(minutes, dtype=np.int64)
        return minutes, array, _home_is_metric(array, index)

    return cached_on_index(index, "homes", (home.lat, home.lon), HOMES_CACHED, make)


def home_ranks(index: SlotIndex, home: GeoPoint, minutes: npt.NDArray[np.int64]) -> RankArray:
    """The facilities' ranks by travel from ``home``
    (:func:`~routing.solve.thinning.facility_ranks`, for thinning), cached per home as
    :func:`home_legs` is."""
    return cached_on_index(
        index,
        "home ranks",
        (home.lat, home.lon),
        HOMES_CACHED,
        lambda: facility_ranks(minutes, len(minutes)),
    )


def _home_is_metric(h: npt.NDArray[np.int64], index: SlotIndex) -> bool:
    return _keeps_triangle(h, index.travel_minutes)


def home_is_metric_on(home: npt.NDArray[np.int64], index: SlotIndex, sites: list[int]) -> bool:
    """:func:`_home_is_metric` over the facilities ``sites`` only (the travel between them
    being metric already)."""
    if not sites:
        return True
    chosen = np.asarray(sites, dtype=np.int64)
    return _keeps_triangle(home[chosen], index.travel_minutes[np.ix_(chosen, chosen)])


def _keeps_triangle(h: npt.NDArray[np.int64], t: npt.NDArray[np.int64]) -> bool:
    # Both legs of a tour: h[b] <= h[a] + t[a, b] (going out) and h[a] <= t[a, b] + h[b]
    # (back), that is |h[b] - h[a]| <= t[a, b].
    return bool(np.all(np.abs(h[None, :] - h[:, None]) <= t))
