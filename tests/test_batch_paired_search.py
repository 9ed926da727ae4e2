"""The batch search in two processes (:mod:`routing.batch.paired_search`): the same bytes on every
run, routes the evaluator accepts, the search's bookkeeping in step with the merged plan, a
failed helper survived, and the process count checked."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from routing.batch import BatchProgress, BatchResult, paired_search, plan_batch
from routing.batch import engine as engine_module
from routing.batch.objective import route_cost, total_cost
from routing.batch.report import plan_document
from routing.batch.whatif.verify import ReplanOptions
from routing.cli import main
from routing.evaluate import evaluate_route
from routing.examples import load_example
from routing.exceptions import InvalidInputError
from routing.problem import Problem
from routing.region import RegionParameters, generate_region
from routing.solve.plan import resolve_pathway

EXAMPLE = "contended_spb"


def _region() -> Problem:
    """80 patients of a generated region: enough for the helper's moves to be taken."""
    return generate_region(RegionParameters(patients=80, contention=0.6, seed=1))


def _plan(
    processes: int, *, slow: bool = False, problem: Problem | None = None, **limits: Any
) -> BatchResult:
    """A cohort (the example by default) planned with the search in ``processes``; ``slow``
    makes the wall clock crawl (a pause at every progress report), as a loaded machine would."""

    def crawl(_: BatchProgress) -> None:
        if slow:
            time.sleep(0.002)

    return plan_batch(
        problem or load_example(EXAMPLE),
        seed=3,
        time_limit=600,
        progress=crawl,
        exact_max_patients=0,
        search_processes=processes,
        **limits,
    )


def _document(result: BatchResult) -> str:
    return json.dumps(plan_document(result), sort_keys=True)


def _check(result: BatchResult, problem: Problem) -> None:
    """Every route passes the evaluator, no slot is over capacity, the objective adds up and is
    no worse than first come, first served."""
    pathways = {p.id: p for p in problem.pathways}
    used = Counter(b.slot_id for r in result.routes for b in r.bookings)
    assert all(used[s] <= problem.slot(s).capacity for s in used)
    for request, route in zip(problem.requests, result.routes, strict=True):
        assert route.request_id == request.id
        if route.has_route:
            evaluation = evaluate_route(
                request,
                resolve_pathway(request, pathways=pathways),
                {b.stage_id: b.slot_id for b in route.bookings},
                slots=problem.slots,
                facilities=problem.facilities,
                travel=problem.travel,
            )
            assert evaluation.feasible, evaluation.violations
    measure = result.deadline_measure
    costs = [route_cost(r, w, measure) for r, w in zip(result.routes, result.weights, strict=True)]
    assert total_cost(costs) == result.objective.key()
    assert result.objective.key() <= result.fcfs_objective.key()


def test_two_processes_give_the_same_bytes_under_an_iteration_and_a_work_limit() -> None:
    """Counted stops: two runs are the same bytes; a binding work limit too when one run's
    clock crawls."""
    first, second = _plan(2, max_iterations=240), _plan(2, max_iterations=240)
    assert first.iterations == 240
    assert first.stop_reason == "iteration limit"
    assert _document(first) == _document(second)
    fast, slow = _plan(2, work_limit=900), _plan(2, work_limit=900, slow=True)
    assert fast.stop_reason == slow.stop_reason == "work limit"
    assert _document(fast) == _document(slow)


def test_paired_routes_pass_the_evaluator(caplog: pytest.LogCaptureFixture) -> None:
    """The merged plan is valid, adds up, and took some of the helper's moves."""
    problem = _region()
    with caplog.at_level(logging.INFO, logger="routing.batch.paired_search"):
        result = _plan(2, problem=problem, max_iterations=300)
    _check(result, problem)
    taken = [r.args[1] for r in caplog.records if r.msg.startswith("paired search:")]
    assert taken, caplog.text
    assert taken[0] > 0, caplog.text


def test_the_bookkeeping_after_a_paired_search_is_the_plans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the epochs, merges and a sweep between two epochs, the costs, slot holders, picks
    and objective the search keeps are those recomputed from the plan it returns."""
    original = engine_module.search_in_pairs
    checked: list[bool] = []

    def checking(engine: Any, plan: Any, state: Any, max_iterations: Any, bound: Any) -> str:
        sweeps = engine.sweeps
        reason = original(engine, plan, state, max_iterations, bound)
        assert engine.sweeps > sweeps  # 300 iterations, a sweep due every 2 × 80
        fresh = engine.search_state(plan)
        assert plan.check_capacity()
        assert state.costs == fresh.costs
        assert state.best == fresh.best == plan.total()
        assert state.holders.as_dict() == fresh.holders.as_dict()
        assert state.holders.sole.tolist() == fresh.holders.sole.tolist()
        assert state.worse.members == fresh.worse.members
        checked.append(True)
        return reason

    monkeypatch.setattr(engine_module, "search_in_pairs", checking)
    _plan(2, problem=_region(), max_iterations=300)
    assert checked == [True]


@pytest.mark.parametrize(
    ("how", "said"), [("raises", "the helper is down"), ("exits", "the helper process ended")]
)
def test_a_failing_helper_leaves_the_search_to_this_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, how: str, said: str
) -> None:
    """The helper fails in its second epoch (an exception, or its process ends without a word):
    the search goes on alone to the iteration limit, says so, and the plan is valid."""
    original = paired_search.epoch_rng

    def failing(seed: int, epoch: int, process: int) -> Any:
        if process == 1 and epoch >= 2:
            if how == "exits":
                os._exit(1)
            raise RuntimeError("the helper is down")
        return original(seed, epoch, process)

    monkeypatch.setattr(paired_search, "epoch_rng", failing)
    with caplog.at_level(logging.WARNING, logger="routing.batch.paired_search"):
        result = _plan(2, max_iterations=300)
    assert "going on alone" in caplog.text
    assert said in caplog.text
    assert result.iterations == 300
    assert result.stop_reason == "iteration limit"
    _check(result, load_example(EXAMPLE))


def _report_can_pair(queue: Any) -> None:
    queue.put(paired_search.can_pair())


def test_no_helper_inside_a_daemonic_process() -> None:
    """A daemonic process (a Dask worker's) may not fork a helper: the search stays in it."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_report_can_pair, args=(queue,), daemon=True)
    child.start()
    assert queue.get(timeout=60) is False
    child.join()
    assert paired_search.can_pair() is True


def test_routing_batch_search_processes(tmp_path: Path) -> None:
    """``routing batch --search-processes 2 --work-limit N``: the plan file says two processes
    and is the same bytes on a second run."""
    plans = []
    for run in ("a", "b"):
        out = tmp_path / run
        args = ["batch", "--example", "--search-processes", "2", "--work-limit", "900"]
        assert main([*args, "-q", "-o", str(out)]) == 0
        plans.append((out / "plan.json").read_text("utf-8"))
    assert json.loads(plans[0])["search_processes"] == 2
    assert plans[0] == plans[1]


def test_the_process_count_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three processes: ``ValueError`` naming the parameter; ``--search-processes 3``: a usage
    error naming the option, nothing written."""
    with pytest.raises(ValueError, match="search_processes"):
        plan_batch(load_example(EXAMPLE), search_processes=3)
    with pytest.raises(InvalidInputError, match="search_processes"):
        ReplanOptions(search_processes=0)
    assert main(["batch", "--example", "--search-processes", "3", "-o", str(tmp_path / "out")]) == 2
    assert "--search-processes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
