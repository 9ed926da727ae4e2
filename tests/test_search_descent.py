"""Phase 2's descent by whole days: which re-searches it runs, and that it changes no result."""

from __future__ import annotations

from itertools import combinations
from unittest.mock import patch

from benchmarks.instances import make_instance

from routing.slot_index import SlotIndex
from routing.solve import search as search_module
from routing.solve.bnb.polish import day_neighbourhoods
from routing.solve.compiled import CompiledRequest, compile_request
from routing.solve.plan import resolve_pathway


def _eight_stage_requests() -> list[CompiledRequest]:
    instance = make_instance("small", 3)
    index = SlotIndex.build(instance.facilities, instance.slots)
    compiled = []
    for request in instance.requests:
        pathway = resolve_pathway(request, pathways=instance.pathways)
        if len(pathway.stages) == 8:
            compiled.append(compile_request(request, pathway, index))
    return compiled


def test_the_descent_keeps_a_third_of_the_stages_fixed_around_each_optimal_route() -> None:
    """Around the optimal route of every 8-stage request of a small instance, the descent's sets
    are the stages of each visit day and each pair of days (and the remote stages), in that
    order, less exactly those that would keep fewer than a third of the stages fixed; some
    requests lose a pair to that rule (two days holding all in-person stages but one)."""
    requests = _eight_stage_requests()
    assert len(requests) >= 20
    left_out = 0
    for cr in requests:
        outcome = search_module.search(cr)
        assert outcome.proven
        route = outcome.choice
        assert route is not None
        stages = cr.stages
        days = sorted({st.day[c] for st, c in zip(stages, route, strict=True) if st.in_person})
        every = [
            [
                i
                for i, (st, c) in enumerate(zip(stages, route, strict=True))
                if not st.in_person or st.day[c] in chosen
            ]
            for chosen in [*([d] for d in days), *combinations(days, 2)]
        ]
        kept = day_neighbourhoods(stages, route)
        assert kept == [free for free in every if 3 * (len(stages) - len(free)) >= len(stages)]
        left_out += len(every) - len(kept)
    assert left_out > 0


def test_the_descent_changes_no_optimum() -> None:
    """With the descent forced after 2 nodes, each 8-stage request's proven optimum is the one
    found with the descent at its default."""
    for cr in _eight_stage_requests()[:12]:
        plain = search_module.search(cr)
        with patch.object(search_module, "DESCENT_AFTER", 2):
            forced = search_module.search(cr)
        assert plain.proven
        assert forced.proven
        assert forced.key == plain.key
