"""Where the slowest requests spend their time: phase times, bound calls and bound quality.

Usage::

    PYTHONPATH=src python benchmarks/tail_phases.py [--seeds 100-109] [--show 25]

For every request of the medium instances of ``--seeds`` (first 100 each) the search runs with
its phases and hot methods wrapped by timers (process CPU time; pure-Python build only, since a
class compiled by mypyc cannot be patched): the greedy first try, phase 2 tried first at the
completion bound, phase 2's root, phase 2 (and within it the descent by whole days), and across
phases the lower bound (with its partition part) and the propagation, with call counts. Each of
the ``--show`` slowest requests gets a line with its nodes, its stages and same-day limit, the
phase times, and its objective next to the root bound (equal: the bound was tight and the time
went into finding the route; apart: the bound was weak). Then each part's share of the slowest
2 %. Tune on seeds 100 and above; report 1-20 with ``bench_plan_route.py --pooled``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.instances import make_instance
from benchmarks.pooled import parse_seeds
from nosology import NosologyError
from routing.slot_index import SlotIndex
from routing.solve import search as search_module
from routing.solve.compiled import compile_request
from routing.solve.plan import resolve_pathway

__all__ = ["main"]

TIMED = (
    "earliest_route",
    "optimistic",
    "enter_phase2",
    "secondary_search",
    "improve_by_days",
    "lower_key",
    "_partition_key",
    "propagate",
)
"""Methods of the search timed (inclusive of what they call)."""


@dataclass(slots=True)
class _Request:
    cpu_ms: float
    seed: int
    request_id: str
    nodes: int
    stages: int
    in_person: int
    max_visits: int
    ms: dict[str, float]
    calls: dict[str, int]
    key: object
    root: object


def _instrument(ms: dict[str, float], calls: dict[str, int]) -> None:
    """Wrap :data:`TIMED` methods of the search class so that they add to ``ms`` and ``calls``."""
    cls: Any = search_module._Search
    if str(getattr(search_module, "__file__", "")).endswith((".so", ".pyd")):
        raise SystemExit("tail_phases.py needs the pure-Python build (PYTHONPATH=src)")

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return method(self, *args, **kwargs)
            finally:
                ms[name] += (time.process_time() - started) * 1000
                calls[name] += 1

        return wrapper

    for name in TIMED:
        setattr(cls, name, timed(name, getattr(cls, name)))


def _measure(seeds: list[int]) -> list[_Request]:
    ms: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    _instrument(ms, calls)
    found = []
    for seed in seeds:
        instance = make_instance("medium", seed)
        index = SlotIndex.build(instance.facilities, instance.slots)
        for request in instance.requests[:100]:
            try:
                pathway = resolve_pathway(request, pathways=instance.pathways)
            except NosologyError:
                continue
            cr = compile_request(request, pathway, index, merge_twins=True)
            if cr.problems:
                continue
            ms.clear()
            calls.clear()
            started = time.process_time()
            outcome = search_module.search(cr)
            found.append(
                _Request(
                    cpu_ms=(time.process_time() - started) * 1000,
                    seed=seed,
                    request_id=request.id,
                    nodes=outcome.nodes,
                    stages=len(cr.stages),
                    in_person=sum(st.in_person for st in cr.stages),
                    max_visits=cr.max_visits_per_day,
                    ms=dict(ms),
                    calls=dict(calls),
                    key=outcome.key,
                    root=outcome.root_bound,
                )
            )
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the slowest requests' phase times and each part's share of the slowest 2 %."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", default="100-109")
    parser.add_argument("--show", type=int, default=25)
    args = parser.parse_args(argv)
    found = sorted(_measure(parse_seeds(args.seeds)), key=lambda r: -r.cpu_ms)
    cpu = sorted(r.cpu_ms for r in found)
    nodes = sorted(r.nodes for r in found)
    n = len(found)
    print(
        f"{n} searches (pure Python, search only, CPU): p50 {cpu[n // 2]:.2f} ms, "
        f"p99 {cpu[max(0, int(0.99 * n) - 1)]:.2f} ms, max {cpu[-1]:.2f} ms; nodes p50 "
        f"{nodes[n // 2]}, p99 {nodes[max(0, int(0.99 * n) - 1)]}, max {nodes[-1]}"
    )
    for r in found[: args.show]:
        t, c = r.ms, r.calls
        print(
            f"{r.cpu_ms:7.1f} ms seed {r.seed} {r.request_id} nodes {r.nodes:5d} stages "
            f"{r.stages} in-person {r.in_person} visits/day {r.max_visits} | greedy "
            f"{t.get('earliest_route', 0):5.1f} phase-2-first {t.get('optimistic', 0):6.1f} "
            f"root-2 {t.get('enter_phase2', 0):5.1f} phase-2 {t.get('secondary_search', 0):6.1f} "
            f"(descent {t.get('improve_by_days', 0):5.1f}) | bound "
            f"{t.get('lower_key', 0):6.1f}/{c.get('lower_key', 0)} (partition "
            f"{t.get('_partition_key', 0):5.1f}) propagate {t.get('propagate', 0):5.1f}/"
            f"{c.get('propagate', 0)} | key {r.key} root bound {r.root}"
        )
    tail = found[: max(1, n // 50)]
    total = sum(r.cpu_ms for r in tail)
    shares = {
        name: sum(r.ms.get(name, 0.0) for r in tail) / total
        for name in ("lower_key", "_partition_key", "propagate", "improve_by_days")
    }
    tight = sum(1 for r in tail if r.key == r.root)
    print(
        f"slowest 2 % ({len(tail)}): mean nodes {sum(r.nodes for r in tail) / len(tail):.0f} "
        f"(all: {sum(nodes) / n:.1f}); share of their time: "
        + ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
        + f"; root bound equal to the optimum in {tight} of {len(tail)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
