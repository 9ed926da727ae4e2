"""The manager's report over the route journal against the same report over the batch plan.

For each cohort size (``--sizes``, default 1,000 and 10,000 patients) a contended region
(:func:`routing.region.generate_region`, contention 1.0, ``--seed``) is planned once by
:func:`routing.batch.plan_batch` (stopped by ``--iterations``, polish off: deterministic); then
the journal a regional centre would hold is built: the slots published, every planned route
proposed at its referral and every stage booked an hour later (events in time order). The
script prints, side by side:

* the **baseline**: the report's figures from the plan itself (``build_tables`` +
  ``build_figures``, no replay);
* the **journal**: :func:`routing.manager.journal.journal_report` over the events (replaying
  every event, measuring every live route, one trend point per day);

the seconds each took, and whether the two give the same compliance counts of the planned
patients (they must: the journal's routes are the plan's, measured from the same referrals; a
patient the plan left unplanned never enters the journal).

Usage::

    python benchmarks/bench_manager_journal.py --sizes 1000
    python benchmarks/bench_manager_journal.py --sizes 1000 10000 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["main", "run"]


def _events(problem: Any, result: Any) -> list[Any]:
    from routing.lifecycle.events import PlannedStage, RouteProposed, SlotsPublished, StageBooked

    routes = sorted(
        (r for r in result.routes if r.has_route), key=lambda r: (r.referral, r.request_id)
    )
    if not routes:
        return []
    events: list[Any] = [
        SlotsPublished(
            event_id="publish",
            at=routes[0].referral - timedelta(days=1),
            facilities=tuple(problem.facilities),
            slots=tuple(problem.slots),
        )
    ]
    for r in routes:
        events.append(
            RouteProposed(
                event_id=f"{r.request_id}:proposed",
                at=r.referral,
                route_id=r.request_id,
                request_id=r.request_id,
                patient_id=r.patient_id,
                pathway_id=r.pathway_id,
                stages=tuple(
                    PlannedStage(stage_id=b.stage_id, slot_id=b.slot_id) for b in r.bookings
                ),
            )
        )
        booked = r.referral + timedelta(hours=1)
        events += [
            StageBooked(
                event_id=f"{r.request_id}:{b.stage_id}:booked",
                at=booked,
                route_id=r.request_id,
                stage_id=b.stage_id,
            )
            for b in r.bookings
        ]
    return sorted(events, key=lambda e: (e.at, e.event_id))


def _planned(rows: Sequence[Any]) -> list[tuple[str, int, int, int]]:
    """Met, at risk and missed per key: the patients a plan routed (the journal holds only
    those; the plan's unplanned patients never enter it)."""
    return [
        (r.key, r.met, r.at_risk, r.missed)
        for r in rows
        if r.key != "unplanned" and r.met + r.at_risk + r.missed > 0
    ]


def run(patients: int, seed: int, *, iterations: int = 20, out: Any = None) -> dict[str, Any]:
    """One size: plan, build the journal, time both reports; the figures as a dict."""
    from routing.batch import plan_batch
    from routing.manager.figures import build_figures
    from routing.manager.journal import journal_report
    from routing.manager.tables import build_tables
    from routing.region import RegionParameters, generate_region
    from routing.slot_index import SlotIndex

    out = out or sys.stdout
    t0 = time.perf_counter()
    problem = generate_region(RegionParameters(patients=patients, contention=1.0, seed=seed))
    result = plan_batch(
        problem,
        seed=seed,
        max_iterations=iterations,
        time_limit=3600.0,  # a safety net: the iteration limit ends the search
        polish_share=0.0,
        exact_max_patients=0,
    )
    planned_in = time.perf_counter() - t0
    events = _events(problem, result)
    t0 = time.perf_counter()
    index = SlotIndex.for_problem(problem)
    districts = {r.id: r.patient.district for r in problem.requests}
    baseline = build_figures(result, build_tables(result, index, districts=districts))
    baseline_in = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = journal_report(
        events, requests=problem.requests, pathways={p.id: p for p in problem.pathways}
    )
    journal_in = time.perf_counter() - t0
    figures = report.figures
    same = all(
        _planned(getattr(figures, name)) == _planned(getattr(baseline, name))
        for name in ("by_pathway", "by_district", "by_deadline", "by_facility")
    ) and _planned((figures.total,)) == _planned((baseline.total,))
    t = figures.total
    print(
        f"== {patients} patients, seed {seed}: {len(problem.slots)} slots, planned in "
        f"{planned_in:.1f} s ({baseline.total.unplanned} unplanned, not journalled); "
        f"journal of {len(events)} events",
        file=out,
    )
    print(f"   {'report':<22}{'seconds':>9}{'met':>7}{'at risk':>9}{'missed':>8}", file=out)
    b = baseline.total
    print(
        f"   {'from the plan':<22}{baseline_in:>9.2f}{b.met:>7}{b.at_risk:>9}{b.missed:>8}",
        file=out,
    )
    print(
        f"   {'over the journal':<22}{journal_in:>9.2f}{t.met:>7}{t.at_risk:>9}{t.missed:>8}",
        file=out,
    )
    print(
        f"   same compliance counts: {'yes' if same else 'NO'}; trend points "
        f"{len(figures.trend)}; journal ÷ plan time {journal_in / baseline_in:.1f}",
        file=out,
        flush=True,
    )
    return {
        "patients": patients,
        "events": len(events),
        "baseline_seconds": baseline_in,
        "journal_seconds": journal_in,
        "same": same,
        "trend_points": len(figures.trend),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args(argv)
    results = [run(n, args.seed, iterations=args.iterations) for n in args.sizes]
    return 0 if all(r["same"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
