"""The first-deadline matching of batch planning, against Hopcroft–Karp over single patients.

For each cohort size (``--sizes``, default 1,000 and 10,000 patients) the contended instance of
``bench_batch.py`` (:data:`benchmarks.bench_batch.CONTENDED`) is generated and, in this order,
timed side by side in one process:

* each patient's first-deadline slots (:func:`routing.batch.matching.first_deadline_slots`),
  after one untimed pass that fills the index's caches;
* :func:`routing.batch.matching.match_first_deadlines`: the maximum flow between classes of
  patients with the same slots and groups of slots with the same patients (the slots are
  gathered again inside it, so its time includes them);
* the baseline: a networkx Hopcroft–Karp matching over single patients and slot places, the
  graph the batch used to build (``--no-baseline`` skips it).

Printed per size: the times, the graph sizes, and how many patients each matches (they must be
equal; the script exits with status 1 if not). Peak memory is not measured here (see
``bench_batch.py``).

Usage::

    python benchmarks/bench_matching.py --sizes 1000 10000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_batch import CONTENDED

__all__ = ["main"]


def run(patients: int, seed: int, baseline: bool) -> bool:
    """Time both matchings on one instance and print them; whether their sizes agree."""
    import networkx as nx

    from routing import SlotIndex
    from routing.batch.cohort import build_cohort
    from routing.batch.matching import first_deadline_slots, match_first_deadlines
    from routing.region import RegionParameters, generate_region

    contention = CONTENDED.get(patients, 1.0)
    problem = generate_region(RegionParameters(patients=patients, contention=contention, seed=seed))
    index = SlotIndex.for_problem(problem)
    pathways = {p.id: p for p in problem.pathways}
    cohort = build_cohort(problem.requests, index, pathways=pathways)
    entries = cohort.plannable()
    print(
        f"== {patients} patients, contention {contention}: {len(problem.slots)} slots, "
        f"{len(entries)} plannable",
        flush=True,
    )
    for i in entries:  # untimed: fill the index's caches (homes, stage candidates, links)
        first_deadline_slots(cohort, i)
    started = time.perf_counter()
    firsts = {i: f for i in entries if (f := first_deadline_slots(cohort, i)) is not None}
    slots_seconds = time.perf_counter() - started
    classes = len({(f.stage_id, f.slots) for f in firsts.values()})
    print(
        f"   first-deadline slots: {slots_seconds:.2f} s ({slots_seconds / len(entries) * 1e3:.2f}"
        f" ms a patient); {len(firsts)} patients with one, in {classes} classes",
        flush=True,
    )
    started = time.perf_counter()
    matching = match_first_deadlines(cohort, entries)
    flow_seconds = time.perf_counter() - started
    print(
        f"   flow between classes and groups: {flow_seconds:.2f} s (slots included); "
        f"{len(matching.pins)} of {matching.entries} matched",
        flush=True,
    )
    if not baseline:
        return True
    started = time.perf_counter()
    free = cohort.capacity - cohort.reserved
    graph = nx.Graph()
    for i, first in firsts.items():
        graph.add_node(("patient", i))
        for position in first.slots:
            for copy in range(int(free[position])):
                graph.add_edge(("patient", i), ("slot", position, copy))
    built = time.perf_counter() - started
    top = [("patient", i) for i in firsts]
    matched = nx.bipartite.hopcroft_karp_matching(graph, top_nodes=top) if top else {}
    hk_seconds = time.perf_counter() - started
    size = sum(1 for node in top if node in matched)
    agree = size == len(matching.pins)
    print(
        f"   baseline Hopcroft–Karp: {hk_seconds:.2f} s ({built:.2f} s to build "
        f"{graph.number_of_edges()} edges; slots not included); {size} matched",
        flush=True,
    )
    total_baseline = slots_seconds + hk_seconds
    print(
        f"   baseline with its slots {total_baseline:.2f} s / flow {flow_seconds:.2f} s = "
        f"{total_baseline / flow_seconds:.1f}x; sizes {'equal' if agree else 'DIFFER'}",
        flush=True,
    )
    return agree


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; status 1 if a matching size differs from the baseline's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true", help="skip Hopcroft–Karp")
    args = parser.parse_args(argv)
    print(f"matching benchmark: seed {args.seed}, contended instances of bench_batch.py")
    ok = all([run(n, args.seed, not args.no_baseline) for n in args.sizes])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
