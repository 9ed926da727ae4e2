"""Repairing living routes after events, and offering freed slots (routing.lifecycle.repair)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.domain import RouteRequest
from routing.evaluate import evaluate_route
from routing.examples import load_example
from routing.exceptions import InvalidInputError
from routing.lifecycle.apply import apply, apply_all
from routing.lifecycle.events import (
    NoShow,
    PatientUnavailable,
    PlannedStage,
    ReferralCancelled,
    RouteProposed,
    SlotsPublished,
    SlotWithdrawn,
    StageBooked,
    StageCancelled,
)
from routing.lifecycle.model import StageStatus, State, WaitReason
from routing.lifecycle.repair import RepairPolicy, current_completion, repair
from routing.lifecycle.service import Service
from routing.lifecycle.waitlist import OfferRule, offer_freed_slot
from routing.problem import Problem
from routing.solve import plan_route
from routing.solve.plan import resolve_pathway

FAST = RepairPolicy(rebook=True, time_limit=2.0)


@cache
def _problem() -> Problem:
    return load_example()


def _requests() -> dict[str, RouteRequest]:
    return {r.id: r for r in _problem().requests}


def _now() -> datetime:
    return min(r.referral for r in _problem().requests)


def _booked_world(*, late_days: int = 0) -> State:
    """Every example request planned and booked; with ``late_days`` the slots of the first
    ``late_days`` days after the referral are left out of the plans (so better slots exist),
    and a request those late plans leave without room is left out."""
    problem = _problem()
    now = _now()
    published = SlotsPublished(
        event_id="P", at=now, facilities=tuple(problem.facilities), slots=tuple(problem.slots)
    )
    state = apply(State(), published)
    assert state.live is not None
    cut = now + timedelta(days=late_days)
    early = np.array([s.start < cut for s in state.live.index.slots], dtype=bool)
    for request in problem.requests:
        result = plan_route(request, state.live, blocked=early if late_days else None)
        if not result.has_route and late_days:
            continue  # the late plans leave it no room: the world has the others
        assert result.has_route
        stages = tuple(
            PlannedStage(stage_id=b.stage_id, slot_id=b.slot_id) for b in result.bookings
        )
        state = apply(
            state,
            RouteProposed(
                event_id=f"{request.id}:p",
                at=now,
                route_id=request.id,
                request_id=request.id,
                patient_id=request.patient.id,
                pathway_id=result.pathway_id,
                stages=stages,
            ),
        )
        for b in result.bookings:
            state = apply(
                state,
                StageBooked(
                    event_id=f"{request.id}:{b.stage_id}:b",
                    at=now,
                    route_id=request.id,
                    stage_id=b.stage_id,
                ),
            )
    return state


def _check_route(state: State, requests: Mapping[str, RouteRequest], route_id: str) -> None:
    """The route is planned, passes the evaluator, and no slot is over capacity."""
    route = state.routes[route_id]
    assert route.planned
    assert state.live is not None
    request = requests[route.request_id]
    bookings = {s.stage_id: s.slot_id for s in route.stages if s.slot_id is not None}
    evaluation = evaluate_route(
        request,
        resolve_pathway(request),
        bookings,
        slots={s.id: s for s in state.live.index.slots},
        facilities=_problem().facilities,
    )
    assert evaluation.feasible, evaluation.violations
    for slot in state.live.snapshot().states:
        assert slot.held + slot.booked <= slot.capacity


def test_withdrawn_booked_slot_moves_with_a_record_to_tell_the_patient() -> None:
    """A withdrawn booked slot: the stage moves to another slot, recorded with notify."""
    state = _booked_world()
    route = state.routes["R-0001"]
    lost = route.stages[0]
    state = apply(state, SlotWithdrawn(event_id="W", at=_now(), slot_id=str(lost.slot_id)))
    assert state.waitlist["R-0001"] == WaitReason.SLOT_WITHDRAWN
    found = repair(state, _requests(), "R-0001", _now(), FAST)
    assert found.cause == WaitReason.SLOT_WITHDRAWN
    change = next(c for c in found.changes if c.stage_id == lost.stage_id)
    assert change.old_slot == lost.slot_id
    assert change.new_slot not in (None, lost.slot_id)
    assert change.notify
    after = apply_all(state, found.events)
    assert "R-0001" not in after.waitlist
    assert after.routes["R-0001"].stage(lost.stage_id).status == StageStatus.BOOKED  # type: ignore[union-attr]
    _check_route(after, _requests(), "R-0001")


def test_unaffected_route_keeps_every_visit() -> None:
    """Repairing a route that lost nothing, without a gain to make, changes nothing."""
    state = _booked_world()
    found = repair(state, _requests(), "R-0002", _now(), FAST)
    assert found.events == ()
    assert found.changes == ()


@pytest.mark.parametrize("freeze", [0, 2, 5])
def test_freeze_window_keeps_visits_even_when_better_slots_exist(freeze: int) -> None:
    """No visit on a date within the freeze window moves for a gain; outside it, visits move."""
    state = _booked_world(late_days=6)
    now = _now()
    assert state.live is not None
    calendar = state.live.index.calendar
    frozen_until = calendar.add_working_days(calendar.local_date(now), freeze)
    policy = RepairPolicy(freeze_working_days=freeze, min_gain_minutes=0, rebook=True)
    moved = 0
    for route_id, route in state.routes.items():
        found = repair(state, _requests(), route_id, now, policy)
        for change in found.changes:
            old = route.stage(change.stage_id)
            assert old is not None
            assert old.start is not None
            assert calendar.local_date(old.start) > frozen_until
        moved += found.moved
        _check_route(apply_all(state, found.events), _requests(), route_id)
    if freeze == 0:
        assert moved > 0
    everything = RepairPolicy(freeze_working_days=400, min_gain_minutes=0)
    assert all(repair(state, _requests(), r, now, everything).moved == 0 for r in state.routes)


def test_min_gain_is_respected() -> None:
    """Booked visits move only when completion comes at least ``min_gain_minutes`` earlier."""
    state = _booked_world(late_days=6)
    now = _now()
    requests = _requests()
    gains = []
    for route_id in state.routes:
        before = current_completion(state, requests, route_id)
        free = repair(
            state, requests, route_id, now, RepairPolicy(freeze_working_days=0, min_gain_minutes=0)
        )
        assert before is not None
        assert free.completion_minutes is not None
        gains.append(before - free.completion_minutes)
    assert max(gains) > 0
    threshold = max(gains) + 1
    for route_id in state.routes:
        strict = RepairPolicy(freeze_working_days=0, min_gain_minutes=threshold)
        assert repair(state, requests, route_id, now, strict).moved == 0
    for route_id, gain in zip(state.routes, gains, strict=True):
        loose = RepairPolicy(freeze_working_days=0, min_gain_minutes=max(gain, 1))
        found = repair(state, requests, route_id, now, loose)
        assert (found.moved > 0) == (gain >= 1)


def test_no_show_replans_after_now_and_records_the_missed_slot() -> None:
    """A no-show: the stage is re-planned onto a later slot, the missed one kept as spent."""
    state = _booked_world()
    route = state.routes["R-0003"]
    first = route.stages[0]
    assert first.start is not None
    at = first.start + timedelta(minutes=5)
    state = apply(state, NoShow(event_id="N", at=at, route_id="R-0003", stage_id=first.stage_id))
    found = repair(state, _requests(), "R-0003", at, FAST)
    change = next(c for c in found.changes if c.stage_id == first.stage_id)
    assert change.old_slot == first.slot_id
    assert change.notify
    after = apply_all(state, found.events)
    stage = after.routes["R-0003"].stage(first.stage_id)
    assert stage is not None
    assert stage.start is not None
    assert stage.start >= at
    assert stage.missed == (first.slot_id,)
    _check_route(after, _requests(), "R-0003")


def test_patient_unavailable_moves_visits_out_of_the_period() -> None:
    """Visits in a period the patient declared unavailable move out of it."""
    state = _booked_world()
    route = state.routes["R-0001"]
    starts = [s.start for s in route.stages if s.start is not None]
    start, end = min(starts) - timedelta(hours=1), min(starts) + timedelta(days=3)
    event = PatientUnavailable(event_id="U", at=_now(), route_id="R-0001", start=start, end=end)
    state = apply(state, event)
    found = repair(state, _requests(), "R-0001", _now(), FAST)
    assert found.moved > 0
    after = apply_all(state, found.events)
    assert all(
        not (start <= s.start < end) for s in after.routes["R-0001"].stages if s.start is not None
    )
    assert "R-0001" not in after.waitlist
    _check_route(after, _requests(), "R-0001")


def test_cancelled_referral_needs_no_repair() -> None:
    """A cancelled referral is not re-planned."""
    state = _booked_world()
    state = apply(state, ReferralCancelled(event_id="X", at=_now(), route_id="R-0002"))
    found = repair(state, _requests(), "R-0002", _now(), FAST)
    assert found.events == ()
    assert not found.planned


def test_deadline_risk_is_flagged_with_a_large_slack_threshold() -> None:
    """A route is flagged at risk when its slack is below the policy's threshold."""
    state = _booked_world()
    found = repair(state, _requests(), "R-0001", _now(), RepairPolicy(risk_slack=10**6))
    assert found.result is not None
    assert found.result.deadlines
    assert found.at_risk
    relaxed = repair(state, _requests(), "R-0001", _now(), RepairPolicy(risk_slack=0))
    assert relaxed.at_risk == any(not d.met for d in relaxed.result.deadlines)  # type: ignore[union-attr]


def test_policy_refuses_negative_values() -> None:
    """A negative freeze window is refused, naming the field."""
    with pytest.raises(InvalidInputError, match="freeze_working_days"):
        RepairPolicy(freeze_working_days=-1)


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_offer_cascade_is_bounded_by_depth(depth: int) -> None:
    """An offered slot is taken by a route that gains; the cascade takes at most depth+1."""
    state = _booked_world(late_days=6)
    assert state.live is not None
    now = _now()
    taken = {s.slot_id for r in state.routes.values() for s in r.stages}
    policy = RepairPolicy(freeze_working_days=0, min_gain_minutes=1, cascade_depth=depth)
    offered = None
    for slot in sorted(state.live.index.slots, key=lambda s: (s.start, s.id)):
        if slot.id in taken or slot.start < now:
            continue
        offer = offer_freed_slot(state, _requests(), slot.id, now, policy)
        if offer.repairs:
            offered = offer
            break
    assert offered is not None
    assert 1 <= len(offered.repairs) <= depth + 1
    assert any(c.new_slot == slot.id for c in offered.repairs[0].changes)
    for found in offered.repairs:
        _check_route(offered.state, _requests(), found.route_id)
    empty = offer_freed_slot(state, _requests(), slot.id, now, policy, rule=OfferRule.LEAVE_EMPTY)
    assert empty.repairs == ()
    assert empty.state is state
    first = offer_freed_slot(
        state, _requests(), slot.id, now, policy, rule=OfferRule.FIRST_IN_QUEUE
    )
    assert first.repairs


def test_service_appends_event_and_its_repairs_in_one_go() -> None:
    """Service.apply_and_repair journals the event and the revision that answers it."""
    problem = _problem()
    base = _booked_world()
    with Service.open("sqlite://") as service:
        service.publish(problem.facilities, problem.slots, event_id="P", at=_now())
        for route in base.routes.values():
            service.apply(
                RouteProposed(
                    event_id=f"{route.route_id}:p",
                    at=_now(),
                    route_id=route.route_id,
                    request_id=route.request_id,
                    patient_id=route.patient_id,
                    pathway_id=route.pathway_id,
                    stages=tuple(
                        PlannedStage(stage_id=s.stage_id, slot_id=str(s.slot_id))
                        for s in route.stages
                    ),
                )
            )
        slot = str(base.routes["R-0002"].stages[1].slot_id)
        state, repairs = service.apply_and_repair(
            SlotWithdrawn(event_id="W", at=_now(), slot_id=slot), _requests()
        )
        assert [r.route_id for r in repairs] == ["R-0002"]
        assert repairs[0].changes[0].old_slot == slot
        assert not state.waitlist
        assert service.state() == state
        _check_route(state, _requests(), "R-0002")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["withdraw", "cancel"]), st.integers(0, 50)), max_size=4))
def test_repaired_routes_pass_the_evaluator_and_capacity(ops: list[tuple[str, int]]) -> None:
    """Any sequence of withdrawals and cancellations, each repaired: every route passes the
    evaluator and no slot is over capacity."""
    state = _booked_world()
    requests = _requests()
    now = _now()
    for i, (kind, pick) in enumerate(ops):
        stages = [
            (r.route_id, s)
            for r in state.routes.values()
            for s in r.stages
            if s.status == StageStatus.BOOKED
        ]
        route_id, stage = stages[pick % len(stages)]
        if kind == "withdraw":
            event = SlotWithdrawn(event_id=f"e{i}", at=now, slot_id=str(stage.slot_id))
        else:
            event = StageCancelled(
                event_id=f"e{i}", at=now, route_id=route_id, stage_id=stage.stage_id
            )
        state = apply(state, event)
        for rid in sorted(state.waitlist):
            found = repair(state, requests, rid, now, FAST, event_id=f"e{i}:{rid}")
            state = apply_all(state, found.events)
    for rid, route in state.routes.items():
        if route.planned:
            _check_route(state, requests, rid)
        else:
            assert rid in state.waitlist
