"""The fold: ``apply(state, event) -> state``, pure, checking each event before any change.

An event the state refuses raises a :class:`~routing.exceptions.LifecycleError` naming the
event, the field at fault, and the route, stage and slot it names; the state given is never
changed (capacity changes are made on a copy of its :class:`~routing.live.LiveSlots`).

Transitions of a stage (anything else is an :class:`~routing.exceptions.InvalidTransitionError`):

==================  =================================  ====================================
event               from                               to, and capacity
==================  =================================  ====================================
``stage_held``      proposed (with a slot)             held; a place held
``stage_booked``    held / proposed (with a slot)      booked; the hold booked / a place
``stage_released``  held                               proposed; the hold given back
``booking_failed``  proposed / held                    proposed without a slot; waitlist
``stage_attended``  booked, not before the visit       attended; the place stays spent
``no_show``         booked, not before the visit       no_show; the place stays spent
``result_arrived``  attended                           the result's arrival recorded
``result_delayed``  attended, result not in          the result's new expected time
``stage_cancelled`` proposed / held / booked           cancelled; the place given back
``route_revised``   proposed / no_show / cancelled     proposed on the new slot
==================  =================================  ====================================

After a ``pathway_changed``, the next ``route_revised`` may also add stages the route lacks
(proposed on their slots) and drop stages the new pathway lacks (their places given back; an
attended stage cannot be dropped). A ``route_revised`` that names no stage confirms the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from routing.domain import Facility
from routing.exceptions import (
    CalendarRangeError,
    DuplicateEventError,
    InvalidTransitionError,
    LifecycleSlotError,
    OutOfOrderError,
    SlotStateError,
    UnknownEventSlotError,
    UnknownRouteError,
    UnknownSlotError,
    UnknownStageError,
)
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
from routing.lifecycle.model import (
    ACTIVE,
    ChangeReason,
    ChangeRecord,
    RouteState,
    StageState,
    StageStatus,
    State,
    UnavailablePeriod,
    WaitReason,
)
from routing.lifecycle.seen import EventIds
from routing.live import LiveSlots

__all__ = ["Applied", "apply", "apply_all", "apply_with_effects"]


@dataclass(frozen=True, slots=True)
class Applied:
    """An event applied: the new state and the slots whose places it changed.

    Attributes
    ----------
    state
        The state after the event.
    slots
        The ids of the slots whose capacity, holds, bookings or withdrawal changed, or that
        were published, in the order they were touched.
    """

    state: State
    slots: tuple[str, ...]


def apply(state: State, event: Event) -> State:
    """The state after ``event`` (``state`` itself is left as it is).

    Raises
    ------
    LifecycleError
        A subclass saying why the event is refused: :class:`DuplicateEventError`,
        :class:`UnknownRouteError`, :class:`UnknownStageError`, :class:`UnknownEventSlotError`,
        :class:`LifecycleSlotError`, :class:`OutOfOrderError`, :class:`InvalidTransitionError`.
    """
    return apply_with_effects(state, event).state


def apply_all(state: State, events: Iterable[Event]) -> State:
    """Fold every event into ``state`` in order (the first refused one raises)."""
    for event in events:
        state = apply(state, event)
    return state


def apply_with_effects(state: State, event: Event) -> Applied:
    """As :func:`apply`, with the slots the event touched (for optimistic concurrency)."""
    if event.event_id in state.event_ids:
        raise DuplicateEventError(event.event_id, "event_id", "an event with this id is applied")
    work = _Work(state, event)
    _HANDLERS[type(event)](work, event)
    return Applied(work.result(), tuple(work.touched))


def _adding(ids: AbstractSet[str], event_id: str) -> EventIds:
    """``ids`` and ``event_id``, in constant time when ``ids`` is the fold's own."""
    return (ids if isinstance(ids, EventIds) else EventIds(ids)).adding(event_id)


# -- the working copy ---------------------------------------------------------------------------
@dataclass
class _Work:
    """The state being changed by one event: copies made on first write."""

    base: State
    event: Event
    routes: dict[str, RouteState] = field(init=False)
    waitlist: dict[str, WaitReason] = field(init=False)
    facilities: dict[str, Facility] = field(init=False)
    live: LiveSlots | None = field(init=False)
    touched: list[str] = field(default_factory=list)
    _live_copied: bool = False

    def __post_init__(self) -> None:
        self.routes = dict(self.base.routes)
        self.waitlist = dict(self.base.waitlist)
        self.facilities = dict(self.base.facilities)
        self.live = self.base.live

    def result(self) -> State:
        at = self.base.last_event_at
        return State(
            routes=self.routes,
            live=self.live,
            facilities=self.facilities,
            waitlist=self.waitlist,
            event_ids=_adding(self.base.event_ids, self.event.event_id),
            last_event_at=self.event.at if at is None else max(at, self.event.at),
        )

    # -- reading, with errors that name the event ----------------------------------------------
    def route(self, route_id: str, *, open_only: bool = True) -> RouteState:
        route = self.routes.get(route_id)
        if route is None:
            raise UnknownRouteError(
                self.event.event_id, "route_id", f"no route {route_id!r}", route_id=route_id
            )
        if open_only and route.cancelled:
            raise InvalidTransitionError(
                self.event.event_id,
                "route_id",
                f"route {route_id!r} is cancelled",
                route_id=route_id,
            )
        return route

    def stage(self, route: RouteState, stage_id: str) -> StageState:
        stage = route.stage(stage_id)
        if stage is None:
            raise UnknownStageError(
                self.event.event_id,
                "stage_id",
                f"route {route.route_id!r} has no stage {stage_id!r}",
                route_id=route.route_id,
                stage_id=stage_id,
            )
        return stage

    def refuse(
        self,
        kind: type[InvalidTransitionError] | type[OutOfOrderError],
        field: str,
        reason: str,
        route: RouteState | None = None,
        stage: StageState | None = None,
    ) -> None:
        raise kind(
            self.event.event_id,
            field,
            reason,
            route_id=None if route is None else route.route_id,
            stage_id=None if stage is None else stage.stage_id,
            slot_id=None if stage is None else stage.slot_id,
        )

    def planned_slot(self, route_id: str, planned: PlannedStage, field: str) -> StageState:
        """A proposed stage on a known slot that is not withdrawn."""
        slot_id = planned.slot_id
        try:
            if self.live is None:
                raise UnknownSlotError(slot_id, "no slot is published")
            slot = self.live.slot(slot_id)
            if self.live.state(slot_id).withdrawn:
                raise LifecycleSlotError(
                    self.event.event_id,
                    field,
                    f"slot {slot_id!r} is withdrawn",
                    route_id=route_id,
                    stage_id=planned.stage_id,
                    slot_id=slot_id,
                )
        except UnknownSlotError:
            raise UnknownEventSlotError(
                self.event.event_id,
                field,
                f"no slot {slot_id!r}",
                route_id=route_id,
                stage_id=planned.stage_id,
                slot_id=slot_id,
            ) from None
        return StageState(stage_id=planned.stage_id, slot_id=slot_id, start=slot.start)

    # -- writing ---------------------------------------------------------------------------------
    def places(self, command: str, route: RouteState, stage: StageState, **kw: Any) -> None:
        """Run a capacity command on the stage's slot (on a copy of the live capacity)."""
        slot_id = stage.slot_id
        assert slot_id is not None
        assert self.live is not None
        live = self.writable_live()
        try:
            getattr(live, command)(slot_id, **kw)
        except SlotStateError as exc:
            kind = (
                UnknownEventSlotError if isinstance(exc, UnknownSlotError) else LifecycleSlotError
            )
            raise kind(
                self.event.event_id,
                "stage_id",
                exc.reason if command != "hold" else f"cannot hold: {exc.reason}",
                route_id=route.route_id,
                stage_id=stage.stage_id,
                slot_id=slot_id,
            ) from None
        self.touched.append(slot_id)

    def writable_live(self) -> LiveSlots:
        assert self.live is not None
        if not self._live_copied:
            self.live = self.live.copy()
            self._live_copied = True
        return self.live

    def change(
        self,
        route: RouteState,
        stage: StageState,
        new: StageState,
        reason: ChangeReason,
        *,
        notify: bool = False,
    ) -> RouteState:
        """Replace ``stage`` of ``route`` with ``new``, recorded in the route's history."""
        record = ChangeRecord(
            event_id=self.event.event_id,
            stage_id=stage.stage_id,
            old_slot=stage.slot_id,
            new_slot=new.slot_id,
            reason=reason,
            notify=notify,
        )
        stages = tuple(new if s.stage_id == stage.stage_id else s for s in route.stages)
        updated = route.model_copy(update={"stages": stages, "history": (*route.history, record)})
        self.routes[route.route_id] = updated
        return updated

    def add(self, route: RouteState, new: StageState) -> RouteState:
        """Append ``new`` to ``route``'s stages, recorded as added."""
        record = ChangeRecord(
            event_id=self.event.event_id,
            stage_id=new.stage_id,
            old_slot=None,
            new_slot=new.slot_id,
            reason=ChangeReason.ADDED,
            notify=False,
        )
        updated = route.model_copy(
            update={"stages": (*route.stages, new), "history": (*route.history, record)}
        )
        self.routes[route.route_id] = updated
        return updated

    def drop(self, route: RouteState, stage: StageState) -> RouteState:
        """Give back ``stage``'s place and take it off ``route``, recorded as dropped (the
        patient is told when the visit was booked); the slots of its missed visits stay
        spent, kept in :attr:`RouteState.missed`."""
        self.give_back(route, stage)
        record = ChangeRecord(
            event_id=self.event.event_id,
            stage_id=stage.stage_id,
            old_slot=stage.slot_id,
            new_slot=None,
            reason=ChangeReason.DROPPED,
            notify=stage.status == StageStatus.BOOKED,
        )
        stages = tuple(s for s in route.stages if s.stage_id != stage.stage_id)
        missed = (*route.missed, *stage.missed)
        if stage.status == StageStatus.NO_SHOW and stage.slot_id is not None:
            missed = (*missed, stage.slot_id)  # the place of a missed visit stays spent
        updated = route.model_copy(
            update={"stages": stages, "history": (*route.history, record), "missed": missed}
        )
        self.routes[route.route_id] = updated
        return updated

    def bump(self, route_id: str) -> None:
        route = self.routes[route_id]
        self.routes[route_id] = route.model_copy(update={"revision": route.revision + 1})

    def give_back(self, route: RouteState, stage: StageState) -> None:
        """Release a held place or cancel a booked one."""
        if stage.status == StageStatus.HELD:
            self.places("release", route, stage)
        elif stage.status == StageStatus.BOOKED:
            self.places("cancel", route, stage)


# -- handlers -------------------------------------------------------------------------------------
def _proposed(work: _Work, event: RouteProposed) -> None:
    if event.route_id in work.routes:
        work.refuse(
            InvalidTransitionError, "route_id", f"route {event.route_id!r} exists", None, None
        )
    stages = tuple(
        work.planned_slot(event.route_id, s, f"stages.{i}.slot_id")
        for i, s in enumerate(event.stages)
    )
    history = tuple(
        ChangeRecord(
            event_id=event.event_id,
            stage_id=s.stage_id,
            old_slot=None,
            new_slot=s.slot_id,
            reason=ChangeReason.PROPOSED,
            notify=False,
        )
        for s in stages
    )
    work.routes[event.route_id] = RouteState(
        route_id=event.route_id,
        request_id=event.request_id,
        patient_id=event.patient_id,
        pathway_id=event.pathway_id,
        stages=stages,
        history=history,
    )


def _expect(
    work: _Work,
    route: RouteState,
    stage: StageState,
    allowed: Iterable[StageStatus],
    what: str,
    *,
    needs_slot: bool = True,
) -> None:
    allowed = tuple(allowed)
    if stage.status not in allowed:
        work.refuse(
            InvalidTransitionError,
            "stage_id",
            f"stage {stage.stage_id!r} is {stage.status.value}; {what} needs "
            + " or ".join(a.value for a in allowed),
            route,
            stage,
        )
    if needs_slot and stage.status in ACTIVE and stage.slot_id is None:
        work.refuse(
            InvalidTransitionError,
            "stage_id",
            f"stage {stage.stage_id!r} has no slot (it waits for a re-plan)",
            route,
            stage,
        )


def _held(work: _Work, event: StageHeld) -> None:
    route = work.route(event.route_id)
    stage = work.stage(route, event.stage_id)
    _expect(work, route, stage, (StageStatus.PROPOSED,), "a hold")
    work.places("hold", route, stage)
    work.change(
        route, stage, stage.model_copy(update={"status": StageStatus.HELD}), ChangeReason.HELD
    )
    work.bump(route.route_id)


def _booked(work: _Work, event: StageBooked) -> None:
    route = work.route(event.route_id)
    stage = work.stage(route, event.stage_id)
    _expect(work, route, stage, (StageStatus.HELD, StageStatus.PROPOSED), "a booking")
    work.places("book", route, stage, held=stage.status == StageStatus.HELD)
    new = stage.model_copy(update={"status": StageStatus.BOOKED})
    work.change(route, stage, new, ChangeReason.BOOKED, notify=True)
    work.bump(route.route_id)


def _released(work: _Work, event: StageReleased) -> None:
    route = work.route(event.route_id)
    stage = work.stage(route, event.stage_id)
    _expect(work, route, stage, (StageStatus.HELD,), "a release")
    work.places("release", route, stage)
    new = stage.model_copy(update={"status": StageStatus.PROPOSED})
    work.change(route, stage, new, ChangeReason.RELEASED)
    work.bump(route.route_id)


def _failed(work: _Work, event: BookingFailed) -> None:
    route = work.route(event.route_id)
    stage = work.stage(route, event.stage_id)
    _expect(work, route, stage, (StageStatus.PROPOSED, StageStatus.HELD), "a failed booking")
    work.give_back(route, stage)
    new = stage.model_copy(update={"status": StageStatus.PROPOSED, "slot_id": None, "start": None})
    work.change(route, stage, new, ChangeReason.BOOKING_FAILED)
    work.waitlist[route.route_id] = WaitReason.BOOKING_FAILED
    work.bump(route.route_id)


def _visit_past(work: _Work, route: RouteState, stage: StageState, what: str) -> None:
    assert stage.start is not None  # a booked stage has a slot
    if work.event.at < stage.start:
        work.refuse(
            OutOfOrderError,
            "at",
            f"{what} of stage {stage.stage_id!r} before its visit starts",
            route,
            stage,
        )


def _attended(work: _Work, event: StageAttended) -> None:
    route = work.route(event.route_id)
    stage = work.stage(route, event.stage_id)
    _expect(work, route, stage, (StageStatus.BOOKED,), "an attendance")
    _visit_past(work, route, stage, "attendance")
    new = stage.model_copy(update={"status": StageStatus.ATTENDED, "result_due": event.result_due})
    route = work.change(route, stage, new, ChangeReason.ATTENDED)
    if event.result_due is not None and _waits_for(route, new, event.result_due):
        work.waitlist[route.route_id] = WaitReason.RESULT_PENDING
    work.bump(route.route_id)


def _waits_for(route: RouteState, stage: StageState, until: datetime) -> bool:
    """Whether an active stage of ``route`` starts after ``stage`` and before ``until`` (it
    may need the stage's result; the fold does not know the pathway, the repair does)."""
    assert stage.start is not None
    return any(
        s.status in ACTIVE and s.start is not None and stage.start <= s.start < until
        for s in route.stages
    )


def _no_show(work: _Work, event: NoShow) -> None:
    route = work.route(event.route_id)
    stage = work.stage(route, event.stage_id)
    _expect(work, route, stage, (StageStatus.BOOKED,), "a no-show")
    _visit_past(work, route, stage, "no-show")
    new = stage.model_copy(update={"status": StageStatus.NO_SHOW})
    work.change(route, stage, new, ChangeReason.NO_SHOW)
    work.waitlist[route.route_id] = WaitReason.NO_SHOW
    work.bump(route.route_id)


def _awaited_result(work: _Work, route: RouteState, stage_id: str, what: str) -> StageState:
    """The attended stage whose result has not arrived (else the event is refused)."""
    stage = work.stage(route, stage_id)
    if stage.status in ACTIVE:
        work.refuse(
            OutOfOrderError,
            "stage_id",
            f"{what} of stage {stage_id!r} before its visit",
            route,
            stage,
        )
    _expect(work, route, stage, (StageStatus.ATTENDED,), what)
    if stage.result_arrived is not None:
        work.refuse(
            InvalidTransitionError,
            "stage_id",
            f"the result of stage {stage_id!r} arrived already",
            route,
            stage,
        )
    return stage


def _result(work: _Work, event: ResultArrived) -> None:
    route = work.route(event.route_id, open_only=False)
    stage = _awaited_result(work, route, event.stage_id, "a result")
    new = stage.model_copy(update={"result_arrived": event.at})
    stages = tuple(new if s.stage_id == stage.stage_id else s for s in route.stages)
    work.routes[route.route_id] = route.model_copy(update={"stages": stages})
    if new.result_late and not route.cancelled and any(s.status in ACTIVE for s in stages):
        work.waitlist[route.route_id] = WaitReason.RESULT_LATE
    work.bump(route.route_id)


def _result_delayed(work: _Work, event: ResultDelayed) -> None:
    route = work.route(event.route_id)
    stage = _awaited_result(work, route, event.stage_id, "a delayed result")
    until = stage.result_pending_until
    if until is not None and event.expected <= until:
        work.refuse(
            InvalidTransitionError,
            "expected",
            f"the result of stage {stage.stage_id!r} is expected no later already",
            route,
            stage,
        )
    new = stage.model_copy(update={"result_expected": event.expected})
    stages = tuple(new if s.stage_id == stage.stage_id else s for s in route.stages)
    route = route.model_copy(update={"stages": stages})
    work.routes[route.route_id] = route
    if _waits_for(route, new, event.expected):
        work.waitlist[route.route_id] = WaitReason.RESULT_LATE
    work.bump(route.route_id)


def _cancelled(work: _Work, event: StageCancelled) -> None:
    route = work.route(event.route_id)
    stage = work.stage(route, event.stage_id)
    _expect(work, route, stage, ACTIVE, "a cancellation")
    work.give_back(route, stage)
    new = stage.model_copy(update={"status": StageStatus.CANCELLED})
    notify = stage.status == StageStatus.BOOKED
    work.change(route, stage, new, ChangeReason.STAGE_CANCELLED, notify=notify)
    work.waitlist[route.route_id] = WaitReason.STAGE_CANCELLED
    work.bump(route.route_id)


def _referral_cancelled(work: _Work, event: ReferralCancelled) -> None:
    route = work.route(event.route_id)
    for stage in route.stages:
        if stage.status in ACTIVE:
            if stage.slot_id is not None:
                work.give_back(route, stage)
            new = stage.model_copy(update={"status": StageStatus.CANCELLED})
            notify = stage.status == StageStatus.BOOKED
            route = work.change(route, stage, new, ChangeReason.REFERRAL_CANCELLED, notify=notify)
    work.routes[route.route_id] = route.model_copy(update={"cancelled": True})
    work.waitlist.pop(route.route_id, None)
    work.bump(route.route_id)


def _unavailable(work: _Work, event: PatientUnavailable) -> None:
    route = work.route(event.route_id)
    period = UnavailablePeriod(start=event.start, end=event.end)
    work.routes[route.route_id] = route.model_copy(
        update={"unavailable": (*route.unavailable, period)}
    )
    if any(
        s.status in ACTIVE and s.start is not None and event.start <= s.start < event.end
        for s in route.stages
    ):
        work.waitlist[route.route_id] = WaitReason.PATIENT_UNAVAILABLE
    work.bump(route.route_id)


def _pathway(work: _Work, event: PathwayChanged) -> None:
    route = work.route(event.route_id)
    work.routes[route.route_id] = route.model_copy(
        update={"pathway_id": event.pathway_id, "reshape": True}
    )
    work.waitlist[route.route_id] = WaitReason.PATHWAY_CHANGED
    work.bump(route.route_id)


def _revised(work: _Work, event: RouteRevised) -> None:
    route = work.route(event.route_id)
    seen: set[str] = set()
    for i, planned in enumerate(event.stages):
        if planned.stage_id in seen:
            work.refuse(
                InvalidTransitionError,
                f"stages.{i}",
                "a stage revised twice",
                route,
                route.stage(planned.stage_id),
            )
        seen.add(planned.stage_id)
        if route.reshape and route.stage(planned.stage_id) is None:
            route = work.add(
                route, work.planned_slot(route.route_id, planned, f"stages.{i}.slot_id")
            )
            continue
        stage = work.stage(route, planned.stage_id)
        _expect(
            work,
            route,
            stage,
            (StageStatus.PROPOSED, StageStatus.NO_SHOW, StageStatus.CANCELLED),
            "a re-plan (release or cancel its place first)",
            needs_slot=False,
        )
        new = work.planned_slot(route.route_id, planned, f"stages.{i}.slot_id")
        missed = stage.missed
        if stage.status == StageStatus.NO_SHOW and stage.slot_id is not None:
            missed = (*missed, stage.slot_id)
        new = new.model_copy(update={"missed": missed})
        route = work.change(route, stage, new, ChangeReason.REPLANNED)
    for j, stage_id in enumerate(event.dropped):
        leaving = route.stage(stage_id)
        if not route.reshape:
            work.refuse(
                InvalidTransitionError,
                f"dropped.{j}",
                "a stage is dropped only when the pathway changed",
                route,
                leaving,
            )
        if leaving is None or stage_id in seen:
            work.refuse(
                InvalidTransitionError,
                f"dropped.{j}",
                f"stage {stage_id!r} is not on the route or is revised too",
                route,
                leaving,
            )
        assert leaving is not None
        if leaving.status == StageStatus.ATTENDED:
            work.refuse(
                InvalidTransitionError,
                f"dropped.{j}",
                f"stage {stage_id!r} is attended: it stays as history",
                route,
                leaving,
            )
        seen.add(stage_id)
        route = work.drop(route, leaving)
    if route.reshape:
        route = route.model_copy(update={"reshape": False})
        work.routes[route.route_id] = route
    if route.planned and (
        work.waitlist.get(route.route_id) != WaitReason.PATIENT_UNAVAILABLE or not _clashes(route)
    ):
        work.waitlist.pop(route.route_id, None)
    work.bump(route.route_id)


def _clashes(route: RouteState) -> bool:
    """Whether an active stage falls in a period the patient is unavailable."""
    return any(
        s.status in ACTIVE and s.start is not None and p.start <= s.start < p.end
        for s in route.stages
        for p in route.unavailable
    )


def _published(work: _Work, event: SlotsPublished) -> None:
    for i, facility in enumerate(event.facilities):
        known = work.facilities.get(facility.id)
        if known is not None and known != facility:
            raise LifecycleSlotError(
                event.event_id, f"facilities.{i}", f"facility {facility.id!r} is known, changed"
            )
        work.facilities[facility.id] = facility
    seen: set[str] = set()
    for i, slot in enumerate(event.slots):
        if slot.id in seen or (work.live is not None and _knows(work.live, slot.id)):
            raise LifecycleSlotError(
                event.event_id, f"slots.{i}.id", f"slot {slot.id!r} is known", slot_id=slot.id
            )
        if slot.facility_id not in work.facilities:
            raise LifecycleSlotError(
                event.event_id,
                f"slots.{i}.facility_id",
                f"no facility {slot.facility_id!r}",
                slot_id=slot.id,
            )
        seen.add(slot.id)
    if work.live is None or any(f.id not in work.base.facilities for f in event.facilities):
        work.live = _rebuilt(work.live, work.facilities.values(), event)
        work._live_copied = True
        for i, slot in enumerate(event.slots):
            if not _knows(work.live, slot.id):
                raise LifecycleSlotError(
                    event.event_id,
                    f"slots.{i}.start",
                    "outside the working calendar's span",
                    slot_id=slot.id,
                )
    else:
        live = work.writable_live()
        for i, slot in enumerate(event.slots):
            try:
                live.add(slot)
            except CalendarRangeError as exc:
                raise LifecycleSlotError(
                    event.event_id, f"slots.{i}.{exc.field}", exc.reason, slot_id=slot.id
                ) from None
    work.touched.extend(s.id for s in event.slots)


def _knows(live: LiveSlots, slot_id: str) -> bool:
    try:
        live.position(slot_id)
    except UnknownSlotError:
        return False
    return True


def _rebuilt(
    old: LiveSlots | None, facilities: Iterable[Facility], event: SlotsPublished
) -> LiveSlots:
    """A new live capacity over every facility and slot, the old holds and bookings kept."""
    before = () if old is None else old.snapshot().states
    slots = (() if old is None else old.snapshot().slots) + event.slots
    live = LiveSlots.build(tuple(facilities), slots)
    for state in before:
        for _ in range(state.held):
            live.hold(state.slot_id)
        for _ in range(state.booked):
            live.book(state.slot_id, held=False)
        if state.withdrawn:
            live.withdraw(state.slot_id)
    return live


def _withdrawn(work: _Work, event: SlotWithdrawn) -> None:
    live = work.writable_live() if work.live is not None else None
    try:
        if live is None:
            raise UnknownSlotError(event.slot_id, "no slot is published")
        live.withdraw(event.slot_id)
    except SlotStateError as exc:
        kind = UnknownEventSlotError if isinstance(exc, UnknownSlotError) else LifecycleSlotError
        raise kind(event.event_id, "slot_id", exc.reason, slot_id=event.slot_id) from None
    work.touched.append(event.slot_id)
    for route_id in sorted(work.routes):
        route = work.routes[route_id]
        hit = [s for s in route.stages if s.slot_id == event.slot_id and s.status in ACTIVE]
        for stage in hit:
            work.give_back(route, stage)
            new = stage.model_copy(
                update={"status": StageStatus.PROPOSED, "slot_id": None, "start": None}
            )
            notify = stage.status == StageStatus.BOOKED
            route = work.change(route, stage, new, ChangeReason.SLOT_WITHDRAWN, notify=notify)
        if hit:
            work.waitlist[route_id] = WaitReason.SLOT_WITHDRAWN
            work.bump(route_id)


_HANDLERS: dict[type[Any], Callable[[_Work, Any], None]] = {
    RouteProposed: _proposed,
    StageHeld: _held,
    StageBooked: _booked,
    StageReleased: _released,
    BookingFailed: _failed,
    StageAttended: _attended,
    NoShow: _no_show,
    ResultArrived: _result,
    ResultDelayed: _result_delayed,
    StageCancelled: _cancelled,
    ReferralCancelled: _referral_cancelled,
    PatientUnavailable: _unavailable,
    PathwayChanged: _pathway,
    RouteRevised: _revised,
    SlotsPublished: _published,
    SlotWithdrawn: _withdrawn,
}
