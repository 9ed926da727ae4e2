"""Quick start: plan the fastest route of one patient with suspected lung cancer.

Run from the repository root (after ``pip install -e .``)::

    python examples/plan_one_patient.py

It loads the built-in example problem (facilities and free slots in Saint Petersburg), resolves
the patient's diagnosis to a care pathway, builds the slot index once (and prepares it, as a
service does), plans the route and prints it with the regulatory deadlines it meets or misses.
"""

from __future__ import annotations

from nosology import resolve_code
from routing import SlotIndex, SolveOptions, plan_route, prepare_index
from routing.examples import load_example

__all__ = ["main"]


def main() -> None:
    """Plan the first request of the example problem and print the route."""
    problem = load_example("lung_spb")
    request = problem.requests[0]

    for code in request.diagnoses:
        resolution = resolve_code(code)
        print(f"{code} -> pathway {resolution.pathway_id}: {resolution.explanation}")

    index = SlotIndex.build(problem.facilities, problem.slots, travel=problem.travel)
    print(index)
    # A service keeping the index for many requests prepares it once (optional: plan_route
    # builds the same on first use).
    print(f"prepared {prepare_index(index)} stages of the built-in pathways")

    result = plan_route(request, index, options=SolveOptions(time_limit=5.0))
    print(result.summary())
    if result.has_route:
        print(f"last stage ends {result.completion:%Y-%m-%d %H:%M %Z}")


if __name__ == "__main__":
    main()
