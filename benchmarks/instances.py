"""Seeded benchmark instances: facilities, free slots and route requests in Saint Petersburg.

An instance is generated from a size and a seed, deterministically (one :class:`random.Random`
seeded with ``seed`` drives every choice, in a fixed order). See ``benchmarks/README.md`` for the
recipe in words. In short:

- the span is the first ``working_days`` working days of the Russian production calendar from
  Monday 2026-04-27, so the May holidays (1–3 and 9–11 May 2026) fall inside it;
- facilities are level 1 polyclinics (consultations, labs, ECG, echo, Holter), level 2 ЦАОП
  (the oncologist, CT, MRI, mammography, ultrasound, plus labs and ECG) and level 3 hospitals
  (everything, including colonoscopy, bronchoscopy, biopsies, the tumour board as remote slots,
  surgery and specialised treatment), placed at random in the city;
- each facility × service × working day has a grid of appointment times within the service's
  hours, one slot duration apart (the duration of the pathway stage that uses the service), and
  each grid time becomes a free slot with a probability scaled so the expected number of slots
  meets the size's target;
- requests name diagnoses resolved by the catalogue, a built-in pathway id, or the 8-stage
  :func:`bench_pathway` with two hard maximum lags (given to ``plan_route`` as ``pathways``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from nosology.catalogue import Catalogue
from nosology.pathway import (
    Applicability,
    LagUnit,
    LocalizedText,
    Pathway,
    ServiceRef,
    Stage,
    TemporalConstraint,
    VisitMode,
)
from routing.calendar import WorkingCalendar, default_calendar
from routing.domain import Facility, GeoPoint, Patient, Period, RouteRequest, Slot

__all__ = [
    "BENCH_PATHWAY_ID",
    "SIZES",
    "SPAN_START",
    "Instance",
    "Size",
    "SizeSpec",
    "bench_pathway",
    "make_instance",
]

Size = Literal["tiny", "small", "medium", "large"]

MSK = ZoneInfo("Europe/Moscow")
SPAN_START = date(2026, 4, 27)
"""The first day of every instance: a Monday before the May holidays of 2026."""

BENCH_PATHWAY_ID = "bench_colorectal_surgery"


@dataclass(frozen=True, slots=True)
class SizeSpec:
    """The shape of one instance size.

    Attributes
    ----------
    facilities
        How many facilities of level 1, 2 and 3.
    working_days
        Working days in the slot span.
    target_slots
        The expected number of free slots.
    referral_days
        Referrals fall on the first this many working days.
    bench_share
        The share of requests that use :func:`bench_pathway`.
    requests
        How many requests the instance holds.
    """

    facilities: tuple[int, int, int]
    working_days: int
    target_slots: int
    referral_days: int
    bench_share: float
    requests: int


SIZES: Mapping[str, SizeSpec] = {
    "tiny": SizeSpec((2, 1, 1), 16, 800, 2, 0.4, 12),
    "small": SizeSpec((3, 2, 1), 20, 1_000, 5, 0.4, 120),
    "medium": SizeSpec((12, 5, 3), 30, 10_000, 5, 0.4, 120),
    "large": SizeSpec((36, 16, 8), 40, 100_000, 10, 0.4, 120),
}


@dataclass(frozen=True, slots=True)
class _ServiceSpec:
    tier: int
    opens: int
    closes: int
    weight: float


# Service -> the lowest facility level that offers it in these instances, its hours (local hour
# of the first start, hour by which the last appointment ends) and a relative slot density.
_SERVICES: Mapping[str, _ServiceSpec] = {
    # Level 1: consultations and labs at every polyclinic.
    "nmu:A11.12.009": _ServiceSpec(1, 8, 11, 3.0),  # blood tests
    "nmu:A05.10.006": _ServiceSpec(1, 8, 14, 1.5),  # ECG
    "fer:27": _ServiceSpec(1, 9, 20, 2.0),  # therapist (portal specialty)
    "nmu:B01.047.001": _ServiceSpec(1, 9, 17, 1.0),  # therapist
    "nmu:B01.058.001": _ServiceSpec(1, 9, 17, 0.5),  # endocrinologist
    "fer:20": _ServiceSpec(1, 9, 17, 0.7),  # ophthalmologist (portal specialty)
    "nmu:B01.029.001": _ServiceSpec(1, 9, 17, 0.3),  # ophthalmologist
    "nmu:B01.015.001": _ServiceSpec(1, 9, 17, 0.7),  # cardiologist, first visit
    "nmu:B01.015.002": _ServiceSpec(1, 9, 17, 0.7),  # cardiologist, follow-up
    "nmu:A04.10.002": _ServiceSpec(1, 9, 15, 0.5),  # echocardiography
    "nmu:A05.10.008": _ServiceSpec(1, 9, 15, 0.4),  # Holter monitoring
    # Level 2: outpatient oncology centres (ЦАОП): the oncologist, CT, MRI, imaging.
    "nmu:B01.027.001": _ServiceSpec(2, 9, 17, 1.5),  # oncologist
    "nmu:A06.09.005": _ServiceSpec(2, 8, 20, 1.0),  # chest CT
    "nmu:A06.09.005.002": _ServiceSpec(2, 8, 20, 0.5),  # chest CT with contrast
    "nmu:A06.30.005": _ServiceSpec(2, 8, 20, 0.8),  # abdominal CT
    "nmu:A06.30.005.002": _ServiceSpec(2, 8, 20, 0.4),  # abdominal CT with contrast
    "nmu:A05.30.005": _ServiceSpec(2, 8, 20, 0.5),  # abdominal MRI
    "nmu:A05.23.009": _ServiceSpec(2, 8, 20, 0.3),  # brain MRI
    "nmu:A06.20.004": _ServiceSpec(2, 9, 17, 0.6),  # mammography
    "nmu:A04.20.002": _ServiceSpec(2, 9, 17, 0.6),  # breast ultrasound
    "nmu:A04.30.001": _ServiceSpec(2, 9, 17, 0.6),  # obstetric ultrasound
    # Level 3: hospitals and dispensaries: procedures, the tumour board, treatment.
    "nmu:A03.18.001": _ServiceSpec(3, 9, 15, 0.6),  # colonoscopy with biopsy
    "nmu:A03.09.001": _ServiceSpec(3, 9, 15, 0.5),  # bronchoscopy with biopsy
    "catalogue:biopsy": _ServiceSpec(3, 9, 15, 0.5),
    "nmu:A11.20.010": _ServiceSpec(3, 9, 15, 0.5),  # core-needle breast biopsy
    "catalogue:oncology_tumour_board": _ServiceSpec(3, 14, 17, 1.0),  # remote
    "nmu:B01.003.001": _ServiceSpec(3, 9, 15, 0.5),  # anaesthetist
    "catalogue:oncology_specialised_treatment": _ServiceSpec(3, 8, 16, 0.6),
    "catalogue:cardiology_specialised_care": _ServiceSpec(3, 8, 16, 0.4),
    "nmu:A16.26.093.002": _ServiceSpec(3, 8, 16, 0.4),  # cataract surgery
}

_CORE = ("nmu:A11.12.009", "nmu:A05.10.006", "fer:27")
"""Services every level 1 and level 2 facility offers (blood tests, ECG, the therapist)."""

_DISTRICTS = (
    "Адмиралтейский", "Василеостровский", "Выборгский", "Калининский", "Кировский",
    "Колпинский", "Красногвардейский", "Красносельский", "Кронштадтский", "Курортный",
    "Московский", "Невский", "Петроградский", "Петродворцовый", "Приморский", "Пушкинский",
    "Фрунзенский", "Центральный",
)  # fmt: skip

# Saint Petersburg, roughly the built-up city inside the ring road.
_LAT = (59.83, 60.05)
_LON = (30.18, 30.50)

# (weight, diagnoses, pathway id): what a request asks for, besides the bench pathway.
_ASKS: tuple[tuple[float, tuple[str, ...], str | None], ...] = (
    (3.0, ("C34.1",), None),  # lung
    (1.0, ("С34.1",), None),  # the same with a Cyrillic С
    (2.0, ("C18.7",), None),  # colorectal
    (2.0, ("C50.4",), None),  # breast
    (2.0, ("Z03.1",), None),  # suspected cancer, site unknown
    (2.0, ("I25.1",), None),  # suspected cardiovascular disease
    (2.0, ("E11.9",), None),  # type 2 diabetes, dispensary visit
    (1.0, ("H25.1",), None),  # cataract surgery
    (1.0, (), "pregnancy_first_trimester_screening"),
)


@dataclass(frozen=True, slots=True)
class Instance:
    """One generated benchmark instance.

    Attributes
    ----------
    size, seed
        What it was generated from.
    days
        The working days of the span, in order.
    facilities, slots, requests
        The records.
    pathways
        Pathways outside the built-in catalogue, by id (pass to ``plan_route(pathways=...)``).
    """

    size: str
    seed: int
    days: tuple[date, ...]
    facilities: tuple[Facility, ...]
    slots: tuple[Slot, ...]
    requests: tuple[RouteRequest, ...]
    pathways: Mapping[str, Pathway] = field(default_factory=dict)


def _text(ru: str, en: str) -> LocalizedText:
    return LocalizedText(ru=ru, en=en)


def _stage(
    stage_id: str,
    ru: str,
    en: str,
    services: tuple[str, ...],
    minutes: int,
    level: int,
    after: tuple[str, ...] = (),
    *,
    mode: VisitMode = VisitMode.IN_PERSON,
    shares_day: bool = True,
) -> Stage:
    return Stage(
        id=stage_id,
        title=_text(ru, en),
        services=tuple(ServiceRef.model_validate(s) for s in services),
        duration_minutes=minutes,
        mode=mode,
        facility_level=level,
        shares_day=shares_day,
        after=after,
    )


def bench_pathway() -> Pathway:
    """An 8-stage colorectal-surgery pathway with two hard maximum lags (benchmark data).

    Consultation → blood tests, ECG, colonoscopy with biopsy, abdominal CT → tumour board
    (remote, ≥ 5 working days after the biopsy) → anaesthetist → surgery (own day). Hard maxima:
    the blood tests start ≤ 10 calendar days before the surgery starts, and the surgery starts
    ≤ 10 working days after the tumour board.
    """
    source = "Benchmark assumption (not a clinical rule)"
    return Pathway(
        id=BENCH_PATHWAY_ID,
        version="bench.1",
        title=_text("Колоректальный рак: хирургическое лечение", "Colorectal cancer: surgery"),
        applicability=Applicability(codes=("C18-C20",), priority=-100),
        stages=(
            _stage("consultation", "Онколог ЦАОП", "Oncologist", ("nmu:B01.027.001",), 30, 2),
            _stage(
                "blood_tests",
                "Анализы крови",
                "Blood tests",
                ("nmu:A11.12.009",),
                10,
                1,
                ("consultation",),
            ),
            _stage("ecg", "ЭКГ", "ECG", ("nmu:A05.10.006",), 15, 1, ("consultation",)),
            _stage(
                "colonoscopy_biopsy",
                "Колоноскопия с биопсией",
                "Colonoscopy with biopsy",
                ("nmu:A03.18.001",),
                45,
                2,
                ("consultation",),
            ),
            _stage(
                "abdominal_ct",
                "КТ брюшной полости",
                "Abdominal CT",
                ("nmu:A06.30.005", "nmu:A06.30.005.002"),
                20,
                2,
                ("consultation",),
            ),
            _stage(
                "tumour_board",
                "Консилиум (заочно)",
                "Tumour board (in absentia)",
                ("catalogue:oncology_tumour_board",),
                30,
                3,
                ("colonoscopy_biopsy", "abdominal_ct"),
                mode=VisitMode.REMOTE,
            ),
            _stage(
                "anaesthetist",
                "Анестезиолог",
                "Anaesthetist",
                ("nmu:B01.003.001",),
                30,
                3,
                ("tumour_board", "blood_tests", "ecg"),
            ),
            _stage(
                "surgery",
                "Операция",
                "Surgery",
                ("catalogue:oncology_specialised_treatment",),
                60,
                3,
                ("anaesthetist",),
                shares_day=False,
            ),
        ),
        constraints=(
            TemporalConstraint(
                from_event="colonoscopy_biopsy.end",
                to_event="tumour_board.start",
                min=5,
                unit=LagUnit.WORKING_DAYS,
                source=source,
                assumption=True,
            ),
            TemporalConstraint(
                from_event="blood_tests.start",
                to_event="surgery.start",
                max=10,
                unit=LagUnit.CALENDAR_DAYS,
                source=source,
                assumption=True,
            ),
            TemporalConstraint(
                from_event="tumour_board.start",
                to_event="surgery.start",
                max=10,
                unit=LagUnit.WORKING_DAYS,
                source=source,
                assumption=True,
            ),
        ),
    )


def _working_days(calendar: WorkingCalendar, n: int) -> tuple[date, ...]:
    days: list[date] = []
    day = SPAN_START
    while len(days) < n:
        if calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return tuple(days)


def _durations(pathways: list[Pathway]) -> dict[str, tuple[int, VisitMode]]:
    """Service → (the longest duration of a stage using it, the stage's mode)."""
    found: dict[str, tuple[int, VisitMode]] = {}
    for pathway in pathways:
        for stage in pathway.stages:
            for service in stage.service_keys:
                minutes = max(stage.duration_minutes, found.get(service, (0, stage.mode))[0])
                found[service] = (minutes, stage.mode)
    missing = sorted(set(found) - set(_SERVICES))
    if missing:
        raise ValueError(f"benchmark service table: no entry for services {missing}")
    return found


def _point(rng: random.Random) -> GeoPoint:
    return GeoPoint(lat=round(rng.uniform(*_LAT), 5), lon=round(rng.uniform(*_LON), 5))


def _facilities(rng: random.Random, counts: tuple[int, int, int]) -> list[Facility]:
    names = {1: "Городская поликлиника", 2: "ЦАОП", 3: "Городская больница"}
    by_tier: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for service, spec in _SERVICES.items():
        by_tier[spec.tier].append(service)
    facilities: list[Facility] = []
    for level, count in zip((1, 2, 3), counts, strict=True):
        for n in range(1, count + 1):
            if level == 1:
                offered = [s for s in by_tier[1] if s in _CORE or rng.random() < 0.8]
            elif level == 2:
                # Every ЦАОП has the oncologist; the other level 2 services with p = 0.85.
                optional = [s for s in by_tier[2] if s != "nmu:B01.027.001"]
                offered = [*_CORE, "nmu:B01.027.001", *(s for s in optional if rng.random() < 0.85)]
            else:
                offered = list(_SERVICES)
            facilities.append(
                Facility(
                    id=f"mo-l{level}-{n:02d}",
                    name=f"{names[level]} № {n}",
                    location=_point(rng),
                    district=_DISTRICTS[(len(facilities) * 7) % len(_DISTRICTS)],
                    level=level,
                    services=tuple(ServiceRef.model_validate(s) for s in sorted(offered)),
                )
            )
    return facilities


def _grid(spec: _ServiceSpec, minutes: int) -> list[int]:
    """Local start minutes (from midnight) of the appointment grid of a service."""
    return list(range(spec.opens * 60, spec.closes * 60 - minutes + 1, minutes))


def _slots(
    rng: random.Random,
    facilities: list[Facility],
    days: tuple[date, ...],
    durations: Mapping[str, tuple[int, VisitMode]],
    target: int,
) -> list[Slot]:
    offering: dict[str, int] = {}
    for facility in facilities:
        for service in facility.service_keys & durations.keys():
            offering[service] = offering.get(service, 0) + 1
    # A service's weight is its share of all slots, spread evenly over the grid times of the
    # facilities that offer it (so a service few facilities offer is dense where it is offered).
    cells: list[tuple[Facility, str, list[int], float]] = []
    for facility in facilities:
        for service in sorted(facility.service_keys & durations.keys()):
            spec = _SERVICES[service]
            grid = _grid(spec, durations[service][0])
            cells.append((facility, service, grid, spec.weight / (offering[service] * len(grid))))
    scale = _scale([(len(grid) * len(days), w) for _, _, grid, w in cells], target)
    slots: list[Slot] = []
    for day in days:
        for facility, service, grid, weight in cells:
            minutes, mode = durations[service]
            p = min(1.0, weight * scale)
            ref = ServiceRef.model_validate(service)
            for start_minute in grid:
                if rng.random() >= p:
                    continue
                start = datetime.combine(day, time(start_minute // 60, start_minute % 60), MSK)
                hhmm = f"{start:%H%M}"
                slots.append(
                    Slot(
                        id=f"{facility.id}/{day:%m%d}/{hhmm}/{service}",
                        facility_id=facility.id,
                        service=ref,
                        start=start,
                        end=start + timedelta(minutes=minutes),
                        resource=f"{facility.id}/{service}",
                        mode=mode,
                    )
                )
    return slots


def _scale(cells: list[tuple[int, float]], target: int) -> float:
    """The factor ``s`` with ``sum(n * min(1, w * s)) == target`` (or all grid times)."""
    total = sum(n for n, _ in cells)
    if target >= total:
        return math.inf
    lo, hi = 0.0, 1.0
    while sum(n * min(1.0, w * hi) for n, w in cells) < target:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(n * min(1.0, w * mid) for n, w in cells) < target:
            lo = mid
        else:
            hi = mid
    return hi


def _requests(
    rng: random.Random,
    spec: SizeSpec,
    facilities: list[Facility],
    days: tuple[date, ...],
) -> list[RouteRequest]:
    primary = [f for f in facilities if f.level == 1]
    weights = [w for w, _, _ in _ASKS]
    requests: list[RouteRequest] = []
    for n in range(1, spec.requests + 1):
        home = _point(rng)
        day = days[rng.randrange(spec.referral_days)]
        minute = rng.randrange(8 * 60, 18 * 60)
        referral = datetime.combine(day, time(minute // 60, minute % 60), MSK)
        visits = rng.choices((1, 2, 3), weights=(0.15, 0.75, 0.10))[0]
        preferred: tuple[str, ...] = ()
        if rng.random() < 0.5:
            nearest = min(primary, key=lambda f: (_distance(home, f), f.id))
            preferred = (nearest.id,)
        unavailable: tuple[Period, ...] = ()
        if rng.random() < 0.2:
            busy = days[min(len(days) - 1, days.index(day) + rng.randrange(1, 6))]
            unavailable = (
                Period(
                    start=datetime.combine(busy, time(9), MSK),
                    end=datetime.combine(busy, time(13), MSK),
                ),
            )
        patient = Patient(
            id=f"P{n:05d}",
            location=home,
            district=_DISTRICTS[rng.randrange(len(_DISTRICTS))],
            unavailable=unavailable,
            max_visits_per_day=visits,
            preferred_facilities=preferred,
        )
        request_id = f"R{n:05d}"
        reference: dict[str, date] = {}
        if rng.random() < spec.bench_share:
            diagnoses: tuple[str, ...] = ()
            pathway_id: str | None = BENCH_PATHWAY_ID
        else:
            _, diagnoses, pathway_id = rng.choices(_ASKS, weights=weights)[0]
            if pathway_id is not None:
                # Weeks of gestation at referral: 10+0 to 12+1, so the 11–14 week window is ahead.
                reference["last_menstrual_period"] = day - timedelta(days=rng.randrange(70, 86))
        requests.append(
            RouteRequest(
                id=request_id,
                patient=patient,
                referral=referral,
                diagnoses=diagnoses,
                pathway_id=pathway_id,
                reference_dates=reference,
            )
        )
    return requests


def _distance(home: GeoPoint, facility: Facility) -> float:
    assert facility.location is not None
    return home.distance_km(facility.location)


def make_instance(size: Size, seed: int) -> Instance:
    """Generate the instance of ``size`` for ``seed`` (the same pair gives the same instance).

    Parameters
    ----------
    size
        ``"tiny"`` (for tests), ``"small"`` (≈ 1,000 slots), ``"medium"`` (≈ 10,000 slots,
        20 facilities, 30 working days) or ``"large"`` (≈ 100,000 slots).
    seed
        Seeds every random choice.

    Raises
    ------
    ValueError
        For an unknown size.
    """
    spec = SIZES.get(size)
    if spec is None:
        raise ValueError(f"size: expected one of {sorted(SIZES)}, got {size!r}")
    rng = random.Random(seed)
    calendar = default_calendar()
    days = _working_days(calendar, spec.working_days)
    bench = bench_pathway()
    durations = _durations([*Catalogue.builtin(), bench])
    facilities = _facilities(rng, spec.facilities)
    slots = _slots(rng, facilities, days, durations, spec.target_slots)
    requests = _requests(rng, spec, facilities, days)
    return Instance(
        size=size,
        seed=seed,
        days=days,
        facilities=tuple(facilities),
        slots=tuple(slots),
        requests=tuple(requests),
        pathways={bench.id: bench},
    )
