"""Where a batch plan's minutes go, and what the completion flow's bound charges for them.

For one generated cohort (:func:`routing.region.generate_region`), the baselines of
:func:`routing.batch.plan_batch` (no search, no polish, no exact groups) and, beside them:

* the completion of the plan, of first-come-first-served and of the no-competition routes
  (each patient alone), summed in days, with each stage's **critical waits** (a stage's wait
  counts when it lies on the chain that fixes the completion; :class:`~routing.result.StageWait`);
* over the patients both route, how much later the plan completes than the no-competition
  routes, and per stage how much the plan's critical waits exceed those of the patient's
  no-competition route: the stages whose queues make the plan slower than the patients alone;
* per choice of stage of the completion flow (:mod:`routing.batch.completion_flow`), how many
  days past the day of its fastest route a patient's chosen stage can start while the flow's
  curve still charges the fastest completion (mean, median, p90 over the patients): the days
  of delay the bound does not see.

Usage::

    python benchmarks/batch_waits.py --patients 1000 --contention 1.0 --seed 7

It reads the flow's curves through a private helper of :mod:`routing.batch.completion_flow`
(``_day_costs``, with the budget of held-back searches at 0, as the default budget leaves it at
1,000 patients and more): a diagnostic, not a figure the library reports.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["main", "measure_waits"]


def _critical_waits(routes: Sequence[Any]) -> tuple[int, float, Counter[str]]:
    """Routed patients, their completion in days summed, critical wait days by stage."""
    waits: Counter[str] = Counter()
    routed, minutes = 0, 0
    for r in routes:
        if not r.has_route or r.objective is None:
            continue
        routed += 1
        minutes += r.objective.completion_minutes
        for w in r.waits:
            if w.critical:
                waits[w.stage_id] += w.wait_minutes
    return routed, minutes / 1440, waits


def measure_waits(patients: int, contention: float, seed: int) -> dict[str, Any]:
    """The figures of the module docstring for one generated cohort, as a dict."""
    from routing.batch import completion_flow as flow
    from routing.batch import plan_batch
    from routing.batch.cohort import build_cohort
    from routing.region import RegionParameters, generate_region
    from routing.slot_index import SlotIndex

    problem = generate_region(RegionParameters(patients=patients, contention=contention, seed=seed))
    # One index for the plan and for the flow's curves read below.
    index = SlotIndex.for_problem(problem)
    pathways = {p.id: p for p in problem.pathways}
    # The baselines only, without the exact model's small groups (whose CP-SAT runs would make
    # the capacity bound depend on the wall clock).
    result = plan_batch(
        (problem.requests, index),
        pathways=pathways,
        seed=seed,
        time_limit=1e6,
        max_iterations=0,
        polish_share=0.0,
        exact_max_patients=0,
    )
    figures: dict[str, Any] = {}
    for name, routes in (
        ("plan", result.routes),
        ("fcfs", result.fcfs_routes),
        ("alone", result.alone_routes),
    ):
        routed, days, waits = _critical_waits(routes)
        figures[name] = {
            "routed": routed,
            "completion_days": days,
            "critical_wait_days": {k: v / 1440 for k, v in waits.most_common()},
        }
    alone = {r.request_id: r for r in result.alone_routes}
    growth: Counter[str] = Counter()
    extra = 0
    for r in result.routes:
        a = alone.get(r.request_id)
        if r.objective is None or a is None or a.objective is None:
            continue
        extra += r.objective.completion_minutes - a.objective.completion_minutes
        own = {w.stage_id: w.wait_minutes for w in a.waits}
        for w in r.waits:
            more = w.wait_minutes - own.get(w.stage_id, 0)
            if w.critical and more > 0:
                growth[w.stage_id] += more
    figures["extra_days"] = extra / 1440
    figures["wait_growth_days"] = {k: v / 1440 for k, v in growth.most_common()}

    cohort = build_cohort(problem.requests, index, pathways=pathways)
    alone_by_entry = result.alone_routes  # by cohort entry, the requests' order
    calendar = index.calendar
    slack: dict[str, dict[str, float]] = {}
    for choice in flow.STAGE_CHOICES:
        days: list[int] = []
        for p in flow._patients(cohort, alone_by_entry, choice, cohort.capacity.copy()):
            booked = {b.stage_id: b.slot_id for b in alone_by_entry[p.entry].bookings}
            if p.stage_id not in booked:
                continue
            fastest = calendar.day_of_minute(
                int(index.start[index.slot_position[booked[p.stage_id]]])
            )
            costs = flow._day_costs(cohort, alone_by_entry[p.entry], p, 0, {})
            flat = [d for d, c in costs.items() if c == p.completion and d >= fastest]
            days.append(max(flat) - fastest if flat else 0)
        days.sort()
        slack[choice] = {
            "patients": len(days),
            "mean": statistics.mean(days) if days else 0.0,
            "median": statistics.median(days) if days else 0.0,
            "p90": days[int(0.9 * (len(days) - 1))] if days else 0.0,
        }
    figures["flat_days"] = slack
    figures["bounds"] = {
        "no_competition": list(result.no_competition_bound.key()),
        "capacity": list(result.capacity_bound.key()),
        "plan": list(result.objective.key()),
        "fcfs": list(result.fcfs_objective.key()),
    }
    return figures


def _top(days: dict[str, float], n: int = 8) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in list(days.items())[:n]) or "none"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--contention", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    f = measure_waits(args.patients, args.contention, args.seed)
    print(
        f"{args.patients} patients, contention {args.contention}, seed {args.seed} "
        "(baselines: no search, no polish)"
    )
    for name in ("plan", "fcfs", "alone"):
        x = f[name]
        print(
            f"  {name:5}: {x['routed']} routed, completion {x['completion_days']:.0f} days in all; "
            f"critical waits (days): {_top(x['critical_wait_days'])}"
        )
    print(
        f"  the plan completes {f['extra_days']:.0f} days later than the patients alone (those "
        "both route); "
        f"its critical waits grow (days): {_top(f['wait_growth_days'], 10)}"
    )
    for choice, s in f["flat_days"].items():
        print(
            f"  completion flow, {choice} stages: a stage may start {s['mean']:.2f} days "
            f"(median {s['median']:.0f}, p90 {s['p90']:.0f}) past its fastest day at no cost "
            f"({s['patients']} patients)"
        )
    b = f["bounds"]
    print(
        f"  bounds: no competition {tuple(b['no_competition'])}, capacity {tuple(b['capacity'])}"
        f"; plan {tuple(b['plan'])}, fcfs {tuple(b['fcfs'])}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
