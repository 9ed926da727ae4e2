"""``generate_region``: a seeded Saint Petersburg-like routing problem.

The region: the 18 real districts; the real facilities of the district the recorded portal data
covers, synthetic ones elsewhere (see :mod:`.geography`); services per facility level (see
:mod:`.services`); slot calendars over the Russian production calendar, with capacity scaled to the
cohort's demand by ``contention`` (see :mod:`.capacity`); a cohort of route requests drawn from the
built-in pathways (see :mod:`.cohort`).

Determinism: one :class:`numpy.random.SeedSequence` of ``seed`` is split into three streams, for
the facilities, the cohort and the slots, so the same parameters give the same problem, and the
facilities of a seed do not depend on the size of the cohort.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway, ServiceRef
from routing.calendar import default_calendar
from routing.domain import Facility
from routing.exceptions import InvalidInputError
from routing.problem import Problem
from routing.region.capacity import build_slots, service_demand, service_rates
from routing.region.cohort import (
    apportion,
    diagnosis_codes,
    make_requests,
    routing_order_facilities,
)
from routing.region.geography import District, FacilityKind, place_facilities, region_data
from routing.region.services import KIND_WEIGHTS, offered_services, service_usage

__all__ = [
    "DEFAULT_MIX",
    "TIMEZONE",
    "RegionParameters",
    "generate_region",
    "supply_weights",
    "working_days",
]

logger = logging.getLogger(__name__)

TIMEZONE = "Europe/Moscow"
"""The zone of every instant of the region."""

DEFAULT_MIX: Mapping[str, float] = MappingProxyType(
    {
        "zno_suspected": 0.16,
        "zno_lung": 0.05,
        "zno_breast": 0.07,
        "zno_colorectal": 0.05,
        "cvd_suspected": 0.22,
        "diabetes_t2_dispensary": 0.22,
        "cataract_planned_surgery": 0.10,
        "pregnancy_first_trimester_screening": 0.13,
    }
)
"""The daily referral mix by pathway (an assumption: shares of the cohort, summing to 1)."""

_RECORD = "region parameters"


@dataclass(frozen=True, slots=True)
class RegionParameters:
    """What region to generate.

    Attributes
    ----------
    patients
        The size of the cohort (one route request each).
    days
        Working days of slots (the horizon of the slot calendars), from ``start``.
    start
        The first calendar day; the default Monday 2026-04-20 puts the May holidays inside.
    contention
        Demand ÷ supply of the specialist services within the first ``window_days`` working
        days (primary care is ``PRIMARY_SLACK`` times as tight); see :mod:`.capacity`.
    seed
        Seeds every random choice.
    mix
        Pathway id → share of the cohort; :data:`DEFAULT_MIX` when ``None``.
    referral_days
        Referrals fall on the first this many working days.
    window_days
        The working days over which ``contention`` is measured.
    routing_order
        Restrict each patient to the facilities of the regional routing order for their
        district: primary care and the ЦАОП of the district, other levels city-wide.
    """

    patients: int = 1000
    days: int = 30
    start: date = date(2026, 4, 20)
    contention: float = 1.0
    seed: int = 0
    mix: Mapping[str, float] | None = None
    referral_days: int = 5
    window_days: int = 10
    routing_order: bool = True

    def __post_init__(self) -> None:
        if self.patients < 1:
            raise InvalidInputError(_RECORD, "patients", "expected at least 1 patient")
        if not 1 <= self.referral_days <= self.days:
            raise InvalidInputError(_RECORD, "referral_days", "expected 1 .. days working days")
        if not 1 <= self.window_days <= self.days:
            raise InvalidInputError(_RECORD, "window_days", "expected 1 .. days working days")
        if not (math.isfinite(self.contention) and self.contention > 0):
            raise InvalidInputError(_RECORD, "contention", "expected a positive finite number")
        if self.mix is not None:
            if not self.mix:
                raise InvalidInputError(_RECORD, "mix", "expected at least one pathway")
            for pathway_id, share in self.mix.items():
                if not (math.isfinite(share) and share >= 0):
                    reason = "expected a share that is a non-negative finite number"
                    raise InvalidInputError(_RECORD, f"mix.{pathway_id}", reason)
            if sum(self.mix.values()) <= 0:
                raise InvalidInputError(_RECORD, "mix", "expected shares that sum to more than 0")


def working_days(start: date, count: int) -> tuple[date, ...]:
    """The first ``count`` working days from ``start`` (inclusive) on the Russian calendar.

    Examples
    --------
    >>> working_days(date(2026, 4, 30), 3)  # 1–3 May are days off
    (datetime.date(2026, 4, 30), datetime.date(2026, 5, 4), datetime.date(2026, 5, 5))
    """
    calendar = default_calendar()
    found: list[date] = []
    day = start
    while len(found) < count:
        if calendar.is_working_day(day):
            found.append(day)
        day += timedelta(days=1)
    return tuple(found)


def supply_weights(
    districts: Sequence[District], facilities: Sequence[Facility], kinds: Sequence[FacilityKind]
) -> list[float]:
    """Each facility's share of the supply of its services, relative to the others offering them.

    Primary care follows the population: a district's level 1 facilities share, in proportion
    to their kind's weight, ``population / 40 thousand``. A ЦАОП weighs the population of the
    districts the routing order sends to it, over the mean of all ЦАОП. Every other facility
    weighs its kind's weight (:data:`~routing.region.services.KIND_WEIGHTS`).
    """
    population = {d.name: d.population_k for d in districts}
    primary: dict[str, float] = {}
    for facility, kind in zip(facilities, kinds, strict=True):
        if facility.level == 1 and facility.district is not None:
            primary[facility.district] = primary.get(facility.district, 0.0) + KIND_WEIGHTS[kind]
    served: dict[str, float] = {}
    order = routing_order_facilities(districts, facilities, kinds)
    for district in districts:
        for facility_id in order[district.id]:
            served[facility_id] = served.get(facility_id, 0.0) + district.population_k
    caops = [f.id for f, kind in zip(facilities, kinds, strict=True) if kind is FacilityKind.CAOP]
    mean_served = sum(served[i] for i in caops) / len(caops) if caops else 1.0
    weights: list[float] = []
    for facility, kind in zip(facilities, kinds, strict=True):
        if facility.level == 1 and facility.district is not None:
            people = population.get(facility.district, 0.0) / 40.0
            weights.append(KIND_WEIGHTS[kind] * people / primary[facility.district])
        elif kind is FacilityKind.CAOP:
            weights.append(served[facility.id] / mean_served)
        else:
            weights.append(KIND_WEIGHTS[kind])
    return weights


@functools.lru_cache(maxsize=64)
def _codes(pathway: Pathway, catalogue: Catalogue) -> tuple[str, ...]:
    return diagnosis_codes(pathway, catalogue)


def generate_region(params: RegionParameters, catalogue: Catalogue | None = None) -> Problem:
    """Generate the Saint Petersburg-like problem of ``params``.

    Parameters
    ----------
    params
        Size, horizon, contention, seed and mix.
    catalogue
        Where the mix's pathways come from (the built-in catalogue by default); every service of
        them must be in the region's service table.

    Returns
    -------
    Problem
        Facilities, free slots and one route request per patient (diagnoses, no pathway id).

    Raises
    ------
    InvalidInputError
        If the mix names a pathway the catalogue lacks, or one whose services the region does
        not offer.

    Examples
    --------
    >>> problem = generate_region(RegionParameters(patients=20, days=12, seed=1))
    >>> len(problem.requests), len({f.district for f in problem.facilities})
    (20, 18)
    """
    catalogue = catalogue or Catalogue.builtin()
    mix = dict(params.mix if params.mix is not None else DEFAULT_MIX)
    pathways: dict[str, Pathway] = {}
    for pathway_id in sorted(mix):
        if pathway_id not in catalogue:
            raise InvalidInputError(_RECORD, f"mix.{pathway_id}", "not a pathway of the catalogue")
        pathways[pathway_id] = catalogue.get(pathway_id)
    try:
        usage = service_usage(pathways.values())
    except ValueError as error:
        raise InvalidInputError(_RECORD, "mix", str(error)) from None
    facility_rng, cohort_rng, slot_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(params.seed).spawn(3)
    )
    zone = ZoneInfo(TIMEZONE)

    placed = place_facilities(facility_rng)
    kinds = [kind for _, _, kind, _, _ in placed]
    offered = offered_services(facility_rng, kinds, usage)
    facilities = [
        Facility(
            id=facility_id,
            name=name,
            location=location,
            district=district.name,
            level=kind.level,
            services=tuple(ServiceRef.model_validate(key) for key in services),
        )
        for (facility_id, name, kind, district, location), services in zip(
            placed, offered, strict=True
        )
    ]

    days = working_days(params.start, params.days)
    counts = apportion(params.patients, {k: v for k, v in mix.items() if v > 0})
    codes = {pid: _codes(pathways[pid], catalogue) for pid in counts if counts[pid]}
    requests = make_requests(
        cohort_rng,
        counts,
        pathways,
        codes,
        region_data().districts,
        facilities,
        kinds,
        days[: params.referral_days],
        zone,
        routing_order=params.routing_order,
    )

    per_request = (pathways[pid] for pid in sorted(counts) for _ in range(counts[pid]))
    demand = service_demand(per_request, facilities)
    rates = service_rates(demand, usage, params.contention, params.window_days)
    weights = supply_weights(region_data().districts, facilities, kinds)
    slots = build_slots(slot_rng, facilities, weights, days, rates, usage, zone)
    logger.info(
        "generated a region: %d facilities, %d slots, %d requests (seed %d, contention %.3g)",
        len(facilities),
        len(slots),
        len(requests),
        params.seed,
        params.contention,
    )
    return Problem(
        format_version=1,
        timezone=TIMEZONE,
        facilities=tuple(facilities),
        slots=tuple(slots),
        requests=tuple(requests),
    )
