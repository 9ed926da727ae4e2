"""Print the single-route figures: latency of ``plan_route`` and the direct CP-SAT baseline.

Usage::

    python benchmarks/bench_plan_route.py [--sizes small medium large] [--requests N]
                                          [--direct N] [--seed S]
    python benchmarks/bench_plan_route.py --pooled [--sizes medium] [--seeds 1-20]
                                          [--requests N] [--direct N] [--compiled-python PY]

Per size: slots, index build time, p50 / p99 / max latency of ``plan_route`` over the requests
(``time.perf_counter`` around each call, after an untimed warm-up), status counts, memory, and on
the first ``--direct`` requests the direct CP-SAT model of :mod:`benchmarks.direct_cpsat` side by
side, with a check that both objectives are equal. Then the targets and whether each is met.

With ``--pooled``, :mod:`benchmarks.pooled`: the same over many seeds (default medium, seeds
1-20), per seed and pooled, with search nodes per request, the compiled build side by side when
``--compiled-python`` names its interpreter, and direct CP-SAT on a sample (``--direct`` per seed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import math
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from benchmarks.builds import search_build
from benchmarks.direct_cpsat import DirectResult, solve_direct
from benchmarks.instances import Instance, Size, make_instance
from benchmarks.pooled import parse_seeds, run_pooled
from routing.result import RouteResult
from routing.slot_index import SlotIndex
from routing.solve.plan import SolveOptions, plan_route

__all__ = ["SizeFigures", "main", "measure_size"]

DIRECT_DEFAULT = {"tiny": 5, "small": 20, "medium": 20, "large": 5}
TARGETS = (
    ("medium", "p50_ms", "<=", 2.0, "medium p50 <= 2 ms"),
    ("medium", "p99_ms", "<=", 20.0, "medium p99 <= 20 ms"),
    ("medium", "speedup_equal", ">=", 300.0, "medium >= 300x faster than direct, equal objective"),
    ("large", "p50_ms", "<=", 20.0, "large p50 <= 20 ms"),
)


@dataclass(slots=True)
class SizeFigures:
    """What one size measured (milliseconds unless named otherwise)."""

    size: str
    slots: int
    build_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: Counter[str]
    compared: int = 0
    mismatches: int = 0
    speedup_all: float = math.nan
    speedup_equal: float = math.nan
    notes: list[str] = field(default_factory=list)

    def value(self, name: str) -> float:
        """A figure by name, for the targets table."""
        return float(getattr(self, name))


def _quantile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (``q`` in (0, 1])."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _key(result: RouteResult) -> tuple[int, int, int, int] | None:
    return None if result.objective is None else result.objective.key()


def _compare(
    ours_status: str, ours_key: tuple[int, int, int, int] | None, direct: DirectResult
) -> tuple[str, bool]:
    """A verdict for one request and whether it is a mismatch (a correctness failure)."""
    if direct.status == "OPTIMAL":
        if ours_status == "OPTIMAL":
            if ours_key == direct.key:
                return "equal", False
            return f"MISMATCH: ours {ours_key} != direct {direct.key}", True
        if ours_status == "INFEASIBLE":
            return f"MISMATCH: ours INFEASIBLE, direct found {direct.key}", True
        if ours_key == direct.key:
            return f"equal key, ours not proven ({ours_status})", False
        return f"ours {ours_status} {ours_key}, direct optimum {direct.key}", False
    if direct.status == "INFEASIBLE":
        if ours_status == "INFEASIBLE":
            return "equal (both infeasible)", False
        if ours_key is not None:
            return f"MISMATCH: direct INFEASIBLE, ours found {ours_key}", True
        return f"direct INFEASIBLE, ours {ours_status}", False
    return f"direct {direct.status} {direct.key} (not proven), ours {ours_status} {ours_key}", False


def measure_size(
    instance: Instance, n_requests: int, n_direct: int, time_limit: float, direct_limit: float
) -> SizeFigures:
    """Measure one instance and print its figures."""
    print(
        f"\n== {instance.size}: seed {instance.seed}, {len(instance.facilities)} facilities, "
        f"{len(instance.days)} working days {instance.days[0]} .. {instance.days[-1]}, "
        f"{len(instance.slots)} slots, {len(instance.requests)} requests"
    )
    started = time.perf_counter()
    index = SlotIndex.build(instance.facilities, instance.slots)
    build_s = time.perf_counter() - started
    tracemalloc.start()  # a second, untimed build, for its memory
    SlotIndex.build(instance.facilities, instance.slots)
    index_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"index build: {build_s:.3f} s; tracemalloc peak of a build {index_peak / 2**20:.1f} MiB")
    requests = instance.requests[:n_requests]
    options = SolveOptions(time_limit=time_limit)
    # Warm-up, untimed: each kind of request once against an index without slots (resolves and
    # checks each pathway once, fills the library's caches, imports everything lazily imported).
    empty = SlotIndex.build(instance.facilities, ())
    seen: set[object] = set()
    for request in instance.requests:
        kind = (request.pathway_id, request.diagnoses)
        if kind not in seen:
            seen.add(kind)
            plan_route(request, empty, pathways=instance.pathways, options=options)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    latencies: list[float] = []
    cpu: list[float] = []
    results: list[RouteResult] = []
    for request in requests:
        c0, t0 = time.process_time(), time.perf_counter()
        result = plan_route(request, index, pathways=instance.pathways, options=options)
        latencies.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        results.append(result)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ms = [x * 1000 for x in latencies]
    statuses = Counter(r.status.value for r in results)
    figures = SizeFigures(
        size=instance.size,
        slots=len(instance.slots),
        build_s=build_s,
        p50_ms=_quantile(ms, 0.5),
        p99_ms=_quantile(ms, 0.99),
        max_ms=max(ms),
        statuses=statuses,
    )
    print(
        f"plan_route over {len(ms)} requests (time limit {time_limit} s): "
        f"p50 {figures.p50_ms:.1f} ms, p99 {figures.p99_ms:.1f} ms, max {figures.max_ms:.1f} ms, "
        f"mean {sum(ms) / len(ms):.1f} ms"
    )
    cpu_ms = [x * 1000 for x in cpu]
    print(
        f"  process CPU time per call: p50 {_quantile(cpu_ms, 0.5):.1f} ms, "
        f"p99 {_quantile(cpu_ms, 0.99):.1f} ms (wall-clock above is what the targets use)"
    )
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    over = [(r.request_id, m) for r, m in zip(results, ms, strict=True) if m > 1500 * time_limit]
    if over:
        figures.notes.append(f"{len(over)} calls overran the time limit by > 50 %")
        print(
            f"!! {len(over)} calls took > 1.5 x the time limit: "
            + ", ".join(f"{rid} {m / 1000:.1f} s" for rid, m in over[:10])
        )
    print(
        f"memory: ru_maxrss {rss_after / 1024:.0f} MiB after the loop "
        f"(+{(rss_after - rss_before) / 1024:.0f} MiB during it)"
    )
    _direct(figures, instance, index, results, latencies, n_direct, direct_limit)
    return figures


def _direct(
    figures: SizeFigures,
    instance: Instance,
    index: SlotIndex,
    results: list[RouteResult],
    latencies: list[float],
    n_direct: int,
    direct_limit: float,
) -> None:
    if n_direct <= 0:
        return
    print(
        f"direct CP-SAT (1 worker, seed 0, {direct_limit:.0f} s limit) on the first "
        f"{n_direct} requests:"
    )
    print(
        f"  {'request':8} {'pathway':36} {'ours':>10} {'direct':>10} {'build':>7} "
        f"{'bools':>6}  verdict"
    )
    ours_t: list[float] = []
    direct_t: list[float] = []
    ours_eq: list[float] = []
    direct_eq: list[float] = []
    for request, result, ours in zip(
        instance.requests, results[:n_direct], latencies, strict=False
    ):
        status = result.status.value
        what = request.pathway_id or "+".join(request.diagnoses)
        if status == "INVALID":
            print(f"  {request.id:8} {what:36} skipped: plan_route says INVALID")
            continue
        direct = solve_direct(request, index, pathways=instance.pathways, time_limit=direct_limit)
        verdict, mismatch = _compare(status, _key(result), direct)
        figures.compared += 1
        figures.mismatches += mismatch
        ours_t.append(ours)
        direct_t.append(direct.seconds)
        if verdict.startswith("equal"):
            ours_eq.append(ours)
            direct_eq.append(direct.seconds)
        print(
            f"  {request.id:8} {what[:36]:36} {ours * 1000:8.1f}ms {direct.seconds:9.2f}s "
            f"{direct.build_seconds:6.2f}s {direct.booleans:6d}  {status}/{direct.status}: "
            f"{verdict}"
        )
    if ours_t:
        figures.speedup_all = _quantile(direct_t, 0.5) / _quantile(ours_t, 0.5)
        print(
            f"p50 direct {_quantile(direct_t, 0.5):.2f} s / p50 ours "
            f"{_quantile(ours_t, 0.5) * 1000:.1f} ms = {figures.speedup_all:.0f}x "
            f"(over the {len(ours_t)} compared requests)"
        )
    if ours_eq:
        figures.speedup_equal = _quantile(direct_eq, 0.5) / _quantile(ours_eq, 0.5)
        print(
            f"p50 ratio on the {len(ours_eq)} requests with equal objectives: "
            f"{figures.speedup_equal:.0f}x"
        )
    flag = "!! " if figures.mismatches else ""
    print(
        f"{flag}objective mismatches (both proven, keys differ): {figures.mismatches} of "
        f"{figures.compared}"
    )


def _targets(all_figures: dict[str, SizeFigures]) -> None:
    print("\n== targets")
    for size, name, op, goal, label in TARGETS:
        figures = all_figures.get(size)
        if figures is None:
            print(f"  {label:52} not measured (size not run)")
            continue
        value = figures.value(name)
        met = value <= goal if op == "<=" else value >= goal
        if name == "speedup_equal" and figures.mismatches:
            met = False
        shown = "n/a" if math.isnan(value) else f"{value:.1f}"
        print(f"  {label:52} measured {shown:>8}  {'MET' if met else 'NOT MET'}")


def _machine() -> str:
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            check=False,
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}; "
        f"{os.cpu_count()} cores; Python {platform.python_version()}; "
        f"OR-Tools {importlib.metadata.version('ortools')}; commit {commit or 'unknown'}; "
        f"search {search_build()}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 1 when any objective mismatch was found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=None,
        help="default: small medium large (pooled: medium)",
        choices=["tiny", "small", "medium", "large"],
    )
    parser.add_argument("--requests", type=int, default=100, help="requests per size (>= 100)")
    parser.add_argument(
        "--direct",
        type=int,
        default=None,
        help="requests compared with direct CP-SAT (20 small/medium, 5 large)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--time-limit",
        type=float,
        default=SolveOptions().time_limit,
        help="plan_route time limit, seconds (the library default)",
    )
    parser.add_argument("--direct-time-limit", type=float, default=30.0)
    parser.add_argument(
        "--pooled", action="store_true", help="per-seed and pooled figures over --seeds"
    )
    parser.add_argument("--seeds", default="1-20", help="pooled mode: e.g. 1-20 or 1,5,100-119")
    parser.add_argument(
        "--compiled-python",
        default=None,
        help="pooled mode: an interpreter with the compiled wheel installed, measured alongside",
    )
    parser.add_argument(
        "--unprepared",
        action="store_true",
        help="pooled mode: do not prepare each index (prepare_index) before timing its requests",
    )
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="pooled mode: leave the collector as it is while timing (default: gc.freeze() "
        "after building and preparing each index, as a long-running service does)",
    )
    parser.add_argument("--json-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    print(f"bench_plan_route: {_machine()}")
    if args.pooled:
        return run_pooled(
            args.sizes or ["medium"],
            parse_seeds(args.seeds),
            args.requests,
            args.time_limit,
            n_direct=1 if args.direct is None else args.direct,
            direct_limit=args.direct_time_limit,
            compiled_python=args.compiled_python,
            json_out=args.json_out,
            build=search_build,
            prepare=not args.unprepared,
            gc_freeze=not args.no_gc_freeze,
        )
    all_figures: dict[str, SizeFigures] = {}
    sizes: list[Size] = args.sizes or ["small", "medium", "large"]
    for size in sizes:
        started = time.perf_counter()
        instance = make_instance(size, args.seed)
        print(f"\n(generated {size} in {time.perf_counter() - started:.1f} s)")
        n_direct = DIRECT_DEFAULT[size] if args.direct is None else args.direct
        all_figures[size] = measure_size(
            instance, args.requests, n_direct, args.time_limit, args.direct_time_limit
        )
    _targets(all_figures)
    return 1 if any(f.mismatches for f in all_figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
