"""The completion min-cost flow bound (routing.batch.completion_flow) against brute force: on tiny
cohorts, no assignment of routes within capacity routes more patients than the flow says, or
routes as many for fewer weighted minutes than its bound."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import HealthCheck, given, settings

from nosology.pathway import LagUnit
from route_helpers import constraint, make_pathway, stage
from routing.batch import plan_batch
from routing.batch.bounds import no_competition_routes
from routing.batch.cohort import build_cohort
from routing.batch.completion_flow import completion_flow_bound, stage_tails
from routing.evaluate import evaluate_route
from test_batch import FACILITIES, PATHWAY, cohorts, index_of


def _brute_force(requests, slots):  # type: ignore[no-untyped-def]
    """Routed count → least weighted completion minutes over every assignment of feasible
    routes (or none) to the patients that respects every slot's capacity."""
    by_id = {s.id: s for s in slots}
    capacity = {s.id: s.capacity for s in slots}
    stage_ids = [s.id for s in PATHWAY.stages]
    options = []
    for request in requests:
        weight = 1 + max(0, min(99, request.priority))
        mine: list[tuple[tuple[str, ...], int] | None] = [None]
        choices = [[s.id for s in slots if s.id.startswith(st)] for st in stage_ids]
        for combo in itertools.product(*choices):
            evaluation = evaluate_route(
                request,
                PATHWAY,
                dict(zip(stage_ids, combo, strict=True)),
                slots=by_id,
                facilities=FACILITIES,
            )
            if evaluation.feasible:
                assert evaluation.objective is not None
                mine.append((combo, weight * evaluation.objective[0]))
        options.append(mine)
    best: dict[int, int] = {}
    for pick in itertools.product(*options):
        used = Counter(slot for o in pick if o is not None for slot in o[0])
        if any(used[s] > capacity[s] for s in used):
            continue
        routed = sum(o is not None for o in pick)
        minutes = sum(o[1] for o in pick if o is not None)
        best[routed] = min(best.get(routed, minutes), minutes)
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(max_patients=4))
def test_flow_bound_never_exceeds_brute_force(cohort) -> None:  # type: ignore[no-untyped-def]
    """For every number of routed patients brute force reaches, the flow can route that many,
    and its bound is at most the least weighted minutes brute force finds."""
    requests, slots = cohort
    built = build_cohort(requests, index_of(slots))
    alone = no_competition_routes(built)
    best = _brute_force(requests, slots)
    most = max(best)
    bound = completion_flow_bound(built, alone)
    assert bound.max_routed >= most
    for routed, minutes in best.items():
        if routed == 0:
            continue
        assert completion_flow_bound(built, alone, routed).weighted_minutes <= minutes


def test_flow_bound_sees_a_contended_first_stage() -> None:
    """Three patients, one consultation place a day: the second and third wait, and the flow
    bound (probing later consultation days) rises above the no-competition bound, while no
    plan beats it."""
    from test_batch import make_requests, make_slot

    slots = [make_slot(f"consult{d}", "consult", d, "09:00", "F1", 1) for d in range(3)]
    slots += [make_slot(f"ct{d}", "ct", d, "14:00", "F2", 3) for d in range(5)]
    requests = make_requests(3, [0])
    built = build_cohort(requests, index_of(slots))
    alone = no_competition_routes(built)
    bound = completion_flow_bound(built, alone)
    no_competition = sum(r.objective.completion_minutes for r in alone if r.objective)
    assert bound.weighted_minutes > no_competition
    assert bound.weighted_minutes <= _brute_force(requests, slots)[3]
    result = plan_batch((requests, index_of(slots)), seed=1, time_limit=10)
    assert result.capacity_bound.flow_minutes == bound.weighted_minutes
    assert result.capacity_bound.key() <= result.objective.key()


def test_stage_tails_follow_after_and_minimum_lags() -> None:
    """The tail of a stage: the longest chain of minimum lags to the end of the last stage."""
    pathway = make_pathway(
        [stage("a"), stage("b", after=["a"]), stage("c", after=["b"])],
        constraints=[constraint("a.end", "b.start", LagUnit.HOURS, min=2)],
    )
    tails = stage_tails(pathway)
    assert tails == {"a": 120, "b": 0, "c": 0}
    days = make_pathway(
        [stage("a"), stage("b", after=["a"])],
        constraints=[constraint("a.end", "b.start", LagUnit.WORKING_DAYS, min=5)],
    )
    assert stage_tails(days)["a"] == 4 * 1440 + 1


def test_a_proven_plan_says_how_long_the_proof_took() -> None:
    """A cohort the plan meets the bound on: ``seconds_to_bound`` is set (no later than the
    run's end) and the summary says it; unproven runs leave it ``None``."""
    from routing.batch.report import build_report
    from test_batch import make_requests, make_slot

    slots = [make_slot(f"consult{d}", "consult", 0, f"{9 + d:02d}:00", "F1", 1) for d in range(3)]
    slots += [make_slot(f"ct{d}", "ct", 1, f"{9 + d:02d}:00", "F1", 1) for d in range(3)]
    requests = make_requests(2, [0])
    index = index_of(slots)
    result = plan_batch((requests, index), seed=1, time_limit=10)
    assert result.status.value == "OPTIMAL"
    assert result.seconds_to_bound is not None
    assert 0 <= result.seconds_to_bound <= result.runtime_seconds
    assert "the bound met after" in build_report(result, index).summary()
