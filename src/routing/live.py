"""Live slot capacity: the free places of every slot as holds, bookings and withdrawals happen.

A :class:`LiveSlots` wraps a :class:`~routing.slot_index.SlotIndex` and keeps, per slot
position, its capacity, the places held and booked, and whether it was withdrawn, in numpy
arrays, with the mask of the slots that have no free place left (``blocked``) kept in step.
Every command is a pure, deterministic method that names the slot by id, checks the state and
either changes it or raises a :class:`~routing.exceptions.SlotStateError` naming the slot:

=============  ===========================================  ===============================
command        effect                                       refused with
=============  ===========================================  ===============================
``add``        a new slot with all its places free          ``InvalidInputError`` (a known
                                                            id, an unknown facility)
``withdraw``   no place of the slot may be taken any more   ``SlotWithdrawnError`` (twice)
``hold``       one free place becomes held                  ``OverCapacityError``,
                                                            ``SlotWithdrawnError``
``book``       a held place (or, with ``held=False``, a     ``NotHeldError``,
               free one) becomes booked                     ``OverCapacityError``, ...
``release``    a held place becomes free again              ``NotHeldError``
``cancel``     a booked place becomes free again            ``NotHeldError``
=============  ===========================================  ===============================

Every command names an unknown slot with ``UnknownSlotError``. Holds, bookings, releases,
cancellations and withdrawals cost O(1) (a dictionary look-up and a few array entries). A new
slot costs O(1) amortised: it is checked, given the next position and appended to the state
arrays (grown by doubling), and queued for the index. The index the planners read
(:attr:`LiveSlots.index`) takes the queued slots in at its next read, all at once, with
:meth:`SlotIndex.extended` (the old slots copied as arrays, only the new ones converted one by
one; see ``benchmarks/bench_live.py`` for what that costs). Positions never change: a withdrawn
slot stays in the index, blocked.

:func:`~routing.solve.plan_route` and :func:`~routing.batch.plan_batch` take a
:class:`LiveSlots` where they take an index: the single route avoids the blocked slots; the
batch starts from the free places. Over a live state, a route is the one planned over an index
built afresh from the slots with a free place (``tests/test_live.py`` holds it to that).

Examples
--------
>>> from routing.examples import load_example
>>> problem = load_example()
>>> live = LiveSlots.build(problem.facilities, problem.slots, travel=problem.travel)
>>> slot_id = problem.slots[0].id
>>> live.hold(slot_id)
>>> live.book(slot_id)
>>> live.state(slot_id).free
0
>>> live.cancel(slot_id)
>>> live.state(slot_id).free
1
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing.calendar import WorkingCalendar
from routing.domain import Facility, Slot, TravelModel
from routing.exceptions import (
    CalendarRangeError,
    InvalidInputError,
    NotHeldError,
    OverCapacityError,
    SlotWithdrawnError,
    UnknownSlotError,
)
from routing.slot_index import SlotIndex

__all__ = ["LiveSlots", "LiveSnapshot", "SlotState"]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SlotState:
    """The places of one slot.

    Attributes
    ----------
    slot_id
        The slot.
    capacity
        Its places (``Slot.capacity``).
    held, booked
        Places held and booked.
    withdrawn
        Whether the slot was withdrawn (no place may be taken; held and booked places stay
        counted until they are released or cancelled).
    """

    slot_id: str
    capacity: int
    held: int
    booked: int
    withdrawn: bool

    @property
    def free(self) -> int:
        """Places that may still be taken (0 once withdrawn)."""
        return 0 if self.withdrawn else max(0, self.capacity - self.held - self.booked)


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """The whole live state as plain values, by slot id: cheap to compare, hashable.

    Two live states are equal when their snapshots are: the same slots (records equal), the
    same places held and booked, the same slots withdrawn, whatever the order the slots were
    added in.

    Attributes
    ----------
    slots
        Every slot record, sorted by id.
    states
        The state of each, in the same order.
    """

    slots: tuple[Slot, ...]
    states: tuple[SlotState, ...]


class LiveSlots:
    """Slots whose places are held, booked, released and withdrawn, and new slots added.

    Build with :meth:`build` (or wrap an existing index). Commands name slots by id; see the
    module documentation for what each one does and refuses.

    Parameters
    ----------
    index
        The slots to start from, every place free.
    """

    def __init__(self, index: SlotIndex) -> None:
        n = len(index.slots)
        self._index = index
        self._slots: list[Slot] = list(index.slots)
        self._position: dict[str, int] = dict(index.slot_position)
        self._facilities = frozenset(index.facility_position)
        self._pending: list[Slot] = []
        self._owns_lists = True  # False while _slots, _position, _pending are shared by a copy
        self._size = n
        room = max(16, n)
        self._capacity = np.zeros(room, dtype=np.int64)
        self._capacity[:n] = [s.capacity for s in index.slots]
        self._held = np.zeros(room, dtype=np.int64)
        self._booked = np.zeros(room, dtype=np.int64)
        self._withdrawn = np.zeros(room, dtype=np.bool_)
        self._blocked = np.zeros(room, dtype=np.bool_)

    @classmethod
    def build(
        cls,
        facilities: Iterable[Facility],
        slots: Iterable[Slot],
        *,
        calendar: WorkingCalendar | None = None,
        travel: TravelModel | None = None,
    ) -> LiveSlots:
        """Index ``slots`` of ``facilities`` (:meth:`SlotIndex.build`), every place free.

        Raises
        ------
        InvalidInputError
            As :meth:`SlotIndex.build`.
        """
        return cls(SlotIndex.build(facilities, slots, calendar=calendar, travel=travel))

    # -- reading -----------------------------------------------------------------------------
    @property
    def index(self) -> SlotIndex:
        """The index of every slot, added ones included, for the planners (positions as in
        :meth:`position`). Slots added since the last read are taken in now, all at once."""
        if self._pending:
            self._index = self._index.extended(self._pending)
            logger.debug("live index extended by %d slots", len(self._pending))
            self._pending = []
        return self._index

    def blocked(self) -> BoolArray:
        """A new mask, by position, of the slots with no free place (withdrawn or full)."""
        return self._blocked[: self._size].copy()

    def remaining(self) -> IntArray:
        """A new array, by position, of each slot's free places (0 once withdrawn)."""
        n = self._size
        free = self._capacity[:n] - self._held[:n] - self._booked[:n]
        free[self._withdrawn[:n]] = 0
        free[free < 0] = 0
        return free

    def position(self, slot_id: str) -> int:
        """The slot's position in :attr:`index`.

        Raises
        ------
        UnknownSlotError
            If no slot has that id.
        """
        p = self._position.get(slot_id)
        if p is None:
            raise UnknownSlotError(slot_id, "no such slot")
        return p

    def slot(self, slot_id: str) -> Slot:
        """The slot record (:class:`UnknownSlotError` if there is none)."""
        return self._slots[self.position(slot_id)]

    def state(self, slot_id: str) -> SlotState:
        """The places of one slot (:class:`UnknownSlotError` if there is none)."""
        return self._state(self.position(slot_id))

    def free_slots(self) -> tuple[Slot, ...]:
        """The slots with a free place, by position."""
        return tuple(self._slots[p] for p in np.flatnonzero(~self._blocked[: self._size]))

    def snapshot(self) -> LiveSnapshot:
        """The state as plain values by slot id (see :class:`LiveSnapshot`)."""
        order = sorted(range(self._size), key=lambda p: self._slots[p].id)
        return LiveSnapshot(
            slots=tuple(self._slots[p] for p in order),
            states=tuple(self._state(p) for p in order),
        )

    def copy(self) -> LiveSlots:
        """An independent copy: commands on one leave the other as it is (the index, which
        never changes in place, is shared). The slot records and their positions are shared
        too until either adds a slot (copy on write): a copy costs the places' arrays, a few
        machine words per slot."""
        other = LiveSlots.__new__(LiveSlots)
        other._index = self._index
        other._slots = self._slots
        other._position = self._position
        other._facilities = self._facilities
        other._pending = self._pending
        other._owns_lists = self._owns_lists = False
        other._size = self._size
        other._capacity = self._capacity.copy()
        other._held = self._held.copy()
        other._booked = self._booked.copy()
        other._withdrawn = self._withdrawn.copy()
        other._blocked = self._blocked.copy()
        return other

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LiveSlots):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        n = self._size
        return (
            f"LiveSlots({n} slots, {int(self._withdrawn[:n].sum())} withdrawn, "
            f"{int(self._held[:n].sum())} held, {int(self._booked[:n].sum())} booked)"
        )

    # -- commands ----------------------------------------------------------------------------
    def add(self, slot: Slot) -> int:
        """Publish a new slot, every place free; its position.

        Raises
        ------
        InvalidInputError
            If a slot with the same id is known (withdrawn ones included) or its facility is
            not.
        CalendarRangeError
            If its start or end lies outside the calendar's span.
        """
        record = f"slot {slot.id!r}"
        if slot.id in self._position:
            raise InvalidInputError(record, "id", "the id is used twice")
        if slot.facility_id not in self._facilities:
            raise InvalidInputError(record, "facility_id", f"unknown facility {slot.facility_id!r}")
        calendar = self._index.calendar
        for name, moment in (("start", slot.start), ("end", slot.end)):
            if not calendar.covers(moment):  # refused here, before any change
                reason = f"{calendar.range_reason}; the slot is not added"
                raise CalendarRangeError(record, name, reason)
        p = self._size
        if p == len(self._capacity):
            self._grow()
        if not self._owns_lists:
            self._slots = list(self._slots)
            self._position = dict(self._position)
            self._pending = list(self._pending)
            self._owns_lists = True
        self._capacity[p] = slot.capacity
        self._size = p + 1
        self._slots.append(slot)
        self._position[slot.id] = p
        self._pending.append(slot)
        return p

    def withdraw(self, slot_id: str) -> SlotState:
        """Withdraw a slot: no place may be taken any more. Its state before, so that the
        caller sees the holds and bookings it leaves without a slot (they stay counted until
        released or cancelled).

        Raises
        ------
        UnknownSlotError, SlotWithdrawnError
            An unknown slot, or one withdrawn already.
        """
        p = self.position(slot_id)
        if self._withdrawn[p]:
            raise SlotWithdrawnError(slot_id, "withdrawn already")
        before = self._state(p)
        self._withdrawn[p] = True
        self._blocked[p] = True
        return before

    def hold(self, slot_id: str) -> None:
        """Hold one free place of the slot.

        Raises
        ------
        UnknownSlotError, SlotWithdrawnError, OverCapacityError
            An unknown or withdrawn slot, or one without a free place.
        """
        p = self._takeable(slot_id)
        self._held[p] += 1
        self._update(p)

    def book(self, slot_id: str, *, held: bool = True) -> None:
        """Book one place of the slot: a place held before (``held``), or a free one.

        Raises
        ------
        UnknownSlotError, SlotWithdrawnError
            An unknown or withdrawn slot.
        NotHeldError
            With ``held``, if no place is held.
        OverCapacityError
            Without ``held``, if no place is free.
        """
        if not held:
            p = self._takeable(slot_id)
        else:
            p = self.position(slot_id)
            if self._withdrawn[p]:
                raise SlotWithdrawnError(slot_id, "withdrawn; its held places cannot be booked")
            if self._held[p] < 1:
                raise NotHeldError(slot_id, "no place is held to be booked")
            self._held[p] -= 1
        self._booked[p] += 1
        self._update(p)

    def release(self, slot_id: str) -> None:
        """Give a held place back (withdrawn slots too: compensation must always be possible).

        Raises
        ------
        UnknownSlotError, NotHeldError
            An unknown slot, or one with no place held.
        """
        p = self.position(slot_id)
        if self._held[p] < 1:
            raise NotHeldError(slot_id, "no place is held to be released")
        self._held[p] -= 1
        self._update(p)

    def cancel(self, slot_id: str) -> None:
        """Cancel a booked place (withdrawn slots too).

        Raises
        ------
        UnknownSlotError, NotHeldError
            An unknown slot, or one with no place booked.
        """
        p = self.position(slot_id)
        if self._booked[p] < 1:
            raise NotHeldError(slot_id, "no place is booked to be cancelled")
        self._booked[p] -= 1
        self._update(p)

    # -- internals ---------------------------------------------------------------------------
    def _state(self, p: int) -> SlotState:
        return SlotState(
            slot_id=self._slots[p].id,
            capacity=int(self._capacity[p]),
            held=int(self._held[p]),
            booked=int(self._booked[p]),
            withdrawn=bool(self._withdrawn[p]),
        )

    def _takeable(self, slot_id: str) -> int:
        """The position of a slot with a free place, or the error that says why not."""
        p = self.position(slot_id)
        if self._withdrawn[p]:
            raise SlotWithdrawnError(slot_id, "withdrawn; no place may be taken")
        if self._blocked[p]:
            raise OverCapacityError(
                slot_id,
                f"no free place (capacity {int(self._capacity[p])}, held {int(self._held[p])}, "
                f"booked {int(self._booked[p])})",
            )
        return p

    def _update(self, p: int) -> None:
        self._blocked[p] = bool(self._withdrawn[p]) or bool(
            self._held[p] + self._booked[p] >= self._capacity[p]
        )

    def _grow(self) -> None:
        room = 2 * len(self._capacity)
        for name in ("_capacity", "_held", "_booked", "_withdrawn", "_blocked"):
            old = getattr(self, name)
            new = np.zeros(room, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
