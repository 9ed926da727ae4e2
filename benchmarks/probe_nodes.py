"""Print ``(status, objective, nodes)`` per request, one a line, to diff two versions of the search.

Usage::

    python benchmarks/probe_nodes.py small:1 medium:1-2 large:1 > before.txt

A refactoring that should not change the search must leave the output identical (timings are
left out on purpose, and the time limit is long enough that only the node limit can stop a search).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.instances import Size, make_instance
from benchmarks.pooled import measure_seed, parse_seeds

__all__ = ["main"]

SIZES: tuple[Size, ...] = ("tiny", "small", "medium", "large")


def main(argv: list[str] | None = None) -> int:
    """Probe each ``size:seeds`` argument over its first 100 requests."""
    for spec in argv if argv is not None else sys.argv[1:]:
        name, _, seeds = spec.partition(":")
        size = next(s for s in SIZES if s == name)
        for seed in parse_seeds(seeds or "1"):
            run = measure_seed(make_instance(size, seed), 100, 600.0)  # nodes only
            for rid, status, key, nodes in zip(
                run.request_ids, run.statuses, run.keys, run.nodes, strict=True
            ):
                print(f"{size} {seed} {rid} {status} {key} {nodes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
