"""A synthetic country-day: every federal subject a region of its own, and the federal centres.

Each region is a Saint Petersburg-like region (:func:`routing.region.generate_region`) sized by
the subject's share of the population (:data:`~routing.country.population.POPULATION_THOUSANDS`),
with every id prefixed by the region's code (``"RU-TA:R000012"``), its facilities standing in
the region and its requests referred there; a share of its patients consents to travel to
another region (``travels_out_of_region``). The federal centres are facilities of their own
regions (Moscow, Saint Petersburg, Obninsk, Tomsk) that give remote tumour boards and
in-person specialised treatment to every region: the capacity the regions compete for.

Seeded and deterministic: the same :class:`CountryParameters` give the same country. A
:class:`Country` holds the parameters, the regions' sizes and the federal centres; each region is
generated when asked for (:meth:`Country.region`), so that a distributed run generates every
region on the worker that plans it and the driver never holds the country's slots.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from routing.country.population import POPULATION_THOUSANDS
from routing.domain import Facility, GeoPoint, Slot
from routing.exceptions import InvalidInputError
from routing.problem import Problem
from routing.region import TIMEZONE, RegionParameters, generate_region, working_days

__all__ = [
    "FEDERAL_CENTRES",
    "Country",
    "CountryParameters",
    "federal_problem",
    "generate_country",
    "region_problem",
]

_RECORD = "country parameters"

FEDERAL_CENTRES: tuple[tuple[str, str, str, float, float], ...] = (
    ("fed-nmic-onco-mow", "НМИЦ онкологии (синтетический пример)", "RU-MOW", 55.66, 37.63),
    (
        "fed-nmic-onco-spe",
        "НМИЦ онкологии, Песочный (синтетический пример)",
        "RU-SPE",
        60.11,
        30.16,
    ),
    ("fed-mrrc-klu", "МРНЦ, Обнинск (синтетический пример)", "RU-KLU", 55.11, 36.60),
    ("fed-nii-onco-tom", "НИИ онкологии, Томск (синтетический пример)", "RU-TOM", 56.48, 84.95),
)
"""Id, name, region, latitude and longitude of each federal centre (synthetic records)."""

BOARD = "catalogue:oncology_tumour_board"
TREATMENT = "catalogue:oncology_specialised_treatment"


@dataclass(frozen=True, slots=True)
class CountryParameters:
    """What country-day to generate.

    Attributes
    ----------
    referrals
        Referrals of the day across the country (shared by population).
    regions
        Which subjects (codes); all 85 by default.
    days
        Working days of slots in every region.
    contention
        Each region's contention (see :class:`routing.region.RegionParameters`).
    federal_share
        Federal places as a share of the country's oncology referrals, per service.
    consent_share
        The share of patients who consent to travel to another region.
    seed
        Seeds everything.
    """

    referrals: int = 100_000
    regions: tuple[str, ...] = field(default_factory=lambda: tuple(sorted(POPULATION_THOUSANDS)))
    days: int = 20
    contention: float = 1.0
    federal_share: float = 0.05
    consent_share: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.referrals < len(self.regions):
            raise InvalidInputError(_RECORD, "referrals", "at least one referral a region")
        unknown = [r for r in self.regions if r not in POPULATION_THOUSANDS]
        if unknown:
            raise InvalidInputError(_RECORD, "regions", f"unknown region {unknown[0]!r}")
        if len(set(self.regions)) != len(self.regions) or not self.regions:
            raise InvalidInputError(_RECORD, "regions", "each region once, at least one")
        for name in ("federal_share", "consent_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidInputError(_RECORD, name, "expected a share in [0, 1]")


@dataclass(frozen=True, slots=True)
class Country:
    """A generated country-day: its regions' sizes and the federal centres.

    Attributes
    ----------
    parameters
        What was generated.
    sizes
        Region code → its referrals, by code.
    federal
        The federal centres and their slots (a problem without requests).
    """

    parameters: CountryParameters
    sizes: Mapping[str, int]
    federal: Problem

    @property
    def referrals(self) -> int:
        """Requests across the regions."""
        return sum(self.sizes.values())

    @property
    def codes(self) -> tuple[str, ...]:
        """The regions' codes, sorted."""
        return tuple(sorted(self.sizes))

    def region(self, code: str) -> Problem:
        """Region ``code``'s problem (its facilities, slots and referrals), generated now: the
        same each time (:func:`region_problem`).

        Raises
        ------
        InvalidInputError
            If ``code`` is not one of :attr:`codes`.
        """
        return region_problem(self.parameters, code)


def generate_country(params: CountryParameters) -> Country:
    """Generate the country-day of ``params`` (see the module docstring)."""
    sizes = _shares(params)
    return Country(params, dict(sorted(sizes.items())), federal_problem(params))


def region_problem(params: CountryParameters, code: str) -> Problem:
    """Generate region ``code`` of the country of ``params``: a pure function of the two.

    Raises
    ------
    InvalidInputError
        If ``code`` is not one of the parameters' regions.
    """
    sizes = _shares(params)
    if code not in sizes:
        raise InvalidInputError(_RECORD, "regions", f"no region {code!r} in this country")
    n = sorted(sizes).index(code)
    local = generate_region(
        RegionParameters(
            patients=sizes[code],
            days=params.days,
            contention=params.contention,
            seed=params.seed * 1000 + n,
        )
    )
    return _relabelled(local, code, random.Random(f"{params.seed}:{code}"), params)


def _shares(params: CountryParameters) -> dict[str, int]:
    """Referrals per region by population, largest remainder, at least one each."""
    total = sum(POPULATION_THOUSANDS[r] for r in params.regions)
    spare = params.referrals - len(params.regions)
    exact = {r: spare * POPULATION_THOUSANDS[r] / total for r in params.regions}
    sizes = {r: 1 + math.floor(x) for r, x in exact.items()}
    left = params.referrals - sum(sizes.values())
    for r in sorted(exact, key=lambda r: (-(exact[r] % 1), r))[:left]:
        sizes[r] += 1
    return sizes


def _relabelled(
    problem: Problem, code: str, rng: random.Random, params: CountryParameters
) -> Problem:
    def fid(old: str) -> str:
        return f"{code}:{old}"

    facilities = tuple(
        f.model_copy(update={"id": fid(f.id), "region": code}) for f in problem.facilities
    )
    slots = tuple(
        s.model_copy(update={"id": fid(s.id), "facility_id": fid(s.facility_id)})
        for s in problem.slots
    )
    requests = []
    for r in problem.requests:
        p = r.patient
        patient = p.model_copy(
            update={
                "id": fid(p.id),
                "allowed_facilities": (
                    None
                    if p.allowed_facilities is None
                    else frozenset(fid(f) for f in p.allowed_facilities)
                    | {c[0] for c in FEDERAL_CENTRES}
                ),
                "preferred_facilities": tuple(fid(f) for f in p.preferred_facilities),
                "travels_out_of_region": rng.random() < params.consent_share,
            }
        )
        requests.append(r.model_copy(update={"id": fid(r.id), "patient": patient, "region": code}))
    return problem.model_copy(
        update={"facilities": facilities, "slots": slots, "requests": tuple(requests)}
    )


@functools.lru_cache(maxsize=4)
def federal_problem(params: CountryParameters) -> Problem:
    """The federal centres, each with remote boards and in-person treatment every working day,
    ``federal_share`` of the country's referrals in all for each of the two services (a pure
    function of ``params``, kept for the last few: workers ask for it once per region)."""
    referrals = params.referrals
    rng = random.Random(f"{params.seed}:federal")
    tz = ZoneInfo(TIMEZONE)
    days = working_days(RegionParameters().start, params.days)
    facilities = tuple(
        Facility(
            id=fid,
            name=name,
            level=3,
            location=GeoPoint(lat=lat, lon=lon),
            services=(BOARD, TREATMENT),  # type: ignore[arg-type]
            region=region,
        )
        for fid, name, region, lat, lon in FEDERAL_CENTRES
    )
    per_service = max(1, round(params.federal_share * referrals))
    slots: list[Slot] = []
    for service, mode, minutes in ((BOARD, "remote", 30), (TREATMENT, "in_person", 60)):
        for k in range(per_service):
            fid = FEDERAL_CENTRES[k % len(FEDERAL_CENTRES)][0]
            day = days[rng.randrange(len(days))]
            start = datetime.combine(day, time(9), tzinfo=tz) + timedelta(
                minutes=30 * rng.randrange(16)
            )
            slots.append(
                Slot(
                    id=f"{fid}:{service.rsplit(':', 1)[1]}:{k:06d}",
                    facility_id=fid,
                    service=service,  # type: ignore[arg-type]
                    start=start,
                    end=start + timedelta(minutes=minutes),
                    mode=mode,  # type: ignore[arg-type]
                )
            )
    return Problem(
        format_version=1,
        timezone=TIMEZONE,
        facilities=facilities,
        slots=tuple(slots),
        requests=(),
    )
