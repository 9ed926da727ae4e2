"""Demand: a cohort of pseudonymous patients and their route requests.

Each patient lives in a district drawn in proportion to its (approximate) population, at a point
around the district's centroid, and is attached to the nearest adult polyclinic of the district
(their preferred facility). The pathway mix is apportioned exactly (largest remainder) and the
patients are shuffled; each request carries one diagnosis drawn from the codes its pathway applies
to (leaf codes of the МКБ-10 registry that resolve to that pathway; for the generic suspected-cancer
pathway half of the referrals are coded Z03.1), a referral time on one of the first working days
(08:00–17:00 local), and a priority: 1 for suspected cancer or cardiovascular disease, 0 for
routine care.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from nosology.catalogue import Catalogue
from nosology.codes import parse_spec
from nosology.pathway import Pathway
from nosology.registry import load_registry
from nosology.resolve import resolve_code
from routing.domain import Facility, GeoPoint, Patient, Period, RouteRequest
from routing.region.geography import District, FacilityKind, scatter

__all__ = [
    "HIGH_PRIORITY",
    "LMP_REFERENCE",
    "apportion",
    "diagnosis_codes",
    "make_requests",
    "routing_order_facilities",
]

HIGH_PRIORITY = 1
"""The priority of a suspected cancer or cardiovascular disease; routine care has 0."""

LMP_REFERENCE = "last_menstrual_period"
"""The reference date a pathway window may need (first-trimester screening)."""

_URGENT = ("zno_", "cvd_")
_SUSPECTED_CANCER_CODE = "Z03.1"
_LEAF = re.compile(r"^[A-Z]\d\d(\.\d+)?$")
_HOME_SPREAD_DEG = 0.022
_VISITS = (1, 2, 3)
_VISIT_SHARES = (0.15, 0.75, 0.10)
_UNAVAILABLE_SHARE = 0.1


@functools.cache
def _leaf_codes() -> tuple[str, ...]:
    registry = load_registry()
    return tuple(
        code
        for code, entry in registry.codes.items()
        if _LEAF.match(code) and entry.actual and not entry.asterisk and not registry.children(code)
    )


def diagnosis_codes(pathway: Pathway, catalogue: Catalogue) -> tuple[str, ...]:
    """The leaf МКБ-10 codes within the pathway's applicability that resolve to it, in order.

    Raises
    ------
    ValueError
        If no code resolves to the pathway (another pathway wins for all of them).
    """
    found: list[str] = []
    for text in pathway.applicability.codes:
        spec = parse_spec(text)
        lo, hi = spec.first[:3], spec.last[:3]
        for code in _leaf_codes():
            if not (lo <= code[:3] <= hi) or code in found or not spec.contains(code):
                continue
            if resolve_code(code, catalogue).pathway_id == pathway.id:
                found.append(code)
    if not found:
        raise ValueError(f"pathway {pathway.id!r}: no registry code resolves to it")
    return tuple(found)


def apportion(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    """``total`` split by ``shares`` (largest remainder; ties by key), keys in sorted order.

    Examples
    --------
    >>> apportion(10, {"a": 1.0, "b": 1.0, "c": 1.0})
    {'a': 4, 'b': 3, 'c': 3}
    """
    keys = sorted(shares)
    weight = sum(shares[k] for k in keys)
    exact = {k: total * shares[k] / weight for k in keys}
    counts = {k: int(exact[k]) for k in keys}
    left = total - sum(counts.values())
    for k in sorted(keys, key=lambda k: (-(exact[k] - counts[k]), k))[:left]:
        counts[k] += 1
    return counts


def make_requests(
    rng: np.random.Generator,
    counts: Mapping[str, int],
    pathways: Mapping[str, Pathway],
    codes: Mapping[str, tuple[str, ...]],
    districts: Sequence[District],
    facilities: Sequence[Facility],
    kinds: Sequence[FacilityKind],
    referral_days: Sequence[date],
    zone: ZoneInfo,
    *,
    routing_order: bool = True,
) -> list[RouteRequest]:
    """One request per patient: ``counts[pathway id]`` of each pathway, in shuffled order.

    With ``routing_order`` each patient may use only the facilities of the regional routing
    order for their district (see :func:`routing_order_facilities`).
    """
    order = [pid for pid in sorted(counts) for _ in range(counts[pid])]
    order = [order[n] for n in rng.permutation(len(order)).tolist()]
    population = np.array([d.population_k for d in districts])
    homes = rng.choice(len(districts), size=len(order), p=population / population.sum())
    attach = _attachment(districts, facilities, kinds)
    allowed = routing_order_facilities(districts, facilities, kinds) if routing_order else {}
    requests: list[RouteRequest] = []
    for n, (pathway_id, district_no) in enumerate(zip(order, homes.tolist(), strict=True), 1):
        district = districts[district_no]
        home = scatter(rng, district.centroid, _HOME_SPREAD_DEG)
        day = referral_days[int(rng.integers(len(referral_days)))]
        minute = int(rng.integers(8 * 60, 17 * 60))
        referral = datetime.combine(day, time(minute // 60, minute % 60), zone)
        patient = Patient(
            id=f"P{n:06d}",
            location=home,
            district=district.name,
            unavailable=_unavailable(rng, day, zone),
            max_visits_per_day=int(rng.choice(_VISITS, p=_VISIT_SHARES)),
            preferred_facilities=_nearest(attach[district.id], home),
            allowed_facilities=allowed.get(district.id),
        )
        pool = codes[pathway_id]
        if pathway_id == "zno_suspected" and _SUSPECTED_CANCER_CODE in pool and rng.random() < 0.5:
            code = _SUSPECTED_CANCER_CODE
        else:
            code = pool[int(rng.integers(len(pool)))]
        reference: dict[str, date] = {}
        if any(w.reference == LMP_REFERENCE for w in pathways[pathway_id].windows):
            # 10+0 to 12+0 weeks of gestation at referral: the 11–14 week window lies ahead.
            reference[LMP_REFERENCE] = day - timedelta(days=int(rng.integers(70, 85)))
        requests.append(
            RouteRequest(
                id=f"R{n:06d}",
                patient=patient,
                diagnoses=(code,),
                referral=referral,
                reference_dates=reference,
                priority=HIGH_PRIORITY if pathway_id.startswith(_URGENT) else 0,
            )
        )
    return requests


def routing_order_facilities(
    districts: Sequence[District], facilities: Sequence[Facility], kinds: Sequence[FacilityKind]
) -> dict[int, frozenset[str]]:
    """District id → the facilities its residents may use under the regional routing order.

    Primary care (level 1) in the own district only; the ЦАОП of the own district, or the one
    nearest to the district's centroid when it has none; every diagnostic centre, hospital and
    the dispensary city-wide.
    """
    names = {d.name: d.id for d in districts}
    city_wide = frozenset(
        f.id
        for f, kind in zip(facilities, kinds, strict=True)
        if f.level >= 2 and kind is not FacilityKind.CAOP
    )
    caops = [f for f, kind in zip(facilities, kinds, strict=True) if kind is FacilityKind.CAOP]
    allowed: dict[int, frozenset[str]] = {}
    for district in districts:
        own = [
            f.id for f in facilities if f.level == 1 and names.get(f.district or "") == district.id
        ]
        centres = [f.id for f in caops if f.district == district.name]
        if not centres and caops:
            centres = list(_nearest(caops, district.centroid))
        allowed[district.id] = frozenset(own) | frozenset(centres) | city_wide
    return allowed


def _attachment(
    districts: Sequence[District], facilities: Sequence[Facility], kinds: Sequence[FacilityKind]
) -> dict[int, list[Facility]]:
    """District id → its adult polyclinics (the attachment candidates)."""
    names = {d.name: d.id for d in districts}
    found: dict[int, list[Facility]] = {d.id: [] for d in districts}
    for facility, kind in zip(facilities, kinds, strict=True):
        if kind is FacilityKind.POLYCLINIC and facility.district in names:
            found[names[facility.district]].append(facility)
    return found


def _nearest(candidates: list[Facility], home: GeoPoint) -> tuple[str, ...]:
    located = [f for f in candidates if f.location is not None]
    if not located:
        return ()
    best = min(located, key=lambda f: (home.distance_km(f.location), f.id))  # type: ignore[arg-type]
    return (best.id,)


def _unavailable(rng: np.random.Generator, day: date, zone: ZoneInfo) -> tuple[Period, ...]:
    """A morning within two weeks of the referral that one patient in ten cannot come."""
    if rng.random() >= _UNAVAILABLE_SHARE:
        return ()
    busy = day + timedelta(days=int(rng.integers(1, 15)))
    return (
        Period(
            start=datetime.combine(busy, time(8), zone), end=datetime.combine(busy, time(13), zone)
        ),
    )
