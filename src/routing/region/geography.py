"""The districts of Saint Petersburg and its facilities: real where the portal data has them.

The package data ``routing/data/spb_region.json`` holds the 18 districts as the city appointment
portal lists them (id, name, OKATO code), with an approximate centroid and population each (general
knowledge, not portal data), and the real facilities of the one district the recorded portal
response covers (Невский): adult polyclinics and their branches, women's consultations, the
outpatient oncology centre (ЦАОП) and the hospital, with their portal coordinates.

Every other facility is synthetic: its id starts with ``syn-``, its name ends with
``(синтетическая)`` and it is placed at random around its district's approximate centroid.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

import numpy as np

from routing.domain import GeoPoint

__all__ = [
    "DATA_FILE",
    "SYNTHETIC_PREFIX",
    "District",
    "FacilityKind",
    "RealFacility",
    "RegionData",
    "place_facilities",
    "region_data",
    "scatter",
]

DATA_FILE = "spb_region.json"
"""The package data file in ``routing/data``."""

SYNTHETIC_PREFIX = "syn-"
"""The id prefix of every synthetic facility (real ones are ``gz-<portal lpu id>``)."""

_POPULATION_PER_POLYCLINIC_K = 40.0
"""Residents (thousands) per synthetic adult polyclinic: about 130 in the city, as in reality."""

_SPREAD_DEG = 0.018
"""Standard deviation (degrees of latitude, ≈ 2 km) of synthetic points around a centroid."""


class FacilityKind(StrEnum):
    """What a facility is; it decides the level and the services (see :mod:`.services`)."""

    POLYCLINIC = "polyclinic"
    POLYCLINIC_BRANCH = "polyclinic_branch"
    WOMENS_CONSULTATION = "womens_consultation"
    CAOP = "caop"
    DIAGNOSTIC_CENTRE = "diagnostic_centre"
    HOSPITAL = "hospital"
    ONCOLOGY_HOSPITAL = "oncology_hospital"
    ONCOLOGY_DISPENSARY = "oncology_dispensary"

    @property
    def level(self) -> int:
        """1 primary care, 2 inter-district centre, 3 hospital or dispensary."""
        return _LEVELS[self]


_LEVELS = {
    FacilityKind.POLYCLINIC: 1,
    FacilityKind.POLYCLINIC_BRANCH: 1,
    FacilityKind.WOMENS_CONSULTATION: 1,
    FacilityKind.CAOP: 2,
    FacilityKind.DIAGNOSTIC_CENTRE: 2,
    FacilityKind.HOSPITAL: 3,
    FacilityKind.ONCOLOGY_HOSPITAL: 3,
    FacilityKind.ONCOLOGY_DISPENSARY: 3,
}

_NAMES = {
    FacilityKind.POLYCLINIC: "Городская поликлиника",
    FacilityKind.POLYCLINIC_BRANCH: "Отделение общей врачебной практики",
    FacilityKind.WOMENS_CONSULTATION: "Женская консультация",
    FacilityKind.CAOP: "ЦАОП",
    FacilityKind.DIAGNOSTIC_CENTRE: "Консультативно-диагностический центр",
    FacilityKind.HOSPITAL: "Городская больница",
    FacilityKind.ONCOLOGY_HOSPITAL: "Городская больница с онкологическим отделением",
    FacilityKind.ONCOLOGY_DISPENSARY: "Городской онкологический диспансер",
}


@dataclass(frozen=True, slots=True)
class District:
    """A city district: portal id, name and OKATO code; approximate centroid and population.

    ``synthetic`` maps a facility kind to how many synthetic facilities of it the district gets.
    """

    id: int
    name: str
    okato: int
    centroid: GeoPoint
    population_k: float
    synthetic: tuple[tuple[FacilityKind, int], ...]


@dataclass(frozen=True, slots=True)
class RealFacility:
    """A facility from the recorded portal response."""

    lpu_id: int
    short_name: str
    full_name: str
    kind: FacilityKind
    district_id: int
    location: GeoPoint


@dataclass(frozen=True, slots=True)
class RegionData:
    """The package data: districts, real facilities, and where the dispensary goes."""

    districts: tuple[District, ...]
    facilities: tuple[RealFacility, ...]
    dispensary_district: int
    dispensary_location: GeoPoint


_SYNTHETIC_KEYS = {
    "caop": FacilityKind.CAOP,
    "diagnostic_centres": FacilityKind.DIAGNOSTIC_CENTRE,
    "hospitals": FacilityKind.HOSPITAL,
    "oncology_departments": FacilityKind.ONCOLOGY_HOSPITAL,
}


@functools.cache
def region_data() -> RegionData:
    """The districts and real facilities shipped with the package (read once)."""
    text = resources.files("routing").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    raw: dict[str, Any] = json.loads(text)
    districts = tuple(
        District(
            id=int(d["id"]),
            name=str(d["name"]),
            okato=int(d["okato"]),
            centroid=GeoPoint(lat=d["centroid"][0], lon=d["centroid"][1]),
            population_k=float(d["population_k"]),
            synthetic=tuple(
                (kind, int(d["synthetic"][key])) for key, kind in _SYNTHETIC_KEYS.items()
            ),
        )
        for d in raw["districts"]
    )
    facilities = tuple(
        RealFacility(
            lpu_id=int(f["lpu_id"]),
            short_name=str(f["short_name"]),
            full_name=str(f["full_name"]),
            kind=FacilityKind(f["kind"]),
            district_id=int(f["district_id"]),
            location=GeoPoint(lat=f["lat"], lon=f["lon"]),
        )
        for f in raw["facilities"]
    )
    dispensary = raw["oncology_dispensary"]
    return RegionData(
        districts=districts,
        facilities=facilities,
        dispensary_district=int(dispensary["district_id"]),
        dispensary_location=GeoPoint(lat=dispensary["lat"], lon=dispensary["lon"]),
    )


def scatter(rng: np.random.Generator, centre: GeoPoint, spread: float = _SPREAD_DEG) -> GeoPoint:
    """A point drawn around ``centre`` (normal, ``spread`` degrees of latitude; 6 decimals)."""
    d_lat, d_lon = rng.normal(0.0, spread, size=2)
    d_lon *= 2.0  # a degree of longitude is about half as long as one of latitude at 60° N
    return GeoPoint(
        lat=round(centre.lat + float(d_lat), 6), lon=round(centre.lon + float(d_lon), 6)
    )


def place_facilities(
    rng: np.random.Generator,
) -> list[tuple[str, str, FacilityKind, District, GeoPoint]]:
    """``(id, name, kind, district, location)`` of every facility of the region, in a stable order.

    Real facilities first (``gz-<lpu id>``), then the synthetic ones district by district
    (polyclinics in proportion to the population where the data has none, then the ЦАОП,
    diagnostic centres and hospitals of the layout), then the oncology dispensary.
    """
    data = region_data()
    by_id = {d.id: d for d in data.districts}
    placed: list[tuple[str, str, FacilityKind, District, GeoPoint]] = []
    real_districts = {f.district_id for f in data.facilities}
    for f in data.facilities:
        placed.append((f"gz-{f.lpu_id}", f.full_name, f.kind, by_id[f.district_id], f.location))
    for district in data.districts:
        counts: list[tuple[FacilityKind, int]] = []
        if district.id not in real_districts:
            polyclinics = max(1, round(district.population_k / _POPULATION_PER_POLYCLINIC_K))
            counts.append((FacilityKind.POLYCLINIC, polyclinics))
        counts.extend(district.synthetic)
        for kind, count in counts:
            for n in range(1, count + 1):
                facility_id = f"{SYNTHETIC_PREFIX}{district.id:02d}-{kind.value}-{n:02d}"
                name = f"{_NAMES[kind]} № {n}, {district.name} район (синтетическая)"
                placed.append((facility_id, name, kind, district, scatter(rng, district.centroid)))
    home = by_id[data.dispensary_district]
    placed.append(
        (
            f"{SYNTHETIC_PREFIX}{home.id:02d}-{FacilityKind.ONCOLOGY_DISPENSARY.value}-01",
            f"{_NAMES[FacilityKind.ONCOLOGY_DISPENSARY]} (синтетическая)",
            FacilityKind.ONCOLOGY_DISPENSARY,
            home,
            data.dispensary_location,
        )
    )
    return placed
