"""What the booking saga asks of a source of appointments: the :class:`BookingBackend` protocol.

A back-end takes and gives back places of slots named by the library's slot id. Every call carries
an idempotency key: a call sent again with the same key has the effect of one call (the back-end
replays the first result, or the source itself deduplicates, or the back-end looks the booking up
before sending again).

A back-end that can hold a place (``supports_hold``) takes it provisionally with :meth:`hold`
and makes it final with :meth:`confirm`; :meth:`release` gives a held place back. A back-end
without holds (the city portal) takes nothing at :meth:`hold` (the returned :class:`Hold` is
only a token) and books at :meth:`confirm`; the saga then confirms stage by stage and cancels on
failure. :meth:`reconcile` answers, after an :class:`~routing.exceptions.UnknownOutcomeError`,
whether the source made the booking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Booking", "BookingBackend", "Hold"]


@dataclass(frozen=True, slots=True)
class Hold:
    """A place held at the source (or, for a back-end without holds, a token for one).

    Attributes
    ----------
    slot_id
        The library's slot id.
    key
        The idempotency key of the call that made it.
    ref
        The source's id of the hold (a FHIR Appointment id), or ``""`` when there is none.
    version
        The source's version of that record (for ``If-Match``), if it has versions.
    provisional
        Whether a place was actually taken (false for a back-end without holds).
    """

    slot_id: str
    key: str
    ref: str = ""
    version: str | None = None
    provisional: bool = True


@dataclass(frozen=True, slots=True)
class Booking:
    """A place booked at the source (final until cancelled).

    Not to be confused with :class:`routing.result.Booking`, a stage of a planned route.

    Attributes
    ----------
    slot_id
        The library's slot id.
    key
        The idempotency key of the call that made it.
    ref
        The source's id of the booking (an Appointment id, the portal's slot id).
    version
        The source's version of that record, if it has versions.
    """

    slot_id: str
    key: str
    ref: str = ""
    version: str | None = None


@runtime_checkable
class BookingBackend(Protocol):
    """A source of appointments that the saga books through.

    Every method raises a :class:`~routing.exceptions.BookingError` when it fails:
    :class:`~routing.exceptions.SlotTakenError` (no free place),
    :class:`~routing.exceptions.BackendUnavailableError` (retryable, no effect),
    :class:`~routing.exceptions.BookingConflictError` (a version conflict) or
    :class:`~routing.exceptions.UnknownOutcomeError` (sent, no answer: reconcile).
    """

    @property
    def supports_hold(self) -> bool:
        """Whether :meth:`hold` takes a place (else it is a token and :meth:`confirm` books)."""
        ...

    def hold(self, slot_id: str, key: str) -> Hold:
        """Hold one place of ``slot_id``."""
        ...

    def confirm(self, hold: Hold, key: str) -> Booking:
        """Book the held place (or, without holds, one free place of the slot)."""
        ...

    def release(self, hold: Hold, key: str) -> None:
        """Give a held place back (nothing to do for a token)."""
        ...

    def cancel(self, booking: Booking, key: str) -> None:
        """Cancel a booking."""
        ...

    def reconcile(self, hold: Hold, key: str) -> Booking | None:
        """The booking that the :meth:`confirm` call with ``key`` made, if the source made it."""
        ...
