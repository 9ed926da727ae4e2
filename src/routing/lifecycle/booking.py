"""Booking a planned route through the saga, with every step the journal needs.

:func:`book` runs :func:`routing.booking.saga.book_route` for one planned route and appends,
as one batch (all or none), the events that make the journal's state the saga's outcome:

==================================  ================================================
saga step                           event
==================================  ================================================
the route given                     ``route_proposed`` (every stage proposed)
hold ``ok`` (or a hold found)       ``stage_held``
book ``ok`` (or a booking found)    ``stage_booked``
release ``ok``                      ``stage_released``
cancel ``ok`` (a compensation)      ``stage_cancelled``
the call that failed, after undo    ``booking_failed`` (the route goes on the waitlist)
a re-plan with a route              ``route_revised``
==================================  ================================================

So a booked saga leaves every stage ``booked``, and a failed one leaves no place held or
booked in the journal (the failed stage waits for a re-plan). A compensation the saga could not
make (:attr:`~routing.booking.saga.SagaOutcome.orphans`) leaves its stage held or booked in the
journal too, so the place is not offered again until someone looks it up.

:func:`memory_backend` builds the reference back-end on a copy of the journal's live capacity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from routing.booking.backend import BookingBackend
from routing.booking.memory import FailurePlan, MemoryBackend
from routing.booking.saga import (
    Replan,
    SagaOutcome,
    SagaStatus,
    SagaStep,
    StepAction,
    StepOutcome,
    book_route,
)
from routing.exceptions import InvalidInputError, InvalidTransitionError
from routing.lifecycle.events import (
    BookingFailed,
    Event,
    PlannedStage,
    RouteProposed,
    RouteRevised,
    StageBooked,
    StageCancelled,
    StageHeld,
    StageReleased,
)
from routing.lifecycle.model import RouteState
from routing.lifecycle.service import Service
from routing.result import RouteResult

__all__ = ["BookingRecord", "book", "memory_backend", "saga_events"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BookingRecord:
    """A route booked (or not) and journalled.

    Attributes
    ----------
    outcome
        What the saga did.
    events
        The events appended, in order (none when there was no route to book).
    route
        The route's state after them (``None`` when nothing was appended).
    """

    outcome: SagaOutcome
    events: tuple[Event, ...]
    route: RouteState | None

    @property
    def booked(self) -> bool:
        """Whether every stage is booked."""
        return self.outcome.booked


def memory_backend(service: Service, *, failures: FailurePlan | None = None) -> MemoryBackend:
    """A :class:`~routing.booking.memory.MemoryBackend` over a copy of the journal's live slots.

    Raises
    ------
    InvalidInputError
        If the journal holds no published slots.
    """
    live = service.state().live
    if live is None:
        raise InvalidInputError("journal", "slots", "no slots are published")
    return MemoryBackend(live.copy(), failures=failures)


def book(
    service: Service,
    result: RouteResult,
    backend: BookingBackend,
    *,
    at: datetime,
    replan: Replan | None = None,
    max_attempts: int = 3,
    key_prefix: str | None = None,
    route_id: str | None = None,
) -> BookingRecord:
    """Book the planned ``result`` through ``backend`` and journal every step (module doc).

    Parameters
    ----------
    service
        The journal's service (read fresh first; the events are appended as one batch).
    result
        The planned route (a result without a route books nothing and appends nothing).
    backend
        Where to book (e.g. :func:`memory_backend`).
    at
        The time of every event appended.
    replan
        Asked for a new route with the failed slots blocked (see
        :func:`~routing.booking.saga.live_replanner`); ``None``: no re-plan.
    max_attempts
        Routes tried at most.
    key_prefix
        The saga's idempotency-key prefix and the events' id prefix; the route id by default.
    route_id
        The route's id in the journal; the request's id by default.

    Raises
    ------
    InvalidTransitionError
        If the journal holds a route with that id already (nothing is sent to the back-end:
        a request is booked once).
    LifecycleError, ConflictError
        If the journal refuses the events (as :meth:`Journal.append_all`); the back-end's
        bookings are then not journalled.

    Examples
    --------
    >>> from routing.examples import load_example
    >>> from routing.solve import plan_route
    >>> problem = load_example()
    >>> request = problem.requests[0]
    >>> at = request.referral
    >>> with Service.open("sqlite://") as service:
    ...     state = service.publish(problem.facilities, problem.slots, event_id="P", at=at)
    ...     result = plan_route(request, state.live)
    ...     record = book(service, result, memory_backend(service), at=at)
    >>> record.outcome.status.value, {s.status.value for s in record.route.stages}
    ('BOOKED', {'booked'})
    """
    route = route_id or result.request_id
    prefix = key_prefix or route
    state = service.state()
    if route in state.routes:
        raise InvalidTransitionError(
            f"{route}:proposed", "route_id", f"route {route!r} is in the journal already"
        )
    routes = [result]

    def recording(failed: frozenset[str]) -> RouteResult:
        assert replan is not None
        new = replan(failed)
        routes.append(new)
        return new

    outcome = book_route(
        result,
        backend,
        replan=None if replan is None else recording,
        max_attempts=max_attempts,
        key_prefix=prefix,
    )
    if not result.has_route:
        return BookingRecord(outcome, (), None)
    events = saga_events(outcome, routes, route_id=route, prefix=prefix, at=at)
    after = service.journal.append_all(list(events))
    logger.info("route %s: %s, %d event(s)", route, outcome.status.value, len(events))
    return BookingRecord(outcome, events, after.routes[route])


def saga_events(
    outcome: SagaOutcome,
    routes: list[RouteResult],
    *,
    route_id: str,
    prefix: str,
    at: datetime,
) -> tuple[Event, ...]:
    """The events that journal a saga's outcome (see the module doc).

    Parameters
    ----------
    outcome
        The saga's outcome.
    routes
        The route of each attempt, in order (the first one given, then each re-plan).
    route_id, prefix, at
        The route's id, the events' id prefix, and their time.
    """
    first = routes[0]
    events: list[Event] = [
        RouteProposed(
            event_id=f"{prefix}:proposed",
            at=at,
            route_id=route_id,
            request_id=first.request_id,
            patient_id=first.patient_id,
            pathway_id=first.pathway_id,
            stages=tuple(
                PlannedStage(stage_id=b.stage_id, slot_id=b.slot_id) for b in first.bookings
            ),
        )
    ]
    status: dict[str, StepAction | None] = {b.stage_id: None for b in first.bookings}

    n = 0

    def next_id(what: str) -> str:
        nonlocal n
        n += 1
        return f"{prefix}:{n}:{what}"

    def stage_event(step: SagaStep) -> Event | None:
        """The event of one step (``None``: none), the stage's status noted."""
        stage = step.stage_id
        if step.outcome is StepOutcome.OK and step.action is StepAction.HOLD:
            status[stage] = StepAction.HOLD
            return StageHeld(event_id=next_id("held"), at=at, route_id=route_id, stage_id=stage)
        found_booking = (
            step.action is StepAction.RECONCILE
            and step.outcome is StepOutcome.FOUND
            and step.key.endswith(":book")
        )
        if (step.outcome is StepOutcome.OK and step.action is StepAction.BOOK) or found_booking:
            status[stage] = StepAction.BOOK
            return StageBooked(event_id=next_id("booked"), at=at, route_id=route_id, stage_id=stage)
        if step.action is StepAction.RECONCILE and step.outcome is StepOutcome.FOUND:
            status[stage] = StepAction.HOLD  # a hold sent once more came back
            return StageHeld(event_id=next_id("held"), at=at, route_id=route_id, stage_id=stage)
        ok = step.outcome is StepOutcome.OK
        if ok and step.action is StepAction.RELEASE and status.get(stage) is StepAction.HOLD:
            status[stage] = None
            return StageReleased(
                event_id=next_id("released"), at=at, route_id=route_id, stage_id=stage
            )
        if ok and step.action is StepAction.CANCEL and status.get(stage) is StepAction.BOOK:
            status[stage] = None
            return StageCancelled(
                event_id=next_id("cancelled"), at=at, route_id=route_id, stage_id=stage
            )
        return None

    for attempt, route in enumerate(routes, start=1):
        if attempt > 1:
            if not route.has_route:
                break
            events.append(
                RouteRevised(
                    event_id=next_id("revised"),
                    at=at,
                    route_id=route_id,
                    stages=tuple(
                        PlannedStage(stage_id=b.stage_id, slot_id=b.slot_id) for b in route.bookings
                    ),
                )
            )
        for step in outcome.steps:
            if step.attempt == attempt:
                made = stage_event(step)
                if made is not None:
                    events.append(made)
        last = attempt == outcome.attempts
        if last and outcome.status is SagaStatus.BOOKED:
            break
        if attempt - 1 < len(outcome.failed_slots):
            slot_id = outcome.failed_slots[attempt - 1]
            stage_id = next((b.stage_id for b in route.bookings if b.slot_id == slot_id), None)
            if stage_id is not None and status.get(stage_id) is None:
                events.append(
                    BookingFailed(
                        event_id=next_id("failed"), at=at, route_id=route_id, stage_id=stage_id
                    )
                )
    return tuple(events)
