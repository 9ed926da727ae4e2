"""The lag links narrow each stage's slots before its candidates are gathered, and lose no route.

:func:`routing.solve.lagranges.lag_ranges` drops the rows of a stage's range whose start no
route can have, given the other stages' ranges and the links between them. Brute force over
random small instances (:mod:`test_plan_bruteforce`) checks that every slot of every feasible
route stays a candidate, and hand-made cases check that the links do cut (in every unit) and
that a contradiction leaves the ranges alone, for the search to explain.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings

from nosology.pathway import LagUnit, Pathway
from route_helpers import at, constraint, facility, make_pathway, make_request, slot, stage
from routing.domain import RouteRequest
from routing.slot_index import SlotIndex
from routing.solve.compiled import compile_request
from routing.solve.lagranges import lag_ranges
from routing.solve.links import REFERRAL_STAGE, Link
from routing.solve.prepared import LagMemo
from routing.solve.timeaxis import time_axis
from test_plan_bruteforce import DAYS, Instance, feasible_routes, instances


def _candidates(instance: Instance, narrow: bool) -> dict[str, set[str]]:
    index = SlotIndex.build(instance.facilities, instance.slots, travel=instance.travel)
    cr = compile_request(instance.request, instance.pathway, index, narrow_by_lags=narrow)
    assume(not cr.problems)
    return {st.stage_id: {index.slots[p].id for p in st.slot} for st in cr.stages}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_narrowing_keeps_every_slot_of_every_feasible_route(instance: Instance) -> None:
    """Narrowed candidates are a subset of the unary ones and hold every feasible route."""
    unary = _candidates(instance, narrow=False)
    narrowed = _candidates(instance, narrow=True)
    for stage_id, kept in narrowed.items():
        assert kept <= unary[stage_id]
    for route, _ in feasible_routes(instance):
        if all(slot_id in unary[stage_id] for stage_id, slot_id in route.items()):
            for stage_id, slot_id in route.items():
                assert slot_id in narrowed[stage_id], (stage_id, slot_id)


def _two_stage_request(lag: int, unit: LagUnit) -> tuple[SlotIndex, RouteRequest, Pathway]:
    first, second = stage("consult"), stage("ct", after=["consult"])
    pathway = make_pathway(
        (first, second), constraints=[constraint("consult.end", "ct.start", unit, min=lag)]
    )
    slots = [
        slot("c0", "consult", DAYS[0], "09:00"),
        slot("c1", "consult", DAYS[1], "09:00"),
        # The last consultation starts too late for any CT two working days after it.
        slot("c2", "consult", DAYS[6], "09:00"),
        slot("t0", "ct", DAYS[0], "12:00"),
        slot("t1", "ct", DAYS[1], "12:00"),
        slot("t2", "ct", DAYS[5], "12:00"),
        slot("t3", "ct", DAYS[6], "12:00"),
    ]
    index = SlotIndex.build((facility("F1"),), slots)
    request = make_request(pathway, at(DAYS[0], "08:00"))
    return index, request, pathway


def test_narrowing_cuts_by_working_days_and_counts_the_cut() -> None:
    """Two working days after a consultation (7 May, a Thursday, then the May holidays): the
    CTs of 7 and 8 May and the last consultation go, and the explanation counts them."""
    index, request, pathway = _two_stage_request(2, LagUnit.WORKING_DAYS)
    plain = compile_request(request, pathway, index)
    narrowed = compile_request(request, pathway, index, narrow_by_lags=True)
    ids = {st.stage_id: [index.slots[p].id for p in st.slot] for st in narrowed.stages}
    assert [len(st.slot) for st in plain.stages] == [3, 4]
    assert ids == {"consult": ["c0", "c1"], "ct": ["t2", "t3"]}
    reason = "at times the lags between the stages rule out"
    assert narrowed.stages[0].excluded_by[reason] == 1
    assert narrowed.stages[1].excluded_by[reason] == 2


def test_contradictory_lags_leave_the_ranges_for_the_search_to_explain() -> None:
    """A lag longer than the horizon: no stage is emptied, the search names the rule."""
    index, request, pathway = _two_stage_request(30, LagUnit.CALENDAR_DAYS)
    plain = compile_request(request, pathway, index)
    narrowed = compile_request(request, pathway, index, narrow_by_lags=True)
    assert [st.slot for st in narrowed.stages] == [st.slot for st in plain.stages]


def test_lag_ranges_in_minutes_with_a_maximum() -> None:
    """``0 <= B.start - A.end <= 60`` minutes over rows of starts: both ends move."""
    axis = time_axis(SlotIndex.build((facility("F1"),), ()).calendar)
    a_starts = [0, 100, 200, 300]
    b_starts = [50, 130, 260, 500, 900]
    link = Link(0, 1, 1, 0, LagUnit.MINUTES, 0, 60, "test")
    start = Link(REFERRAL_STAGE, 0, 0, 0, LagUnit.MINUTES, 0, None, "referral")
    got = lag_ranges(
        [a_starts, b_starts], [(0, 4), (0, 5)], [(30, 30), (30, 30)], [start, link], axis, 0
    )
    # A at 0 ends 30: B in [30, 90]; A at 300 ends 330: B in [330, 390] (none). B at 50 needs
    # A ending in [-10, 50] (A at 0); B at 900 none. So A keeps 0..200, B keeps 50..260.
    assert got == [(0, 3), (0, 3)]


def test_the_memo_gives_what_the_links_give_and_is_not_fooled_by_a_changed_request() -> None:
    """A batch keeps each request's narrowed ranges; a request of the same id whose ranges
    differ (a later ``not_before``) is narrowed afresh, not read from the memo."""
    index, request, pathway = _two_stage_request(2, LagUnit.WORKING_DAYS)
    memo: LagMemo = {}

    def ids(req: RouteRequest, memo: LagMemo | None) -> dict[str, list[str]]:
        cr = compile_request(req, pathway, index, narrow_by_lags=True, lag_memo=memo)
        return {st.stage_id: [index.slots[p].id for p in st.slot] for st in cr.stages}

    fresh = ids(request, None)
    assert ids(request, memo) == fresh
    assert len(memo) == 1
    assert ids(request, memo) == fresh  # from the memo
    later = request.model_copy(update={"not_before": {"consult": at(DAYS[1], "08:00")}})
    assert ids(later, memo) == ids(later, None) == {"consult": ["c1"], "ct": ["t3"]}
