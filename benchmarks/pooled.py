"""The pooled mode of ``bench_plan_route.py``: many seeds, per-seed and pooled tail latency.

Per seed (instances nobody tuned for): p50 / p99 / max wall-clock latency of ``plan_route`` over
the first ``requests`` requests, the process CPU time, and the search nodes per request
(p50 / p99 / max). Then the same figures over all seeds pooled, which are the headline. With
``compiled_python`` (an interpreter whose ``routing`` is the compiled wheel) the same seeds are
measured again in a subprocess of that interpreter and shown side by side, with a check that both
builds give the same status, objective and node count on every request. The direct CP-SAT model
runs on a small sample (the first ``direct`` plannable requests of each seed), its latency
compared with the compiled build's when that was measured.
"""

from __future__ import annotations

import gc
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.builds import other_build_env
from benchmarks.direct_cpsat import solve_direct
from benchmarks.instances import Instance, Size, make_instance
from routing.slot_index import SlotIndex
from routing.solve import modes as modes_module
from routing.solve.plan import SolveOptions, plan_route, prepare_index

__all__ = ["POOLED_TARGETS", "SeedRun", "parse_seeds", "run_pooled"]

Key = tuple[int, int, int, int]
POOLED_TARGETS = {
    "medium": (("p50", 1.0), ("p99", 10.0)),
    "large": (("p50", 5.0),),
}
"""Targets on the pooled wall-clock figures (ms) of the compiled build, by size."""
SEED_SPREAD = 2.0
"""No seed's p99 may exceed this multiple of the pooled p99."""


@dataclass(slots=True)
class SeedRun:
    """One seed of one size measured: a value per request, in request order."""

    size: str
    seed: int
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    keys: list[Key | None] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    prepare_ms: float = 0.0
    """The index's :func:`~routing.prepare_index` (untimed in the latencies; 0 when skipped)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeedRun:
        """A run as :func:`dataclasses.asdict` wrote it to JSON."""
        run = cls(**data)
        run.keys = [None if k is None else (k[0], k[1], k[2], k[3]) for k in run.keys]
        return run


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"1-20"``, ``"3"`` or ``"1,4,7-9"``."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def _quantile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (``q`` in (0, 1])."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@contextmanager
def _counting_nodes(into: list[int]) -> Iterator[None]:
    """Record the search nodes of every ``plan_route`` search (a thin wrapper around it)."""
    names = vars(modes_module)  # plan_route searches through modes.search_in_modes
    original = names["search"]

    def counted(*args: Any, **kwargs: Any) -> Any:
        outcome = original(*args, **kwargs)
        into.append(outcome.nodes)
        return outcome

    names["search"] = counted
    try:
        yield
    finally:
        names["search"] = original


def measure_seed(
    instance: Instance,
    n_requests: int,
    time_limit: float,
    *,
    prepare: bool = True,
    gc_freeze: bool = True,
) -> SeedRun:
    """Time the first ``n_requests`` requests of ``instance`` after an untimed warm-up (and,
    with ``prepare``, :func:`~routing.prepare_index` of the index, timed apart).

    With ``gc_freeze`` the objects built so far (the index, the instance) are moved out of the
    collector's reach (:func:`gc.freeze`, as the README advises a service) while the requests
    are timed, and handed back after.
    """
    index = SlotIndex.build(instance.facilities, instance.slots)
    options = SolveOptions(time_limit=time_limit)
    empty = SlotIndex.build(instance.facilities, ())
    seen: set[object] = set()
    for request in instance.requests:  # warm-up: each kind of request once, nothing to book
        kind = (request.pathway_id, request.diagnoses)
        if kind not in seen:
            seen.add(kind)
            plan_route(request, empty, pathways=instance.pathways, options=options)
    run = SeedRun(size=instance.size, seed=instance.seed)
    if prepare:
        started = time.perf_counter()
        prepare_index(index, pathways=instance.pathways)
        run.prepare_ms = (time.perf_counter() - started) * 1000
    with _frozen(gc_freeze):
        for request in instance.requests[:n_requests]:
            nodes: list[int] = []
            with _counting_nodes(nodes):
                c0, t0 = time.process_time(), time.perf_counter()
                result = plan_route(request, index, pathways=instance.pathways, options=options)
                run.ms.append((time.perf_counter() - t0) * 1000)
                run.cpu_ms.append((time.process_time() - c0) * 1000)
            run.nodes.append(nodes[0] if nodes else 0)  # 0: INVALID, no search
            run.statuses.append(result.status.value)
            run.keys.append(None if result.objective is None else result.objective.key())
            run.request_ids.append(request.id)
    return run


@contextmanager
def _frozen(freeze: bool) -> Iterator[None]:
    """With ``freeze``: collect, then :func:`gc.freeze` until the block ends."""
    if not freeze:
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _figures(ms: list[float], cpu: list[float], nodes: list[int]) -> str:
    return (
        f"p50 {_quantile(ms, 0.5):6.2f}  p99 {_quantile(ms, 0.99):6.2f}  max {max(ms):7.2f} ms"
        f" | cpu p50 {_quantile(cpu, 0.5):6.2f} p99 {_quantile(cpu, 0.99):6.2f} ms"
        f" | nodes p50 {_quantile([float(n) for n in nodes], 0.5):5.0f}"
        f" p99 {_quantile([float(n) for n in nodes], 0.99):6.0f} max {max(nodes):6d}"
    )


def _summary(label: str, runs: list[SeedRun]) -> None:
    """Per-seed lines and the pooled line of one build."""
    print(f"-- {label}")
    for run in runs:
        print(f"  seed {run.seed:4d}  {_figures(run.ms, run.cpu_ms, run.nodes)}")
    ms = [x for r in runs for x in r.ms]
    cpu = [x for r in runs for x in r.cpu_ms]
    nodes = [x for r in runs for x in r.nodes]
    statuses = Counter(s for r in runs for s in r.statuses)
    print(f"  POOLED     {_figures(ms, cpu, nodes)}  ({len(ms)} requests)")
    prepared = [r.prepare_ms for r in runs]
    if any(prepared):
        print(
            f"  prepare_index (untimed above): p50 {_quantile(prepared, 0.5):.1f} ms, "
            f"max {max(prepared):.1f} ms per index"
        )
    else:
        print("  index not prepared: the first requests of each pathway build its stages")
    print("  statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))


@dataclass(frozen=True, slots=True)
class _Timing:
    """How each seed is measured (:func:`measure_seed`'s arguments besides the instance)."""

    n_requests: int
    time_limit: float
    prepare: bool
    gc_freeze: bool


def _measure_all(size: Size, seeds: list[int], timing: _Timing) -> list[SeedRun]:
    return [
        measure_seed(
            make_instance(size, seed),
            timing.n_requests,
            timing.time_limit,
            prepare=timing.prepare,
            gc_freeze=timing.gc_freeze,
        )
        for seed in seeds
    ]


def _in_subprocess(python: str, size: Size, seeds: list[int], timing: _Timing) -> list[SeedRun]:
    """The same measurement by another interpreter (its own ``routing``, PYTHONPATH cleared)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs.json"
        command = [
            python,
            str(Path(__file__).with_name("bench_plan_route.py")),
            "--pooled",
            "--sizes",
            size,
            "--seeds",
            ",".join(map(str, seeds)),
            "--requests",
            str(timing.n_requests),
            "--time-limit",
            str(timing.time_limit),
            "--direct",
            "0",
            "--json-out",
            str(out),
            *([] if timing.prepare else ["--unprepared"]),
            *([] if timing.gc_freeze else ["--no-gc-freeze"]),
        ]
        subprocess.run(command, env=other_build_env(), check=True, stdout=subprocess.DEVNULL)
        return [SeedRun.from_json(d) for d in json.loads(out.read_text())]


def _builds_agree(ours: list[SeedRun], theirs: list[SeedRun]) -> int:
    """Requests on which the two builds differ in status, objective or node count (printed)."""
    differ = 0
    for a, b in zip(ours, theirs, strict=True):
        for rid, *pair in zip(
            a.request_ids, a.statuses, b.statuses, a.keys, b.keys, a.nodes, b.nodes, strict=True
        ):
            if pair[0] != pair[1] or pair[2] != pair[3] or pair[4] != pair[5]:
                differ += 1
                print(f"  !! seed {a.seed} {rid}: this build {pair[::2]}, other {pair[1::2]}")
    return differ


def _direct_sample(size: Size, runs: list[SeedRun], n_direct: int, limit: float) -> int:
    """The direct CP-SAT model on the first ``n_direct`` plannable requests of each seed."""
    if n_direct <= 0:
        return 0
    ours_ms: list[float] = []
    direct_s: list[float] = []
    compared = mismatches = 0
    for run in runs:
        instance = make_instance(size, run.seed)
        index = SlotIndex.build(instance.facilities, instance.slots)
        taken = 0
        for request, status, key, ms in zip(
            instance.requests, run.statuses, run.keys, run.ms, strict=False
        ):
            if taken >= n_direct:
                break
            if status == "INVALID":
                continue
            taken += 1
            direct = solve_direct(request, index, pathways=instance.pathways, time_limit=limit)
            compared += 1
            if direct.status == "OPTIMAL" and status == "OPTIMAL" and key != direct.key:
                mismatches += 1
                print(f"  !! seed {run.seed} {request.id}: ours {key} != direct {direct.key}")
            elif "INFEASIBLE" in (status, direct.status) and status != direct.status:
                mismatches += 1
                print(f"  !! seed {run.seed} {request.id}: ours {status}, direct {direct.status}")
            if direct.status == status == "OPTIMAL" or direct.status == status == "INFEASIBLE":
                ours_ms.append(ms)
                direct_s.append(direct.seconds)
    if ours_ms:
        ratio = _quantile(direct_s, 0.5) * 1000 / _quantile(ours_ms, 0.5)
        print(
            f"  direct CP-SAT on {compared} requests ({n_direct} per seed): p50 direct "
            f"{_quantile(direct_s, 0.5):.2f} s / p50 ours {_quantile(ours_ms, 0.5):.2f} ms = "
            f"{ratio:.0f}x over the {len(ours_ms)} both proved"
        )
    print(f"  objective mismatches against direct CP-SAT: {mismatches} of {compared}")
    return mismatches


def _targets(size: str, runs: list[SeedRun], label: str) -> None:
    ms = [x for r in runs for x in r.ms]
    pooled = {"p50": _quantile(ms, 0.5), "p99": _quantile(ms, 0.99)}
    for name, goal in POOLED_TARGETS.get(size, ()):
        met = "MET" if pooled[name] <= goal else "NOT MET"
        print(f"  {size} pooled {name} <= {goal:g} ms ({label}): {pooled[name]:.2f}  {met}")
    if size == "medium":
        worst = max(runs, key=lambda r: _quantile(r.ms, 0.99))
        p99 = _quantile(worst.ms, 0.99)
        met = "MET" if p99 <= SEED_SPREAD * pooled["p99"] else "NOT MET"
        print(
            f"  {size} no seed's p99 > {SEED_SPREAD:g}x pooled p99 ({label}): worst seed "
            f"{worst.seed} p99 {p99:.2f} ms vs {SEED_SPREAD * pooled['p99']:.2f}  {met}"
        )


def run_pooled(
    sizes: list[Size],
    seeds: list[int],
    n_requests: int,
    time_limit: float,
    *,
    n_direct: int = 1,
    direct_limit: float = 30.0,
    compiled_python: str | None = None,
    json_out: str | None = None,
    build: Callable[[], str] = lambda: "this build",
    prepare: bool = True,
    gc_freeze: bool = True,
) -> int:
    """Measure every size over ``seeds``; print per-seed and pooled figures and the targets.

    With ``prepare`` (the default) each index is prepared (:func:`~routing.prepare_index`, as
    a service does once after building it) before its requests are timed, its time printed
    apart; without, the first requests of each pathway build what it would have. With
    ``gc_freeze`` (the default) the collector leaves the index alone while requests are timed
    (:func:`gc.freeze`, as the README advises a long-running service); without, a full
    collection can fall inside a request.

    Returns the exit status: 1 when an objective mismatch (against direct CP-SAT, or between
    the two builds) was found.
    """
    failures = 0
    all_runs: list[SeedRun] = []
    timing = _Timing(n_requests, time_limit, prepare, gc_freeze)
    for size in sizes:
        started = time.perf_counter()
        runs = _measure_all(size, seeds, timing)
        all_runs.extend(runs)
        print(
            f"\n== {size} pooled: seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), "
            f"{n_requests} requests each; measured in {time.perf_counter() - started:.0f} s"
        )
        _summary(build(), runs)
        label = "this build"
        target_runs = runs
        if compiled_python is not None:
            started = time.perf_counter()
            other = _in_subprocess(compiled_python, size, seeds, timing)
            _summary(f"compiled, {compiled_python} ({time.perf_counter() - started:.0f} s)", other)
            differ = _builds_agree(runs, other)
            failures += differ
            print(
                f"  both builds: same status, objective and nodes on "
                f"{sum(len(r.ms) for r in runs) - differ} of {sum(len(r.ms) for r in runs)}"
            )
            label, target_runs = "compiled", other
        failures += _direct_sample(size, target_runs, n_direct, direct_limit)
        print("== targets")
        _targets(size, target_runs, label)
    if json_out is not None:
        Path(json_out).write_text(json.dumps([asdict(r) for r in all_runs]))
    sys.stdout.flush()
    return 1 if failures else 0
