"""The ids of the events a state has applied, added to in constant time.

Each :class:`~routing.lifecycle.model.State` names every event id folded into it, so that a
second event with one of them is refused. Copying a set of ids into every new state made a
replay quadratic; an :class:`EventIds` is instead an immutable view of the first ``n`` ids of a
log shared by the states of one line of events. :meth:`EventIds.adding` appends to the log when
the view is its newest (or the log already holds that id next, as when a batch is checked and
then applied again from the same state), and otherwise starts a log of its own (a branch, e.g.
a state rolled back to). Every view stays what it was: the fold stays pure, and two views are
equal when they hold the same ids (as sets).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Set
from typing import Any

__all__ = ["EventIds"]


class _Log:
    """Event ids in order of application, with each one's position."""

    __slots__ = ("lock", "order", "position")

    def __init__(self) -> None:
        self.order: list[str] = []
        self.position: dict[str, int] = {}
        self.lock = threading.Lock()


class EventIds(Set[str]):
    """An immutable set of event ids, in the order they were applied (see the module doc).

    Parameters
    ----------
    ids
        The ids (a repeated one is kept once, at its first place).

    Examples
    --------
    >>> first = EventIds(["a"])
    >>> second = first.adding("b")
    >>> sorted(first), sorted(second), "b" in first
    (['a'], ['a', 'b'], False)
    >>> second == {"a", "b"}
    True
    """

    __slots__ = ("_count", "_log")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        log = _Log()
        for event_id in ids:
            if event_id not in log.position:
                log.position[event_id] = len(log.order)
                log.order.append(event_id)
        self._log = log
        self._count = len(log.order)

    @classmethod
    def _view(cls, log: _Log, count: int) -> EventIds:
        view = cls.__new__(cls)
        view._log = log
        view._count = count
        return view

    def adding(self, event_id: str) -> EventIds:
        """These ids and ``event_id`` (which must not be one of them); ``self`` is unchanged.

        Raises
        ------
        ValueError
            If ``event_id`` is one of them.
        """
        if event_id in self:
            raise ValueError("the event id is in the set already")
        log, count = self._log, self._count
        with log.lock:
            if len(log.order) == count:  # the newest view: extend the log
                log.position[event_id] = count
                log.order.append(event_id)
                return self._view(log, count + 1)
            if log.order[count] == event_id:  # the same id next: share the log
                return self._view(log, count + 1)
        return EventIds([*self, event_id])  # a branch: a log of its own

    def __contains__(self, item: object) -> bool:
        position = self._log.position.get(item) if isinstance(item, str) else None
        return position is not None and position < self._count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        return iter(self._log.order[: self._count])

    def __hash__(self) -> int:
        return self._hash()

    def __repr__(self) -> str:
        return f"EventIds(<{self._count} ids>)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (EventIds, (tuple(self),))
