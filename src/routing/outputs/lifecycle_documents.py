"""The JSON documents of the route lifecycle's commands: ``event``, ``state`` and ``book``.

==========================  ==========================================================
document                    printed by
==========================  ==========================================================
:class:`EventDocument`      ``routing event --json``
:class:`StateDocument`      ``routing state --json``
:class:`BookDocument`       ``routing book --json``
==========================  ==========================================================

Only pseudonymous ids and times go into them (the journal holds nothing else).
"""

from __future__ import annotations

from pydantic import AwareDatetime, NonNegativeInt

from nosology.pathway import FrozenModel
from routing.booking.saga import SagaStatus, StepAction, StepOutcome
from routing.lifecycle.booking import BookingRecord
from routing.lifecycle.model import RouteState, StageState, State, WaitReason

__all__ = [
    "BookDocument",
    "BookedStage",
    "EventDocument",
    "SlotPlaces",
    "StateDocument",
    "StateRoute",
    "StepRecord",
    "WaitingRoute",
    "book_document",
    "state_document",
]


class EventDocument(FrozenModel):
    """The events appended by ``routing event``."""

    applied: tuple[str, ...]
    """The ids of the events appended, in order."""
    events: NonNegativeInt
    """The events the journal holds now."""


class StateRoute(FrozenModel):
    """One living route, without its change history."""

    route_id: str
    request_id: str
    patient_id: str
    pathway_id: str | None
    revision: NonNegativeInt
    cancelled: bool
    stages: tuple[StageState, ...]


class SlotPlaces(FrozenModel):
    """A slot with a place held or booked."""

    slot_id: str
    capacity: NonNegativeInt
    held: NonNegativeInt
    booked: NonNegativeInt
    withdrawn: bool


class WaitingRoute(FrozenModel):
    """A route on the waitlist and why."""

    route_id: str
    reason: WaitReason


class StateDocument(FrozenModel):
    """The journal's state: routes (by id), slots with places taken, the waitlist."""

    routes: tuple[StateRoute, ...]
    holds: tuple[SlotPlaces, ...]
    waitlist: tuple[WaitingRoute, ...]


def state_document(state: State) -> StateDocument:
    """The document of ``state`` (routes and waitlist by id, slots in the journal's order)."""
    routes = tuple(
        StateRoute(
            route_id=r.route_id,
            request_id=r.request_id,
            patient_id=r.patient_id,
            pathway_id=r.pathway_id,
            revision=r.revision,
            cancelled=r.cancelled,
            stages=r.stages,
        )
        for r in sorted(state.routes.values(), key=lambda r: r.route_id)
    )
    holds = tuple(
        SlotPlaces(
            slot_id=s.slot_id,
            capacity=s.capacity,
            held=s.held,
            booked=s.booked,
            withdrawn=s.withdrawn,
        )
        for s in (() if state.live is None else state.live.snapshot().states)
        if s.held or s.booked
    )
    waitlist = tuple(WaitingRoute(route_id=r, reason=w) for r, w in sorted(state.waitlist.items()))
    return StateDocument(routes=routes, holds=holds, waitlist=waitlist)


class BookedStage(FrozenModel):
    """A stage booked, on its slot."""

    stage_id: str
    slot_id: str
    start: AwareDatetime


class StepRecord(FrozenModel):
    """One call of the booking saga (see :class:`routing.booking.saga.SagaStep`)."""

    attempt: int
    stage_id: str
    slot_id: str
    action: StepAction
    outcome: StepOutcome
    key: str


class BookDocument(FrozenModel):
    """What ``routing book`` did: the saga's outcome and the events journalled."""

    request_id: str
    status: SagaStatus
    booked: bool
    attempts: NonNegativeInt
    """Routes tried (the plan and its re-plans)."""
    bookings: tuple[BookedStage, ...]
    """One per stage when booked, else empty."""
    failed_slots: tuple[str, ...]
    orphans: tuple[str, ...]
    """Slots whose hold or booking could not be undone (look them up by key)."""
    steps: tuple[StepRecord, ...]
    events: tuple[str, ...]
    """The ids of the events appended, in order."""
    route: RouteState | None
    """The route in the journal after them (``None`` when nothing was appended)."""
    journal_events: NonNegativeInt
    """The events the journal holds now."""


def book_document(record: BookingRecord, *, request_id: str, journal_events: int) -> BookDocument:
    """The document of a booking (see :func:`routing.lifecycle.booking.book`)."""
    outcome = record.outcome
    bookings = (
        tuple(
            BookedStage(stage_id=b.stage_id, slot_id=b.slot_id, start=b.start)
            for b in outcome.route.bookings
        )
        if outcome.booked
        else ()
    )
    return BookDocument(
        request_id=request_id,
        status=outcome.status,
        booked=outcome.booked,
        attempts=outcome.attempts,
        bookings=bookings,
        failed_slots=outcome.failed_slots,
        orphans=tuple(o.slot_id for o in outcome.orphans),
        steps=tuple(
            StepRecord(
                attempt=s.attempt,
                stage_id=s.stage_id,
                slot_id=s.slot_id,
                action=s.action,
                outcome=s.outcome,
                key=s.key,
            )
            for s in outcome.steps
        ),
        events=tuple(e.event_id for e in record.events),
        route=record.route,
        journal_events=journal_events,
    )
