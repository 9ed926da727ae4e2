"""How the batch objective counts a missed deadline (``plan_batch(deadline_measure=...)``): on
tiny cohorts the plan reaches the optimum that brute force finds with the evaluator, for either
measure; with ``"misses"`` a plan never pays minutes for a smaller overrun; bad values are
refused by name."""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from fractions import Fraction
from math import ceil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from nosology.pathway import LagUnit, Pathway
from route_helpers import deadline, make_pathway, stage
from routing.batch import BatchResult, plan_batch
from routing.batch.cohort import build_cohort
from routing.batch.matching import match_first_deadlines
from routing.batch.objective import DEADLINE_MEASURES, DeadlineMeasure
from routing.batch.report import build_report
from routing.batch.whatif.verify import ReplanOptions
from routing.commands.batch import add_batch_arguments, run_batch
from routing.domain import RouteRequest, Slot
from routing.evaluate import evaluate_route
from routing.exceptions import InvalidInputError
from test_batch import FACILITIES, check_plan, cohorts, index_of, make_requests, make_slot

Objective = tuple[int, int, int]


def _miss(limit: int, actual: int, weight: int, measure: str) -> int:
    """A missed deadline's cost as the objective's docstring defines it (written anew here)."""
    if actual <= limit:
        return 0
    if measure == "misses":
        return 100 * weight
    return weight * (100 + ceil(Fraction(100 * (actual - limit), max(1, limit))))


def _optimum(requests: list[RouteRequest], slots: list[Slot], measure: str) -> Objective:
    """The least ``(unplanned, deadline cost, weighted minutes)`` over every assignment of
    feasible routes (or none) to the patients that respects every slot's capacity."""
    by_id = {s.id: s for s in slots}
    capacity = {s.id: s.capacity for s in slots}
    options: list[list[tuple[tuple[str, ...], Objective]]] = []
    for request in requests:
        pathway = request.pathway
        assert isinstance(pathway, Pathway)
        stage_ids = [s.id for s in pathway.stages]
        weight = 1 + max(0, min(99, request.priority))
        mine: list[tuple[tuple[str, ...], Objective]] = [((), (1, 0, 0))]
        choices = [[s.id for s in slots if s.id.startswith(st)] for st in stage_ids]
        for combo in itertools.product(*choices):
            evaluation = evaluate_route(
                request,
                pathway,
                dict(zip(stage_ids, combo, strict=True)),
                slots=by_id,
                facilities=FACILITIES,
            )
            if evaluation.feasible:
                assert evaluation.objective is not None
                missed = sum(
                    _miss(d.limit, d.actual, weight, measure) for d in evaluation.deadlines
                )
                mine.append((combo, (0, missed, weight * evaluation.objective[0])))
        options.append(mine)
    best: Objective | None = None
    for pick in itertools.product(*options):
        used = Counter(slot for combo, _ in pick for slot in combo)
        if any(used[s] > capacity[s] for s in used):
            continue
        total = (
            sum(c[0] for _, c in pick),
            sum(c[1] for _, c in pick),
            sum(c[2] for _, c in pick),
        )
        best = total if best is None else min(best, total)
    assert best is not None  # nobody routed is always an assignment
    return best


def _check_routes(result: BatchResult, requests: list[RouteRequest], slots: list[Slot]) -> None:
    """Capacity holds and every route passes the evaluator with its own pathway."""
    used = Counter(b.slot_id for r in result.routes for b in r.bookings)
    assert all(used[s.id] <= s.capacity for s in slots)
    for request, route in zip(requests, result.routes, strict=True):
        assert isinstance(request.pathway, Pathway)
        chosen = {b.stage_id: b.slot_id for b in route.bookings}
        evaluation = evaluate_route(
            request, request.pathway, chosen, slots=slots, facilities=FACILITIES
        )
        assert evaluation.feasible, evaluation.violations


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(max_patients=4))
def test_each_measure_reaches_the_brute_force_optimum(
    cohort: tuple[list[RouteRequest], list[Slot]],
) -> None:
    """On tiny cohorts the plan's objective is the least brute force finds, by either measure,
    and the plan's report says which measure it counted."""
    requests, slots = cohort
    for measure in DEADLINE_MEASURES:
        result = plan_batch(
            (requests, index_of(slots)), seed=1, time_limit=30, deadline_measure=measure
        )
        check_plan(result, requests, slots)
        assert result.deadline_measure == measure
        assert result.objective.key() == _optimum(requests, slots, measure)


CONSULT_1WD = deadline("consult_1wd", "referral", "consult.start", 1, LagUnit.WORKING_DAYS)
SCANNED = make_pathway(
    [stage("consult"), stage("ct", after=["consult"])], deadlines=[CONSULT_1WD], pathway_id="ct"
)
TREATED = make_pathway(
    [stage("consult"), stage("treat", after=["consult"])],
    deadlines=[CONSULT_1WD],
    pathway_id="treat",
)


def _late_misser() -> tuple[list[RouteRequest], list[Slot]]:
    """Two patients who both miss the consultation's deadline (Tuesday): the first (weight 2)
    is treated on Friday whatever day it is seen, the second has a CT on Wednesday only when
    it is seen on Wednesday, else on Friday."""
    slots = [
        make_slot("consult2", "consult", 2, "09:00", "F1", 1),
        make_slot("consult3", "consult", 3, "09:00", "F1", 1),
        make_slot("ct2", "ct", 2, "14:00", "F1", 1),
        make_slot("ct4", "ct", 4, "14:00", "F1", 1),
        make_slot("treat4", "treat", 4, "15:00", "F1", 1),
    ]
    return make_requests(2, [1, 0], [TREATED, SCANNED]), slots


def test_misses_alike_never_pay_minutes_for_a_smaller_overrun() -> None:
    """By overrun, the weightier patient takes Wednesday's consultation (its overrun counts
    twice) although its treatment stays on Friday; counting misses alike, it yields Wednesday
    to the other, whose CT moves from Friday to Wednesday: the same misses, fewer minutes."""
    requests, slots = _late_misser()
    plans = {
        measure: plan_batch((requests, index_of(slots)), seed=0, deadline_measure=measure)
        for measure in DEADLINE_MEASURES
    }
    for measure, result in plans.items():
        _check_routes(result, requests, slots)
        assert result.objective.key() == _optimum(requests, slots, measure)
    booked = {
        measure: {r.request_id: sorted(b.slot_id for b in r.bookings) for r in result.routes}
        for measure, result in plans.items()
    }
    assert booked["overrun"] == {"R0": ["consult2", "treat4"], "R1": ["consult3", "ct4"]}
    assert booked["misses"] == {"R0": ["consult3", "treat4"], "R1": ["consult2", "ct2"]}
    missed = [sum(not d.met for r in p.routes for d in r.deadlines) for p in plans.values()]
    assert missed == [2, 2]
    assert plans["misses"].objective.weighted_minutes < plans["overrun"].objective.weighted_minutes


def test_bad_measures_are_refused_by_name() -> None:
    """An unknown measure is an error that names the option, before anything is planned."""
    requests, slots = _late_misser()
    bad: DeadlineMeasure = "late"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="deadline_measure"):
        plan_batch((requests, index_of(slots)), deadline_measure=bad)
    with pytest.raises(InvalidInputError, match="deadline_measure"):
        ReplanOptions(deadline_measure=bad)


def test_the_command_plans_and_reports_by_the_measure_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``routing batch --deadline-measure``: the plan, the report and the summary say how the
    misses were counted (``misses`` by default); an unknown measure is a usage error naming the
    option."""
    parser = argparse.ArgumentParser()
    add_batch_arguments(parser)
    for chosen, words in ((None, "misses alike"), ("overrun", "its overrun")):
        out = tmp_path / (chosen or "default")
        argv = ["--example", "-o", str(out), "--quiet", "--iterations", "5"]
        args = parser.parse_args(argv + (["--deadline-measure", chosen] if chosen else []))
        assert run_batch(args) == 0
        plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert plan["deadline_measure"] == report["deadline_measure"] == (chosen or "misses")
        assert f"a missed deadline counted by {words}" in (out / "summary.txt").read_text("utf-8")
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--example", "--deadline-measure", "late"])
    assert exit_info.value.code == 2
    assert "--deadline-measure" in capsys.readouterr().err


def test_the_report_gives_the_missed_deadlines_overrun() -> None:
    """Per deadline, the report sums and bounds by how much the routed patients' misses overran
    (in the deadline's unit), and the summary shows the mean and the largest."""
    requests, slots = _late_misser()
    index = index_of(slots)
    result = plan_batch((requests, index), seed=0)
    report = build_report(result, index)
    (row,) = report.deadlines_by_id
    # Tuesday is the limit: Wednesday overruns by one working day, Thursday by two
    assert (row.key, row.unit, row.measured, row.met) == ("consult_1wd", LagUnit.WORKING_DAYS, 2, 0)
    assert (row.overrun, row.overrun_max) == (3, 2)
    assert (row.fcfs_overrun, row.fcfs_overrun_max) == (3, 2)  # any plan routing both
    lines = report.summary().splitlines()
    at = lines.index("the missed deadlines' overrun (patients with a route):")
    assert lines[at + 2].split()[:6] == [
        "deadline",
        "consult_1wd",
        "(working",
        "days)",
        "mean",
        "1.5,",
    ]
    assert "max 2" in lines[at + 2]


def test_the_matching_bound_prices_the_misses_where_the_competition_is() -> None:
    """Two weightier patients compete for Monday's one consultation; a routine patient has a
    visit of its own. One of the two must miss, so the deadline term is at least a miss of
    weight 2 (200), not the routine patient's cheaper one (100), which nobody forces; the plan
    meets that bound, so its deadline term is proven."""
    visit_1wd = deadline("visit_1wd", "referral", "visit.start", 1, LagUnit.WORKING_DAYS)
    visited = make_pathway([stage("visit")], deadlines=[visit_1wd], pathway_id="visit")
    slots = [
        make_slot("consult0", "consult", 0, "09:00", "F1", 1),
        make_slot("consult3", "consult", 3, "09:00", "F1", 1),
        make_slot("ct4", "ct", 4, "14:00", "F1", 2),
        make_slot("visit0", "visit", 0, "10:00", "F1", 1),
    ]
    requests = make_requests(3, [1, 1, 0], [SCANNED, SCANNED, visited])
    index = index_of(slots)
    cohort = build_cohort(requests, index)
    matching = match_first_deadlines(cohort, cohort.plannable())
    assert (matching.entries, matching.must_miss, matching.deadline_cost) == (3, 1, 200)
    result = plan_batch((requests, index), seed=0, exact_max_patients=0, max_iterations=10)
    _check_routes(result, requests, slots)
    assert result.objective.deadline_cost == 200 == result.capacity_bound.deadline_cost
