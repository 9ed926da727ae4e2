"""A small contended batch shared by the manager's report tests (planned once per process)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from routing.batch import BatchResult, plan_batch
from routing.domain import RouteRequest
from routing.region import RegionParameters, generate_region
from routing.slot_index import SlotIndex

__all__ = ["BROWSER_ARGS", "INVALID_ID", "batch", "write_problem"]

INVALID_ID = "BAD-CODE"
"""A request whose diagnosis no pathway covers: the engine marks it INVALID."""

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@cache
def _problem_document() -> str:
    problem = generate_region(RegionParameters(patients=30, days=40, contention=1.0, seed=2))
    document = json.loads(problem.model_dump_json(exclude_none=True))
    bad = dict(document["requests"][0])
    bad.update({"id": INVALID_ID, "diagnoses": ["XYZ"]})
    bad.pop("pathway", None)
    bad.pop("pathway_id", None)
    document["requests"].append(bad)
    return json.dumps(document, ensure_ascii=False)


def write_problem(path: Path) -> Path:
    """Write the batch's problem file (30 generated patients and one invalid request)."""
    path.write_text(_problem_document(), encoding="utf-8")
    return path


@cache
def batch() -> tuple[BatchResult, SlotIndex, tuple[RouteRequest, ...]]:
    """The batch planned with a fixed seed and a few iterations, its index and its requests."""
    from routing.problem import load_problem

    problem = load_problem(_problem_document())
    index = SlotIndex.build(problem.facilities, problem.slots, travel=problem.travel)
    requests = tuple(problem.requests)
    result = plan_batch(
        (list(requests), index),
        seed=0,
        max_iterations=10,
        exact_max_patients=0,
        pathways={p.id: p for p in problem.pathways},
    )
    return result, index, requests
