"""Results that come late or early, and pathway changes that reshape a living route."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

import pytest

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway, Stage
from routing.evaluate import evaluate_route
from routing.exceptions import InvalidTransitionError, OutOfOrderError
from routing.lifecycle.apply import apply, apply_all
from routing.lifecycle.events import (
    Event,
    PathwayChanged,
    PlannedStage,
    ResultArrived,
    ResultDelayed,
    RouteProposed,
    RouteRevised,
    SlotsPublished,
    StageAttended,
    StageBooked,
)
from routing.lifecycle.model import ChangeReason, StageStatus, State, WaitReason
from routing.lifecycle.repair import RepairPolicy, repair, request_for, result_waits
from routing.lifecycle.service import Service
from routing.solve.plan import resolve_pathway
from test_lifecycle_repair import FAST, _booked_world, _problem, _requests

ROUTE = "R-0001"
MSK_DAY = "2026-03-10T12:00+03:00"
"""A time after R-0001's planned bronchoscopy (6 March) by which a plan still exists."""


@cache
def _recheck_pathway() -> Pathway:
    """The lung pathway with the bronchoscopy replaced by a repeat CT (a pathway change that
    both drops and adds a stage)."""
    lung = Catalogue.builtin().get("zno_lung")
    ct = next(s for s in lung.stages if s.id == "chest_ct")
    repeat = ct.model_copy(update={"id": "repeat_ct", "after": ("chest_ct",)})
    stages: list[Stage] = []
    for stage in lung.stages:
        if stage.id == "bronchoscopy_biopsy":
            stages.append(repeat)
        elif stage.id == "tumour_board":
            stages.append(stage.model_copy(update={"after": ("repeat_ct",)}))
        else:
            stages.append(stage)
    return lung.model_copy(
        update={
            "id": "zno_lung_recheck",
            "stages": tuple(stages),
            "constraints": (),
            "deadlines": tuple(
                d for d in lung.deadlines if "bronchoscopy" not in d.from_event + d.to_event
            ),
        }
    )


def _world_events() -> list[Event]:
    """Events that build :func:`_booked_world`: the slots published, each route proposed and
    every stage booked."""
    world = _booked_world()
    problem = _problem()
    at = min(r.referral for r in problem.requests)
    events: list[Event] = [
        SlotsPublished(
            event_id="P", at=at, facilities=tuple(problem.facilities), slots=tuple(problem.slots)
        )
    ]
    for route in world.routes.values():
        events.append(
            RouteProposed(
                event_id=f"{route.route_id}:p",
                at=at,
                route_id=route.route_id,
                request_id=route.request_id,
                patient_id=route.patient_id,
                pathway_id=route.pathway_id,
                stages=tuple(
                    PlannedStage(stage_id=s.stage_id, slot_id=str(s.slot_id)) for s in route.stages
                ),
            )
        )
        events += [
            StageBooked(
                event_id=f"{route.route_id}:{s.stage_id}:b",
                at=at,
                route_id=route.route_id,
                stage_id=s.stage_id,
            )
            for s in route.stages
        ]
    return events


def _attend(state: State, stage_id: str, due: datetime | None = None) -> tuple[State, datetime]:
    """R-0001's stage attended half an hour after it starts, its result due at ``due``."""
    stage = state.routes[ROUTE].stage(stage_id)
    assert stage is not None
    assert stage.start is not None
    at = stage.start + timedelta(minutes=30)
    event = StageAttended(
        event_id=f"A-{stage_id}", at=at, route_id=ROUTE, stage_id=stage_id, result_due=due
    )
    return apply(state, event), at


def _start(state: State, stage_id: str) -> datetime:
    stage = state.routes[ROUTE].stage(stage_id)
    assert stage is not None
    assert stage.start is not None
    return stage.start


def _check(state: State, pathways: dict[str, Pathway] | None = None) -> None:
    """The route is planned and passes the evaluator, with the waits its results impose."""
    route = state.routes[ROUTE]
    assert route.planned
    assert state.live is not None
    request = request_for(route, _requests()[route.request_id])
    pathway = resolve_pathway(request, pathways=pathways)
    waits = result_waits(route, pathway, _start(state, "consultation"))
    request = request.model_copy(update={"not_before": waits})
    bookings = {
        s.stage_id: s.slot_id
        for s in route.stages
        if s.slot_id is not None and s.stage_id in {p.id for p in pathway.stages}
    }
    evaluation = evaluate_route(
        request,
        pathway,
        bookings,
        slots={s.id: s for s in state.live.index.slots},
        facilities=_problem().facilities,
    )
    assert evaluation.feasible, evaluation.violations
    for slot in state.live.snapshot().states:
        assert slot.held + slot.booked <= slot.capacity


def test_delayed_result_moves_the_visits_that_need_it() -> None:
    """The CT result is delayed past the planned bronchoscopy: the bronchoscopy and what follows
    move after the expected time, the patient is told of each booked visit that moves."""
    state, _ = _attend(_booked_world(), "consultation")
    ct_start = _start(state, "chest_ct")
    state, at = _attend(state, "chest_ct", due=ct_start + timedelta(days=1))
    assert ROUTE not in state.waitlist  # due before the bronchoscopy: nothing waits
    expected = datetime.fromisoformat(MSK_DAY)
    now = at + timedelta(hours=2)
    delay = ResultDelayed(
        event_id="D", at=now, route_id=ROUTE, stage_id="chest_ct", expected=expected
    )
    state = apply(state, delay)
    assert state.waitlist[ROUTE] == WaitReason.RESULT_LATE
    assert state.routes[ROUTE].stage("chest_ct").result_pending_until == expected  # type: ignore[union-attr]
    found = repair(state, _requests(), ROUTE, now, FAST)
    assert found.cause == WaitReason.RESULT_LATE
    moved = {c.stage_id for c in found.changes}
    assert "bronchoscopy_biopsy" in moved
    assert all(c.notify for c in found.changes)
    after = apply_all(state, found.events)
    assert ROUTE not in after.waitlist
    assert _start(after, "bronchoscopy_biopsy") >= expected
    _check(after)


def test_delay_that_no_visit_meets_leaves_the_route_alone() -> None:
    """A delay that still ends before the next visit puts nothing on the waitlist."""
    state, _ = _attend(_booked_world(), "consultation")
    ct_start = _start(state, "chest_ct")
    state, at = _attend(state, "chest_ct", due=ct_start + timedelta(hours=2))
    expected = _start(state, "bronchoscopy_biopsy") - timedelta(hours=1)
    state = apply(
        state,
        ResultDelayed(event_id="D", at=at, route_id=ROUTE, stage_id="chest_ct", expected=expected),
    )
    assert ROUTE not in state.waitlist
    assert repair(state, _requests(), ROUTE, at, FAST).events == ()


def test_result_due_after_the_next_visit_waits_and_an_early_result_brings_it_back() -> None:
    """A result due after the next planned visit moves that visit; when the result then comes
    early, repairing for a gain brings the visits back earlier (Service.apply_and_repair)."""
    events = _world_events()
    state = apply_all(State(), events)
    first_plan = _start(state, "bronchoscopy_biopsy")
    due = datetime.fromisoformat(MSK_DAY)
    for stage_id, result_due in (("consultation", None), ("chest_ct", due)):
        at = _start(state, stage_id) + timedelta(minutes=30)
        attended = StageAttended(
            event_id=f"A-{stage_id}",
            at=at,
            route_id=ROUTE,
            stage_id=stage_id,
            result_due=result_due,
        )
        events.append(attended)
        state = apply(state, attended)
    assert state.waitlist[ROUTE] == WaitReason.RESULT_PENDING
    waiting = repair(state, _requests(), ROUTE, at, FAST)
    events += waiting.events
    state = apply_all(state, waiting.events)
    assert _start(state, "bronchoscopy_biopsy") >= due
    _check(state)
    arrived = at + timedelta(hours=20)
    policy = RepairPolicy(rebook=True, freeze_working_days=0, min_gain_minutes=60)
    result = ResultArrived(event_id="RA", at=arrived, route_id=ROUTE, stage_id="chest_ct")
    with Service.open("sqlite://") as service:
        service.journal.append_all(events)
        after, repairs = service.apply_and_repair(result, _requests(), policy)
        assert service.state() == after
    assert [r.route_id for r in repairs] == [ROUTE]
    assert repairs[0].cause is None
    assert waiting.completion_minutes is not None
    assert repairs[0].completion_minutes is not None
    assert repairs[0].completion_minutes <= waiting.completion_minutes - 60
    assert arrived <= _start(after, "bronchoscopy_biopsy") < due
    assert _start(after, "bronchoscopy_biopsy") == first_plan
    _check(after)


def test_delay_is_refused_before_the_visit_and_when_not_later() -> None:
    """A delay of a result before its visit, or to no later than it was expected, is refused
    with a specific error and the state unchanged."""
    state = _booked_world()
    early = ResultDelayed(
        event_id="D1",
        at=_start(state, "consultation") - timedelta(hours=1),
        route_id=ROUTE,
        stage_id="chest_ct",
        expected=datetime.fromisoformat(MSK_DAY),
    )
    with pytest.raises(OutOfOrderError) as info:
        apply(state, early)
    assert info.value.field == "stage_id"
    state, _ = _attend(state, "consultation")
    due = _start(state, "chest_ct") + timedelta(days=1)
    state, at = _attend(state, "chest_ct", due=due)
    not_later = ResultDelayed(
        event_id="D2", at=at, route_id=ROUTE, stage_id="chest_ct", expected=due
    )
    with pytest.raises(InvalidTransitionError) as refused:
        apply(state, not_later)
    assert refused.value.field == "expected"
    assert "D2" not in state.event_ids


def test_pathway_change_drops_and_adds_stages() -> None:
    """A new pathway without the bronchoscopy and with a repeat CT: the booked bronchoscopy's
    place is given back (the patient told), the repeat CT is planned, attended visits stay."""
    pathways = {"zno_lung_recheck": _recheck_pathway()}
    state, at = _attend(_booked_world(), "consultation")
    bronchoscopy = state.routes[ROUTE].stage("bronchoscopy_biopsy")
    assert bronchoscopy is not None
    assert bronchoscopy.slot_id is not None
    assert state.live is not None
    booked_before = state.live.state(bronchoscopy.slot_id).booked
    changed = PathwayChanged(event_id="PC", at=at, route_id=ROUTE, pathway_id="zno_lung_recheck")
    state = apply(state, changed)
    assert state.routes[ROUTE].reshape
    assert state.waitlist[ROUTE] == WaitReason.PATHWAY_CHANGED
    found = repair(state, _requests(), ROUTE, at, FAST, pathways=pathways)
    revised = next(e for e in found.events if isinstance(e, RouteRevised))
    assert revised.dropped == ("bronchoscopy_biopsy",)
    assert "repeat_ct" in {p.stage_id for p in revised.stages}
    by_reason = {c.reason: c for c in found.changes}
    assert by_reason[ChangeReason.DROPPED].notify
    assert by_reason[ChangeReason.ADDED].stage_id == "repeat_ct"
    after = apply_all(state, found.events)
    route = after.routes[ROUTE]
    assert not route.reshape
    assert ROUTE not in after.waitlist
    assert route.stage("bronchoscopy_biopsy") is None
    assert route.stage("consultation").status == StageStatus.ATTENDED  # type: ignore[union-attr]
    assert route.stage("repeat_ct").status == StageStatus.PROPOSED  # type: ignore[union-attr]
    assert after.live is not None
    assert after.live.state(bronchoscopy.slot_id).booked == booked_before - 1
    _check(after, pathways)


def test_pathway_change_to_the_same_stages_is_confirmed() -> None:
    """A pathway change that keeps every stage feasible moves nothing: a revision with no
    stages confirms the plan and takes the route off the waitlist."""
    state = _booked_world()
    at = state.routes[ROUTE].stages[0].start - timedelta(days=1)  # type: ignore[operator]
    state = apply(
        state, PathwayChanged(event_id="PC", at=at, route_id=ROUTE, pathway_id="zno_lung")
    )
    found = repair(state, _requests(), ROUTE, at, FAST)
    assert found.changes == ()
    assert [type(e) for e in found.events] == [RouteRevised]
    after = apply_all(state, found.events)
    assert ROUTE not in after.waitlist
    assert not after.routes[ROUTE].reshape


def test_dropping_a_stage_without_a_pathway_change_is_refused() -> None:
    """``dropped`` is only for reshaping after a pathway change."""
    state = _booked_world()
    stage = state.routes[ROUTE].stages[1]
    revised = RouteRevised(
        event_id="RV", at=datetime.fromisoformat(MSK_DAY), route_id=ROUTE, dropped=(stage.stage_id,)
    )
    with pytest.raises(InvalidTransitionError) as info:
        apply(state, revised)
    assert info.value.field == "dropped.0"
