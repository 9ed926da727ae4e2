"""A stage's slots under its request-independent rules, kept on the index (stage bases).

A :class:`StageBase` holds the slots of a stage's services that pass the rules no request
changes (facility level, visit mode, the facility's days off, and one of a facility's twin
slots when planned alone), sorted by start, as arrays and as lists (times, days and facilities
as shared int objects, also held as one object array to pick scattered rows from), with the
counts of what each rule removed.
:func:`~routing.solve.compiled.compile_request` cuts a request's candidates from it by bisection
and masks, so that a request reads a range of the base rather than the index.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final

import numpy as np
import numpy.typing as npt

from nosology.pathway import Pathway, Stage, VisitMode
from routing.slot_index import SlotIndex
from routing.solve.indexcache import cached_on_index, memoised_in

__all__ = [
    "BELOW_LEVEL",
    "DAYS_OFF",
    "SHAPES_CACHED",
    "SUBSETS_CACHED",
    "TWINS",
    "Lists",
    "StageBase",
    "pathway_shape",
    "prepare_stage_bases",
    "rows_by_facility",
    "stage_base",
]


BELOW_LEVEL: Final = "below the facility level required"


DAYS_OFF: Final = "on the facility's days off"


TWINS: Final = "twins of another slot at the same time and place"


Lists = tuple[list[int], list[int], list[int], list[int], list[int]]


@dataclass(frozen=True, slots=True, eq=False)
class StageBase:
    """The slots of a stage's services that pass its request-independent rules (cached).

    ``all_start`` holds the start of every slot of the services, sorted, and ``removed`` per
    reason the running count of those the rules removed, so that the counts of any range of
    starts are two look-ups. The kept slots are sorted by start, end, facility and slot id.
    """

    all_start: list[int]
    removed: dict[str, list[int]]
    pos: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    day: npt.NDArray[np.int64]
    end_day: npt.NDArray[np.int64]
    facility: npt.NDArray[np.int64]
    lists: tuple[list[int], list[int], list[int], list[int], list[int]]
    """Slot position, start, end, day and facility of the kept slots, as lists."""
    table: npt.NDArray[np.object_]
    """The same five lists as the rows of one object array (the same int objects), from which
    :meth:`picked` gathers scattered rows in one step."""
    by_facility: tuple[tuple[int, list[int]], ...]
    """The kept slots' rows by facility (ascending facility, rows ascending)."""
    shortest: int
    """The shortest duration of the kept slots (0 when there are none)."""
    longest: int
    """The longest duration of the kept slots (0 when there are none)."""
    subsets: OrderedDict[Hashable, object] = field(default_factory=OrderedDict)
    """:meth:`at_facilities` of the last :data:`SUBSETS_CACHED` sets of facilities."""

    @property
    def uniform(self) -> int:
        """The duration every kept slot has, or -1 when they differ (or there are none)."""
        return self.shortest if len(self.pos) and self.shortest == self.longest else -1

    def picked(self, rows: npt.NDArray[np.int64] | slice) -> Lists:
        """``rows`` (a range or ascending row numbers) of each of :attr:`lists`: the base's own
        int objects (:func:`_shared_ints`), not new ones."""
        slot, start, end, day, facs = self.lists
        if isinstance(rows, slice):
            return slot[rows], start[rows], end[rows], day[rows], facs[rows]
        # One gather of the five rows at once: about 60 % of the time of five element-wise
        # copies for the hundreds of rows a thinned stage keeps (7.8 against 13.4 µs for 220).
        columns: Lists = tuple(self.table[:, rows].tolist())
        return columns

    def at_facilities(self, usable: npt.NDArray[np.bool_]) -> StageBase:
        """This base less the slots at the facilities ``usable`` (by facility) rules out;
        itself when it rules out none. Kept for the last :data:`SUBSETS_CACHED` sets of
        facilities asked for: patients of one district share theirs (the routing order).

        The narrowed base keeps this one's :attr:`all_start` and :attr:`removed`, so its
        :meth:`excluded_between` still counts this base's exclusions.
        """

        def make() -> StageBase:
            rows = np.flatnonzero(usable[self.facility])
            if len(rows) == len(self.pos):
                return self
            return _new_base(
                self.all_start,
                self.removed,
                self.pos[rows],
                (self.start[rows], self.end[rows], self.day[rows], self.end_day[rows]),
                self.facility[rows],
                self.table[:, rows],
            )

        return memoised_in(self.subsets, usable.tobytes(), SUBSETS_CACHED, make)

    def excluded_between(self, first: int, limit: int) -> dict[str, int]:
        """How many slots starting outside ``[first, limit)`` there are, and how many inside it
        each rule removed."""
        lo = bisect_left(self.all_start, first)
        hi = bisect_left(self.all_start, limit)
        counts = {"outside the horizon": len(self.all_start) - (hi - lo)}
        for reason, running in self.removed.items():
            counts[reason] = running[hi] - running[lo]
        return counts


SUBSETS_CACHED: Final = 32
"""Sets of facilities for which a stage base keeps itself narrowed (:meth:`StageBase.
at_facilities`): each holds at most the base's slots."""


def prepare_stage_bases(index: SlotIndex, pathway: Pathway, *, per_slot: bool = False) -> int:
    """Build on ``index`` the stage bases that :func:`~routing.solve.compiled.compile_request`
    reads for ``pathway`` when a request is planned alone (``merge_twins``), so that the first
    requests do not pay for them; ``per_slot``: for requests with slots blocked (a live state),
    whose twins are not merged in the base. Returns how many stages it prepared."""
    shared, services_of = pathway_shape(index, pathway)
    for stage, shares, services in zip(pathway.stages, shared, services_of, strict=True):
        merge = stage.mode is VisitMode.IN_PERSON or not shares
        stage_base(index, stage, services, merge and not per_slot)
    return len(pathway.stages)


SHAPES_CACHED = 1_000
"""Pathways whose :func:`pathway_shape` an index keeps."""


def pathway_shape(
    index: SlotIndex, pathway: Pathway
) -> tuple[tuple[bool, ...], tuple[tuple[str, ...], ...]]:
    """Per stage of ``pathway``: whether another stage shares one of its services, and its
    services as sorted strings (the key of its :func:`stage_base`); cached on the index."""

    def make() -> tuple[Pathway, tuple[bool, ...], tuple[tuple[str, ...], ...]]:
        stages = pathway.stages
        shared = tuple(
            any(o.id != stage.id and o.service_keys & stage.service_keys for o in stages)
            for stage in stages
        )
        services = tuple(tuple(sorted(str(s) for s in stage.services)) for stage in stages)
        return pathway, shared, services

    cached = cached_on_index(
        index, "shapes", id(pathway), SHAPES_CACHED, make, lambda v: v[0] is pathway
    )
    return cached[1], cached[2]


def stage_base(index: SlotIndex, stage: Stage, services: tuple[str, ...], merge: bool) -> StageBase:
    """The cached :class:`StageBase` of ``stage``'s ``services``, level and mode on ``index``."""
    key = ("stage-base", services, stage.facility_level, stage.mode, merge)
    cached = index.cache.get(key)
    if isinstance(cached, StageBase):
        return cached
    parts = [index.by_service[s] for s in services if s in index.by_service]
    pos = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    pos = pos[
        np.lexsort((index.id_rank[pos], index.facility[pos], index.end[pos], index.start[pos]))
    ]
    reason = np.full(len(pos), -1, dtype=np.int64)
    rules = (
        index.facility_level_ok(pos, stage.facility_level),
        index.mode_is(pos, stage.mode),
        index.open_day[pos],
    )
    names: tuple[str, ...] = (BELOW_LEVEL, f"not {stage.mode.value}", DAYS_OFF)
    for code, passed in enumerate(rules):
        reason[(reason < 0) & ~passed] = code
    if merge:
        # Slots at one facility with the same times are interchangeable for one patient (no
        # other stage can take the twin): keep the first (by slot id).
        kept = np.flatnonzero(reason < 0)
        same = np.zeros(len(kept), dtype=np.bool_)
        if len(kept) > 1:
            same[1:] = (
                (index.start[pos[kept[1:]]] == index.start[pos[kept[:-1]]])
                & (index.end[pos[kept[1:]]] == index.end[pos[kept[:-1]]])
                & (index.facility[pos[kept[1:]]] == index.facility[pos[kept[:-1]]])
            )
        reason[kept[same]] = len(rules)
        names = (*names, TWINS)
    removed = {
        name: np.concatenate(([0], np.cumsum(reason == code))).astype(np.int64).tolist()
        for code, name in enumerate(names)
    }
    kept_pos = pos[reason < 0]
    start, end, day = index.start[kept_pos], index.end[kept_pos], index.day[kept_pos]
    facility = index.facility[kept_pos]
    base = _new_base(
        index.start[pos].tolist(),
        removed,
        kept_pos,
        (start, end, day, index.end_day[kept_pos]),
        facility,
        _object_table(
            (
                kept_pos.tolist(),
                _shared_ints(start),
                _shared_ints(end),
                _shared_ints(day),
                _shared_ints(facility),
            )
        ),
    )
    index.cache[key] = base
    return base


def _new_base(
    all_start: list[int],
    removed: dict[str, list[int]],
    pos: npt.NDArray[np.int64],
    times: tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ],
    facility: npt.NDArray[np.int64],
    table: npt.NDArray[np.object_],
) -> StageBase:
    """A :class:`StageBase` of the kept slots ``pos`` (``times``: their start, end, day and end
    day; ``table``: their :attr:`~StageBase.table`), with the lists, the durations and the rows
    by facility derived from them."""
    start, end, day, end_day = times
    lists: Lists = tuple(table.tolist())
    durations = end - start
    return StageBase(
        all_start=all_start,
        removed=removed,
        pos=pos,
        start=start,
        end=end,
        day=day,
        end_day=end_day,
        facility=facility,
        lists=lists,
        table=table,
        shortest=int(durations.min()) if len(pos) else 0,
        longest=int(durations.max()) if len(pos) else 0,
        by_facility=rows_by_facility(facility),
    )


def _object_table(lists: Lists) -> npt.NDArray[np.object_]:
    """``lists`` as the rows of one object array holding the same objects."""
    table = np.empty((len(lists), len(lists[0])), dtype=np.object_)
    for row, values in enumerate(lists):
        table[row, :] = values
    return table


def _shared_ints(values: npt.NDArray[np.int64]) -> list[int]:
    """``values.tolist()``, each distinct value one int object.

    Slots share few distinct times, days and facilities; every request copies slices of these
    lists, and a copy touches each element's object: a few objects stay in the CPU's cache where
    thousands (one per slot) would not.
    """
    if len(values) < 2:
        few: list[int] = values.tolist()
        return few
    distinct, inverse = np.unique(values, return_inverse=True)
    objects = distinct.tolist()
    shared: list[int] = list(itemgetter(*inverse.tolist())(objects))
    return shared


def rows_by_facility(facility: npt.NDArray[np.int64]) -> tuple[tuple[int, list[int]], ...]:
    """The rows of ``facility`` grouped by its values: ``(facility, rows ascending)``,
    ascending facility."""
    if not len(facility):
        return ()
    order = np.argsort(facility, kind="stable")
    ordered = facility[order]
    cuts = [0, *(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist(), len(order)]
    rows = order.tolist()
    firsts = ordered[cuts[:-1]].tolist()
    return tuple((f, rows[lo:hi]) for f, lo, hi in zip(firsts, cuts[:-1], cuts[1:], strict=True))
