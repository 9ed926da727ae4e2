"""The staged LP bound (routing.batch.stage_lp) against brute force and the exact model: on tiny
cohorts no assignment of routes within capacity routes as many patients for fewer weighted
minutes than its bound; it sees places shared by patients restricted to different facilities;
and the batch reports it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from nosology.pathway import LagUnit
from route_helpers import constraint, make_pathway, stage
from routing.batch import BatchResult, plan_batch
from routing.batch.bounds import no_competition_routes
from routing.batch.cohort import build_cohort
from routing.batch.completion_flow import completion_flow_bound
from routing.batch.report import build_report
from routing.batch.stage_lp import StagedBound, stage_lags, staged_lp_bound
from routing.domain import Facility, Patient, RouteRequest
from routing.slot_index import SlotIndex
from test_batch import cohorts, index_of, make_requests, make_slot
from test_batch_completion_flow import _brute_force


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(max_patients=4))
def test_staged_bound_never_exceeds_brute_force(cohort) -> None:  # type: ignore[no-untyped-def]
    """For every number of routed patients brute force reaches, the LP has an optimum (the
    assignment is a solution of it) and its certified bound is at most the least weighted
    minutes brute force finds, and at most the LP's own value; so is the first-order method's,
    after 1, 30 or 1,000 iterations."""
    requests, slots = cohort
    built = build_cohort(requests, index_of(slots))
    alone = no_competition_routes(built)
    for routed, minutes in _brute_force(requests, slots).items():
        if routed == 0:
            continue
        bound = staged_lp_bound(built, alone, routed)
        assert bound is not None
        assert bound.routed == routed
        assert bound.minutes <= minutes
        assert bound.minutes <= bound.lp_value
        # The first-order method's multipliers bound it too, however few its iterations.
        for iterations in (1, 30, 1000):
            first = staged_lp_bound(built, alone, routed, iterations=iterations)
            assert first is not None
            assert first.iterations is not None
            assert 1 <= first.iterations <= iterations
            assert first.minutes <= minutes
            assert first.minutes <= bound.lp_value


def _overlapping() -> tuple[list, SlotIndex]:  # type: ignore[type-arg]
    """Two patients who may use F1 and one facility each of their own; F1 has the only
    consultation place of Monday, their own facilities one on Thursday."""
    facilities = [Facility(id=f, name=f, level=3) for f in ("F1", "F2", "F3")]
    slots = [
        make_slot("C1", "consult", 0, "09:00", "F1", 1),
        make_slot("C2", "consult", 3, "09:00", "F2", 1),
        make_slot("C3", "consult", 3, "09:00", "F3", 1),
    ]
    slots += [make_slot(f"T{d}", "ct", d, "14:00", "F1", 2) for d in range(5)]
    requests = [
        r.model_copy(update={"patient": Patient(id=r.patient.id, allowed_facilities=allowed)})
        for r, allowed in zip(
            make_requests(2, [0]), (frozenset({"F1", "F2"}), frozenset({"F1", "F3"})), strict=True
        )
    ]
    return requests, SlotIndex.build(facilities, slots)


def test_patients_restricted_to_overlapping_facilities_share_the_common_places() -> None:
    """Neither patient's own facility set has more than one Monday place, but the two sets
    share it: the LP's row over all the kind's facilities makes one of them wait until
    Thursday, and the exact plan is no better than the bound."""
    requests, index = _overlapping()
    built = build_cohort(requests, index)
    alone = no_competition_routes(built)
    no_competition = sum(r.objective.completion_minutes for r in alone if r.objective)
    bound = staged_lp_bound(built, alone, 2)
    assert bound is not None
    assert bound.minutes >= no_competition + 3 * 1440 // 2  # half a patient three days later
    result = plan_batch((requests, index), seed=1, time_limit=10)
    assert result.status.value == "OPTIMAL"
    assert result.objective.weighted_minutes >= bound.minutes
    assert result.capacity_bound.staged_minutes == bound.minutes
    assert result.capacity_bound.key() <= result.objective.key()


def test_the_lp_solvers_write_nothing_to_the_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Library code never prints: HiGHS's banner and log and the first-order method's stay off
    stdout and stderr (captured at the file descriptors, where the solvers' C++ writes)."""
    requests, index = _overlapping()
    built = build_cohort(requests, index)
    alone = no_competition_routes(built)
    capfd.readouterr()
    assert staged_lp_bound(built, alone, 2) is not None
    assert staged_lp_bound(built, alone, 2, iterations=100) is not None
    assert capfd.readouterr() == ("", "")


def test_an_empty_cohort_has_a_bound_of_nothing() -> None:
    """No patient takes part: the bound is 0 minutes for 0 patients (an empty LP, not None)."""
    requests, index = _overlapping()
    built = build_cohort(requests[:0], index)
    assert staged_lp_bound(built, [], 0) == StagedBound(0, 0, 0, 0.0, 0, 1)
    by_first_order = staged_lp_bound(built, [], 0, iterations=5)
    assert by_first_order == StagedBound(0, 0, 0, 0.0, 0, 1, iterations=0)


def test_the_batch_reports_the_staged_bound_only_when_small_enough() -> None:
    """``staged_max_variables=0`` skips the LP; a cap below its size leaves it unsolved, or,
    with ``iterations``, bounds it by the first-order method; an LP within the cap is solved by
    interior point even with ``iterations``; the bound is the same on a second run."""
    requests, index = _overlapping()
    built = build_cohort(requests, index)
    alone = no_competition_routes(built)
    assert staged_lp_bound(built, alone, 2, max_variables=1) is None
    optimum = staged_lp_bound(built, alone, 2)
    assert optimum is not None
    assert optimum.iterations is None
    assert optimum == staged_lp_bound(built, alone, 2)
    within = staged_lp_bound(built, alone, 2, max_variables=optimum.variables, iterations=5)
    assert within == optimum
    # The size is counted before the LP is built: at its size it is solved, one below it not.
    assert staged_lp_bound(built, alone, 2, max_variables=optimum.variables) == optimum
    assert staged_lp_bound(built, alone, 2, max_variables=optimum.variables - 1) is None
    above = staged_lp_bound(built, alone, 2, max_variables=optimum.variables - 1, iterations=5)
    assert above is not None
    assert above.iterations == 5
    assert above.minutes <= optimum.minutes
    skipped = plan_batch((requests, index), seed=1, time_limit=10, staged_max_variables=0)
    assert skipped.capacity_bound.staged_minutes is None
    assert "staged LP" not in build_report(skipped, index).summary()


def sixty_patients(contention: float) -> tuple[list[RouteRequest], SlotIndex]:
    """Sixty patients of the generated region (seed 7) at ``contention``, and their index."""
    from routing.region import RegionParameters, generate_region

    problem = generate_region(RegionParameters(patients=60, contention=contention, seed=7))
    return list(problem.requests), SlotIndex.for_problem(problem)


def test_staged_bound_sees_the_later_stages_of_a_contended_cohort() -> None:
    """Sixty patients of the generated region at full contention: the LP over all stages
    bounds the plan's minutes more tightly than the completion flow over one stage each (the
    cardiology stages each offer two places a day; the flow sees one of them a patient)."""
    requests, index = sixty_patients(1.0)
    result = plan_batch((requests, index), seed=7, time_limit=60, max_iterations=0)
    built = build_cohort(requests, index)
    routed = len(built) - result.capacity_bound.unplanned
    flow = completion_flow_bound(built, result.alone_routes, routed, max_probes=0)
    staged = staged_lp_bound(built, result.alone_routes, routed)
    assert staged is not None
    assert staged.minutes > flow.weighted_minutes
    assert result.capacity_bound.staged_minutes == staged.minutes
    assert result.capacity_bound.weighted_minutes >= staged.minutes
    assert result.capacity_bound.key() <= result.objective.key()
    # The summary says how the bound was found and what each method gave.
    summary = build_report(result, index).summary()
    bound = result.capacity_bound
    assert f"  the capacity bound: {bound.method}\n" in summary
    assert "minutes by a day-indexed LP over all stages" in bound.method
    assert (
        f"    weighted minutes by the completion flow {bound.flow_minutes}, "
        f"by the staged LP over all stages {staged.minutes}\n"
    ) in summary


def test_the_first_order_bound_approaches_the_optimum_and_repeats() -> None:
    """Sixty patients of the generated region: the first-order method's bound never exceeds
    the LP's optimum, is nearly it (within 0.1 %) after 10,000 iterations and far below it
    after 10, and is the same on a second run (an iteration count, not a clock)."""
    built = build_cohort(*sixty_patients(1.0))
    alone = no_competition_routes(built)
    routed = 50
    optimum = staged_lp_bound(built, alone, routed)
    assert optimum is not None
    assert optimum.iterations is None
    bounds = {n: staged_lp_bound(built, alone, routed, iterations=n) for n in (10, 10_000)}
    for n, bound in bounds.items():
        assert bound is not None
        assert bound.iterations is not None
        assert bound.iterations <= n
        assert bound.minutes <= optimum.lp_value
        assert (bound.variables, bound.constraints) == (optimum.variables, optimum.constraints)
    assert bounds[10_000].minutes >= 0.999 * optimum.minutes  # type: ignore[union-attr]
    assert bounds[10].minutes < 0.9 * optimum.minutes  # type: ignore[union-attr]
    assert staged_lp_bound(built, alone, routed, iterations=10_000) == bounds[10_000]


def test_the_batch_bounds_a_large_lp_by_first_order_iterations_when_asked() -> None:
    """``plan_batch(staged_iterations=N)``: an LP above ``staged_max_variables`` is bounded by
    the first-order method (the same bound as ``staged_lp_bound`` with those iterations, below
    the LP's optimum, above the completion flow here), and the bound's method says how. Not when
    the plan routes fewer patients than the bound allows: there the LP may have no solution
    (at contention 1.0 the method's number is ten times the plan's minutes). A negative count
    is refused."""

    def planned(contention: float) -> tuple[BatchResult, list[RouteRequest], SlotIndex]:
        requests, index = sixty_patients(contention)
        result = plan_batch(
            (requests, index),
            seed=7,
            time_limit=60,
            max_iterations=0,
            exact_max_patients=0,
            bound_probes=0,
            staged_max_variables=1,
            staged_iterations=1000,
        )
        return result, requests, index

    result, requests, index = planned(0.6)
    bound = result.capacity_bound
    assert result.objective.unplanned == bound.unplanned
    built = build_cohort(requests, index)
    routed = len(built) - bound.unplanned
    first_order = staged_lp_bound(
        built, result.alone_routes, routed, max_variables=1, iterations=1000
    )
    optimum = staged_lp_bound(built, result.alone_routes, routed)
    assert first_order is not None
    assert optimum is not None
    assert first_order.iterations is not None
    assert bound.staged_minutes == first_order.minutes <= optimum.minutes
    assert bound.flow_minutes is not None
    assert first_order.minutes > bound.flow_minutes
    assert bound.weighted_minutes == first_order.minutes
    assert bound.method.endswith(
        f"minutes by a day-indexed LP over all stages ({first_order.iterations} first-order "
        "iterations)"
    )
    assert bound.key() <= result.objective.key()
    size = optimum.variables  # counted before building, exactly: one below it, not solved
    assert staged_lp_bound(built, result.alone_routes, routed, max_variables=size) == optimum
    assert staged_lp_bound(built, result.alone_routes, routed, max_variables=size - 1) is None
    fewer, _, _ = planned(1.0)
    assert fewer.objective.unplanned > fewer.capacity_bound.unplanned
    assert fewer.capacity_bound.staged_minutes is None
    assert "day-indexed LP" not in fewer.capacity_bound.method
    with pytest.raises(ValueError, match="staged_iterations"):
        plan_batch((requests, index), staged_iterations=-1)


def test_stage_lags_read_after_and_minimum_lags() -> None:
    """``after`` gives a lag of 0 minutes; a temporal constraint its minimum in its unit; a
    constraint without a minimum or within one stage none."""
    pathway = make_pathway(
        [stage("a"), stage("b", after=["a"]), stage("c", after=["b"])],
        constraints=[
            constraint("a.end", "c.end", LagUnit.WORKING_DAYS, min=5),
            constraint("b.start", "c.start", LagUnit.HOURS, max=4),
            constraint("c.start", "c.end", LagUnit.MINUTES, min=10),
        ],
    )
    assert stage_lags(pathway) == [
        ("a", "b", 0, LagUnit.MINUTES, False),
        ("b", "c", 0, LagUnit.MINUTES, False),
        ("a", "c", 5, LagUnit.WORKING_DAYS, True),
    ]


def test_a_remote_stage_may_use_a_facility_of_another_region() -> None:
    """The patient does not travel out of its region, but its remote stage's only slot is at a
    facility of another region, as the planner allows: the LP routes it, at no less than its
    fastest completion."""
    from nosology.pathway import VisitMode

    pathway = make_pathway(
        [stage("consult"), stage("ct", after=["consult"], mode=VisitMode.REMOTE)]
    )
    facilities = [
        Facility(id="F1", name="F1", level=3, region="RU-SPE"),
        Facility(id="F2", name="F2", level=3, region="RU-MOW"),
    ]
    consult = make_slot("C1", "consult", 0, "09:00", "F1", 1)
    ct = make_slot("T1", "ct", 1, "10:00", "F2", 1).model_copy(update={"mode": VisitMode.REMOTE})
    requests = [
        r.model_copy(update={"region": "RU-SPE"}) for r in make_requests(1, [0], pathway=pathway)
    ]
    built = build_cohort(requests, SlotIndex.build(facilities, [consult, ct]))
    alone = no_competition_routes(built)
    assert alone[0].has_route
    bound = staged_lp_bound(built, alone, 1)
    assert bound is not None
    assert bound.minutes <= alone[0].objective.completion_minutes


def test_bad_arguments_are_named() -> None:
    """Routes that do not match the cohort, or a negative count or size, raise ValueError
    naming the argument."""
    import pytest

    requests, index = _overlapping()
    built = build_cohort(requests, index)
    alone = no_competition_routes(built)
    with pytest.raises(ValueError, match="alone: expected 2 routes"):
        staged_lp_bound(built, alone[:1], 2)
    with pytest.raises(ValueError, match="routed"):
        staged_lp_bound(built, alone, -1)
    with pytest.raises(ValueError, match="max_variables"):
        staged_lp_bound(built, alone, 2, max_variables=-5)
    with pytest.raises(ValueError, match="iterations: expected at least 1"):
        staged_lp_bound(built, alone, 2, iterations=0)
