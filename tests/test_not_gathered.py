"""Stages left ungathered: the search's result is the same, and the gathered stages too.

``compile_request(..., stop_at_empty=True)`` (what the batch's searches use) leaves the stages
after the first one with no candidate ungathered. The search fails at that first stage whatever
the later ones hold, so the outcome and the result must be the very same as with every stage
gathered; random small instances (:mod:`test_plan_bruteforce`) with random taken slots, and a
hand-made case, check it. ``only`` (what the first-deadline matching uses) gathers the stages
asked for, each exactly as a full compile does.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from route_helpers import at, facility, make_pathway, make_request, slot, stage
from routing.result import RouteResult, SolveStatus
from routing.slot_index import SlotIndex
from routing.solve.compiled import compile_request
from routing.solve.modes import search_in_modes
from routing.solve.plan import route_result
from routing.solve.search import SearchLimits
from test_plan_bruteforce import DAYS, Instance, instances

_NOT_GATHERED = "not gathered: an earlier stage has no candidate"
_NOT_ASKED = "not gathered: not asked for"


def _result(
    index: SlotIndex, instance: Instance, blocked: np.ndarray, stop: bool
) -> RouteResult | None:
    """The search's result, its runtime zeroed (``None`` when the request has problems)."""
    cr, outcome = search_in_modes(
        lambda p: compile_request(
            instance.request, p, index, blocked, narrow_by_lags=True, stop_at_empty=stop
        ),
        instance.pathway,
        index,
        SearchLimits(time_limit=60.0, node_limit=100_000),
    )
    if outcome is None:
        return None
    return route_result(cr, outcome, 0.0).model_copy(update={"runtime_seconds": 0.0})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_stopping_at_an_empty_stage_changes_no_result(
    instance: Instance, data: st.DataObject
) -> None:
    """With random slots taken, the result is the same with and without stopping, and the
    stages after the first empty one are left ungathered, with their rows counted."""
    index = SlotIndex.build(instance.facilities, instance.slots, travel=instance.travel)
    taken = data.draw(st.lists(st.booleans(), min_size=len(index.slots), max_size=len(index.slots)))
    blocked = np.array(taken, dtype=np.bool_)
    stopped = _result(index, instance, blocked, True)
    assume(stopped is not None)
    assert stopped == _result(index, instance, blocked, False)
    full = compile_request(instance.request, instance.pathway, index, blocked, narrow_by_lags=True)
    cut = compile_request(
        instance.request, instance.pathway, index, blocked, narrow_by_lags=True, stop_at_empty=True
    )
    first_empty = next((n for n, s in enumerate(full.stages) if not s.slot), len(full.stages))
    for n, (whole, stopped) in enumerate(zip(full.stages, cut.stages, strict=True)):
        if n <= first_empty:
            assert stopped.slot == whole.slot
            assert stopped.excluded_by == whole.excluded_by
        else:
            # Every row of the stage's range is counted once: kept, or under its reason.
            assert stopped.slot == []
            assert sum(stopped.excluded_by.values()) == sum(whole.excluded_by.values()) + len(
                whole.slot
            )


def test_a_stage_after_an_empty_one_is_not_gathered() -> None:
    """Every consultation taken: the CT is not gathered, and the result still names the
    consultation and why its slots went."""
    pathway = make_pathway((stage("consult"), stage("ct", after=["consult"])))
    slots = [
        slot("c0", "consult", DAYS[0], "09:00"),
        slot("c1", "consult", DAYS[1], "09:00"),
        slot("t0", "ct", DAYS[2], "12:00"),
        slot("t1", "ct", DAYS[3], "12:00"),
    ]
    index = SlotIndex.build((facility("F1"),), slots)
    request = make_request(pathway, at(DAYS[0], "08:00"))
    blocked = np.array([index.slots[p].id.startswith("c") for p in range(len(index.slots))])
    cr = compile_request(request, pathway, index, blocked, stop_at_empty=True)
    consult, ct = cr.stages
    assert consult.slot == []
    assert consult.excluded_by == {"already taken": 2}
    assert ct.slot == []
    assert ct.excluded_by == {_NOT_GATHERED: 2}
    instance = Instance(request, pathway, (facility("F1"),), tuple(slots), None)
    stopped = _result(index, instance, blocked, True)
    assert stopped is not None
    assert stopped == _result(index, instance, blocked, False)
    assert stopped.status is SolveStatus.INFEASIBLE
    assert "consult" in stopped.reasons[0]
    assert "2 already taken" in stopped.reasons[0]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_only_the_stages_asked_for_are_gathered(instance: Instance, data: st.DataObject) -> None:
    """The stages asked for are gathered as in a full compile; the others have no candidate,
    every row of their range counted once."""
    index = SlotIndex.build(instance.facilities, instance.slots, travel=instance.travel)
    ids = [s.id for s in instance.pathway.stages]
    asked = set(data.draw(st.lists(st.sampled_from(ids), max_size=len(ids))))
    full = compile_request(instance.request, instance.pathway, index)
    some = compile_request(instance.request, instance.pathway, index, only=asked)
    assert some.problems == full.problems
    for whole, part in zip(full.stages, some.stages, strict=True):
        if whole.stage_id in asked:
            assert part.slot == whole.slot
            assert part.excluded_by == whole.excluded_by
        else:
            assert part.slot == []
            assert set(part.excluded_by) - set(whole.excluded_by) <= {_NOT_ASKED}
            assert sum(part.excluded_by.values()) == sum(whole.excluded_by.values()) + len(
                whole.slot
            )


def test_only_refuses_a_stage_the_pathway_does_not_have() -> None:
    """An unknown stage in ``only`` is an error naming the request and the stage, not a stage
    silently left ungathered."""
    pathway = make_pathway((stage("consult"), stage("ct", after=["consult"])))
    index = SlotIndex.build((facility("F1"),), [slot("c0", "consult", DAYS[0], "09:00")])
    request = make_request(pathway, at(DAYS[0], "08:00"))
    with pytest.raises(ValueError, match=r"request .*: only names stage\(s\) 'mri'"):
        compile_request(request, pathway, index, only={"consult", "mri"})
