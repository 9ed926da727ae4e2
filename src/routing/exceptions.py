"""The exceptions of the routing package, one hierarchy that callers can catch by meaning.

Every error that bad input causes is an :class:`InvalidInputError` (a :class:`ValueError`) whose
message names the record and the field and says what was expected. Messages never carry patient
data or input values: records are named by their id, or by their position when the id is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "BackendUnavailableError",
    "BookingConflictError",
    "BookingError",
    "CalendarRangeError",
    "ConflictError",
    "DuplicateEventError",
    "InvalidInputError",
    "InvalidProblemError",
    "InvalidTransitionError",
    "LifecycleError",
    "LifecycleSlotError",
    "NaiveDatetimeError",
    "NotHeldError",
    "OutOfOrderError",
    "OutputPathError",
    "OverCapacityError",
    "RoutingError",
    "SlotStateError",
    "SlotTakenError",
    "SlotWithdrawnError",
    "UnknownEventSlotError",
    "UnknownOutcomeError",
    "UnknownRouteError",
    "UnknownSlotError",
    "UnknownStageError",
]


class RoutingError(Exception):
    """Base class of every error raised by :mod:`routing`."""


class InvalidInputError(RoutingError, ValueError):
    """Bad input: a record with a field that is missing, malformed or inconsistent.

    Parameters
    ----------
    record
        The record, by its id where it has one (``"slot 'S17'"``), else by its position
        (``"slots[3]"``).
    field
        The offending field as a dotted path (``"end"``, ``"patient.unavailable.0.end"``), or ``""``
        when the record as a whole is wrong.
    reason
        What is wrong and what was expected.
    value
        The offending input value, when the caller wants it (to show it to the person who owns
        the data, say). It may be personal data, so it is kept as :attr:`value` only: never in
        ``str()``, ``repr()`` or :attr:`args`.

    Examples
    --------
    >>> error = InvalidInputError("request 'R1'", "diagnoses.0", "not a code", value="X99.9")
    >>> str(error)
    "request 'R1', field 'diagnoses.0': not a code"
    >>> error.value
    'X99.9'
    """

    def __init__(self, record: str, field: str, reason: str, *, value: Any = None) -> None:
        self.record = record
        self.field = field
        self.reason = reason
        self.value = value
        where = f"{record}, field {field!r}" if field else record
        super().__init__(f"{where}: {reason}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.record!r}, {self.field!r}, {self.reason!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The value is left out: a pickled error may travel to a log or another process.
        return (type(self), (self.record, self.field, self.reason))


class InvalidProblemError(InvalidInputError):
    """A problem document with one or more issues; all of them are in :attr:`issues`.

    The record, field, reason and message are those of the first issue, with a count of the rest.

    Parameters
    ----------
    issues
        Every issue found, in document order; at least one.
    """

    def __init__(self, issues: Sequence[InvalidInputError]) -> None:
        if not issues:
            raise ValueError("an InvalidProblemError needs at least one issue")
        self.issues: tuple[InvalidInputError, ...] = tuple(issues)
        first = self.issues[0]
        super().__init__(first.record, first.field, first.reason)
        if len(self.issues) > 1:
            more = len(self.issues) - 1
            self.args = (f"{self.args[0]} (and {more} more issue{'s' if more > 1 else ''})",)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.issues)} issue(s))"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.issues,))


class NaiveDatetimeError(InvalidInputError):
    """Datetimes without a UTC offset in a file read without a zone for them: one error per file.

    Raised once for the whole file (at its first naive datetime), not once a row: the fix is the
    same for every row (give a time zone, or add offsets), and nothing of the file is used.
    """


class CalendarRangeError(InvalidInputError):
    """A date outside the range the working-day calendar covers."""


class OutputPathError(InvalidInputError):
    """An output path that cannot be written: a directory where a file is expected, or the reverse.

    Raised before any work starts, so a bad path never costs a run (see
    :mod:`routing.outputs.atomic`).

    Parameters
    ----------
    option
        The option or argument that named the path (``"--output"``).
    path
        The path as given.
    reason
        What is wrong with it.
    """

    def __init__(self, option: str, path: str, reason: str) -> None:
        self.option = option
        self.path = path
        self.why = reason
        super().__init__(option, "", f"{path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.option, self.path, self.why))


class SlotStateError(RoutingError):
    """A command on live slot capacity (:class:`routing.live.LiveSlots`) that the state refuses.

    Parameters
    ----------
    slot_id
        The slot the command names.
    reason
        Why it is refused.

    Examples
    --------
    >>> str(OverCapacityError("S17", "no free place (capacity 1, held 1, booked 0)"))
    "slot 'S17': no free place (capacity 1, held 1, booked 0)"
    """

    def __init__(self, slot_id: str, reason: str) -> None:
        self.slot_id = slot_id
        self.reason = reason
        super().__init__(f"slot {slot_id!r}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.slot_id, self.reason))


class UnknownSlotError(SlotStateError, LookupError):
    """A command names a slot the live state does not hold."""


class SlotWithdrawnError(SlotStateError):
    """A hold or booking of a withdrawn slot, or a second withdrawal."""


class OverCapacityError(SlotStateError):
    """A hold or booking beyond the slot's free places."""


class NotHeldError(SlotStateError):
    """A release or booking of a hold that was not taken, or a cancellation of a booking that
    was not made."""


class LifecycleError(InvalidInputError):
    """An event or command of the route lifecycle (:mod:`routing.lifecycle`) that the state
    refuses; the state and the journal are left as they were.

    The record is the event (``"event 'E17'"``), the field the one at fault; the route, stage and
    slot the event names are kept as attributes (ids only: never patient data).

    Parameters
    ----------
    event_id
        The refused event.
    field
        Its offending field (``"route_id"``, ``"stage_id"``, ``"slot_id"``, ``"at"``, ...).
    reason
        Why it is refused.
    route_id, stage_id, slot_id
        What the event names, where it names it.

    Examples
    --------
    >>> str(UnknownRouteError("E1", "route_id", "no route 'R9'", route_id="R9"))
    "event 'E1', field 'route_id': no route 'R9'"
    """

    def __init__(
        self,
        event_id: str,
        field: str,
        reason: str,
        *,
        route_id: str | None = None,
        stage_id: str | None = None,
        slot_id: str | None = None,
    ) -> None:
        self.event_id = event_id
        self.route_id = route_id
        self.stage_id = stage_id
        self.slot_id = slot_id
        super().__init__(f"event {event_id!r}", field, reason)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_lifecycle_error,
            (
                type(self),
                self.event_id,
                self.field,
                self.reason,
                self.route_id,
                self.stage_id,
                self.slot_id,
            ),
        )


def _rebuild_lifecycle_error(
    cls: type[LifecycleError],
    event_id: str,
    field: str,
    reason: str,
    route_id: str | None,
    stage_id: str | None,
    slot_id: str | None,
) -> LifecycleError:
    return cls(event_id, field, reason, route_id=route_id, stage_id=stage_id, slot_id=slot_id)


class UnknownRouteError(LifecycleError, LookupError):
    """An event names a route the state does not hold."""


class UnknownStageError(LifecycleError, LookupError):
    """An event names a stage its route does not have."""


class LifecycleSlotError(LifecycleError):
    """An event whose slot the live capacity refuses (no free place, withdrawn, not held)."""


class UnknownEventSlotError(LifecycleSlotError, LookupError):
    """An event names a slot the live capacity does not hold."""


class OutOfOrderError(LifecycleError):
    """An event that cannot have happened yet: a visit attended or missed before it starts, a
    result before its visit."""


class InvalidTransitionError(LifecycleError):
    """An event that the stage's or route's status does not allow (booking a cancelled stage,
    proposing a route twice)."""


class DuplicateEventError(LifecycleError):
    """An event whose id the journal holds already."""


class ConflictError(RoutingError):
    """Another writer changed the slot (or the route) since this one read it: re-read the state
    and re-plan. The journal is unchanged.

    Parameters
    ----------
    event_id
        The event that lost.
    reason
        What changed under it (the slot or route, by id).
    """

    def __init__(self, event_id: str, reason: str) -> None:
        self.event_id = event_id
        self.reason = reason
        super().__init__(f"event {event_id!r}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.event_id, self.reason))


class BookingError(RoutingError):
    """A booking call (hold, confirm, release, cancel) that a back-end refused or could not make.

    The message names the slot id and says why; it never carries the patient's data or the
    source's free text (which may echo it).

    Parameters
    ----------
    slot_id
        The slot the call names.
    reason
        Why it failed (no input values).

    Attributes
    ----------
    retryable
        Whether the same call (with the same idempotency key) may succeed if sent again.

    Examples
    --------
    >>> str(SlotTakenError("S17", "taken meanwhile"))
    "slot 'S17': taken meanwhile"
    >>> SlotTakenError.retryable, BackendUnavailableError.retryable
    (False, True)
    """

    retryable: bool = False

    def __init__(self, slot_id: str, reason: str) -> None:
        self.slot_id = slot_id
        self.reason = reason
        super().__init__(f"slot {slot_id!r}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.slot_id, self.reason))


class SlotTakenError(BookingError):
    """The slot has no free place at the source any more (taken meanwhile, or withdrawn)."""


class BackendUnavailableError(BookingError):
    """The source could not be reached or failed (a connection error, HTTP 5xx, the clinic's own
    system): the call surely had no effect, and trying it again may succeed."""

    retryable = True


class BookingConflictError(BookingError):
    """The source refused an update because the record changed meanwhile (HTTP 409 / 412): a
    version conflict, not a lack of places."""


class UnknownOutcomeError(BookingError):
    """The request was sent but no answer came (a timeout after sending): the source may have
    made the change. Reconcile (look the booking up) before trying again."""

    retryable = True
