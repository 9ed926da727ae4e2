"""The staged LP bound by interior point against the first-order method, side by side.

For each generated cohort (:func:`routing.region.generate_region`, contended setting of
``bench_batch.py``), the weighted staged LP (:func:`routing.batch.stage_lp.staged_lp_bound`)
for every patient routable alone is solved in one process: by HiGHS's interior point to the
optimum (the baseline), then by OR-Tools' first-order method for each iteration count given.
Printed per count: the bound, its share of the optimum's, the seconds, and the ratio of seconds
to interior point's.

Usage::

    python benchmarks/bench_staged_lp.py --patients 1000 --contention 1.0 --seed 0 \\
        --iterations 1000 3000 10000

Seed 7 was used to choose the default of ``bench_batch.py --staged-iterations``; report others.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["main"]


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1 (patients, iterations)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print one line per solve."""
    from routing.batch.bounds import no_competition_routes
    from routing.batch.cohort import build_cohort
    from routing.batch.stage_lp import staged_lp_bound
    from routing.region import RegionParameters, generate_region
    from routing.slot_index import SlotIndex

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=_at_least_one, default=1000)
    parser.add_argument("--contention", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=_at_least_one, nargs="+", default=[1000, 3000, 10000])
    args = parser.parse_args(argv)
    params = RegionParameters(patients=args.patients, contention=args.contention, seed=args.seed)
    problem = generate_region(params)
    cohort = build_cohort(problem.requests, SlotIndex.for_problem(problem))
    alone = no_competition_routes(cohort)
    routed = sum(1 for r in alone if r.has_route)
    print(
        f"staged LP, weighted: {args.patients} patients, contention {args.contention}, "
        f"seed {args.seed}, for plans routing {routed}"
    )
    started = time.perf_counter()
    optimum = staged_lp_bound(cohort, alone, routed)
    base = time.perf_counter() - started
    if optimum is None:
        print("  interior point: no optimum (no plan routes that many)")
        return 1
    print(
        f"  interior point: {optimum.minutes} ({optimum.variables} variables, "
        f"{optimum.constraints} rows) in {base:.1f} s"
    )
    for n in args.iterations:
        started = time.perf_counter()
        first = staged_lp_bound(cohort, alone, routed, iterations=n)
        took = time.perf_counter() - started
        if first is None:
            print(f"  first order, {n} iterations: no bound (found infeasible)")
            continue
        print(
            f"  first order, {n} iterations ({first.iterations} run): {first.minutes} "
            f"({first.minutes / max(1, optimum.minutes):.1%} of interior point's) in "
            f"{took:.1f} s ({took / base:.2f}x interior point's time)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
