"""The lifecycle fold: stage transitions, capacity, history, waitlist, and refused events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifecycle_world import START, published, route_proposed, world
from routing.exceptions import (
    DuplicateEventError,
    InvalidTransitionError,
    LifecycleError,
    LifecycleSlotError,
    OutOfOrderError,
    UnknownEventSlotError,
    UnknownRouteError,
    UnknownStageError,
)
from routing.lifecycle import StageStatus, State, WaitReason, apply, apply_all, parse_event
from routing.lifecycle.events import (
    NoShow,
    PlannedStage,
    ReferralCancelled,
    ResultArrived,
    RouteRevised,
    SlotWithdrawn,
    StageAttended,
    StageBooked,
    StageHeld,
    StageReleased,
)
from routing.lifecycle.model import ChangeReason

SLOTS = [s for s in world()[1] if s.capacity == 1]
A, B = SLOTS[0].id, SLOTS[1].id
AFTER = SLOTS[1].end + timedelta(hours=1)


def base() -> State:
    """The world published and route R1 proposed on slots A and B."""
    return apply_all(State(), [published(), route_proposed("R1", (A, B))])


def test_proposed_route_takes_no_place() -> None:
    """A proposed route has every stage proposed on its slot, and no place is taken."""
    state = base()
    route = state.routes["R1"]
    assert [s.status for s in route.stages] == [StageStatus.PROPOSED] * 2
    assert state.live is not None
    assert state.live.state(A).free == 1
    assert route.planned


def test_hold_book_attend_result() -> None:
    """held → booked → attended, the place spent, the result's lateness recorded."""
    state = base()
    due = AFTER + timedelta(days=1)
    state = apply_all(
        state,
        [
            StageHeld(event_id="h", at=START, route_id="R1", stage_id="s0"),
            StageBooked(event_id="b", at=START, route_id="R1", stage_id="s0"),
            StageAttended(event_id="a", at=AFTER, route_id="R1", stage_id="s0", result_due=due),
            ResultArrived(event_id="r", at=due + timedelta(hours=2), route_id="R1", stage_id="s0"),
        ],
    )
    stage = state.routes["R1"].stages[0]
    assert stage.status == StageStatus.ATTENDED
    assert stage.result_late
    assert state.live is not None
    slot = state.live.state(A)
    assert (slot.held, slot.booked, slot.free) == (0, 1, 0)
    reasons = [h.reason for h in state.routes["R1"].history if h.stage_id == "s0"]
    assert reasons == [
        ChangeReason.PROPOSED,
        ChangeReason.HELD,
        ChangeReason.BOOKED,
        ChangeReason.ATTENDED,
    ]
    assert state.routes["R1"].revision == 4


def test_apply_leaves_the_given_state_alone() -> None:
    """apply is pure: the state given keeps its capacity and routes."""
    state = base()
    before = state.key()
    after = apply(state, StageHeld(event_id="h", at=START, route_id="R1", stage_id="s0"))
    assert state.key() == before
    assert after != state


def test_withdrawn_slot_cancels_booking_and_waitlists() -> None:
    """A withdrawn slot gives a booked place back, notifies, and waitlists the route."""
    state = apply_all(
        base(),
        [
            StageBooked(event_id="b", at=START, route_id="R1", stage_id="s0"),
            SlotWithdrawn(event_id="w", at=START, slot_id=A),
        ],
    )
    stage = state.routes["R1"].stages[0]
    assert (stage.status, stage.slot_id) == (StageStatus.PROPOSED, None)
    last = state.routes["R1"].history[-1]
    assert (last.old_slot, last.new_slot, last.reason, last.notify) == (
        A,
        None,
        ChangeReason.SLOT_WITHDRAWN,
        True,
    )
    assert state.waitlist == {"R1": WaitReason.SLOT_WITHDRAWN}
    assert state.live is not None
    assert state.live.state(A).booked == 0
    revised = apply(
        state,
        RouteRevised(
            event_id="v",
            at=START,
            route_id="R1",
            stages=(PlannedStage(stage_id="s0", slot_id=SLOTS[2].id),),
        ),
    )
    assert revised.waitlist == {}
    assert revised.routes["R1"].stages[0].slot_id == SLOTS[2].id


def test_referral_cancelled_gives_every_place_back() -> None:
    """A cancelled referral releases holds, cancels bookings, and cancels every stage."""
    state = apply_all(
        base(),
        [
            StageHeld(event_id="h", at=START, route_id="R1", stage_id="s0"),
            StageBooked(event_id="b", at=START, route_id="R1", stage_id="s1"),
            ReferralCancelled(event_id="c", at=START, route_id="R1"),
        ],
    )
    assert state.live is not None
    assert state.live.state(A).free == 1
    assert state.live.state(B).free == 1
    assert {s.status for s in state.routes["R1"].stages} == {StageStatus.CANCELLED}
    assert state.routes["R1"].cancelled


def test_no_show_then_replan_keeps_the_missed_place_spent() -> None:
    """A no-show waitlists the route; its re-plan records the missed slot, still booked."""
    state = apply_all(
        base(),
        [
            StageBooked(event_id="b", at=START, route_id="R1", stage_id="s0"),
            NoShow(event_id="n", at=AFTER, route_id="R1", stage_id="s0"),
        ],
    )
    assert state.waitlist == {"R1": WaitReason.NO_SHOW}
    state = apply(
        state,
        RouteRevised(
            event_id="v",
            at=AFTER,
            route_id="R1",
            stages=(PlannedStage(stage_id="s0", slot_id=SLOTS[3].id),),
        ),
    )
    stage = state.routes["R1"].stages[0]
    assert stage.missed == (A,)
    assert state.live is not None
    assert state.live.state(A).booked == 1


BAD = [
    (
        StageHeld(event_id="x", at=START, route_id="R9", stage_id="s0"),
        UnknownRouteError,
        "route_id",
    ),
    (
        StageHeld(event_id="x", at=START, route_id="R1", stage_id="zz"),
        UnknownStageError,
        "stage_id",
    ),
    (SlotWithdrawn(event_id="x", at=START, slot_id="nope"), UnknownEventSlotError, "slot_id"),
    (route_proposed("R2", ("nope",), event_id="x"), UnknownEventSlotError, "stages.0.slot_id"),
    (
        StageReleased(event_id="x", at=START, route_id="R1", stage_id="s0"),
        InvalidTransitionError,
        "stage_id",
    ),
    (route_proposed("R1", (A,), event_id="x"), InvalidTransitionError, "route_id"),
    (
        StageHeld(event_id="R1:proposed", at=START, route_id="R1", stage_id="s0"),
        DuplicateEventError,
        "event_id",
    ),
]


@pytest.mark.parametrize(("event", "kind", "field"), BAD)
def test_bad_events_are_refused_by_name(
    event: object, kind: type[LifecycleError], field: str
) -> None:
    """Each bad event raises its own error naming the event and field; the state is unchanged."""
    state = base()
    before = state.key()
    with pytest.raises(kind) as caught:
        apply(state, event)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert caught.value.record == f"event {event.event_id!r}"  # type: ignore[attr-defined]
    assert state.key() == before


def test_no_show_for_a_visit_in_the_future_is_out_of_order() -> None:
    """A no-show or attendance before the visit starts is refused as out of order."""
    state = apply(base(), StageBooked(event_id="b", at=START, route_id="R1", stage_id="s0"))
    for event in (
        NoShow(event_id="n", at=START, route_id="R1", stage_id="s0"),
        StageAttended(event_id="a", at=START, route_id="R1", stage_id="s0"),
    ):
        with pytest.raises(OutOfOrderError) as caught:
            apply(state, event)
        assert (caught.value.route_id, caught.value.stage_id, caught.value.slot_id) == (
            "R1",
            "s0",
            A,
        )
    with pytest.raises(OutOfOrderError):
        apply(state, ResultArrived(event_id="r", at=AFTER, route_id="R1", stage_id="s0"))


def test_last_place_cannot_be_taken_twice() -> None:
    """A second hold of a one-place slot is refused naming the slot."""
    state = apply_all(
        base(),
        [
            route_proposed("R2", (A,)),
            StageHeld(event_id="h1", at=START, route_id="R1", stage_id="s0"),
        ],
    )
    with pytest.raises(LifecycleSlotError) as caught:
        apply(state, StageHeld(event_id="h2", at=START, route_id="R2", stage_id="s0"))
    assert caught.value.slot_id == A


def test_events_parse_from_json_with_named_errors() -> None:
    """Plain data parses into the right event type; a bad field is named, the value is not."""
    event = parse_event(
        {
            "type": "no_show",
            "event_id": "E1",
            "at": "2026-03-02T10:00+03:00",
            "route_id": "R1",
            "stage_id": "s0",
        }
    )
    assert isinstance(event, NoShow)
    with pytest.raises(LifecycleError.__mro__[1]) as caught:  # InvalidInputError
        parse_event(
            {
                "type": "no_show",
                "event_id": "E1",
                "at": "2026-03-02T10:00",
                "route_id": "R1",
                "stage_id": "s0",
            }
        )
    assert "E1" in str(caught.value)
    assert "2026-03-02T10:00" not in str(caught.value)
