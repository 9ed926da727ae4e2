"""Booking a planned route at the sources of its slots: all stages or none.

- :mod:`routing.booking.backend`: the :class:`BookingBackend` protocol, :class:`Hold`,
  :class:`Booking`;
- :mod:`routing.booking.memory`: the reference back-end over a live state;
- :mod:`routing.booking.portal`: the city appointment portal (no holds);
- :mod:`routing.booking.fhir`: a FHIR server's Appointment resource;
- :mod:`routing.booking.saga`: :func:`book_route`, the saga.

The errors (:class:`BookingError` and its kinds) live in :mod:`routing.exceptions` and are
re-exported here.
"""

from routing.booking.backend import Booking, BookingBackend, Hold
from routing.booking.memory import FailurePlan, Fault, MemoryBackend
from routing.booking.saga import (
    Replan,
    SagaOutcome,
    SagaStatus,
    SagaStep,
    StepAction,
    StepOutcome,
    book_route,
    live_replanner,
)
from routing.exceptions import (
    BackendUnavailableError,
    BookingConflictError,
    BookingError,
    SlotTakenError,
    UnknownOutcomeError,
)

__all__ = [
    "BackendUnavailableError",
    "Booking",
    "BookingBackend",
    "BookingConflictError",
    "BookingError",
    "FailurePlan",
    "Fault",
    "Hold",
    "MemoryBackend",
    "Replan",
    "SagaOutcome",
    "SagaStatus",
    "SagaStep",
    "SlotTakenError",
    "StepAction",
    "StepOutcome",
    "UnknownOutcomeError",
    "book_route",
    "live_replanner",
]
