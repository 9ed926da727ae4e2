"""The reference back-end: places of a :class:`~routing.live.LiveSlots` state, in memory.

:class:`MemoryBackend` holds, books, releases and cancels places of a live state (thread-safe:
one lock around every call), idempotent by key: a call sent again with a key that succeeded
returns the first result without touching the state again. A :class:`FailurePlan` makes chosen
calls fail the way a remote source fails, for tests of the saga:

- :attr:`Fault.TAKEN`: someone else took the slot's last place just before the call;
- :attr:`Fault.UNAVAILABLE`: the call fails and changes nothing (retryable);
- :attr:`Fault.UNKNOWN`: the call succeeds, then its answer is lost
  (:class:`~routing.exceptions.UnknownOutcomeError`): a retry with the same key replays the
  success, and :meth:`MemoryBackend.reconcile` finds the booking;
- :attr:`Fault.CONFLICT`: the call is refused as a version conflict.

Examples
--------
>>> from routing.examples import load_example
>>> problem = load_example()
>>> live = LiveSlots.build(problem.facilities, problem.slots, travel=problem.travel)
>>> backend = MemoryBackend(live)
>>> slot_id = problem.slots[0].id
>>> hold = backend.hold(slot_id, "k1")
>>> backend.confirm(hold, "k2") == backend.confirm(hold, "k2")
True
>>> live.state(slot_id).booked
1
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from routing.booking.backend import Booking, Hold
from routing.exceptions import (
    BackendUnavailableError,
    BookingConflictError,
    NotHeldError,
    SlotStateError,
    SlotTakenError,
    UnknownOutcomeError,
)
from routing.live import LiveSlots

__all__ = ["FailurePlan", "Fault", "MemoryBackend"]

logger = logging.getLogger(__name__)

R = TypeVar("R")


class Fault(StrEnum):
    """How a planned call fails."""

    TAKEN = "taken"
    """The slot's free places are taken by someone else just before the call."""
    UNAVAILABLE = "unavailable"
    """The call fails with no effect (retryable)."""
    UNKNOWN = "unknown"
    """The call takes effect, then its answer is lost."""
    CONFLICT = "conflict"
    """The call is refused as a version conflict."""


@dataclass(frozen=True)
class FailurePlan:
    """Which calls of a :class:`MemoryBackend` fail, and how.

    Attributes
    ----------
    calls
        Fault by call number (1-based, counting every call the back-end receives, replays
        included). A fault applies to a replay too: an unknown outcome may repeat.
    taken
        Slots whose free places someone else takes just before the first call that names them.
    """

    calls: Mapping[int, Fault] = field(default_factory=lambda: MappingProxyType({}))
    taken: frozenset[str] = frozenset()


class MemoryBackend:
    """Holds and bookings of a :class:`~routing.live.LiveSlots` state (see the module doc).

    Parameters
    ----------
    live
        The state whose places are taken (shared with the planner that re-plans).
    failures
        Calls to fail, for tests.
    supports_hold
        Whether :meth:`hold` takes a place (``False`` makes it behave like a source without
        holds: :meth:`confirm` books a free place).
    """

    def __init__(
        self,
        live: LiveSlots,
        *,
        failures: FailurePlan | None = None,
        supports_hold: bool = True,
    ) -> None:
        self.live = live
        self.failures = failures or FailurePlan()
        self._supports_hold = supports_hold
        self._lock = threading.RLock()
        self._done: dict[str, Hold | Booking | None] = {}
        self._taken_done: set[str] = set()
        self.calls = 0
        """Calls received so far (replays included)."""
        self.taken_by_others: list[str] = []
        """The slots whose places a :attr:`Fault.TAKEN` gave to someone else, in order."""

    @property
    def supports_hold(self) -> bool:
        """Whether :meth:`hold` takes a place."""
        return self._supports_hold

    # ------------------------------------------------------------------ calls

    def hold(self, slot_id: str, key: str) -> Hold:
        """Hold one free place (or, without holds, give a token)."""

        def act() -> Hold:
            if not self._supports_hold:
                return Hold(slot_id, key, provisional=False)
            self._run(slot_id, lambda: self.live.hold(slot_id))
            return Hold(slot_id, key, ref=slot_id)

        return self._call(slot_id, key, act)

    def confirm(self, hold: Hold, key: str) -> Booking:
        """Book the held place (a free one for a token)."""
        slot_id = hold.slot_id

        def act() -> Booking:
            self._run(slot_id, lambda: self.live.book(slot_id, held=hold.provisional))
            return Booking(slot_id, key, ref=slot_id)

        return self._call(slot_id, key, act)

    def release(self, hold: Hold, key: str) -> None:
        """Give a held place back (nothing for a token)."""
        slot_id = hold.slot_id

        def act() -> None:
            if hold.provisional:
                self._run(slot_id, lambda: self.live.release(slot_id))

        self._call(slot_id, key, act)

    def cancel(self, booking: Booking, key: str) -> None:
        """Cancel a booking."""
        slot_id = booking.slot_id
        self._call(slot_id, key, lambda: self._run(slot_id, lambda: self.live.cancel(slot_id)))

    def reconcile(self, hold: Hold, key: str) -> Booking | None:
        """The booking the call with ``key`` made, if it made one."""
        with self._lock:
            done = self._done.get(key)
        return done if isinstance(done, Booking) else None

    # ------------------------------------------------------------------ machinery

    def _call(
        self,
        slot_id: str,
        key: str,
        act: Callable[[], R],
    ) -> R:
        with self._lock:
            self.calls += 1
            fault = self.failures.calls.get(self.calls)
            if slot_id in self.failures.taken and slot_id not in self._taken_done:
                self._taken_done.add(slot_id)
                fault = Fault.TAKEN
            if fault is Fault.TAKEN:
                self._take_all(slot_id)
            elif fault is Fault.UNAVAILABLE:
                raise BackendUnavailableError(slot_id, "the source is unavailable (planned)")
            elif fault is Fault.CONFLICT:
                raise BookingConflictError(slot_id, "version conflict (planned)")
            if key in self._done:
                logger.debug("memory back-end: call %s replayed", key)
                result: R = self._done[key]  # type: ignore[assignment]
            else:
                result = act()
                self._done[key] = result  # type: ignore[assignment]
            if fault is Fault.UNKNOWN:
                raise UnknownOutcomeError(slot_id, "the answer was lost (planned)")
            return result

    def _take_all(self, slot_id: str) -> None:
        """Someone else books every free place of the slot (none if ours is held already)."""
        if self.live.state(slot_id).free > 0:
            self.taken_by_others.append(slot_id)
        while self.live.state(slot_id).free > 0:
            self.live.book(slot_id, held=False)

    @staticmethod
    def _run(slot_id: str, command: Callable[[], None]) -> None:
        """Run a state command, its refusal as a booking error."""
        try:
            command()
        except NotHeldError as error:
            raise BookingConflictError(slot_id, error.reason) from None
        except SlotStateError as error:
            raise SlotTakenError(slot_id, error.reason) from None
