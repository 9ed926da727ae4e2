"""The Saint Petersburg-like region: determinism, geography, services, capacity, cohort."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.catalogue import Catalogue
from nosology.resolve import pathway_for
from routing import InvalidInputError, Problem, default_calendar, dump_problem, load_problem
from routing.region import (
    DEFAULT_MIX,
    PRIMARY_SLACK,
    SYNTHETIC_PREFIX,
    RegionParameters,
    generate_region,
    region_data,
    service_demand,
    working_days,
)
from routing.region.services import SERVICES

SMALL = RegionParameters(patients=60, days=12, contention=1.0, seed=3)


@functools.cache
def _small() -> Problem:
    return generate_region(SMALL)


def _units_by_service(problem: Problem, until: date | None = None) -> Counter[str]:
    units: Counter[str] = Counter()
    for slot in problem.slots:
        if until is None or slot.start.date() <= until:
            units[str(slot.service)] += slot.capacity
    return units


def test_same_seed_same_problem() -> None:
    """The same parameters give the same problem, byte for byte."""
    assert dump_problem(generate_region(SMALL)) == dump_problem(_small())


def test_other_seed_other_problem() -> None:
    """Another seed changes the cohort and the slots."""
    other = generate_region(RegionParameters(patients=60, days=12, contention=1.0, seed=4))
    assert dump_problem(other) != dump_problem(_small())


def test_facilities_do_not_depend_on_cohort_size() -> None:
    """The facilities of a seed are the same whatever the number of patients."""
    bigger = generate_region(RegionParameters(patients=90, days=12, contention=1.0, seed=3))
    assert bigger.facilities == _small().facilities


def test_round_trip_through_the_problem_file() -> None:
    """The problem validates and survives dump and load unchanged."""
    problem = _small()
    assert load_problem(dump_problem(problem)) == problem


def test_the_eighteen_districts() -> None:
    """The 18 portal districts are in the data, and every one has facilities and is named."""
    districts = region_data().districts
    assert [d.id for d in districts] == list(range(1, 19))
    names = {d.name for d in districts}
    assert len(names) == 18
    assert {f.district for f in _small().facilities} == names
    assert {r.patient.district for r in _small().requests} <= names


def test_real_and_synthetic_facilities() -> None:
    """Nevsky's real facilities keep portal ids and places; the others are marked synthetic."""
    facilities = {f.id: f for f in _small().facilities}
    real = [f for f in facilities.values() if f.id.startswith("gz-")]
    assert {f.district for f in real} == {"Невский"}
    caop = facilities["gz-1050"]  # ГВВ ЦАОП in the recorded portal response
    assert caop.level == 2
    assert caop.location is not None
    assert (caop.location.lat, caop.location.lon) == (59.879231, 30.468321)
    assert "nmu:B01.027.001" in caop.service_keys
    for facility in facilities.values():
        synthetic = facility.id.startswith(SYNTHETIC_PREFIX)
        assert synthetic != facility.id.startswith("gz-")
        assert synthetic == facility.name.endswith("(синтетическая)")


def test_levels_and_services_fit_the_pathways() -> None:
    """A facility offers only services some stage uses, at a level that stage accepts."""
    lowest: dict[str, int] = {}
    for pathway in Catalogue.builtin():
        for stage in pathway.stages:
            for key in stage.service_keys:
                lowest[key] = min(lowest.get(key, 3), stage.facility_level or 1)
    levels = Counter(f.level for f in _small().facilities)
    assert set(levels) == {1, 2, 3}
    for facility in _small().facilities:
        assert facility.services, facility.id
        for key in facility.service_keys:
            assert facility.level >= lowest[key], (facility.id, key)


def test_every_stage_has_a_slot_source() -> None:
    """Every stage of every built-in pathway has slots of its service, level and mode."""
    problem = _small()
    levels = {f.id: f.level for f in problem.facilities}
    sources = {(str(s.service), levels[s.facility_id], s.mode) for s in problem.slots}
    for pathway in Catalogue.builtin():
        for stage in pathway.stages:
            assert any(
                key in stage.service_keys
                and level >= (stage.facility_level or 1)
                and mode is stage.mode
                for key, level, mode in sources
            ), (pathway.id, stage.id)


def test_slots_on_working_days_within_the_horizon() -> None:
    """Slots fall on the working days of the horizon only: none on the May holidays."""
    days = set(working_days(SMALL.start, SMALL.days))
    calendar = default_calendar()
    for slot in _small().slots:
        assert slot.start.date() in days
        assert calendar.is_working_day(slot.start.date())
        assert slot.end > slot.start
        assert _small().facility(slot.facility_id).offers(slot.service)
    assert date(2026, 5, 1) not in days
    assert date(2026, 5, 11) not in days
    assert len(days) == SMALL.days


def test_cohort_follows_the_mix() -> None:
    """The cohort's pathways match the mix exactly, diagnoses resolve to them, priorities fit."""
    problem = _small()
    found = Counter(pathway_for(r.diagnoses).id for r in problem.requests)
    assert sum(found.values()) == SMALL.patients
    for pathway_id, share in DEFAULT_MIX.items():
        assert abs(found[pathway_id] - share * SMALL.patients) < 1
    for request in problem.requests:
        pathway_id = pathway_for(request.diagnoses).id
        urgent = pathway_id.startswith(("zno_", "cvd_"))
        assert request.priority == (1 if urgent else 0)
        assert ("last_menstrual_period" in request.reference_dates) == (
            pathway_id == "pregnancy_first_trimester_screening"
        )


def test_patients_live_in_their_district() -> None:
    """Homes lie near the district centroid; the attachment polyclinic is in the district."""
    problem = _small()
    centroids = {d.name: d.centroid for d in region_data().districts}
    referral_days = set(working_days(SMALL.start, SMALL.referral_days))
    for request in problem.requests:
        patient = request.patient
        assert patient.location is not None
        assert patient.district is not None
        assert patient.location.distance_km(centroids[patient.district]) < 15
        for facility_id in patient.preferred_facilities:
            assert problem.facility(facility_id).district == patient.district
        assert request.referral.date() in referral_days
        assert request.referral.utcoffset() is not None


def test_routing_order() -> None:
    """Patients use primary care and a ЦАОП of their district only; other levels city-wide."""
    problem = _small()
    for request in problem.requests:
        allowed = request.patient.allowed_facilities
        assert allowed is not None
        for facility in problem.facilities:
            local = facility.level == 1 or "caop" in facility.id or facility.id == "gz-1050"
            if not local:
                assert facility.id in allowed
            elif facility.level == 1:
                assert (facility.id in allowed) == (facility.district == request.patient.district)
        caops = [f for f in allowed if "caop" in f or f == "gz-1050"]
        assert len(caops) == 1
    free = generate_region(RegionParameters(patients=5, days=10, routing_order=False))
    assert all(r.patient.allowed_facilities is None for r in free.requests)


def test_contention_is_demand_over_supply_in_the_window() -> None:
    """In the window, specialist demand ÷ supply is the contention (primary: times the slack)."""
    params = RegionParameters(patients=400, days=12, contention=1.6, seed=5)
    problem = generate_region(params)
    window_end = working_days(params.start, params.window_days)[-1]
    supply = _units_by_service(problem, window_end)
    demand = service_demand(
        (pathway_for(r.diagnoses) for r in problem.requests), problem.facilities
    )
    checked = 0
    for key, wanted in demand.items():
        ratio = params.contention * (PRIMARY_SLACK if SERVICES[key].primary else 1.0)
        if wanted / ratio < 10:
            continue  # rounding dominates tiny supplies
        checked += 1
        assert ratio <= wanted / supply[key] <= ratio * 10 / 9, key
    assert checked >= 10


@settings(max_examples=8, deadline=None)
@given(st.floats(0.2, 3.0), st.floats(1.05, 3.0))
def test_more_contention_fewer_slots(contention: float, factor: float) -> None:
    """Raising contention never adds supply: per service, and in total."""
    low = generate_region(RegionParameters(patients=40, days=10, contention=contention, seed=2))
    high = generate_region(
        RegionParameters(patients=40, days=10, contention=contention * factor, seed=2)
    )
    low_units, high_units = _units_by_service(low), _units_by_service(high)
    assert all(high_units[key] <= low_units[key] for key in high_units)
    assert sum(high_units.values()) <= sum(low_units.values())
    assert len(high.slots) <= len(low.slots)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"contention": 0.0}, "contention"),
        ({"contention": float("nan")}, "contention"),
        ({"patients": 0}, "patients"),
        ({"window_days": 40}, "window_days"),
        ({"mix": {"zno_lung": -1.0}}, "mix.zno_lung"),
        ({"mix": {}}, "mix"),
    ],
)
def test_bad_parameters_name_the_field(changes: dict[str, object], field: str) -> None:
    """Bad parameters raise InvalidInputError naming the field."""
    with pytest.raises(InvalidInputError) as caught:
        RegionParameters(**changes)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_unknown_pathway_in_the_mix() -> None:
    """A mix naming a pathway the catalogue lacks is rejected, naming it."""
    with pytest.raises(InvalidInputError) as caught:
        generate_region(RegionParameters(patients=5, days=10, mix={"no_such_pathway": 1.0}))
    assert caught.value.field == "mix.no_such_pathway"


def test_custom_mix_only_its_pathways() -> None:
    """A custom mix gives only its pathways, in its proportions."""
    problem = generate_region(
        RegionParameters(patients=30, days=10, seed=1, mix={"zno_lung": 2.0, "cvd_suspected": 1.0})
    )
    found = Counter(pathway_for(r.diagnoses).id for r in problem.requests)
    assert found == Counter({"zno_lung": 20, "cvd_suspected": 10})


def test_pathways_sharing_a_service_draw_on_the_same_slots() -> None:
    """Slots belong to a service, not a pathway: two pathways using one service compete for it."""
    from routing import SlotIndex
    from routing.batch.cohort import build_cohort
    from routing.solve.compiled import compile_request

    problem = _small()
    index = SlotIndex.build(problem.facilities, problem.slots, travel=problem.travel)
    blood = "nmu:A11.12.009"
    seen: dict[str, dict[str, set[int]]] = {}  # district -> pathway -> candidate slots
    for entry in build_cohort(problem.requests, index).entries:
        pathway = entry.pathway
        district = entry.request.patient.district or ""
        if pathway is None or pathway.id in seen.get(district, {}):
            continue
        if pathway.windows:  # pregnancy screening: its own gestation window of days
            continue
        cr = compile_request(entry.request, pathway, index)
        for stage, compiled in zip(pathway.stages, cr.stages, strict=True):
            if stage.service_keys == {blood} and compiled.slot:
                seen.setdefault(district, {})[pathway.id] = set(compiled.slot)
    shared = [pools for pools in seen.values() if len(pools) >= 2]
    assert shared  # diabetes and cataract both draw blood
    for pools in shared:
        first, *others = pools.values()
        assert all(first & other for other in others)


def test_builtin_urgent_and_routine_pathways_share_no_service() -> None:
    """The fact the benchmark notes: no built-in urgent pathway uses a routine one's service."""
    urgent: set[str] = set()
    routine: set[str] = set()
    for pathway in Catalogue.builtin():
        keys = {k for s in pathway.stages for k in s.service_keys}
        (urgent if pathway.id.startswith(("zno_", "cvd_")) else routine).update(keys)
    assert urgent
    assert routine
    assert not urgent & routine
