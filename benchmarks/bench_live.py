"""Print the cost of live capacity: each command of :class:`routing.LiveSlots`, and planning.

Usage::

    python benchmarks/bench_live.py [--sizes medium large] [--ops N] [--requests N] [--seed S]

Per size (``medium`` ≈ 10k slots, ``large`` ≈ 100k): the instance's slots less a held-out share
are indexed (the time of that ``SlotIndex.build`` is the baseline: what rebuilding the index for
every change would cost), and ``gc.freeze()`` is called, as a long-running service does. Then,
each call timed alone with ``time.perf_counter_ns`` (mean, p50 and p99 in µs): ``--ops`` holds,
bookings of held places, releases, cancellations and withdrawals of random slots, and the
held-out slots added one by one. Then the extension of the index the planners read: once by all
the added slots, and by one slot at a time (what the first plan after an add pays). Last,
``plan_route`` over the live state against ``plan_route`` over an index built afresh from the
free slots, side by side on the same requests (after an untimed warm-up of each), with a check
that both give the same route.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.instances import Instance, make_instance
from routing.live import LiveSlots
from routing.result import RouteResult
from routing.slot_index import SlotIndex
from routing.solve.plan import SolveOptions, plan_route

__all__ = ["LiveFigures", "main", "measure_size"]

HELD_OUT = 0.01
"""The share of an instance's slots kept back to be added to the live state one by one."""


@dataclass(slots=True)
class LiveFigures:
    """What one size measured: per command ``(count, mean, p50, p99)`` in µs, times in ms."""

    size: str
    slots: int
    build_ms: float
    commands: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)
    extend_all_ms: float = math.nan
    extend_one_ms: float = math.nan
    plan_live_ms: float = math.nan
    plan_rebuilt_ms: float = math.nan
    plans: int = 0
    mismatches: int = 0


def _quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (``q`` in (0, 1])."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _timed(calls: Sequence[Callable[[], object]]) -> tuple[int, float, float, float]:
    """Run each call, timing each alone: count, mean, p50 and p99 in µs."""
    times = []
    for call in calls:
        t0 = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - t0) / 1000)
    return len(times), sum(times) / len(times), _quantile(times, 0.5), _quantile(times, 0.99)


def _route(result: RouteResult) -> tuple[str, tuple[tuple[str, str], ...]]:
    return result.status.value, tuple((b.stage_id, b.slot_id) for b in result.bookings)


def measure_size(instance: Instance, n_ops: int, n_requests: int, seed: int) -> LiveFigures:
    """Measure one instance and print its figures."""
    rng = random.Random(seed)
    slots = list(instance.slots)
    rng.shuffle(slots)
    n_new = max(1, int(len(slots) * HELD_OUT))
    new, kept = slots[:n_new], slots[n_new:]
    print(
        f"\n== {instance.size}: seed {instance.seed}, {len(instance.slots)} slots "
        f"({len(kept)} indexed, {len(new)} added live), {len(instance.facilities)} facilities"
    )
    started = time.perf_counter()
    index = SlotIndex.build(instance.facilities, kept)
    figures = LiveFigures(
        instance.size, len(instance.slots), 1000 * (time.perf_counter() - started)
    )
    live = LiveSlots(index)
    gc.collect()
    gc.freeze()  # as a long-running service does after building its index (see the README)
    ids = [s.id for s in kept]
    n_ops = min(n_ops, len(ids) // 3)
    chosen = rng.sample(ids, 2 * n_ops)
    taken, withdrawn = chosen[:n_ops], chosen[n_ops:]
    half = n_ops // 2 or 1
    figures.commands["hold"] = _timed([lambda s=s: live.hold(s) for s in taken])
    figures.commands["book"] = _timed([lambda s=s: live.book(s) for s in taken[:half]])
    figures.commands["release"] = _timed([lambda s=s: live.release(s) for s in taken[half:]])
    figures.commands["cancel"] = _timed([lambda s=s: live.cancel(s) for s in taken[:half]])
    figures.commands["withdraw"] = _timed([lambda s=s: live.withdraw(s) for s in withdrawn])
    figures.commands["add"] = _timed([lambda s=s: live.add(s) for s in new[:-1]])
    t0 = time.perf_counter()
    _ = live.index
    figures.extend_all_ms = 1000 * (time.perf_counter() - t0)
    # Book half the taken slots again so that plans run over a state with full slots.
    for s in taken[:half]:
        live.book(s, held=False)
    requests = instance.requests[:n_requests]
    options = SolveOptions(time_limit=30.0)
    rebuilt = SlotIndex.build(instance.facilities, live.free_slots())
    for request in requests:  # warm-up, untimed: the candidate caches of both indexes
        plan_route(request, live, pathways=instance.pathways, options=options)
        plan_route(request, rebuilt, pathways=instance.pathways, options=options)
    over_live: list[float] = []
    over_rebuilt: list[float] = []
    for request in requests:
        t0 = time.perf_counter()
        a = plan_route(request, live, pathways=instance.pathways, options=options)
        t1 = time.perf_counter()
        b = plan_route(request, rebuilt, pathways=instance.pathways, options=options)
        t2 = time.perf_counter()
        over_live.append(1000 * (t1 - t0))
        over_rebuilt.append(1000 * (t2 - t1))
        figures.mismatches += _route(a) != _route(b)
    figures.plans = len(requests)
    figures.plan_live_ms = _quantile(over_live, 0.5) if over_live else math.nan
    figures.plan_rebuilt_ms = _quantile(over_rebuilt, 0.5) if over_rebuilt else math.nan
    # One more slot, then the index the planners read: what the first plan after an add pays.
    extend_one: list[float] = []
    last = new[-1]
    for n in range(5):
        extra = last.model_copy(update={"id": f"{last.id}~{n}"})
        live.add(extra)
        t0 = time.perf_counter()
        _ = live.index
        extend_one.append(1000 * (time.perf_counter() - t0))
    figures.extend_one_ms = _quantile(extend_one, 0.5)
    _print(figures, over_live, over_rebuilt)
    return figures


def _print(figures: LiveFigures, over_live: list[float], over_rebuilt: list[float]) -> None:
    build_us = 1000 * figures.build_ms
    print(f"baseline: SlotIndex.build of the indexed slots {figures.build_ms:9.1f} ms")
    print(
        f"{'command':10} {'calls':>7} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} "
        f"{'build / mean':>14}"
    )
    for name, (count, mean, p50, p99) in figures.commands.items():
        print(f"{name:10} {count:7d} {mean:9.2f} {p50:9.2f} {p99:9.2f} {build_us / mean:13,.0f}x")
    print(
        f"index extension: by {figures.commands['add'][0]} added slots at once "
        f"{figures.extend_all_ms:.2f} ms; by one slot (median of 5) {figures.extend_one_ms:.2f} ms "
        f"= build / {figures.build_ms / figures.extend_one_ms:,.0f}"
    )
    if over_live:
        print(
            f"plan_route over {figures.plans} requests: live p50 {figures.plan_live_ms:.2f} ms "
            f"(p99 {_quantile(over_live, 0.99):.2f}), rebuilt index p50 "
            f"{figures.plan_rebuilt_ms:.2f} ms (p99 {_quantile(over_rebuilt, 0.99):.2f}), "
            f"live / rebuilt {figures.plan_live_ms / figures.plan_rebuilt_ms:.2f}; "
            f"different routes: {figures.mismatches}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a route over the live state differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["medium", "large"])
    parser.add_argument("--ops", type=int, default=2000, help="calls of each command")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    mismatches = 0
    for size in args.sizes:
        figures = measure_size(make_instance(size, args.seed), args.ops, args.requests, args.seed)
        mismatches += figures.mismatches
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
