"""A hypothesis state machine over the lifecycle fold: its invariants hold after every event."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lifecycle_world import START, assert_no_orphan_place, published, route_proposed, world
from routing.exceptions import LifecycleError
from routing.lifecycle import StageStatus, State, apply
from routing.lifecycle.events import (
    BookingFailed,
    Event,
    NoShow,
    PathwayChanged,
    PatientUnavailable,
    PlannedStage,
    ReferralCancelled,
    RouteRevised,
    SlotWithdrawn,
    StageAttended,
    StageBooked,
    StageCancelled,
    StageHeld,
    StageReleased,
)

SLOT_IDS = [s.id for s in world()[1][:12]]  # few slots: places run out, holds collide
ROUTES = [f"R{i}" for i in range(6)]
STAGE_EVENTS = [
    StageHeld,
    StageBooked,
    StageReleased,
    BookingFailed,
    StageCancelled,
    StageAttended,
    NoShow,
]


class LifecycleMachine(RuleBasedStateMachine):
    """Random events, accepted or refused; a refused event must leave the state as it was."""

    def __init__(self) -> None:
        super().__init__()
        self.state = apply(State(), published())
        self.n = 0
        self.at = START

    def _try(self, event: Event) -> None:
        before = self.state.key()
        try:
            self.state = apply(self.state, event)
        except LifecycleError:
            assert self.state.key() == before

    def _id(self) -> str:
        self.n += 1
        return f"E{self.n}"

    @rule(
        route=st.sampled_from(ROUTES),
        slots=st.lists(st.sampled_from(SLOT_IDS), min_size=1, max_size=3),
    )
    def propose(self, route: str, slots: list[str]) -> None:
        """Propose a route (refused when it exists)."""
        self._try(route_proposed(route, tuple(slots), at=self.at, event_id=self._id()))

    @rule(
        route=st.sampled_from(ROUTES),
        stage=st.sampled_from(["s0", "s1", "s2"]),
        kind=st.sampled_from(STAGE_EVENTS),
        days=st.integers(0, 6),
    )
    def stage_event(self, route: str, stage: str, kind: type[StageHeld], days: int) -> None:
        """Any stage event on any route and stage, days later."""
        self.at += timedelta(days=days)
        self._try(kind(event_id=self._id(), at=self.at, route_id=route, stage_id=stage))

    @rule(route=st.sampled_from(ROUTES), cancel=st.booleans())
    def route_event(self, route: str, cancel: bool) -> None:
        """Cancel the referral, or declare the patient unavailable for a week."""
        common = {"event_id": self._id(), "at": self.at, "route_id": route}
        if cancel:
            self._try(ReferralCancelled(**common))
        else:
            end = self.at + timedelta(days=7)
            self._try(PatientUnavailable(**common, start=self.at, end=end))

    @rule(route=st.sampled_from(ROUTES), stage=st.sampled_from(["s0", "s1", "s2"]))
    def reshape(self, route: str, stage: str) -> None:
        """The pathway changes and the next revision drops a stage (refused when attended)."""
        common = {"at": self.at, "route_id": route}
        self._try(PathwayChanged(event_id=self._id(), pathway_id="other", **common))
        self._try(RouteRevised(event_id=self._id(), dropped=(stage,), **common))

    @rule(slot=st.sampled_from(SLOT_IDS))
    def withdraw(self, slot: str) -> None:
        """Withdraw a slot."""
        self._try(SlotWithdrawn(event_id=self._id(), at=self.at, slot_id=slot))

    @rule(route=st.sampled_from(ROUTES), slot=st.sampled_from(SLOT_IDS))
    def revise(self, route: str, slot: str) -> None:
        """Re-plan every stage of a route that has no place, onto one slot."""
        current = self.state.routes.get(route)
        stages = (
            ()
            if current is None
            else tuple(
                PlannedStage(stage_id=s.stage_id, slot_id=slot)
                for s in current.stages
                if s.status in (StageStatus.PROPOSED, StageStatus.NO_SHOW, StageStatus.CANCELLED)
            )
        )
        if stages:
            self._try(RouteRevised(event_id=self._id(), at=self.at, route_id=route, stages=stages))

    @invariant()
    def no_slot_over_capacity(self) -> None:
        """No slot has more places held and booked than it has."""
        assert self.state.live is not None
        for s in self.state.live.snapshot().states:
            assert s.held >= 0
            assert s.booked >= 0
            assert s.held + s.booked <= s.capacity

    @invariant()
    def every_referral_planned_waiting_or_cancelled(self) -> None:
        """Every route is fully planned, on the waitlist, or cancelled."""
        for route in self.state.routes.values():
            assert route.planned or route.route_id in self.state.waitlist or route.cancelled
            assert not (route.cancelled and route.route_id in self.state.waitlist)

    @invariant()
    def no_orphan_hold(self) -> None:
        """Every held or booked place belongs to a stage (missed visits keep theirs)."""
        assert_no_orphan_place(self.state)


LifecycleMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None
)
TestLifecycleMachine = LifecycleMachine.TestCase
