"""Keep a batch's results out of the cyclic garbage collector's repeated full scans.

A batch builds every patient's routes several times over (no competition, first come first
served, each start, the plan), as pydantic models that CPython's cyclic collector tracks: at
10,000 patients about 1.8 million tracked objects at the end. Each full collection scans all of
them; in the baselines at 10,000 the collector made six or seven, a tenth of the time
(``benchmarks/README_batch.md``).

The routes of a patient planned so far live until the batch ends, or are freed by reference
counting when a repair replaces them, which the collector plays no part in. :class:`LongLived`
moves what is alive at each step of the batch (:meth:`LongLived.settle`) to the collector's
permanent generation (:func:`gc.freeze`, a constant-time list splice), so later collections
scan only what came after it, and moves it all back when the batch ends (:func:`gc.unfreeze`).
Objects that die are still freed at once; only garbage in reference cycles waits for the
batch's end (a batch makes almost none: 202 objects at 10,000). The results are the same.

It is a process-wide setting: while a batch runs, whatever else the process keeps alive at a
settle (another thread's objects too) is frozen with it, and its cyclic garbage waits as well.
So it stands aside when the host has frozen objects itself or disabled the collector, and when
another batch of the same process already manages it.
"""

from __future__ import annotations

import gc
import threading
from types import TracebackType

__all__ = ["LongLived"]

_LOCK = threading.Lock()
_owner: LongLived | None = None
"""The batch that froze objects and will unfreeze them; ``None``: nobody."""


class LongLived:
    """A context in which :meth:`settle` freezes the objects alive so far.

    Examples
    --------
    >>> import gc
    >>> with LongLived() as kept:
    ...     routes = [object() for _ in range(3)]
    ...     kept.settle()
    >>> gc.get_freeze_count()
    0
    """

    def __init__(self) -> None:
        self.active = False
        """Whether this context froze objects and unfreezes them at its end."""

    def __enter__(self) -> LongLived:
        global _owner
        with _LOCK:
            if _owner is None and gc.isenabled() and gc.get_freeze_count() == 0:
                _owner = self
                self.active = True
        return self

    def settle(self) -> None:
        """Freeze every object tracked now (nothing when this context stands aside)."""
        if self.active:
            gc.freeze()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _owner
        with _LOCK:
            if self.active:
                gc.unfreeze()
                self.active = False
                _owner = None
