"""The booking saga: book every stage of a route or none.

:func:`book_route` takes a planned route and a :class:`~routing.booking.backend.BookingBackend`
and books the route's stages in a fixed order (by start, then stage id, then slot id):

1. With holds (``backend.supports_hold``): hold every stage's slot, then confirm every hold.
   Without holds (the city portal): book stage by stage.
2. When a call fails (the slot taken meanwhile, a version conflict, the source unavailable or
   silent after the retries), everything held or booked so far is compensated, in reverse order:
   a held place is released, a booked one cancelled, each call retried on retryable errors.
3. If ``replan`` is given, it is asked for a new route with every slot that failed so far
   blocked, and the saga starts again with that route, up to ``max_attempts`` routes in all.

Every call carries its own idempotency key ``"<prefix>:<attempt>:<stage>:<slot>:<action>"``:
the same saga sends the same keys, and a call sent again after a retryable failure carries the
same key, so the source books it once. After a confirmation whose answer was lost
(:class:`~routing.exceptions.UnknownOutcomeError`) the saga asks the back-end to reconcile
(look the booking up) before sending it again.

A call with an attempt left without an answer that fails for good is settled before
compensation: a hold is
sent once more with its key (the source gives back the hold it made, which is then released), a
confirmation is reconciled once more (a booking found is cancelled).

The outcome is all bookings or none, and the list of every call made (:class:`SagaStep`, with
its stage, slot, action, outcome and key) for the route's journal. A compensation that cannot be
made within its retries is reported as an orphan (:attr:`SagaOutcome.orphans`), never dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TypeVar

import numpy as np

from routing.booking.backend import Booking, BookingBackend, Hold
from routing.domain import RouteRequest
from routing.exceptions import (
    BackendUnavailableError,
    BookingConflictError,
    BookingError,
    SlotTakenError,
    UnknownOutcomeError,
)
from routing.live import LiveSlots
from routing.result import Booking as PlannedStage
from routing.result import RouteResult
from routing.solve import plan_route

__all__ = [
    "Replan",
    "SagaOutcome",
    "SagaStatus",
    "SagaStep",
    "StepAction",
    "StepOutcome",
    "book_route",
    "live_replanner",
]

logger = logging.getLogger(__name__)

R = TypeVar("R")

Replan = Callable[[frozenset[str]], RouteResult]
"""Plans again with the given slot ids blocked (see :func:`live_replanner`)."""


class StepAction(StrEnum):
    """What a call asked of the back-end."""

    HOLD = "hold"
    BOOK = "book"
    RELEASE = "release"
    CANCEL = "cancel"
    RECONCILE = "reconcile"


class StepOutcome(StrEnum):
    """How a call ended."""

    OK = "ok"
    TAKEN = "taken"
    """The slot has no free place (:class:`~routing.exceptions.SlotTakenError`)."""
    CONFLICT = "conflict"
    """A version conflict (:class:`~routing.exceptions.BookingConflictError`)."""
    UNAVAILABLE = "unavailable"
    """The source failed with no effect (:class:`~routing.exceptions.BackendUnavailableError`)."""
    UNKNOWN = "unknown"
    """Sent, no answer (:class:`~routing.exceptions.UnknownOutcomeError`)."""
    FAILED = "failed"
    """Another booking error."""
    FOUND = "found"
    """A reconciliation found the booking."""
    ABSENT = "absent"
    """A reconciliation found no booking."""


_OUTCOMES: tuple[tuple[type[BookingError], StepOutcome], ...] = (
    (SlotTakenError, StepOutcome.TAKEN),
    (BookingConflictError, StepOutcome.CONFLICT),
    (BackendUnavailableError, StepOutcome.UNAVAILABLE),
    (UnknownOutcomeError, StepOutcome.UNKNOWN),
)


def _outcome_of(error: BookingError) -> StepOutcome:
    return next((o for t, o in _OUTCOMES if isinstance(error, t)), StepOutcome.FAILED)


class SagaStatus(StrEnum):
    """How a saga ended."""

    BOOKED = "BOOKED"
    """Every stage is booked."""
    NO_ROUTE = "NO_ROUTE"
    """No route to book (the route given, or the latest re-plan, has none); nothing booked."""
    FAILED = "FAILED"
    """A call failed and no re-plan was allowed or left; nothing booked."""
    ORPHANED = "ORPHANED"
    """A call failed and a compensation could not be made: see :attr:`SagaOutcome.orphans`."""


@dataclass(frozen=True, slots=True)
class SagaStep:
    """One call of the saga, as the route's journal stores it.

    Attributes
    ----------
    attempt
        The route attempt (1 for the route given, 2 for the first re-plan, ...).
    stage_id, slot_id
        The stage and the slot the call names.
    action
        What was asked.
    outcome
        How it ended.
    key
        The call's idempotency key.
    """

    attempt: int
    stage_id: str
    slot_id: str
    action: StepAction
    outcome: StepOutcome
    key: str


@dataclass(frozen=True, slots=True)
class SagaOutcome:
    """What a saga did.

    Attributes
    ----------
    status
        How it ended.
    route
        The last route tried (the one booked when ``BOOKED``).
    bookings
        One per stage when ``BOOKED`` (in booking order), else empty.
    steps
        Every call, in order.
    attempts
        Routes tried.
    failed_slots
        The slots whose call failed, in order of failure.
    orphans
        Holds and bookings whose compensation could not be confirmed within the retries (they
        may still be taken at the source: look them up by key); empty unless ``ORPHANED``.
    """

    status: SagaStatus
    route: RouteResult
    bookings: tuple[Booking, ...]
    steps: tuple[SagaStep, ...]
    attempts: int
    failed_slots: tuple[str, ...]
    orphans: tuple[Hold | Booking, ...] = ()

    @property
    def booked(self) -> bool:
        """Whether every stage is booked."""
        return self.status is SagaStatus.BOOKED


class _StageFailedError(Exception):
    """A forward call that failed for good: its stage, action and error."""

    def __init__(self, stage: PlannedStage, action: StepAction, error: BookingError) -> None:
        super().__init__(stage.slot_id)
        self.stage = stage
        self.slot_id = stage.slot_id
        self.action = action
        self.error = error


@dataclass
class _Run:
    """One saga's calls and step records."""

    backend: BookingBackend
    key_prefix: str
    call_attempts: int
    steps: list[SagaStep]
    attempt: int = 1

    def key(self, stage: PlannedStage, action: StepAction) -> str:
        return f"{self.key_prefix}:{self.attempt}:{stage.stage_id}:{stage.slot_id}:{action.value}"

    def record(
        self, stage: PlannedStage, action: StepAction, outcome: StepOutcome, key: str
    ) -> None:
        self.steps.append(
            SagaStep(self.attempt, stage.stage_id, stage.slot_id, action, outcome, key)
        )

    def send(
        self,
        stage: PlannedStage,
        action: StepAction,
        call: Callable[[str], R],
        *,
        attempts: int | None = None,
        reconcile: Callable[[str], Booking | None] | None = None,
    ) -> R | Booking:
        """``call(key)`` retried with the same key on retryable errors; the last error raised.

        After an unknown outcome, ``reconcile(key)`` is asked first: a booking it finds is the
        call's result.
        """
        key = self.key(stage, action)
        tries = attempts or self.call_attempts
        for n in range(1, tries + 1):
            try:
                result = call(key)
            except BookingError as error:
                self.record(stage, action, _outcome_of(error), key)
                logger.info("%s %s: %s", action.value, key, type(error).__name__)
                if isinstance(error, UnknownOutcomeError) and reconcile is not None:
                    found = self._reconcile(stage, key, reconcile)
                    if found is not None:
                        return found
                if not error.retryable or n == tries:
                    raise
                continue
            self.record(stage, action, StepOutcome.OK, key)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _reconcile(
        self, stage: PlannedStage, key: str, reconcile: Callable[[str], Booking | None]
    ) -> Booking | None:
        try:
            found = reconcile(key)
        except BookingError as error:
            self.record(stage, StepAction.RECONCILE, _outcome_of(error), key)
            return None
        outcome = StepOutcome.ABSENT if found is None else StepOutcome.FOUND
        self.record(stage, StepAction.RECONCILE, outcome, key)
        return found


def _order(route: RouteResult) -> list[PlannedStage]:
    return sorted(route.bookings, key=lambda b: (b.start, b.stage_id, b.slot_id))


def _forward(
    run: _Run, route: RouteResult, holds: list[tuple[PlannedStage, Hold]], booked: list[Booking]
) -> None:
    """Hold and book every stage; :class:`_StageFailedError` at the first call that fails."""
    backend = run.backend

    def hold(stage: PlannedStage) -> Hold:
        if not backend.supports_hold:
            return backend.hold(stage.slot_id, run.key(stage, StepAction.HOLD))
        made = run.send(stage, StepAction.HOLD, lambda key: backend.hold(stage.slot_id, key))
        assert isinstance(made, Hold)
        return made

    def book(stage: PlannedStage, held: Hold) -> Booking:
        made = run.send(
            stage,
            StepAction.BOOK,
            lambda key: backend.confirm(held, key),
            reconcile=lambda key: backend.reconcile(held, key),
        )
        assert isinstance(made, Booking)
        return made

    stages = _order(route)
    action = StepAction.HOLD
    try:
        for stage in stages:
            current, action = stage, StepAction.HOLD
            holds.append((stage, hold(stage)))
            if not backend.supports_hold:
                action = StepAction.BOOK
                booked.append(book(stage, holds[-1][1]))
        for stage, held in holds[len(booked) :]:
            current, action = stage, StepAction.BOOK
            booked.append(book(stage, held))
    except BookingError as error:
        raise _StageFailedError(current, action, error) from None


def _settle(
    run: _Run,
    failure: _StageFailedError,
    holds: list[tuple[PlannedStage, Hold]],
    booked: list[Booking],
) -> list[Hold | Booking]:
    """After a failed call with an attempt left without an answer, find what it made, so that
    compensation undoes it too; what could not be found out (an orphan, maybe)."""
    backend, stage = run.backend, failure.stage
    sent = run.key(stage, failure.action)
    if not any(s.key == sent and s.outcome is StepOutcome.UNKNOWN for s in run.steps):
        return []  # every attempt of the call was refused or surely not made
    if failure.action is StepAction.HOLD:
        # sent once more with its key: the hold it made comes back (or one is made now)
        key = run.key(stage, StepAction.HOLD)
        try:
            made = backend.hold(stage.slot_id, key)
        except BookingError as error:
            run.record(stage, StepAction.RECONCILE, _outcome_of(error), key)
            logger.warning("hold of slot %r unresolved; left as an orphan", stage.slot_id)
            return [Hold(stage.slot_id, key)]
        run.record(stage, StepAction.RECONCILE, StepOutcome.FOUND, key)
        holds.append((stage, made))
        return []
    held = holds[len(booked)][1]
    key = run.key(stage, StepAction.BOOK)
    found = run._reconcile(stage, key, partial(backend.reconcile, held))
    if found is not None:
        booked.append(found)
        return []
    if run.steps[-1].outcome is StepOutcome.ABSENT:
        return []
    logger.warning("booking of slot %r unresolved; left as an orphan", stage.slot_id)
    return [Booking(stage.slot_id, key, ref=held.ref, version=held.version)]


def _compensate(
    run: _Run, holds: list[tuple[PlannedStage, Hold]], booked: list[Booking]
) -> list[Hold | Booking]:
    """Cancel every booking and release every other hold, in reverse order; what is left."""
    backend = run.backend
    left: list[Hold | Booking] = []
    tries = 2 * run.call_attempts
    for i in reversed(range(len(holds))):
        stage, held = holds[i]
        try:
            if i < len(booked):
                made = booked[i]
                run.send(stage, StepAction.CANCEL, partial(backend.cancel, made), attempts=tries)
            elif held.provisional:
                run.send(stage, StepAction.RELEASE, partial(backend.release, held), attempts=tries)
        except BookingError:
            orphan: Hold | Booking = booked[i] if i < len(booked) else held
            logger.warning("compensation of slot %r failed; left as an orphan", stage.slot_id)
            left.append(orphan)
    return left


def book_route(
    route: RouteResult,
    backend: BookingBackend,
    *,
    replan: Replan | None = None,
    max_attempts: int = 3,
    key_prefix: str,
    call_attempts: int = 3,
) -> SagaOutcome:
    """Book every stage of ``route`` through ``backend``, or none (see the module doc).

    Parameters
    ----------
    route
        The planned route (a result without a route books nothing: ``NO_ROUTE``).
    backend
        Where to book.
    replan
        Called with every slot id that failed so far; returns a new route. ``None``: no re-plan.
    max_attempts
        Routes tried at most (the first included).
    key_prefix
        The idempotency keys' prefix: one per saga (e.g. the request id and a run id). The same
        prefix sends the same keys.
    call_attempts
        Attempts of each call on retryable errors (twice as many for compensations).

    Returns
    -------
    SagaOutcome
        ``BOOKED`` with one booking per stage, else nothing booked (or the orphans named).

    Raises
    ------
    ValueError
        If ``max_attempts`` or ``call_attempts`` is below 1.

    Examples
    --------
    >>> from routing.examples import load_example
    >>> from routing.booking.memory import MemoryBackend
    >>> from routing.solve import plan_route
    >>> problem = load_example()
    >>> live = LiveSlots.build(problem.facilities, problem.slots, travel=problem.travel)
    >>> request = problem.requests[0]
    >>> outcome = book_route(plan_route(request, live), MemoryBackend(live), key_prefix="R1")
    >>> outcome.status.value, len(outcome.bookings) == len(outcome.route.bookings)
    ('BOOKED', True)
    """
    if max_attempts < 1 or call_attempts < 1:
        raise ValueError("max_attempts and call_attempts must be at least 1")
    run = _Run(backend, key_prefix, call_attempts, [])
    failed: list[str] = []
    while True:
        if not route.has_route:
            return _outcome(SagaStatus.NO_ROUTE, route, (), run, failed)
        holds: list[tuple[PlannedStage, Hold]] = []
        booked: list[Booking] = []
        try:
            _forward(run, route, holds, booked)
        except _StageFailedError as failure:
            failed.append(failure.slot_id)
            left = _settle(run, failure, holds, booked)
            left += _compensate(run, holds, booked)
            if left:
                return _outcome(SagaStatus.ORPHANED, route, (), run, failed, tuple(left))
            if replan is None or run.attempt >= max_attempts:
                return _outcome(SagaStatus.FAILED, route, (), run, failed)
            route = replan(frozenset(failed))
            run.attempt += 1
            continue
        return _outcome(SagaStatus.BOOKED, route, tuple(booked), run, failed)


def _outcome(
    status: SagaStatus,
    route: RouteResult,
    bookings: tuple[Booking, ...],
    run: _Run,
    failed: Sequence[str],
    orphans: tuple[Hold | Booking, ...] = (),
) -> SagaOutcome:
    logger.info(
        "saga %s: %s after %d attempt(s), %d calls",
        run.key_prefix,
        status.value,
        run.attempt,
        len(run.steps),
    )
    return SagaOutcome(
        status=status,
        route=route,
        bookings=bookings,
        steps=tuple(run.steps),
        attempts=run.attempt,
        failed_slots=tuple(failed),
        orphans=orphans,
    )


def live_replanner(
    request: RouteRequest, live: LiveSlots, plan: Callable[..., RouteResult] | None = None
) -> Replan:
    """A :data:`Replan` that plans ``request`` over ``live`` with the failed slots blocked.

    Parameters
    ----------
    request
        The request to plan again.
    live
        The live state (its full and withdrawn slots are blocked as well).
    plan
        The planner, called as ``plan(request, live, blocked=mask)``
        (default :func:`routing.solve.plan_route`).
    """
    planner = plan_route if plan is None else plan

    def replan(failed: frozenset[str]) -> RouteResult:
        index = live.index
        mask = np.zeros(len(index.slots), dtype=np.bool_)
        for slot_id in failed:
            position = index.slot_position.get(slot_id)
            if position is not None:
                mask[position] = True
        return planner(request, live, blocked=mask)

    return replan
