"""Batch planning: capacity, validity, never worse than first-come-first-served, exactness,
determinism, bad records and kept bookings, on small cohorts built here.

Cohorts live in Europe/Moscow from Monday 2026-05-18; the pathway is consultation → CT with soft
deadlines (consultation ≤ 1 working day, CT ≤ 3 working days after the referral).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.pathway import LagUnit, Pathway
from route_helpers import at, deadline, make_pathway, service_of, stage
from routing.batch import BatchResult, plan_batch
from routing.batch import engine as engine_module
from routing.batch.bounds import no_competition_routes, patient_bound
from routing.batch.cohort import build_cohort
from routing.batch.exact import solve_exact
from routing.batch.fcfs import Assignment, first_come_first_served
from routing.batch.holders import SlotHolders
from routing.batch.objective import miss_cost, route_cost, total_cost
from routing.batch.report import build_report, plan_document
from routing.commands.batch import add_batch_arguments, run_batch
from routing.domain import Facility, Patient, RouteRequest, Slot
from routing.evaluate import evaluate_route
from routing.result import RouteResult, SolveStatus
from routing.slot_index import SlotIndex
from routing.solve import plan_route

DAYS = ["2026-05-18", "2026-05-19", "2026-05-20", "2026-05-21", "2026-05-22"]
FACILITIES = [Facility(id="F1", name="F1", level=3), Facility(id="F2", name="F2", level=3)]
PATHWAY = make_pathway(
    [stage("consult"), stage("ct", after=["consult"])],
    deadlines=[
        deadline("consult_1wd", "referral", "consult.start", 1, LagUnit.WORKING_DAYS),
        deadline("ct_3wd", "referral", "ct.end", 3, LagUnit.WORKING_DAYS),
    ],
)


def make_slot(slot_id: str, stage_id: str, day: int, hhmm: str, facility: str, cap: int) -> Slot:
    """A 30-minute slot of ``stage_id``'s service."""
    start = at(DAYS[day], hhmm)
    return Slot(
        id=slot_id,
        facility_id=facility,
        service=service_of(stage_id),  # type: ignore[arg-type]
        start=start,
        end=start + timedelta(minutes=30),
        capacity=cap,
    )


def make_requests(
    n: int, priorities: list[int], pathway: Pathway | list[Pathway] = PATHWAY
) -> list[RouteRequest]:
    """``n`` requests referred a minute apart on Monday morning; priorities (and pathways, when
    a list) taken in turn."""
    pathways = pathway if isinstance(pathway, list) else [pathway]
    return [
        RouteRequest(
            id=f"R{i}",
            patient=Patient(id=f"P{i}"),
            pathway=pathways[i % len(pathways)],
            referral=at(DAYS[0], "08:00") + timedelta(minutes=i),
            priority=priorities[i % len(priorities)],
        )
        for i in range(n)
    ]


@st.composite
def cohorts(draw: st.DrawFn, max_patients: int = 5) -> tuple[list[RouteRequest], list[Slot]]:
    """A random small cohort competing for a few slots of capacity 1 or 2."""
    n = draw(st.integers(1, max_patients))
    priorities = draw(st.lists(st.integers(0, 2), min_size=1, max_size=3))
    slots = []
    for stage_id in ("consult", "ct"):
        count = draw(st.integers(1, 4))
        for k in range(count):
            day = draw(st.integers(0, 4))
            hhmm = draw(st.sampled_from(["09:00", "10:00", "11:00", "14:00"]))
            facility = draw(st.sampled_from(["F1", "F2"]))
            cap = draw(st.integers(1, 2))
            slots.append(make_slot(f"{stage_id}{k}", stage_id, day, hhmm, facility, cap))
    return make_requests(n, priorities), slots


def index_of(slots: list[Slot]) -> SlotIndex:
    """The index of the test facilities and ``slots``."""
    return SlotIndex.build(FACILITIES, slots)


def check_plan(result: BatchResult, requests: list[RouteRequest], slots: list[Slot]) -> None:
    """Capacity holds, every route passes the evaluator, and the objective adds up."""
    used = Counter(b.slot_id for r in result.routes for b in r.bookings)
    capacity = {s.id: s.capacity for s in slots}
    assert all(used[s] <= capacity[s] for s in used)
    for request, route in zip(requests, result.routes, strict=True):
        assert route.request_id == request.id
        if not route.has_route:
            continue
        evaluation = evaluate_route(
            request,
            PATHWAY,
            {b.stage_id: b.slot_id for b in route.bookings},
            slots=slots,
            facilities=FACILITIES,
        )
        assert evaluation.feasible, evaluation.violations
    measure = result.deadline_measure
    costs = [route_cost(r, w, measure) for r, w in zip(result.routes, result.weights, strict=True)]
    assert total_cost(costs) == result.objective.key()
    assert result.objective.key() <= result.fcfs_objective.key()
    assert result.capacity_bound.key() <= result.objective.key()
    assert result.no_competition_bound.key() <= result.objective.key()


@settings(max_examples=30, deadline=None)
@given(cohorts())
def test_heuristic_plans_are_valid_and_no_worse_than_fcfs(
    cohort: tuple[list[RouteRequest], list[Slot]],
) -> None:
    """Search alone (no exact model): capacity holds, routes are valid, never worse than FCFS."""
    requests, slots = cohort
    result = plan_batch(
        (requests, index_of(slots)), seed=3, max_iterations=30, exact_max_patients=0
    )
    check_plan(result, requests, slots)


@settings(max_examples=15, deadline=None)
@given(cohorts(max_patients=6))
def test_small_cohorts_match_the_exact_model(
    cohort: tuple[list[RouteRequest], list[Slot]],
) -> None:
    """On tiny cohorts the plan's objective is the exact model's proven optimum."""
    requests, slots = cohort
    index = index_of(slots)
    result = plan_batch((requests, index), seed=1, time_limit=30)
    check_plan(result, requests, slots)
    exact = solve_exact(build_cohort(requests, index), deterministic_time=20.0, time_limit=30.0)
    assert exact.status is SolveStatus.OPTIMAL
    assert result.objective.key() == exact.objective
    assert result.status is SolveStatus.OPTIMAL


def test_travel_across_midnight_in_batch_and_exact_model() -> None:
    """The exact model and the engine both leave room to travel between a visit that ends at
    midnight and one on the next date (F1 -> F2: 60 minutes, the unknown-location default)."""
    slots = [
        make_slot("C1", "consult", 0, "23:30", "F1", 1),  # until 00:00 on Tuesday
        make_slot("T1", "ct", 1, "00:20", "F2", 1),  # 20 minutes later, across the city
        make_slot("T2", "ct", 1, "01:00", "F2", 1),  # exactly the 60 minutes later
    ]
    requests = make_requests(1, [0])
    index = index_of(slots)
    result = plan_batch((requests, index), seed=0, time_limit=30)
    check_plan(result, requests, slots)
    assert {b.stage_id: b.slot_id for b in result.routes[0].bookings} == {
        "consult": "C1",
        "ct": "T2",
    }
    exact = solve_exact(build_cohort(requests, index), deterministic_time=20.0, time_limit=30.0)
    assert exact.status is SolveStatus.OPTIMAL
    position = index.slot_position
    assert exact.routes == {0: {"consult": position["C1"], "ct": position["T2"]}}
    assert result.objective.key() == exact.objective


def contended() -> tuple[list[RouteRequest], list[Slot]]:
    """One early consultation; the routine patient is referred first, the urgent one second."""
    slots = [
        make_slot("C1", "consult", 0, "09:00", "F1", 1),
        make_slot("C2", "consult", 4, "09:00", "F1", 1),
        make_slot("T1", "ct", 0, "11:00", "F1", 2),
        make_slot("T2", "ct", 4, "11:00", "F1", 2),
    ]
    return make_requests(2, [0, 3]), slots


def test_search_beats_fcfs_on_a_contended_slot() -> None:
    """The urgent patient gets the early slot that first come, first served gives away."""
    requests, slots = contended()
    result = plan_batch(
        (requests, index_of(slots)), seed=0, max_iterations=50, exact_max_patients=0
    )
    check_plan(result, requests, slots)
    booked = {r.request_id: {b.slot_id for b in r.bookings} for r in result.routes}
    fcfs = {r.request_id: {b.slot_id for b in r.bookings} for r in result.fcfs_routes}
    assert fcfs["R0"] == {"C1", "T1"}
    assert booked["R1"] == {"C1", "T1"}
    # the routine patient misses both deadlines by 3 working days: weight 1 each
    routine = miss_cost(limit=1, actual=4, weight=1) + miss_cost(limit=3, actual=4, weight=1)
    assert result.objective.deadline_cost == routine
    assert result.objective.deadline_cost < result.fcfs_objective.deadline_cost


def test_same_seed_same_plan_file() -> None:
    """Determinism: the same input and seed give the same plan document, byte for byte."""
    requests, slots = contended()
    more = make_requests(5, [0, 1, 2])
    texts = []
    for _ in range(2):
        result = plan_batch(
            (more, index_of(slots)), seed=7, max_iterations=40, exact_max_patients=0
        )
        texts.append(json.dumps(plan_document(result), sort_keys=True))
    assert texts[0] == texts[1]
    assert requests  # the contended slots are shared by five patients here


def test_existing_bookings_are_kept_and_reserved() -> None:
    """A patient keeps the slot it holds, and nobody else can take it."""
    requests, slots = contended()
    holder = requests[0].model_copy(update={"existing_bookings": {"consult": "C2"}})
    urgent = requests[1]
    result = plan_batch(
        (
            [holder, RouteRequest.model_validate({**urgent.model_dump(), "id": "R2"}), urgent],
            index_of(slots),
        ),
        seed=0,
        max_iterations=20,
    )
    booked = {r.request_id: {b.stage_id: b.slot_id for b in r.bookings} for r in result.routes}
    assert booked["R0"]["consult"] == "C2"
    planned = [r for r in result.routes if r.has_route]
    assert sum(1 for r in planned if r.request_id != "R0") == 1  # C1 only, C2 is held
    assert result.moved == ()


def test_no_competition_routes_avoid_slots_kept_bookings_fill() -> None:
    """Alone, each patient takes the early consultation, as its own search does; once another
    patient keeps it (its only place), the others' fastest routes avoid it and the holder's
    keeps it."""
    from routing.batch.bounds import no_competition_routes

    requests, slots = contended()
    index = index_of(slots)
    alone = no_competition_routes(build_cohort(requests, index))
    for request, route in zip(requests, alone, strict=True):
        assert {b.slot_id for b in route.bookings} == {"C1", "T1"}
        assert route.objective == plan_route(request, index).objective
    holder = requests[0].model_copy(update={"existing_bookings": {"consult": "C1"}})
    held = no_competition_routes(build_cohort([holder, requests[1]], index))
    assert {b.slot_id for b in held[0].bookings} == {"C1", "T1"}
    assert {b.slot_id for b in held[1].bookings} == {"C2", "T2"}


def test_existing_bookings_move_when_moving_is_allowed() -> None:
    """With ``allow_moving_existing`` a held slot is not kept: the patient alone moves to the
    earlier consultation, and the plan reports it moved."""
    requests, slots = contended()
    holder = requests[0].model_copy(update={"existing_bookings": {"consult": "C2"}})
    kept = plan_batch(([holder], index_of(slots)), seed=0, max_iterations=5)
    moved = plan_batch(
        ([holder], index_of(slots)), seed=0, max_iterations=5, allow_moving_existing=True
    )
    assert {b.slot_id for b in kept.routes[0].bookings} == {"C2", "T2"}
    assert kept.moved == ()
    assert {b.slot_id for b in moved.routes[0].bookings} == {"C1", "T1"}
    assert moved.moved == ("R0",)


def test_bad_and_infeasible_records_are_reported_the_rest_planned(tmp_path: Path) -> None:
    """The command plans the good requests and reports a malformed, an invalid and an
    infeasible one by id, with exit status 1."""
    requests, slots = contended()
    good = [json.loads(r.model_dump_json()) for r in requests]
    invalid = {**good[0], "id": "BAD-CODE", "pathway": None, "diagnoses": ["XYZ"]}
    malformed = {k: v for k, v in good[0].items() if k != "referral"} | {"id": "NO-REFERRAL"}
    lonely = make_pathway([stage("mri")], pathway_id="mri_only")
    infeasible = {**good[0], "id": "NO-SLOTS", "pathway": json.loads(lonely.model_dump_json())}
    document = {
        "format_version": 1,
        "facilities": [json.loads(f.model_dump_json()) for f in FACILITIES],
        "slots": [],
        "requests": [*good, invalid, malformed, infeasible],
    }
    slot_file = {
        "format_version": 1,
        "facilities": [],
        "slots": [json.loads(s.model_dump_json()) for s in slots],
        "requests": [],
    }
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a_cohort.json").write_text(json.dumps(document), encoding="utf-8")
    (tmp_path / "in" / "b_slots.json").write_text(json.dumps(slot_file), encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_batch_arguments(parser)
    out = tmp_path / "out"
    args = parser.parse_args([str(tmp_path / "in"), "-o", str(out), "--quiet", "--iterations", "5"])
    assert run_batch(args) == 1
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["planned"] == 2
    assert (report["unplanned_count"], report["invalid_count"]) == (1, 2)
    assert any("NO-REFERRAL" in text and "referral" in text for text in report["rejected"])
    unplanned = {u["request_id"]: u for u in report["unplanned"]}
    assert set(unplanned) == {"BAD-CODE", "NO-SLOTS"}
    assert unplanned["BAD-CODE"]["status"] == "INVALID"
    assert unplanned["NO-SLOTS"]["status"] == "INFEASIBLE"
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert len(plan["routes"]) == 4
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert "not planned: NO-SLOTS" in summary
    assert "patients: 5: 2 planned, 1 unplanned, 2 invalid" in summary


def test_command_bad_input_exit_status(tmp_path: Path) -> None:
    """A file that is not JSON is bad input: exit status 2 and nothing written."""
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_batch_arguments(parser)
    args = parser.parse_args([str(tmp_path / "x.json"), "-o", str(tmp_path / "out"), "-q"])
    assert run_batch(args) == 2
    assert not (tmp_path / "out").exists()


def test_report_compares_with_fcfs() -> None:
    """The report shows plan and FCFS compliance side by side and names the bottleneck."""
    requests, slots = contended()
    index = index_of(slots)
    result = plan_batch((requests, index), seed=0, max_iterations=20)
    report = build_report(result, index)
    by_id = {c.key: c for c in report.deadlines_by_id}
    assert (by_id["consult_1wd"].met, by_id["consult_1wd"].fcfs_met) == (1, 1)
    assert report.planned == report.fcfs_planned == 2
    assert report.bottlenecks[0].id in {"nmu:CONSULT", "F1"}
    assert "deadlines met" in report.summary()
    assert json.loads(report.to_json())["gap_capacity"]["unplanned"] == 0


def region_cohort(
    patients: int, contention: float, seed: int = 2, days: int = 15
) -> tuple[list[RouteRequest], SlotIndex]:
    """A small generated Saint Petersburg-like cohort (``days`` of slots) and its index."""
    from routing.region import RegionParameters, generate_region

    problem = generate_region(
        RegionParameters(patients=patients, days=days, contention=contention, seed=seed)
    )
    index = SlotIndex.build(problem.facilities, problem.slots, travel=problem.travel)
    return list(problem.requests), index


def test_thinning_and_short_horizon_keep_the_fastest_routes() -> None:
    """The per-day cap and the first short horizon do not slow any route of a small region."""
    requests, index = region_cohort(30, 0.5)
    full = build_cohort(requests, index, per_day=0, horizon_days=0)
    lean = build_cohort(requests, index, per_day=20, horizon_days=7)
    for i in range(len(requests)):
        a, b = full.route(i, None), lean.route(i, None)
        assert a.has_route == b.has_route
        if a.objective is not None and b.objective is not None:
            assert b.objective.completion_minutes == a.objective.completion_minutes


def test_no_competition_bound_holds_over_every_candidate_however_thin_the_searches() -> None:
    """Thinned to one candidate a day, a search keeps the first facility's 14:00 CT and misses
    the other's 09:00 one; the no-competition routes, and the bounds on them, still see it."""
    from routing.batch.bounds import no_competition_bound, no_competition_routes

    slots = [
        make_slot("consult", "consult", 0, "10:00", "F1", 1),
        make_slot("ct-late", "ct", 1, "14:00", "F1", 1),
        make_slot("ct-early", "ct", 1, "09:00", "F2", 1),
    ]
    requests = make_requests(1, [1])
    index = index_of(slots)
    fastest = plan_route(requests[0], index)
    assert {b.slot_id for b in fastest.bookings} == {"consult", "ct-early"}
    assert fastest.objective is not None
    cohort = build_cohort(requests, index, per_day=1)
    thinned = cohort.route(0, None)
    assert {b.slot_id for b in thinned.bookings} == {"consult", "ct-late"}
    (alone,) = no_competition_routes(cohort)
    assert alone.objective is not None
    assert alone.objective.completion_minutes == fastest.objective.completion_minutes
    weight = cohort.entries[0].weight
    bound = no_competition_bound(cohort, [alone])
    assert bound.weighted_minutes == weight * fastest.objective.completion_minutes
    result = plan_batch((requests, index), seed=0, max_iterations=5, per_day=1)
    assert result.capacity_bound.weighted_minutes <= weight * fastest.objective.completion_minutes
    assert result.routes[0].objective == fastest.objective


@settings(max_examples=150, deadline=None)
@given(cohorts(max_patients=3))
def test_bounds_hold_against_the_exact_optimum_however_thin_the_searches(
    cohort: tuple[list[RouteRequest], list[Slot]],
) -> None:
    """With every search thinned to one candidate a day and no exact groups, the no-competition
    and capacity bounds still stay at or below the exact model's optimum over every slot."""
    requests, slots = cohort
    index = index_of(slots)
    result = plan_batch(
        (requests, index), seed=2, max_iterations=10, exact_max_patients=0, per_day=1
    )
    check_plan(result, requests, slots)
    exact = solve_exact(build_cohort(requests, index), deterministic_time=20.0, time_limit=30.0)
    assert exact.status is SolveStatus.OPTIMAL
    assert result.no_competition_bound.key() <= exact.objective
    assert result.capacity_bound.key() <= exact.objective


def test_thinning_caps_candidates_per_day() -> None:
    """After thinning no stage has more than ``per_day`` candidates on one day, each kept one
    is a candidate of the unthinned stage, and what was removed is counted."""
    from routing.solve.compiled import compile_request
    from routing.solve.thinning import THINNED

    requests, index = region_cohort(200, 1.0)
    cohort = build_cohort(requests, index, per_day=0)
    thinned = 0
    for entry in cohort.entries[:20]:
        assert entry.pathway is not None
        full = compile_request(entry.request, entry.pathway, index)
        cr = compile_request(entry.request, entry.pathway, index, per_day=3)
        for st_, all_ in zip(cr.stages, full.stages, strict=True):
            assert max(Counter(st_.day).values(), default=0) <= 3
            assert st_.start == sorted(st_.start)
            assert set(st_.slot) <= set(all_.slot)
            removed = st_.excluded_by.get(THINNED, 0)
            assert removed == len(all_.slot) - len(st_.slot)
            thinned += removed
    assert thinned > 0


def test_deadline_aware_routes_meet_every_soft_deadline() -> None:
    """A deadline-aware route meets all soft deadlines and reports them soft (not hard)."""
    requests, index = region_cohort(40, 1.0)
    cohort = build_cohort(requests, index)
    found = 0
    for i in range(len(requests)):
        pathway = cohort.entries[i].pathway
        assert pathway is not None
        route = cohort.route(i, None, meet_deadlines=True)
        if not route.has_route:
            continue
        found += 1
        soft = {d.id for d in pathway.deadlines if not d.hard}
        assert {d.deadline_id for d in route.deadlines if not d.hard} == soft
        assert all(d.met for d in route.deadlines)
        assert route.status is SolveStatus.FEASIBLE
    assert found > 0


def test_search_variants_are_made_once_and_route_as_fresh_ones() -> None:
    """The hard-deadline pathway and the short-horizon request are kept per entry; a cohort
    that reuses them routes as one that has never routed."""
    requests, index = region_cohort(12, 1.0)
    used = build_cohort(requests, index, horizon_days=7)
    for i in range(len(requests)):
        used.route(i, None, meet_deadlines=True)
        used.route(i, None)
    assert set(used.variants) == {(i, m) for i in range(len(requests)) for m in (0, 1)}
    for (i, hard), (pathway, request) in used.variants.items():
        own = used.entries[i]
        assert own.pathway is not None
        assert [d.hard for d in pathway.deadlines] == [
            True if hard else d.hard for d in own.pathway.deadlines
        ]
        if own.request.horizon_days > 7:
            assert request.horizon_days == 7
            assert request.model_copy(update={"horizon_days": own.request.horizon_days}) == (
                own.request
            )
        else:
            assert request is own.request
    fresh = build_cohort(requests, index, horizon_days=7)
    blocked = np.zeros(len(index.slots), dtype=np.bool_)
    blocked[::3] = True
    for i in range(len(requests)):
        for meet in (False, True):
            a = used.route(i, blocked, meet_deadlines=meet)
            b = fresh.route(i, blocked, meet_deadlines=meet)
            assert a.model_dump(exclude={"runtime_seconds"}) == b.model_dump(
                exclude={"runtime_seconds"}
            )


@pytest.mark.parametrize("horizon", [0, 7])
def test_prepared_requests_are_reused_and_route_as_unprepared_ones(horizon: int) -> None:
    """Each entry is prepared once per variant (deadlines soft or hard, horizon short or full)
    and reused over other blocked slots; every route is the one found with nothing prepared.
    A route with pins of its own is not kept."""
    requests, index = region_cohort(12, 1.0, days=60)
    used = build_cohort(requests, index, horizon_days=horizon)
    unprepared = build_cohort(requests, index, horizon_days=horizon)
    rng = np.random.default_rng(3)
    sizes = []
    routed = differ = 0
    for share in (0.1, 0.4, 0.1):
        blocked = rng.random(len(index.slots)) < share
        for i in range(len(requests)):
            found = {}
            for meet in (False, True):
                unprepared.prepared.clear()
                a = used.route(i, blocked, meet_deadlines=meet)
                b = unprepared.route(i, blocked, meet_deadlines=meet)
                found[meet] = a.model_dump(exclude={"runtime_seconds"})
                assert found[meet] == b.model_dump(exclude={"runtime_seconds"})
                routed += a.has_route
            differ += found[False] != found[True]
        sizes.append(len(used.prepared))
    assert routed > len(requests)
    assert differ  # the deadlines change some routes: a memo that mixed the variants would fail
    assert sizes[0] >= len(requests)
    assert sizes == [sizes[0]] * 3  # made in the first round, reused after
    i = next(i for i in range(len(requests)) if used.route(i, blocked).has_route)
    booking = used.route(i, blocked).bookings[0]
    pins = {booking.stage_id: index.slot_position[booking.slot_id]}
    assert used.route(i, blocked, pins=pins).bookings[0].slot_id == booking.slot_id
    assert len(used.prepared) == sizes[0]


def test_a_memo_entry_of_other_objects_is_prepared_again() -> None:
    """A prepared request under the key of a route but made for another request (ids are
    unique only among live objects: a copied cohort's memo may name others) is not used."""
    requests, index = region_cohort(12, 1.0, days=60)
    cohort = build_cohort(requests, index)
    blocked = np.zeros(len(index.slots), dtype=np.bool_)
    first = cohort.route(0, blocked).model_dump(exclude={"runtime_seconds"})
    other = next(
        i
        for i in range(1, len(requests))
        if cohort.route(i, blocked).model_dump(exclude={"runtime_seconds", "request_id"})
        != {k: v for k, v in first.items() if k != "request_id"}
    )
    mine = [k for k in cohort.prepared if k[0] == 0]
    theirs = next(p for k, p in cohort.prepared.items() if k[0] == other)
    for key in mine:
        cohort.prepared[key] = theirs
    again = cohort.route(0, blocked).model_dump(exclude={"runtime_seconds"})
    assert again == first
    assert any(cohort.prepared[key].request.id == requests[0].id for key in mine)


def test_plan_misses_fewer_deadlines_than_fcfs_on_a_contended_region() -> None:
    """On a contended generated cohort the plan beats FCFS and misses fewer deadlines."""
    requests, index = region_cohort(60, 1.0)
    result = plan_batch((requests, index), seed=0, max_iterations=40, exact_max_patients=0)
    missed = sum(not d.met for r in result.routes for d in r.deadlines)
    fcfs_missed = sum(not d.met for r in result.fcfs_routes for d in r.deadlines)
    used = Counter(b.slot_id for r in result.routes for b in r.bookings)
    assert all(used[s.id] <= s.capacity for s in index.slots)
    assert result.objective.key() < result.fcfs_objective.key()
    assert missed < fcfs_missed


def test_polish_optimises_visit_days_without_changing_the_batch_cost() -> None:
    """Polished routes are proven on every objective and cost what they cost before."""
    requests, index = region_cohort(12, 0.5)
    common = {"seed": 0, "max_iterations": 0, "exact_max_patients": 0, "time_limit": 60.0}
    rough = plan_batch((requests, index), polish_share=0.0, **common)  # type: ignore[arg-type]
    polished = plan_batch((requests, index), **common)  # type: ignore[arg-type]
    assert rough.polished == 0
    assert polished.polished > 0
    assert polished.objective.key() <= rough.objective.key()
    for before, after in zip(rough.routes, polished.routes, strict=True):
        if not before.has_route:
            continue
        assert after.has_route
        assert after.objective is not None
        assert before.objective is not None
        # Never later, and never more visit days at the same completion.
        assert after.objective.completion_minutes <= before.objective.completion_minutes
        if after.objective.completion_minutes == before.objective.completion_minutes:
            assert after.objective.visit_days <= before.objective.visit_days
    fixed = [r for r in polished.routes if r.has_route and r.status is SolveStatus.OPTIMAL]
    assert fixed, "some polished route is proven optimal on every objective"


def test_batch_searches_prove_the_completion_only_unless_asked() -> None:
    """Cohort.route proves the earliest completion; with secondary it is plan_route's route."""
    requests, index = region_cohort(6, 0.5)
    cohort = build_cohort(requests, index)
    for i in range(len(requests)):
        quick, full = cohort.route(i, None), cohort.route(i, None, secondary=True)
        if not full.has_route:
            continue
        assert quick.status is SolveStatus.FEASIBLE
        assert any("not optimised" in reason for reason in quick.reasons)
        assert full.status is SolveStatus.OPTIMAL
        assert quick.objective is not None
        assert full.objective is not None
        assert quick.objective.completion_minutes == full.objective.completion_minutes
        assert full.objective.key() <= quick.objective.key()


def missing_any(routes: tuple[RouteResult, ...] | list[RouteResult]) -> int:
    """Routed patients who miss a deadline (each patient the matching cannot serve does)."""
    return sum(1 for r in routes if r.has_route and any(not d.met for d in r.deadlines))


def test_matching_finds_who_must_miss_the_first_deadline() -> None:
    """One early consultation for two patients: one of them misses its deadline in any plan."""
    from routing.batch.matching import match_first_deadlines

    requests, slots = contended()
    cohort = build_cohort(requests, index_of(slots))
    matching = match_first_deadlines(cohort, cohort.plannable())
    assert matching.entries == 2
    assert matching.must_miss == 1
    assert list(matching.pins.values()) == [("consult", cohort.index.slot_position["C1"])]
    # The cheaper miss: the routine patient (weight 1), one working day late on a 1-day limit.
    assert matching.deadline_cost == miss_cost(limit=1, actual=2, weight=1)


@st.composite
def mixed_cohorts(draw: st.DrawFn) -> tuple[list[RouteRequest], list[Slot]]:
    """Patients referred on different days, some held to one facility: unequal slot sets."""
    slots = []
    for k in range(draw(st.integers(1, 6))):
        day = draw(st.integers(0, 2))
        hhmm = draw(st.sampled_from(["09:00", "10:00", "11:00", "14:00"]))
        facility = draw(st.sampled_from(["F1", "F2"]))
        slots.append(
            make_slot(f"consult{k}", "consult", day, hhmm, facility, draw(st.integers(1, 2)))
        )
    # Plenty of CT within its deadline: the consultation's deadline is the tightest.
    slots += [
        make_slot(f"ct{d}{f}", "ct", d, "16:00", f, 10) for d in range(4) for f in ("F1", "F2")
    ]
    n = draw(st.integers(1, 12))
    requests = []
    for i, request in enumerate(make_requests(n, [0, 1, 2])):
        allowed = draw(st.sampled_from([None, frozenset({"F1"}), frozenset({"F2"})]))
        days = draw(st.integers(0, 2))
        patient = Patient(id=f"P{i}", allowed_facilities=allowed)
        referral = request.referral + timedelta(days=days)
        requests.append(request.model_copy(update={"patient": patient, "referral": referral}))
    return requests, slots


@settings(max_examples=60, deadline=None)
@given(mixed_cohorts())
def test_matching_by_classes_is_as_large_as_one_by_patients(
    cohort_input: tuple[list[RouteRequest], list[Slot]],
) -> None:
    """The flow over classes matches as many patients as Hopcroft–Karp over single patients
    and slot places, and its pins respect each patient's slots and each slot's capacity."""
    import networkx as nx

    from routing.batch.matching import first_deadline_slots, match_first_deadlines

    requests, slots = cohort_input
    cohort = build_cohort(requests, index_of(slots))
    entries = cohort.plannable()
    matching = match_first_deadlines(cohort, entries)
    graph = nx.Graph()
    firsts = {}
    for i in entries:
        first = first_deadline_slots(cohort, i)
        if first is None:
            continue
        firsts[i] = first
        graph.add_node(("patient", i))
        for position in first.slots:
            for copy in range(int(cohort.capacity[position])):
                graph.add_edge(("patient", i), ("slot", position, copy))
    top = [("patient", i) for i in firsts]
    reference = nx.bipartite.hopcroft_karp_matching(graph, top_nodes=top) if top else {}
    assert matching.entries == len(firsts)
    assert len(matching.pins) == sum(1 for node in top if node in reference)
    assert matching.must_miss == len(firsts) - len(matching.pins)
    taken = Counter(position for _, position in matching.pins.values())
    assert all(taken[p] <= cohort.capacity[p] for p in taken)
    for i, (stage_id, position) in matching.pins.items():
        assert stage_id == firsts[i].stage_id
        assert position in firsts[i].slots


@settings(max_examples=25, deadline=None)
@given(cohorts())
def test_no_plan_beats_the_matching_bound(cohort: tuple[list[RouteRequest], list[Slot]]) -> None:
    """Plans routing everyone leave at least the matching's count missing the first deadline."""
    requests, slots = cohort
    result = plan_batch(
        (requests, index_of(slots)), seed=1, max_iterations=20, exact_max_patients=0
    )
    must = result.capacity_bound.first_deadline_misses
    assert must is not None
    # The bound holds for plans that route every patient that can be routed alone.
    if all(r.has_route for r in result.routes):
        assert missing_any(result.routes) >= must
    if all(r.has_route for r in result.fcfs_routes):
        assert missing_any(result.fcfs_routes) >= must


def test_polish_share_outside_its_range_is_refused() -> None:
    """A negative share, a whole one or NaN is refused before any planning, naming the field."""
    import pytest

    requests, slots = contended()
    for share in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="polish_share"):
            plan_batch((requests, index_of(slots)), polish_share=share)


def test_pins_to_unknown_stages_or_slots_and_a_node_limit_below_one_are_refused() -> None:
    """Cohort.route and Assignment.plan name the request and the field; nothing is ignored."""
    import re

    import pytest

    from routing.batch.fcfs import Assignment

    requests, slots = contended()
    cohort = build_cohort(requests, index_of(slots))
    entry = cohort.plannable()[0]
    request_id = cohort.entries[entry].request.id
    stage_id = cohort.entries[entry].pathway.stages[0].id  # type: ignore[union-attr]
    outside = len(cohort.index.slots)
    cases = [
        ({"no_such_stage": 0}, None, "pins names stage 'no_such_stage'"),
        ({stage_id: outside}, None, f"slot position {outside}"),
        ({stage_id: -1}, None, "slot position -1"),
        (None, 0, "node_limit must be at least 1"),
    ]
    for pins, node_limit, message in cases:
        with pytest.raises(ValueError, match=f"request {request_id}: .*{re.escape(message)}"):
            cohort.route(entry, None, pins=pins, node_limit=node_limit)
    with pytest.raises(ValueError, match=f"request {request_id}: pins names stage"):
        Assignment.empty(cohort).plan(entry, None, pins={"no_such_stage": 0})


def test_negative_thinning_or_first_horizon_is_refused() -> None:
    """build_cohort (and so plan_batch) names the field instead of ignoring the value."""
    import pytest

    requests, slots = contended()
    for options, field_name in (({"per_day": -1}, "per_day"), ({"horizon_days": -2}, "horizon")):
        with pytest.raises(ValueError, match=f"{field_name}.* at least 0"):
            build_cohort(requests, index_of(slots), **options)  # type: ignore[arg-type]


def test_bookings_of_unknown_slots_are_reported_even_when_they_may_move() -> None:
    """With moving allowed, a booking of an unknown slot still makes its request invalid (it
    is not dropped); the other request is planned."""
    requests, slots = contended()
    holder = requests[0].model_copy(update={"existing_bookings": {"consult": "NO-SUCH"}})
    for allow_moving in (False, True):
        result = plan_batch(
            ([holder, requests[1]], index_of(slots)),
            seed=0,
            max_iterations=5,
            allow_moving_existing=allow_moving,
        )
        bad, good = result.routes
        assert bad.status is SolveStatus.INVALID
        assert bad.reasons == ("existing booking of stage 'consult': unknown slot 'NO-SUCH'",)
        assert good.has_route


def test_matching_nobody_is_empty() -> None:
    """No entries: nothing matched, nobody must miss, no cost."""
    from routing.batch.matching import match_first_deadlines

    requests, slots = contended()
    matching = match_first_deadlines(build_cohort(requests, index_of(slots)), [])
    assert (matching.pins, matching.entries, matching.must_miss, matching.deadline_cost) == (
        {},
        0,
        0,
        0,
    )


def test_first_deadline_to_a_stage_end_keeps_the_slots_that_end_in_time() -> None:
    """A deadline to a stage's end counts the slot's end, not its start: of CT slots starting
    on the deadline's last working day, only those ending by its end meet it; later days none.

    The candidates are cut at the deadline by their start first; a slot starting just before
    the end of the day but ending after it is the case that tells start from end."""
    from routing.batch.matching import first_deadline_slots

    pathway = make_pathway(
        [stage("consult"), stage("ct", after=["consult"])],
        deadlines=[deadline("ct_3wd", "referral", "ct.end", 3, LagUnit.WORKING_DAYS)],
    )

    def ct(slot_id: str, day: int, hhmm: str, minutes: int) -> Slot:
        start = at(DAYS[day], hhmm)
        return Slot(
            id=slot_id,
            facility_id="F1",
            service=service_of("ct"),  # type: ignore[arg-type]
            start=start,
            end=start + timedelta(minutes=minutes),
            capacity=1,
        )

    slots = [
        make_slot("C1", "consult", 0, "09:00", "F1", 1),
        ct("in_time", 3, "16:00", 30),
        ct("long_late", 3, "23:30", 60),  # starts on Thursday, ends on Friday
        ct("last_in_time", 3, "23:00", 30),
        ct("next_day", 4, "09:00", 30),
        ct("short_early", 1, "10:00", 15),
    ]
    cohort = build_cohort(make_requests(1, [0], pathway), index_of(slots))
    first = first_deadline_slots(cohort, 0)
    assert first is not None
    assert first.stage_id == "ct"
    position = cohort.index.slot_position
    assert sorted(first.slots) == sorted(
        position[s] for s in ("short_early", "in_time", "last_in_time")
    )


def test_report_counts_unplanned_patients_deadlines_as_missed() -> None:
    """A patient the single consultation slot cannot take counts both its deadlines as missed."""
    slots = [
        make_slot("C1", "consult", 0, "09:00", "F1", 1),
        make_slot("T1", "ct", 0, "11:00", "F1", 2),
    ]
    requests = make_requests(2, [0])
    index = index_of(slots)
    result = plan_batch((requests, index), seed=0, max_iterations=10)
    report = build_report(result, index)
    assert (report.planned, report.unplanned_count, report.invalid_count) == (1, 1, 0)
    total = report.deadlines_total
    assert (total.measured, total.fcfs_measured) == (4, 4)
    assert (total.unplanned, total.fcfs_unplanned) == (2, 2)
    assert total.met <= 2
    assert total.rate < 1.0
    by_id = {c.key: c for c in report.deadlines_by_id}
    assert set(by_id) == {"consult_1wd", "ct_3wd"}
    assert all(c.measured == 2 and c.unplanned == 1 for c in by_id.values())
    summary = report.summary()
    assert "patients: 2: 1 planned, 1 unplanned, 0 invalid" in summary
    assert "deadlines met: 100" not in summary
    data = json.loads(report.to_json())
    assert data["deadlines_total"]["unplanned"] == 2
    assert data["deadlines_total"]["rate"] < 1.0


def test_header_status_is_the_weakest_route_status() -> None:
    """A batch proven optimal whose routes are FEASIBLE is FEASIBLE in the report's header."""
    requests, slots = contended()
    index = index_of(slots)
    result = plan_batch((requests, index), seed=0, max_iterations=20)
    assert result.status is SolveStatus.OPTIMAL
    assert any(r.status is SolveStatus.FEASIBLE for r in result.routes)
    report = build_report(result, index)
    assert report.batch_status is SolveStatus.OPTIMAL
    assert report.status is SolveStatus.FEASIBLE
    assert report.summary().startswith("batch plan: FEASIBLE (proven optimal; the cohort's")
    optimal = result.model_copy(
        update={
            "routes": tuple(
                r.model_copy(update={"status": SolveStatus.OPTIMAL}) for r in result.routes
            )
        }
    )
    assert build_report(optimal, index).status is SolveStatus.OPTIMAL
    timed_out = result.model_copy(
        update={
            "routes": (
                result.routes[0].model_copy(update={"status": SolveStatus.TIME_LIMIT}),
                *result.routes[1:],
            )
        }
    )
    assert build_report(timed_out, index).status is SolveStatus.TIME_LIMIT


def test_solver_diagnostics_stay_out_of_the_report(caplog: pytest.LogCaptureFixture) -> None:
    """The exact model's diagnostics never reach the user as warnings, nor the summary."""
    requests, slots = contended()
    index = index_of(slots)
    with caplog.at_level(logging.DEBUG, logger="routing.batch"):
        result = plan_batch((requests, index), seed=0, max_iterations=20)
    assert not [
        r
        for r in caplog.records
        if "exact model" in r.getMessage() and r.levelno >= logging.WARNING
    ]
    text = build_report(result, index).summary()
    assert "exact model's plan" not in text
    assert "evaluates to" not in text


@settings(max_examples=15, deadline=None)
@given(cohorts())
def test_bottlenecks_are_unique_and_ranked(cohort: tuple[list[RouteRequest], list[Slot]]) -> None:
    """Each (kind, id) is listed once, ranked by patients delayed and then by fill rate."""
    requests, slots = cohort
    index = index_of(slots)
    result = plan_batch((requests, index), seed=0, max_iterations=10, polish_share=0)
    report = build_report(result, index)
    keys = [(b.kind, b.id) for b in report.bottlenecks]
    assert len(keys) == len(set(keys))
    figures = [(-b.delayed_patients, -b.fill_rate) for b in report.bottlenecks]
    assert figures == sorted(figures)
    for rank, b in enumerate(report.bottlenecks, 1):
        assert (
            f"  {rank}. {b.kind} {b.id}: {b.delayed_patients} patients delayed" in report.summary()
        )


def test_sweeps_before_the_search_make_routes_strictly_better(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a contended cohort the sweeps (each patient planned again, one by one, keeping a
    route of the same cost) let later patients find strictly better routes: the plan after
    them and one search iteration beats the same search without them. Measured in work, so
    the same on every run."""
    from routing.batch import engine

    requests, index = region_cohort(100, 0.6, seed=0)  # sweeps better some routes here
    common = {
        "seed": 0,
        "max_iterations": 1,
        "exact_max_patients": 0,
        "polish_share": 0.0,
        "work_limit": 5_000,
        "time_limit": 600.0,
    }
    swept = plan_batch((requests, index), **common)  # type: ignore[arg-type]
    monkeypatch.setattr(engine, "SETTLE_SHARE", 0.0)
    unswept = plan_batch((requests, index), **common)  # type: ignore[arg-type]
    assert unswept.sweeps == unswept.swept == 0
    assert swept.sweeps >= 2  # the last one found nothing better, or the share ran out
    assert swept.swept > 0
    assert swept.objective.key() < unswept.objective.key()
    used = Counter(b.slot_id for r in swept.routes for b in r.bookings)
    assert all(used[s.id] <= s.capacity for s in index.slots)
    costs = [route_cost(r, w) for r, w in zip(swept.routes, swept.weights, strict=True)]
    assert total_cost(costs) == swept.objective.key()
    report = build_report(swept, index)
    assert (report.sweeps, report.swept) == (swept.sweeps, swept.swept)
    assert f"{swept.swept} routes bettered in {swept.sweeps} sweeps" in report.summary()


def queue_engine(max_destroy: int) -> tuple[engine_module._Engine, Assignment, SlotHolders]:
    """Three patients in one consultation queue (a place a day, days 0-2), CT with room on day 4:
    first come, first served books them on days 0, 1 and 2; alone, each would take day 0."""
    slots = [make_slot(f"C{d}", "consult", d, "09:00", "F1", 1) for d in range(3)]
    slots.append(make_slot("T4", "ct", 4, "11:00", "F1", 4))
    cohort = build_cohort(make_requests(3, [0]), index_of(slots))
    run = engine_module._Engine(cohort, 0, 10.0, 1, None, time.perf_counter(), max_destroy, 0.0)
    run.alone = no_competition_routes(cohort)
    plan = first_come_first_served(cohort, free=run.alone)
    holders = SlotHolders(len(cohort.capacity), len(cohort))
    for i, r in enumerate(plan.results):
        run.hold(holders, i, r)
    return run, plan, holders


def test_the_queue_neighbourhood_destroys_those_ahead_in_the_queue() -> None:
    """The patients holding the full slots between a stage's time alone and its booked time."""
    run, plan, holders = queue_engine(max_destroy=6)
    consult = [{b.stage_id: b.slot_id for b in r.bookings}["consult"] for r in plan.results if r]
    assert consult == ["C0", "C1", "C2"]
    assert all({b.slot_id for b in r.bookings} == {"C0", "T4"} for r in run.alone)
    assert run.queue_ahead(2, plan, holders) == [0, 1]
    assert run.queue_ahead(1, plan, holders) == [0]
    # the first is as early as alone; the CT (as early as alone, not full) adds nobody
    assert run.queue_ahead(0, plan, holders) == []
    # the fastest route's blockers are only the holder of C0
    assert run.blockers(2, plan, holders) == [0]
    few, plan, holders = queue_engine(max_destroy=1)
    picked = few.queue_ahead(2, plan, holders)
    assert len(picked) == 1
    assert picked[0] in (0, 1)


@settings(max_examples=30, deadline=None)
@given(cohorts(), st.integers(-3000, 3000), st.randoms(use_true_random=False))
def test_a_repair_given_up_early_would_have_been_undone(
    cohort: tuple[list[RouteRequest], list[Slot]], shift: int, rnd: random.Random
) -> None:
    """The search's repair stops once its cost is sure to exceed the cost before: exactly when
    the whole repair's cost exceeds it; otherwise the two costs are equal."""
    requests, slots = cohort
    built = build_cohort(requests, index_of(slots))
    run = engine_module._Engine(built, 0, 10.0, 1, None, time.perf_counter(), 6, 0.0)
    run.alone = no_competition_routes(built)
    lower = [patient_bound(built, i, a) for i, a in enumerate(run.alone)]
    order = built.plannable()
    rnd.shuffle(order)
    start = first_come_first_served(built, free=run.alone)
    was = total_cost(start.cost(i) for i in order)
    before = (was[0], was[1], max(0, was[2] + shift))
    whole, stopped = start.copy(), start.copy()
    for plan in (whole, stopped):
        for i in order:
            plan.remove(i)
    for i in order:
        whole.plan(i, run.alone, meet_deadlines=True, secondary=i == order[0])
    full = total_cost(whole.cost(i) for i in order)
    assert all(lower[i] <= whole.cost(i) for i in order)
    after = run.repair(stopped, order, before, lower)
    assert after == (None if full > before else full)


def test_a_repair_searches_the_chosen_patients_secondary_objectives_only() -> None:
    """The first patient repaired gets the route of the fewest visit days, least travel and
    preferred facilities among its fastest (the same minutes); the others the fastest only."""
    from routing.region import RegionParameters, generate_region

    problem = generate_region(RegionParameters(patients=40, contention=1.0, seed=3))
    built = build_cohort(problem.requests, SlotIndex.for_problem(problem))
    run = engine_module._Engine(built, 0, 10.0, 1, None, time.perf_counter(), 6, 0.0)
    run.alone = no_competition_routes(built)
    lower = [patient_bound(built, i, a) for i, a in enumerate(run.alone)]
    start = first_come_first_served(built, free=run.alone)
    huge = (len(built), 10**9, 10**12)
    differ = 0
    for chosen in built.plannable():
        others = [i for i in built.plannable() if i != chosen][:2]
        order = [chosen, *others]
        expected, fastest, repaired = start.copy(), start.copy(), start.copy()
        for plan in (expected, fastest, repaired):
            for i in order:
                plan.remove(i)
        for i in order:
            expected.plan(i, run.alone, meet_deadlines=True, secondary=i == chosen)
            fastest.plan(i, run.alone, meet_deadlines=True)
        assert run.repair(repaired, order, huge, lower) == total_cost(
            expected.cost(i) for i in order
        )
        assert [booked(repaired, i) for i in order] == [booked(expected, i) for i in order]
        # as early (the same minutes); without a route that meets every soft deadline it may
        # miss more of them than the fastest (the iteration then costs more, and is undone)
        assert expected.cost(chosen)[2] == fastest.cost(chosen)[2]
        differ += booked(expected, chosen) != booked(fastest, chosen)
    assert differ > 0  # the secondary search chose another route for some patients


def test_a_sweep_reports_the_plans_objective_as_it_goes() -> None:
    """Every progress report of a sweep carries the plan's objective at that moment (kept in
    step as routes change, not summed again over the cohort at each report)."""
    from routing.region import RegionParameters, generate_region

    problem = generate_region(RegionParameters(patients=160, contention=1.0, seed=4))
    built = build_cohort(problem.requests, SlotIndex.for_problem(problem))
    seen: list[tuple[object, object]] = []
    holder: list[Assignment] = []

    def record(report: engine_module.BatchProgress) -> None:
        seen.append((report.best, holder[0].total()))

    run = engine_module._Engine(built, 0, 600.0, 1, record, time.perf_counter(), 6, 0.0)
    run.alone = no_competition_routes(built)
    plan = first_come_first_served(built, free=run.alone)
    holder.append(plan)
    before = plan.total()
    _, better = run.sweep(plan, 1.0, "sweep")
    assert len(seen) == len(built.plannable()) // 50 >= 3
    assert all(reported == actual for reported, actual in seen)
    assert better > 0  # routes changed while it reported
    assert plan.total() < before
    assert seen[-1][0] != before  # and the reports followed them


def test_the_search_sweeps_when_due_and_keeps_its_bookkeeping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """During the search a sweep runs after every ``SWEEP_AFTER`` iterations a plannable
    patient, counted in iterations; after each, the costs, slot holders, picks and objective
    the search keeps are those recomputed from the plan, and the result counts the sweeps."""
    from routing.region import RegionParameters, generate_region

    original = engine_module._Engine.sweep_when_due
    swept_at: list[int] = []
    replaced: list[int] = []

    def checking(self: Any, plan: Assignment, state: Any) -> list[int]:
        before, sweeps = list(plan.results), self.sweeps
        changed = original(self, plan, state)
        if self.sweeps > sweeps:
            swept_at.append(self.iterations)
            replaced.append(len(changed))
            fresh = self.search_state(plan)
            assert plan.check_capacity()
            assert changed == [i for i, r in enumerate(plan.results) if r is not before[i]]
            assert state.costs == fresh.costs
            assert state.best == fresh.best == plan.total()
            assert state.holders.as_dict() == fresh.holders.as_dict()
            assert state.worse.members == fresh.worse.members
        else:
            assert changed == []
            assert plan.results == before
        return changed

    monkeypatch.setattr(engine_module._Engine, "sweep_when_due", checking)
    monkeypatch.setattr(engine_module, "SWEEP_AFTER", 2.0)
    problem = generate_region(RegionParameters(patients=60, contention=1.0, seed=3))
    result = plan_batch(problem, seed=2, max_iterations=365, exact_max_patients=0)
    assert swept_at == [120, 240, 360]  # every 2 × 60 iterations: counted, not timed
    assert sum(replaced) > 0  # the sweeps gave some patients other routes
    assert result.sweeps >= 3
    assert result.iterations == 365


def test_no_sweeps_during_the_search_when_those_before_it_were_cut_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the sweeps before the search did not end by bettering nothing (here given no time
    at all), the search keeps its time: none runs during it."""
    from routing.region import RegionParameters, generate_region

    monkeypatch.setattr(engine_module, "SETTLE_SHARE", 0.0)
    problem = generate_region(RegionParameters(patients=60, contention=1.0, seed=3))
    result = plan_batch(problem, seed=2, max_iterations=365, exact_max_patients=0)
    assert result.iterations == 365
    assert result.sweeps == 0
    monkeypatch.setattr(engine_module, "SETTLE_SHARE", 0.5)  # as committed: sweeps during it
    assert plan_batch(problem, seed=2, max_iterations=365, exact_max_patients=0).sweeps > 3


def booked(plan: Assignment, i: int) -> list[tuple[str, str]]:
    """Patient ``i``'s bookings in ``plan`` as (stage, slot) pairs."""
    result = plan.results[i]
    assert result is not None
    return [(b.stage_id, b.slot_id) for b in result.bookings]


@settings(max_examples=20, deadline=None)
@given(cohorts())
def test_plans_searched_by_queues_alone_are_valid_and_no_worse_than_fcfs(
    cohort: tuple[list[RouteRequest], list[Slot]],
) -> None:
    """Every destroy from the queues: the plans still hold capacity, rules and the objective."""
    requests, slots = cohort
    original = engine_module.QUEUE_SHARE
    engine_module.QUEUE_SHARE = 1.0
    try:
        result = plan_batch(
            (requests, index_of(slots)), seed=1, max_iterations=30, exact_max_patients=0
        )
    finally:
        engine_module.QUEUE_SHARE = original
    check_plan(result, requests, slots)


def test_a_plan_says_whether_other_routes_fit_as_placing_them_would() -> None:
    """``Assignment.fits`` agrees with placing the routes and counting every slot's places."""
    from routing.region import RegionParameters, generate_region

    problem = generate_region(RegionParameters(patients=30, contention=1.0, seed=4))
    built = build_cohort(problem.requests, SlotIndex.for_problem(problem))
    plan = first_come_first_served(built)
    routed = [i for i, r in enumerate(plan.results) if r is not None and r.has_route]
    seen: Counter[bool] = Counter()
    for i in routed[:10]:
        for j in routed[:10]:
            routes = {i: plan.results[j]} if i != j else {i: None}
            placed = plan.copy()
            placed.remove(i)
            if routes[i] is not None:
                placed.results[i] = routes[i]
                placed.usage[built.routed_slots(i, routes[i])] += 1
            within = bool(np.all(placed.usage + built.reserved <= built.capacity))
            assert plan.fits(routes) == within
            seen[within] += 1
    assert seen[True]  # both answers were checked
    assert seen[False]
    swap = {routed[0]: plan.results[routed[1]], routed[1]: plan.results[routed[0]]}
    assert plan.fits(swap)
