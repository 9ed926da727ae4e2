"""What-if capacity benchmark: proposed additions against random ones and the longest queues.

For each cohort size (``--sizes``, default 1,000 and 10,000 patients) the contended instance of
``bench_batch.py`` (:data:`benchmarks.bench_batch.CONTENDED`) is generated; the plan before is
made once; then for each budget (``--budgets``, default 10 and 30 slots of any specialist service
within the first 10 working days from the earliest referral):

* :func:`routing.batch.whatif.propose_additions` proposes the slots (greedy on the first-deadline
  bound, guided by its minimum cut);
* :func:`routing.batch.whatif.verify` re-plans with them, with as many slots drawn uniformly at
  random from the same pool (seeded), and with as many given to the services with the longest
  queues;

and the four plans are printed side by side: patients missing a deadline, deadlines missed, mean
days to completion, the first-deadline bound, and the ratio of the miss reductions (goal: the
proposal's at least three times the random one's). With ``--withdraw N`` the N slots whose
withdrawal harms the bound least are re-planned too.

Every re-plan is :func:`routing.batch.plan_batch` stopped by ``--iterations`` (default 200)
large-neighbourhood iterations, with polishing off, so the runs are deterministic; the time
limit is a safety net only (the output says if it ever stopped a run).

Usage::

    python benchmarks/bench_whatif.py --sizes 1000 --seed 1
    python benchmarks/bench_whatif.py --sizes 10000 --seed 1 --budgets 10 30
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_batch import CONTENDED

__all__ = ["main", "run"]

GOAL = 3.0
"""The proposal's reduction of patients missing a deadline ÷ the random one's, at least."""


def _contention(patients: int) -> float:
    return CONTENDED[min(CONTENDED, key=lambda size: (abs(size - patients), size))]


def run(
    patients: int,
    seed: int,
    budgets: Sequence[int],
    *,
    iterations: int = 200,
    working_days: int = 10,
    withdraw: int = 0,
    contention: float | None = None,
    out: Any = None,
) -> dict[str, Any]:
    """One instance: propose and verify each budget; the figures as a JSON-ready dict."""
    from routing.batch.whatif import (
        CapacityBudget,
        ReplanOptions,
        propose_additions,
        rank_withdrawals,
        replan,
        verify,
        verify_withdrawals,
    )
    from routing.batch.whatif.candidates import setting
    from routing.region import RegionParameters, generate_region
    from routing.region.services import SERVICES

    out = out or sys.stdout
    ratio = contention if contention is not None else _contention(patients)
    started = time.perf_counter()
    problem = generate_region(RegionParameters(patients=patients, contention=ratio, seed=seed))
    s = setting(problem)
    specialist = tuple(
        sorted(k for k, v in SERVICES.items() if not v.primary and k in s.index.by_service)
    )
    options = ReplanOptions(seed=seed, max_iterations=iterations)
    print(
        f"== {patients} patients, contention {ratio}, seed {seed}: {len(problem.slots)} slots; "
        f"re-plans stop at {iterations} iterations (polish off)",
        file=out,
        flush=True,
    )
    t0 = time.perf_counter()
    before = replan(s, "before", options=options)
    print(f"   plan before: {time.perf_counter() - t0:.1f} s", file=out, flush=True)
    figures: dict[str, Any] = {"patients": patients, "contention": ratio, "seed": seed}
    figures["before"] = before[0].model_dump(mode="json")
    figures["budgets"] = []
    for n in budgets:
        budget = CapacityBudget(slots=n, working_days=working_days, services=specialist)
        t0 = time.perf_counter()
        proposal = propose_additions(problem, budget)
        proposed_in = time.perf_counter() - t0
        t0 = time.perf_counter()
        comparison = verify(proposal, problem, options=options, baseline_seed=seed, before=before)
        verified_in = time.perf_counter() - t0
        ratio_to_random = comparison.ratio_to_random
        goal = ratio_to_random is None and comparison.reduction(comparison.proposed) > 0
        goal = goal or (ratio_to_random is not None and ratio_to_random >= GOAL)
        print(
            f"-- budget {n} specialist slots within {working_days} working days: proposed "
            f"{len(proposal.additions)} in {proposed_in:.2f} s (bound {proposal.bound_before} → "
            f"{proposal.bound_after}); 3 re-plans in {verified_in:.1f} s",
            file=out,
        )
        for line in comparison.summary().splitlines():
            print(f"   {line}", file=out)
        print(
            f"   goal proposed ≥ {GOAL:.0f}× random: {'met' if goal else 'NOT met'}; "
            f"longest queue reduced {comparison.reduction(comparison.longest_queue)}",
            file=out,
            flush=True,
        )
        figures["budgets"].append(
            {
                "slots": n,
                "propose_seconds": proposed_in,
                "verify_seconds": verified_in,
                "comparison": comparison.model_dump(mode="json"),
                "ratio_to_random": ratio_to_random,
                "goal_met": goal,
            }
        )
    if withdraw:
        budget = CapacityBudget(slots=withdraw, working_days=working_days, services=specialist)
        t0 = time.perf_counter()
        withdrawal = rank_withdrawals(problem, budget)
        check = verify_withdrawals(withdrawal, problem, options=options)
        print(
            f"-- withdraw {len(withdrawal.withdrawals)} specialist slots (least harm): bound "
            f"{withdrawal.bound_before} → {withdrawal.bound_after}; patients missing "
            f"{check.before.patients_missing} → {check.after.patients_missing}, mean days "
            f"{check.before.mean_days} → {check.after.mean_days} "
            f"({time.perf_counter() - t0:.1f} s)",
            file=out,
            flush=True,
        )
        figures["withdraw"] = check.model_dump(mode="json")
    figures["seconds"] = time.perf_counter() - started
    print(f"   total {figures['seconds']:.0f} s", file=out, flush=True)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--working-days", type=int, default=10)
    parser.add_argument("--withdraw", type=int, default=10)
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    results = [
        run(
            n,
            args.seed,
            args.budgets,
            iterations=args.iterations,
            working_days=args.working_days,
            withdraw=args.withdraw,
        )
        for n in args.sizes
    ]
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
