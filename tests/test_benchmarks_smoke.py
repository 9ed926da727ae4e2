"""Smoke tests of the benchmark code: the instance generator and the direct CP-SAT baseline."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks.direct_cpsat import solve_direct
from benchmarks.instances import BENCH_PATHWAY_ID, Instance, bench_pathway, make_instance

from nosology.temporal import compile_pathway
from route_helpers import at, facility, make_pathway, make_request, stage
from route_helpers import slot as make_slot
from routing.calendar import default_calendar
from routing.domain import TravelModel
from routing.slot_index import SlotIndex
from routing.solve.plan import SolveOptions, plan_route


@pytest.fixture(scope="module")
def tiny() -> tuple[Instance, SlotIndex]:
    """The tiny instance of seed 3 and its index."""
    instance = make_instance("tiny", 3)
    return instance, SlotIndex.build(instance.facilities, instance.slots)


def test_generator_is_deterministic() -> None:
    """The same size and seed give the same slots and requests; another seed differs."""
    a, b, c = make_instance("tiny", 5), make_instance("tiny", 5), make_instance("tiny", 6)
    assert a.slots == b.slots
    assert a.requests == b.requests
    assert a.slots != c.slots


def test_slots_are_on_working_days_in_working_hours() -> None:
    """Every slot lies on a production-calendar working day, within 08:00–20:00 local time."""
    instance = make_instance("tiny", 1)
    calendar = default_calendar()
    assert instance.slots
    for slot in instance.slots:
        local = slot.start.astimezone(calendar.zone)
        assert calendar.is_working_day(local.date())
        assert local.hour >= 8
        assert slot.end.astimezone(calendar.zone).hour <= 20


def test_facility_levels_bound_their_services() -> None:
    """Biopsies, the tumour board and treatment are only at level 3; oncologists from level 2."""
    instance = make_instance("small", 1)
    level = {f.id: f.level for f in instance.facilities}
    for slot in instance.slots:
        if str(slot.service) in ("catalogue:biopsy", "catalogue:oncology_tumour_board"):
            assert level[slot.facility_id] == 3
        if str(slot.service) == "nmu:B01.027.001":
            assert level[slot.facility_id] >= 2


def test_bench_pathway_has_eight_stages_and_two_hard_maxima() -> None:
    """The generated pathway has 8 stages, 2 maximum lags, and is temporally consistent."""
    pathway = bench_pathway()
    assert pathway.id == BENCH_PATHWAY_ID
    assert len(pathway.stages) == 8
    assert sum(1 for c in pathway.constraints if c.max is not None) == 2
    compile_pathway(pathway).check_consistency()


def test_plan_route_and_direct_model_agree(tiny: tuple[Instance, SlotIndex]) -> None:
    """On tiny requests, plan_route and direct CP-SAT give equal keys whenever both are optimal."""
    instance, index = tiny
    pathways = instance.pathways
    both_optimal = 0
    for request in instance.requests[:5]:
        ours = plan_route(request, index, pathways=pathways, options=SolveOptions(time_limit=3.0))
        if ours.status.value == "INVALID":
            continue
        direct = solve_direct(request, index, pathways=pathways, time_limit=20.0)
        if ours.status.value == "OPTIMAL" and direct.status == "OPTIMAL":
            assert ours.objective is not None
            assert ours.objective.key() == direct.key, request.id
            both_optimal += 1
        if "INFEASIBLE" in (ours.status.value, direct.status):
            assert ours.status.value == direct.status == "INFEASIBLE", request.id
    assert both_optimal >= 3


NIGHT_TRAVEL = {
    "metric, far": {"F1": {"F2": 150, "F3": 150}, "F2": {"F3": 15}},
    "metric, near": {"F1": {"F2": 15, "F3": 15}, "F2": {"F3": 15}},
    "not metric, via F3": {"F1": {"F2": 150, "F3": 15}, "F2": {"F3": 15}},
    "not metric, F3 too far": {"F1": {"F2": 150, "F3": 16}, "F2": {"F3": 15}},
}


@pytest.mark.parametrize("matrix", NIGHT_TRAVEL.values(), ids=NIGHT_TRAVEL.keys())
def test_direct_model_and_plan_route_agree_across_midnight(
    matrix: dict[str, dict[str, int]],
) -> None:
    """Around midnight, the direct model asks room to travel between consecutive visits on two
    dates as plan_route does: the same status and objective, with and without the triangle
    inequality (then through its chain of visits in time order)."""
    # a at F2 23:00-23:30, b at F3 23:45-00:05, c at F1 00:20 (or at 03:00): F2 -> F3 -> F1 is
    # 30 minutes of travel, F2 -> F1 directly 150 (more than via F3 in two of the matrices).
    stages = [stage("a"), stage("b", after=["a"]), stage("c", after=["b"])]
    pathway = make_pathway(stages)
    slots = [
        make_slot("A1", "a", "2026-05-18", "23:00", facility_id="F2"),
        make_slot("B1", "b", "2026-05-18", "23:45", minutes=20, facility_id="F3"),
        make_slot("C1", "c", "2026-05-19", "00:20", facility_id="F1"),
        make_slot("C2", "c", "2026-05-19", "03:00", facility_id="F1"),
    ]
    facilities = [facility("F1"), facility("F2"), facility("F3")]
    index = SlotIndex.build(facilities, slots, travel=TravelModel(matrix=matrix))
    request = make_request(pathway, at("2026-05-18", "08:00"))
    ours = plan_route(request, index)
    direct = solve_direct(request, index, time_limit=20.0)
    assert ours.status.value == direct.status == "OPTIMAL"
    assert ours.objective is not None
    assert ours.objective.key() == direct.key
    # c at 00:20 exactly when b -> c takes at most 15 minutes.
    c_slot = next(b.slot_id for b in ours.bookings if b.stage_id == "c")
    assert (c_slot == "C1") is (matrix["F1"]["F3"] <= 15)


def test_matching_benchmark_runs_and_agrees_with_hopcroft_karp(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench_matching.py on 100 patients: exit status 0 (sizes equal) and the figures printed."""
    from benchmarks.bench_matching import main

    assert main(["--sizes", "100"]) == 0
    out = capsys.readouterr().out
    assert "sizes equal" in out
    assert re.search(r"\d+ of \d+ matched", out)


def test_batch_waits_accounts_for_the_plan_against_the_patients_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """batch_waits.py on 60 contended patients: the plan routes no more patients than can be
    routed alone and completes later, its wait growth is positive where printed, and every flow
    choice reports its days."""
    from benchmarks.batch_waits import main, measure_waits

    f = measure_waits(60, 0.6, 1)
    assert 0 < f["plan"]["routed"] <= f["alone"]["routed"]
    assert f["extra_days"] > 0  # contended: some patient waits for another
    assert all(days > 0 for days in f["wait_growth_days"].values())
    assert set(f["flat_days"]) == {"last", "first", "scarcest"}
    for s in f["flat_days"].values():
        assert s["patients"] > 0
        assert 0 <= s["median"] <= s["p90"]
    assert main(["--patients", "60", "--contention", "0.6", "--seed", "1"]) == 0
    assert "completion flow, first stages" in capsys.readouterr().out


def test_bench_live_runs_and_routes_agree() -> None:
    """bench_live on the tiny instance: every command timed, live and rebuilt routes equal."""
    from benchmarks.bench_live import measure_size

    figures = measure_size(make_instance("tiny", 2), n_ops=20, n_requests=4, seed=2)
    assert set(figures.commands) == {"hold", "book", "release", "cancel", "withdraw", "add"}
    assert figures.commands["hold"][0] == 20
    assert figures.commands["book"][0] == 10
    assert figures.commands["add"][0] == figures.slots // 100 - 1
    assert figures.plans == 4
    assert figures.mismatches == 0


def test_pooled_mode_reports_each_seed_and_the_pool(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """bench_plan_route.py --pooled on two tiny seeds: a line per seed and a pooled line for each
    build (the other build run by a subprocess), both builds equal, no mismatch with CP-SAT."""
    from benchmarks.bench_plan_route import main
    from benchmarks.pooled import SeedRun, parse_seeds

    assert parse_seeds("1-3,7,10-11") == [1, 2, 3, 7, 10, 11]
    out_json = tmp_path / "runs.json"
    argv = ["--pooled", "--sizes", "tiny", "--seeds", "2-3", "--requests", "4", "--direct", "1"]
    argv += ["--compiled-python", sys.executable, "--json-out", str(out_json)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^  seed +2 +p50", out, re.MULTILINE)) == 2
    assert len(re.findall(r"^  seed +3 +p50", out, re.MULTILINE)) == 2
    assert len(re.findall(r"^  POOLED +p50 .* nodes p50", out, re.MULTILINE)) == 2
    assert "both builds: same status, objective and nodes on 8 of 8" in out
    assert "objective mismatches against direct CP-SAT: 0 of 2" in out
    runs = [SeedRun.from_json(d) for d in json.loads(out_json.read_text())]
    assert [(r.seed, len(r.ms), len(r.nodes)) for r in runs] == [(2, 4, 4), (3, 4, 4)]
    assert all(any(n > 0 for n in r.nodes) for r in runs)  # the search's nodes were recorded


@pytest.mark.parametrize("freeze", [True, False])
def test_pooled_seed_freezes_the_collector_only_while_timing(
    monkeypatch: pytest.MonkeyPatch, freeze: bool
) -> None:
    """With ``gc_freeze`` the index and instance are frozen (out of the collector's reach)
    during every timed request and handed back after; without, nothing is frozen."""
    import gc

    from benchmarks import pooled

    frozen_during: list[int] = []
    real = pooled.plan_route

    def recording(*args: Any, **kwargs: Any) -> Any:
        frozen_during.append(gc.get_freeze_count())
        return real(*args, **kwargs)

    instance = make_instance("tiny", 2)
    monkeypatch.setattr(pooled, "plan_route", recording)
    run = pooled.measure_seed(instance, 3, 2.0, gc_freeze=freeze)
    assert len(run.ms) == 3
    timed = frozen_during[-3:]  # the warm-up's calls come first
    assert all((n > 0) == freeze for n in timed)
    assert gc.get_freeze_count() == 0


def test_batch_benchmark_stops_after_the_baselines_and_bounds_a_large_staged_lp() -> None:
    """``bench_batch.py --baselines-only --staged-max-variables 1 --staged-iterations 200``: no
    search and no polish, the baselines' phases timed, the plan no worse than first come, first
    served; the LP is too large for interior point, so the first-order method bounds it, says
    so, and its bound is below the plan's minutes (without iterations such an LP is left
    unsolved: ``test_the_batch_reports_the_staged_bound_only_when_small_enough``)."""
    from benchmarks.bench_batch import _table, run_instance

    figures = run_instance(
        60,
        0.6,
        seed=0,
        workers=1,
        time_limit=30.0,
        baselines_only=True,
        staged_max_variables=1,
        staged_iterations=200,
    )
    assert figures["iterations"] == 0
    assert figures["polished"] == 0
    assert figures["stop_reason"] in {"iteration limit", "proven optimal"}
    assert {"no competition", "first come"} <= set(figures["phases"])
    assert figures["objective"] <= figures["fcfs_objective"]
    assert figures["staged_iterations"] is not None
    assert 1 <= figures["staged_iterations"] <= 200
    assert 0 < figures["staged_weighted"] <= figures["objective"][2]
    # Every search prepares its candidates at least once, inside the search's time.
    for phase in ("no competition", "first come"):
        searches, search_seconds = figures["searches"][phase]
        calls, seconds = figures["compiles"][phase]
        assert calls >= searches > 0
        assert 0 < seconds < search_seconds
    line = next(x for x in _table("relaxed", figures) if "preparing the candidates" in x)
    assert "no competition" in line
    assert "first come" in line


def test_staged_lp_benchmark_compares_the_solvers_and_refuses_zero_iterations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``bench_staged_lp.py`` prints interior point's optimum, then each first-order bound as a
    share of it (never above it); zero iterations or patients are argparse errors, not a
    traceback from the library."""
    from benchmarks import bench_staged_lp

    small = ["--patients", "30", "--contention", "0.3", "--seed", "3", "--iterations", "300"]
    assert bench_staged_lp.main(small) == 0
    out = capsys.readouterr().out
    optimum = int(re.search(r"interior point: (\d+) ", out).group(1))  # type: ignore[union-attr]
    first = re.search(r"first order, 300 iterations \(\d+ run\): (\d+) \(", out)
    assert first is not None, out
    assert 0.9 * optimum <= int(first.group(1)) <= optimum  # 99.8 % on this seed
    for bad in (["--iterations", "0"], ["--patients", "-3"], ["--iterations", "x"]):
        with pytest.raises(SystemExit) as stopped:
            bench_staged_lp.main(bad)
        assert stopped.value.code == 2
        assert f"error: argument {bad[0]}" in capsys.readouterr().err


def test_batch_benchmark_baselines_end_where_the_sweeps_or_the_search_begin() -> None:
    """The runtime curve's baselines stop at the first of the sweeps and the search, so the
    sweeps' time is not counted as baselines; without either, the whole run."""
    from benchmarks.bench_batch import _baselines

    run = {"phases": {"first come": 1.0, "sweep": 3.0, "search": 5.0}, "runtime_seconds": 9.0}
    assert _baselines(run) == 3.0
    assert _baselines({**run, "phases": {"search": 5.0}}) == 5.0
    assert _baselines({**run, "phases": {"first come": 1.0}}) == 9.0


def test_batch_benchmark_names_its_build_and_refuses_a_second_interpreter_of_the_same_build(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``bench_batch.py --compiled-python PY`` needs this interpreter to run the pure-Python
    sources and ``PY`` the compiled wheel: the same build twice is an argparse error naming
    what it found (in the editable run: ``PY`` is this interpreter; in the compiled run, this
    interpreter is compiled already), found before any instance is planned; an interpreter
    that cannot run it at all is named in the error, and ``--calibrate`` (FCFS in this process
    only) refuses it rather than ignore it. The header names the build."""
    from benchmarks import bench_batch
    from benchmarks.builds import is_compiled, search_build

    argv = [
        "--sizes",
        "20",
        "--instances",
        "contended",
        "--baselines-only",
        "--staged-max-variables",
        "0",
        "--staged-iterations",
        "0",
        "--compiled-python",
        sys.executable,
    ]
    with pytest.raises(SystemExit) as stopped:
        bench_batch.main(argv)
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert f"search {search_build()}" in captured.out
    assert "== 20 patients" not in captured.out  # refused before planning
    with pytest.raises(SystemExit) as stopped:
        bench_batch.main(["--calibrate", "20", "--compiled-python", sys.executable])
    assert stopped.value.code == 2
    assert "--calibrate runs FCFS alone here" in capsys.readouterr().err
    if is_compiled():
        assert "this interpreter's search is compiled already" in captured.err
    else:
        assert f"its search is {search_build()}, not the compiled wheel" in captured.err
        argv[-1] = str(tmp_path / "no-such-python")
        with pytest.raises(SystemExit) as stopped:
            bench_batch.main(argv)
        assert f"--compiled-python {argv[-1]}: cannot run this benchmark" in str(stopped.value.code)


def test_batch_benchmark_compares_the_builds_baselines() -> None:
    """Two builds must plan the same FCFS plan and no-competition bound (neither is limited by
    the clock); a difference is said, not hidden."""
    from benchmarks.bench_batch import _same_baselines

    ours = {"fcfs_objective": [0, 38000, 28679777], "no_competition_bound": [0, 0, 14329167]}
    assert "the same" in _same_baselines(ours, dict(ours))[0]
    other = {**ours, "fcfs_objective": [0, 38000, 28679778]}
    assert "DIFFERENT" in _same_baselines(ours, other)[0]
