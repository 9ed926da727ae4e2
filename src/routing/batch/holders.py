"""Who holds each slot of a batch plan, for the search's neighbourhoods.

The large-neighbourhood search destroys the patients holding given slots: the full slots of a
chosen patient's fastest route, or of a service's queue between two times
(:meth:`routing.batch.engine._Engine.queue_ahead`). In a region of 10,000 patients a queue
spans thousands of full slots, so besides the set of holders of each slot this keeps, per
slot, its sole holder (or that it has none or several) in an array: the holders of many slots
are then gathered with a few array operations, and only the slots held by several patients
are read one by one.

>>> import numpy as np
>>> h = SlotHolders(4, patients=10)
>>> h.add([0, 1], 7)
>>> h.add([1, 2], 9)
>>> sorted(h.of(np.array([0, 1, 2, 3])))
[7, 9]
>>> h.sole.tolist()
[7, -2, 9, -1]
>>> h.discard([1, 2], 9)
>>> sorted(h.of(np.array([1, 2]))), h.as_dict()
([7], {0: {7}, 1: {7}})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np

from routing.slot_index import IntArray

__all__ = ["MANY", "MARK_ABOVE", "NOBODY", "SlotHolders"]

NOBODY: Final = -1
"""``sole`` of a slot no patient holds."""

MANY: Final = -2
"""``sole`` of a slot that several patients hold."""

MARK_ABOVE: Final = 1000
"""Sole holders gathered at once above which they are told apart by a mark per patient."""


class SlotHolders:
    """Slot position → the patients whose routes take a place in it.

    Parameters
    ----------
    slots
        The number of slot positions (the index's size).
    patients
        The number of patients (holders are ``0 .. patients - 1``).

    Attributes
    ----------
    sole
        Per slot position, its only holder, :data:`NOBODY` or :data:`MANY`.
    """

    __slots__ = ("_sets", "patients", "sole")

    def __init__(self, slots: int, patients: int) -> None:
        self._sets: dict[int, set[int]] = {}
        self.sole: IntArray = np.full(slots, NOBODY, dtype=np.int64)
        self.patients = patients

    def add(self, positions: Iterable[int], patient: int) -> None:
        """``patient`` holds a place in each of ``positions``."""
        sets, sole = self._sets, self.sole
        for p in positions:
            held = sets.setdefault(p, set())
            held.add(patient)
            sole[p] = patient if len(held) == 1 else MANY

    def discard(self, positions: Iterable[int], patient: int) -> None:
        """``patient`` no longer holds a place in ``positions`` (each held by someone)."""
        sets, sole = self._sets, self.sole
        for p in positions:
            held = sets[p]
            held.discard(patient)
            sole[p] = next(iter(held)) if len(held) == 1 else NOBODY if not held else MANY

    def of(self, positions: IntArray) -> set[int]:
        """Every patient holding a place in any of ``positions``."""
        sole = self.sole[positions]
        ids = sole[sole >= 0]
        if len(ids) > MARK_ABOVE:  # a mark per patient: linear, where a sort is not
            mark = np.zeros(self.patients, dtype=np.bool_)
            mark[ids] = True
            ids = np.flatnonzero(mark)
        found = set(ids.tolist())
        for p in positions[sole == MANY].tolist():
            found |= self._sets[p]
        return found

    def as_dict(self) -> dict[int, set[int]]:
        """Every held slot position and its holders (copies)."""
        return {p: set(h) for p, h in self._sets.items() if h}
