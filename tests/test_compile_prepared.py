"""A request prepared once (:func:`prepare_request`) and gathered over many blocked masks
compiles as a fresh :func:`compile_request` over each of them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from benchmarks.instances import make_instance

from routing.domain import Period, RouteRequest
from routing.slot_index import SlotIndex
from routing.solve.compiled import CompiledRequest, compile_request, gather
from routing.solve.plan import resolve_pathway
from routing.solve.prepared import prepare_request


def _candidates(cr: CompiledRequest) -> list[tuple[object, ...]]:
    return [
        (s.stage_id, s.slot, s.start, s.end, s.day, s.facility, s.preferred, s.excluded_by)
        for s in cr.stages
    ]


def _busy(request: RouteRequest) -> RouteRequest:
    """``request`` with its patient away on the second and third day after the referral."""
    start = request.referral + timedelta(days=1)
    away = Period(start=start, end=start + timedelta(days=2))
    patient = request.patient.model_copy(update={"unavailable": (away,)})
    return request.model_copy(update={"patient": patient})


@pytest.mark.parametrize("per_day", [0, 2])
def test_one_preparation_gathers_as_fresh_compilations(per_day: int) -> None:
    """Masks blocking a fifth, a half and none of the slots, gathered one after another (and
    the first again) from one preparation, give each the candidates, exclusion counts, links
    and problems of a fresh compilation: nothing one gathering counts leaks into the next."""
    instance = make_instance("medium", 1)
    index = SlotIndex.build(instance.facilities, instance.slots)
    rng = np.random.default_rng(5)
    masks = [rng.random(len(index.slots)) < share for share in (0.2, 0.5, 0.0)]
    masks.append(masks[0])
    unavailable = 0
    for n, request in enumerate(instance.requests[:20]):
        if n % 2:
            request = _busy(request)
        pathway = resolve_pathway(request, pathways=instance.pathways)
        prepared = prepare_request(
            request, pathway, index, blocked=True, per_day=per_day, narrow_by_lags=True
        )
        for blocked in masks:
            for stop in (False, True):
                reused = gather(prepared, blocked, stop_at_empty=stop)
                fresh = compile_request(
                    request,
                    pathway,
                    index,
                    blocked,
                    per_day=per_day,
                    narrow_by_lags=True,
                    stop_at_empty=stop,
                )
                assert _candidates(reused) == _candidates(fresh)
                assert reused.problems == fresh.problems
                assert reused.links == fresh.links
                assert reused.travel_is_metric == fresh.travel_is_metric
                unavailable += sum(
                    s.excluded_by.get("when the patient is unavailable", 0) for s in reused.stages
                )
    assert unavailable > 0  # the rules kept by the preparation are exercised


def test_gathering_refuses_blocked_slots_the_preparation_did_not_expect() -> None:
    """A preparation for no blocked slots gathers none, and one for blocked slots needs them:
    the error names the request (the twins a preparation merges depend on it)."""
    instance = make_instance("medium", 1)
    index = SlotIndex.build(instance.facilities, instance.slots)
    request = instance.requests[0]
    pathway = resolve_pathway(request, pathways=instance.pathways)
    plain = prepare_request(request, pathway, index, blocked=False)
    with pytest.raises(ValueError, match=f"request {request.id}: blocked slots given"):
        gather(plain, np.zeros(len(index.slots), dtype=np.bool_))
    masked = prepare_request(request, pathway, index, blocked=True)
    with pytest.raises(ValueError, match=f"request {request.id}: blocked slots not given"):
        gather(masked, None)
    with pytest.raises(ValueError, match="only names stage"):
        gather(plain, None, only=["no such stage"])
