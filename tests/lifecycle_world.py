"""A world for lifecycle tests: the example's facilities and slots, and generated event streams."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache

from routing.domain import Facility, Slot
from routing.examples import load_example
from routing.exceptions import LifecycleError
from routing.lifecycle.apply import apply
from routing.lifecycle.events import (
    BookingFailed,
    Event,
    NoShow,
    PathwayChanged,
    PatientUnavailable,
    PlannedStage,
    ReferralCancelled,
    ResultArrived,
    ResultDelayed,
    RouteProposed,
    RouteRevised,
    SlotsPublished,
    SlotWithdrawn,
    StageAttended,
    StageBooked,
    StageCancelled,
    StageHeld,
    StageReleased,
)
from routing.lifecycle.model import ACTIVE, StageStatus, State

START = datetime.fromisoformat("2026-02-25T08:00:00+03:00")


@cache
def world() -> tuple[tuple[Facility, ...], tuple[Slot, ...]]:
    """The example problem's facilities and slots (317 slots in March 2026)."""
    problem = load_example()
    return tuple(problem.facilities), tuple(problem.slots)


def published(event_id: str = "publish", at: datetime = START) -> SlotsPublished:
    """Every slot of :func:`world`, published."""
    facilities, slots = world()
    return SlotsPublished(event_id=event_id, at=at, facilities=facilities, slots=slots)


def route_proposed(
    route_id: str, slot_ids: tuple[str, ...], *, at: datetime = START, event_id: str | None = None
) -> RouteProposed:
    """A route with one stage per slot (stage ids ``s0``, ``s1``, ...)."""
    return RouteProposed(
        event_id=event_id or f"{route_id}:proposed",
        at=at,
        route_id=route_id,
        request_id=f"req-{route_id}",
        patient_id=f"p-{route_id}",
        stages=tuple(PlannedStage(stage_id=f"s{i}", slot_id=s) for i, s in enumerate(slot_ids)),
    )


class Generator:
    """Random events, each one the state accepts (refused candidates are dropped)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.state = apply(State(), published())
        self.events: list[Event] = [published()]
        self.at = START
        self.count = 0
        self.new_slots = 0
        self.route_ids: list[str] = []
        self.slot_ids = [s.id for s in world()[1]]

    def run(self, n: int) -> list[Event]:
        """Generate until ``n`` events are accepted (the publication included)."""
        makers: list[tuple[int, Callable[[str], Event | None]]] = [
            (2, self._propose),
            (16, self._stage_event),
            (2, self._route_event),
            (1, self._publish),
            (1, self._withdraw),
            (3, self._revise),
        ]
        weights = [w for w, _ in makers]
        while len(self.events) < n:
            self.count += 1
            self.at += timedelta(minutes=self.rng.randint(0, 12))
            maker = self.rng.choices([m for _, m in makers], weights)[0]
            event = maker(f"E{self.count}")
            if event is None:
                continue
            try:
                self.state = apply(self.state, event)
            except LifecycleError:
                continue
            self.events.append(event)
            if isinstance(event, SlotsPublished):
                self.slot_ids.extend(s.id for s in event.slots)
            if isinstance(event, RouteProposed):
                self.route_ids.append(event.route_id)
        return self.events

    def _free_slot(self) -> str:
        live = self.state.live
        assert live is not None
        for _ in range(8):
            slot_id = self.rng.choice(self.slot_ids)
            if live.state(slot_id).free:
                break
        return slot_id

    def _propose(self, event_id: str) -> Event:
        n = self.rng.randint(1, 3)
        route_id = f"R{self.count}"
        return route_proposed(
            route_id,
            tuple(self._free_slot() for _ in range(n)),
            at=self.at,
            event_id=event_id,
        )

    def _route(self) -> str | None:
        ids = [r for r in self.route_ids if not self.state.routes[r].cancelled]
        if not ids:
            return None
        return self.rng.choice(ids[-60:])  # the recent ones: they have the most to do

    def _stage_event(self, event_id: str) -> Event | None:
        route_id = self._route()
        if route_id is None:
            return None
        route = self.state.routes[route_id]
        stage = self.rng.choice(route.stages)
        common = {"event_id": event_id, "at": self.at, "route_id": route_id}
        sid = stage.stage_id
        status = stage.status
        if status == StageStatus.PROPOSED:
            kind = self.rng.choices(
                [StageHeld, StageBooked, BookingFailed, StageCancelled], [6, 2, 1, 1]
            )[0]
            return kind(**common, stage_id=sid)
        if status == StageStatus.HELD:
            kind = self.rng.choices(
                [StageBooked, StageReleased, BookingFailed, StageCancelled], [6, 2, 1, 1]
            )[0]
            return kind(**common, stage_id=sid)
        if status == StageStatus.BOOKED:
            if stage.start is not None and stage.start <= self.at:
                if self.rng.random() < 0.8:
                    due = self.at + timedelta(days=self.rng.randint(1, 5))
                    return StageAttended(**common, stage_id=sid, result_due=due)
                return NoShow(**common, stage_id=sid)
            return StageCancelled(**common, stage_id=sid) if self.rng.random() < 0.1 else None
        if status == StageStatus.ATTENDED and stage.result_arrived is None:
            if self.rng.random() < 0.3:
                until = stage.result_pending_until or self.at
                expected = max(until, self.at) + timedelta(hours=self.rng.randint(1, 72))
                return ResultDelayed(**common, stage_id=sid, expected=expected)
            return ResultArrived(**common, stage_id=sid)
        return None

    def _route_event(self, event_id: str) -> Event | None:
        route_id = self._route()
        if route_id is None:
            return None
        common = {"event_id": event_id, "at": self.at, "route_id": route_id}
        choice = self.rng.randrange(3)
        if choice == 0:
            return ReferralCancelled(**common)
        if choice == 1:
            start = self.at + timedelta(days=self.rng.randint(0, 20))
            return PatientUnavailable(**common, start=start, end=start + timedelta(days=3))
        return PathwayChanged(**common, pathway_id=f"pathway-{self.rng.randrange(3)}")

    def _revise(self, event_id: str) -> Event | None:
        waiting = sorted(self.state.waitlist)
        if not waiting:
            return None
        route = self.state.routes[self.rng.choice(waiting)]
        stages = tuple(
            PlannedStage(stage_id=s.stage_id, slot_id=self._free_slot())
            for s in route.stages
            if s.status not in ACTIVE - {StageStatus.PROPOSED} and s.status != StageStatus.ATTENDED
        )
        dropped: tuple[str, ...] = ()
        if route.reshape and self.rng.random() < 0.5:  # reshape to a "new pathway"
            stages += (PlannedStage(stage_id=f"x{self.count}", slot_id=self._free_slot()),)
            leaving = [s.stage_id for s in route.stages if s.status != StageStatus.ATTENDED]
            taken = {p.stage_id for p in stages}
            dropped = tuple(s for s in leaving if s not in taken)[:1]
        if not stages and not dropped:
            return None
        return RouteRevised(
            event_id=event_id,
            at=self.at,
            route_id=route.route_id,
            stages=stages,
            dropped=dropped,
        )

    def _publish(self, event_id: str) -> Event:
        facilities, slots = world()
        new_facility = self.rng.random() < 0.03
        base = self.rng.choice(slots)
        facility_id = base.facility_id
        published_facilities: tuple[Facility, ...] = ()
        if new_facility:
            model = next(f for f in facilities if f.id == base.facility_id)
            facility_id = f"fac-{self.count}"
            published_facilities = (model.model_copy(update={"id": facility_id}),)
        new = []
        for _ in range(self.rng.randint(1, 4)):
            self.new_slots += 1
            shift = timedelta(minutes=30 * self.rng.randint(1, 40))
            new.append(
                base.model_copy(
                    update={
                        "id": f"new-{self.new_slots}",
                        "facility_id": facility_id,
                        "start": base.start + shift,
                        "end": base.end + shift,
                    }
                )
            )
        return SlotsPublished(
            event_id=event_id, at=self.at, facilities=published_facilities, slots=tuple(new)
        )

    def _withdraw(self, event_id: str) -> Event:
        slot_id = self.rng.choice(self.slot_ids)
        return SlotWithdrawn(event_id=event_id, at=self.at, slot_id=slot_id)


def generated(n: int, seed: int = 7) -> list[Event]:
    """``n`` accepted events (the first publishes the world)."""
    return Generator(seed).run(n)


def assert_no_orphan_place(state: State) -> None:
    """Every held or booked place of every slot belongs to a stage of a route: held to a held
    stage, booked to a booked, attended or missed visit (missed visits keep their places)."""
    held: Counter[str] = Counter()
    booked: Counter[str] = Counter()
    for route in state.routes.values():
        booked.update(route.missed)
        for s in route.stages:
            booked.update(s.missed)
            if s.slot_id is None:
                continue
            if s.status == StageStatus.HELD:
                held[s.slot_id] += 1
            elif s.status in (StageStatus.BOOKED, StageStatus.ATTENDED, StageStatus.NO_SHOW):
                booked[s.slot_id] += 1
    assert state.live is not None
    for s in state.live.snapshot().states:
        assert (s.held, s.booked) == (held[s.slot_id], booked[s.slot_id]), s.slot_id
