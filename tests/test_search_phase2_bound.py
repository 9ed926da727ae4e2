"""Phase 2's bound starts from the proven completion, not from the propagated one."""

from __future__ import annotations

from benchmarks.instances import make_instance

from routing.slot_index import SlotIndex
from routing.solve.compiled import compile_request
from routing.solve.plan import resolve_pathway
from routing.solve.search import SearchLimits, search


def test_phase_two_bounds_carry_the_proven_completion() -> None:
    """Where the lags alone put the completion earlier than phase 1 proved it (medium seed 101:
    R00032's propagated bound is two days early), phase 2's root bound still has the proven
    completion, so its visit days and travel count; and it never exceeds the optimum, also
    when a node limit stops phase 2 before the proof."""
    instance = make_instance("medium", 101)
    index = SlotIndex.build(instance.facilities, instance.slots)
    checked_r00032 = 0
    for request in instance.requests[:40]:
        pathway = resolve_pathway(request, pathways=instance.pathways)
        cr = compile_request(request, pathway, index, merge_twins=True)
        outcome = search(cr)
        if outcome.key is None or outcome.root_bound is None:
            continue
        assert outcome.proven
        assert outcome.root_bound <= outcome.key
        assert outcome.root_bound[0] == outcome.key[0]
        again = compile_request(request, pathway, index, merge_twins=True)
        stopped = search(again, SearchLimits(node_limit=outcome.nodes // 2 + 1))
        if stopped.root_bound is not None:
            assert stopped.root_bound <= outcome.key
        if request.id == "R00032":
            checked_r00032 += 1
            # Visit days bounded from phase 2's root on (the optimum's 3, not 1).
            assert outcome.root_bound[1] == outcome.key[1] == 3
    assert checked_r00032 == 1
