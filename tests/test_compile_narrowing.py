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


_NOT_ALLOWED = "at facilities the patient may not use"


@pytest.mark.parametrize("merge_twins", [False, True])
@pytest.mark.parametrize("blocked", [False, True])
def test_allowed_facilities_narrow_as_a_filter(merge_twins: bool, blocked: bool) -> None:
    """Allowed facilities (which narrow the stage's cached slots, not a mask over them) leave
    exactly the candidates of the unrestricted request at those facilities, count the rest
    under their reason, and account for every slot of the stage's services once."""
    instance = make_instance("medium", 2)
    index = SlotIndex.build(instance.facilities, instance.slots)
    ids = [f.id for f in instance.facilities]
    mask = np.zeros(len(index.slots), dtype=np.bool_)
    mask[::7] = True  # some slots taken
    taken = mask if blocked else None
    seen_removed = 0
    for n, request in enumerate(instance.requests[:30]):
        pathway = resolve_pathway(request, pathways=instance.pathways)
        allowed = frozenset(ids[n % 3 :: 3])  # a third of the facilities, a different third
        narrowed = request.model_copy(
            update={"patient": request.patient.model_copy(update={"allowed_facilities": allowed})}
        )
        plain = compile_request(request, pathway, index, taken, merge_twins=merge_twins)
        only = compile_request(narrowed, pathway, index, taken, merge_twins=merge_twins)
        for a, b in zip(plain.stages, only.stages, strict=True):
            keep = [k for k, s in enumerate(a.slot) if index.slots[s].facility_id in allowed]
            assert b.slot == [a.slot[k] for k in keep]
            assert b.start == [a.start[k] for k in keep]
            assert b.facility == [a.facility[k] for k in keep]
            assert b.preferred == [a.preferred[k] for k in keep]
            assert len(b.slot) + sum(b.excluded_by.values()) == len(a.slot) + sum(
                a.excluded_by.values()
            )
            removed = b.excluded_by.get(_NOT_ALLOWED, 0)
            assert removed >= len(a.slot) - len(keep)
            seen_removed += removed
    assert seen_removed > 0
