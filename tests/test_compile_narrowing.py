"""A stage's per-slot filters: a rule that removes nothing leaves the candidates as they were."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.instances import make_instance

from routing.slot_index import SlotIndex
from routing.solve.compiled import CompiledRequest, compile_request
from routing.solve.plan import resolve_pathway

_TWINS = "twins of another slot at the same time and place"


def _candidates(cr: CompiledRequest) -> list[tuple[object, ...]]:
    return [
        (s.stage_id, s.slot, s.start, s.end, s.day, s.facility, s.preferred, s.excluded_by)
        for s in cr.stages
    ]


@pytest.mark.parametrize("merge_twins", [False, True])
def test_blocking_nothing_compiles_as_no_blocked_mask(merge_twins: bool) -> None:
    """With a blocked mask that blocks nothing, every stage has the candidates, the exclusion
    counts and (with ``merge_twins``) the merged twins it has with no mask at all; blocking one
    candidate removes it and counts it as taken."""
    instance = make_instance("medium", 1)
    index = SlotIndex.build(instance.facilities, instance.slots)
    nothing = np.zeros(len(index.slots), dtype=np.bool_)
    twins = 0
    for request in instance.requests[:30]:
        pathway = resolve_pathway(request, pathways=instance.pathways)
        plain = compile_request(request, pathway, index, merge_twins=merge_twins)
        masked = compile_request(request, pathway, index, nothing, merge_twins=merge_twins)
        assert _candidates(masked) == _candidates(plain)
        twins += sum(s.excluded_by.get(_TWINS, 0) for s in plain.stages)
        stage = next((s for s in plain.stages if s.slot), None)
        if stage is None:
            continue
        one = nothing.copy()
        one[stage.slot[0]] = True
        taken = compile_request(request, pathway, index, one, merge_twins=merge_twins)
        again = next(s for s in taken.stages if s.stage_id == stage.stage_id)
        assert stage.slot[0] not in again.slot
        assert again.excluded_by.get("already taken", 0) >= 1
    # The twins case is exercised: the instance has slots that share place and time.
    assert (twins > 0) == merge_twins
