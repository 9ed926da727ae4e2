"""Values memoised on a slot index: a bounded, least-recently-used cache per name.

A :class:`~routing.slot_index.SlotIndex` outlives the requests planned over it (a service keeps
one per region), so what every request would otherwise rebuild (a pathway's links, a home's
travel, a stage's slots) is kept on it, each kind under its own name and limit, so that a
long-running service does not grow without end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import suppress
from typing import TypeVar, cast

from routing.slot_index import SlotIndex

__all__ = ["cached_on_index", "memoised_in"]


_T = TypeVar("_T")


def cached_on_index(
    index: SlotIndex,
    name: str,
    key: Hashable,
    limit: int,
    make: Callable[[], _T],
    valid: Callable[[_T], bool] | None = None,
) -> _T:
    """``make()`` memoised in the index's cache ``name`` under ``key`` (remade unless ``valid``
    accepts the entry), keeping the last ``limit`` entries used, so that a long-running service
    does not grow without end."""
    cache = index.cache.setdefault(name, OrderedDict())
    assert isinstance(cache, OrderedDict)
    return memoised_in(cache, key, limit, make, valid)


def memoised_in(
    cache: OrderedDict[Hashable, object],
    key: Hashable,
    limit: int,
    make: Callable[[], _T],
    valid: Callable[[_T], bool] | None = None,
) -> _T:
    """``make()`` memoised in ``cache`` under ``key`` (remade unless ``valid`` accepts the
    entry), the last ``limit`` entries used kept (:func:`cached_on_index` on an index)."""
    value = cast("_T | None", cache.get(key))
    if value is None or (valid is not None and not valid(value)):
        value = make()
        cache[key] = value
        if len(cache) > limit:
            cache.popitem(last=False)
    else:
        with suppress(KeyError):  # another thread may have dropped it meanwhile
            cache.move_to_end(key)
    return value
