"""An index of free slots, built once and shared by every request planned over it.

The index holds the slots as flat integer arrays (minutes and local day indices on a
:class:`~routing.calendar.WorkingCalendar`), grouped by service and sorted by start, so that the
candidates of a stage are found by binary search. It also holds the travel minutes between every
pair of facilities, computed once from the :class:`~routing.domain.TravelModel`.
"""

from __future__ import annotations

import bisect
import logging
from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
import numpy.typing as npt

from nosology.pathway import VisitMode
from routing.calendar import WorkingCalendar, calendar_for, default_calendar
from routing.domain import Facility, Slot, TravelModel
from routing.exceptions import CalendarRangeError, InvalidInputError

if TYPE_CHECKING:
    from routing.problem import Problem

__all__ = ["SlotIndex"]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
_T = TypeVar("_T", bound=np.generic)


@dataclass(frozen=True, eq=False)
class SlotIndex:
    """Free slots and facilities as arrays, for fast candidate look-up.

    Build with :meth:`build`. Positions (``0 .. len(slots) - 1``) index every array; ``by_service``
    maps a service key (``"system:code"``) to the positions of its slots sorted by start, then end,
    then id, and ``service_starts`` to their start minutes in that order (for binary search).

    Attributes
    ----------
    calendar
        The working calendar that defines minutes and day indices.
    travel
        The travel model ``travel_minutes`` was computed from.
    slots, facilities
        The records, in the order the arrays follow (facilities sorted by id).
    start, end
        Minutes (:meth:`WorkingCalendar.minute_of`) of each slot's start and end.
    day, end_day
        Local day index of each slot's start and of its end instant.
    facility
        Position of each slot's facility in ``facilities``.
    open_day
        False where the slot falls on one of its facility's ``days_off``.
    in_person
        True for in-person slots, False for remote ones.
    facility_level
        The level of each facility, by facility position.
    id_rank
        Each slot's rank in the order of slot ids: ties are broken by id, so the input order of
        the slots never changes a result.
    travel_minutes
        ``travel_minutes[a, b]`` from facility ``a`` to facility ``b``.
    travel_table
        The same as nested tuples of ints, for fast scalar look-ups in the search.
    issues
        Records left out or in part, in input order: a slot whose start or end lies outside
        the calendar's span (the sensible range of dates) is not indexed, a facility's day off
        outside it is ignored. Each names the record and the field, never the date.
    projected_slots
        How many indexed slots start in a year the calendar projects (after its known decree
        years); routes through them carry a warning (see :attr:`warnings`).
    """

    calendar: WorkingCalendar
    travel: TravelModel
    slots: tuple[Slot, ...]
    facilities: tuple[Facility, ...]
    start: IntArray
    end: IntArray
    day: IntArray
    end_day: IntArray
    facility: IntArray
    open_day: npt.NDArray[np.bool_]
    in_person: npt.NDArray[np.bool_]
    facility_level: IntArray
    id_rank: IntArray
    travel_minutes: IntArray
    travel_table: tuple[tuple[int, ...], ...]
    by_service: Mapping[str, IntArray]
    service_starts: Mapping[str, IntArray]
    facility_position: Mapping[str, int]
    slot_position: Mapping[str, int]
    travel_is_metric: bool = field(default=True)
    issues: tuple[InvalidInputError, ...] = ()
    projected_slots: int = 0
    cache: dict[object, object] = field(default_factory=dict, repr=False, compare=False)
    """Derived data that solvers compute once per index (e.g. the slots a stage may use)."""

    @classmethod
    def for_problem(cls, problem: Problem) -> SlotIndex:
        """Index ``problem``'s slots of its facilities, in the working calendar of its
        ``timezone`` (:func:`~routing.calendar.calendar_for`) and with its travel model: what
        planning the problem reads. Raises as :meth:`build` does."""
        return cls.build(
            problem.facilities,
            problem.slots,
            calendar=calendar_for(problem.timezone),
            travel=problem.travel,
        )

    @classmethod
    def build(
        cls,
        facilities: Iterable[Facility],
        slots: Iterable[Slot],
        *,
        calendar: WorkingCalendar | None = None,
        travel: TravelModel | None = None,
    ) -> SlotIndex:
        """Index ``slots`` of ``facilities``.

        A slot whose start or end lies outside the calendar's span is not indexed: it becomes
        one of :attr:`issues` (a :class:`~routing.exceptions.CalendarRangeError` naming the slot
        and the field) and the other slots are indexed as usual.

        Raises
        ------
        InvalidInputError
            A duplicate facility or slot id, a slot of an unknown facility.
        """
        cal = calendar or default_calendar()
        trav = travel or TravelModel()
        facs = tuple(sorted(facilities, key=lambda f: f.id))
        fac_pos: dict[str, int] = {}
        for f in facs:
            if f.id in fac_pos:
                raise InvalidInputError(f"facility {f.id!r}", "id", "the id is used twice")
            fac_pos[f.id] = len(fac_pos)
        issues: list[InvalidInputError] = []
        days_off = {f.id: _days_off(cal, f, issues) for f in facs}
        seen: set[str] = set()
        kept: list[Slot] = []
        minutes: list[tuple[int, int]] = []
        for s in slots:
            if s.id in seen:
                raise InvalidInputError(f"slot {s.id!r}", "id", "the id is used twice")
            seen.add(s.id)
            if s.facility_id not in fac_pos:
                raise InvalidInputError(
                    f"slot {s.id!r}", "facility_id", f"unknown facility {s.facility_id!r}"
                )
            try:
                minutes.append((cal.minute_of(s.start), cal.minute_of(s.end)))
            except CalendarRangeError:
                outside = "end" if cal.covers(s.start) else "start"
                reason = f"{cal.range_reason}; the slot is not indexed"
                issues.append(CalendarRangeError(f"slot {s.id!r}", outside, reason))
                continue
            kept.append(s)
        if issues:
            logger.warning("slot index: %d records outside the calendar's span", len(issues))
        slot_list = tuple(kept)
        n = len(slot_list)
        start = np.fromiter((m[0] for m in minutes), dtype=np.int64, count=n)
        end = np.fromiter((m[1] for m in minutes), dtype=np.int64, count=n)
        fac = np.fromiter((fac_pos[s.facility_id] for s in slot_list), dtype=np.int64, count=n)
        slot_pos = {s.id: i for i, s in enumerate(slot_list)}
        table = cal.working_day_offset_table()
        day = np.searchsorted(table.day_start, start, side="right").astype(np.int64) - 1
        end_day = np.searchsorted(table.day_start, end, side="right").astype(np.int64) - 1
        open_day = np.ones(n, dtype=np.bool_)
        for i, s in enumerate(slot_list):
            closed = days_off[s.facility_id]
            if closed and int(day[i]) in closed:
                open_day[i] = False
        in_person = np.array([s.mode is VisitMode.IN_PERSON for s in slot_list], dtype=np.bool_)
        level = np.array([f.level for f in facs], dtype=np.int64)
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(slot_list):
            groups.setdefault(str(s.service), []).append(i)
        by_service: dict[str, IntArray] = {}
        service_starts: dict[str, IntArray] = {}
        id_rank = np.empty(n, dtype=np.int64)
        id_rank[sorted(range(n), key=lambda i: slot_list[i].id)] = np.arange(n, dtype=np.int64)
        for key, members in groups.items():
            pos = np.asarray(members, dtype=np.int64)
            order = np.lexsort((id_rank[pos], end[pos], start[pos]))
            by_service[key] = pos[order]
            service_starts[key] = start[by_service[key]]
        matrix = np.zeros((len(facs), len(facs)), dtype=np.int64)
        for a, fa in enumerate(facs):
            for b, fb in enumerate(facs):
                if a != b:
                    matrix[a, b] = trav.minutes(fa, fb)
        metric = _is_metric(matrix)
        if not metric:
            logger.info("travel times break the triangle inequality; travel bounds are weakened")
        for array in (
            start,
            end,
            day,
            end_day,
            fac,
            open_day,
            in_person,
            level,
            matrix,
            *by_service.values(),
            *service_starts.values(),
        ):
            array.setflags(write=False)
        return cls(
            calendar=cal,
            travel=trav,
            slots=slot_list,
            facilities=facs,
            start=start,
            end=end,
            day=day,
            end_day=end_day,
            facility=fac,
            open_day=open_day,
            in_person=in_person,
            facility_level=level,
            id_rank=id_rank,
            travel_minutes=matrix,
            travel_table=tuple(tuple(row) for row in matrix.tolist()),
            by_service=by_service,
            service_starts=service_starts,
            facility_position=fac_pos,
            slot_position=slot_pos,
            travel_is_metric=metric,
            issues=tuple(issues),
            projected_slots=int(np.count_nonzero(day >= cal.projected_from)),
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the planner should know about the index: slots in projected calendar years."""
        if not self.projected_slots:
            return ()
        known_last = self.calendar.known_years[1]
        return (
            f"{self.projected_slots} of {len(self.slots)} slots start after {known_last}, in "
            "years the working calendar projects from weekends and fixed public holidays (no "
            "transfer decree known yet)",
        )

    def extended(self, slots: Iterable[Slot]) -> SlotIndex:
        """A new index with ``slots`` appended after the slots of this one (which is unchanged).

        The existing slots keep their positions and the new ones take the next positions, in
        the order given; the result is the index :meth:`build` would make from all the slots in
        that order. Only the new slots are converted one by one; the rest is copied as arrays
        (no per-slot Python work for the slots already indexed), the travel matrix is reused,
        and the derived data cached on this index (:attr:`cache`) is carried over, except the
        candidate lists of the services the new slots offer.

        Raises
        ------
        InvalidInputError
            A slot id already in the index or given twice, a slot of an unknown facility.
        CalendarRangeError
            A slot outside the calendar's span (unlike :meth:`build`, which leaves it out:
            a slot added to a live state is refused as a whole).
        """
        new = tuple(slots)
        if not new:
            return self
        n = len(self.slots)
        added: dict[str, int] = {}
        for i, s in enumerate(new):
            if s.id in self.slot_position or s.id in added:
                raise InvalidInputError(f"slot {s.id!r}", "id", "the id is used twice")
            added[s.id] = n + i
        cal = self.calendar
        start, end, fac, day, end_day, open_day = _slot_arrays(
            cal, self.facilities, self.facility_position, new
        )
        all_start = _frozen(np.concatenate((self.start, start)))
        all_end = _frozen(np.concatenate((self.end, end)))
        # Ranks by id: an old slot moves up by the new ids below its own, a new one sits after
        # the old ids and the new ids below it.
        old_sorted = self._ids_by_rank()
        new_ids = sorted(s.id for s in new)
        at = [bisect.bisect_left(old_sorted, i) for i in new_ids]
        below_new = np.searchsorted(np.asarray(at, dtype=np.int64), self.id_rank, side="right")
        id_rank = np.empty(n + len(new), dtype=np.int64)
        id_rank[:n] = self.id_rank + below_new
        merged: list[str] = []
        last = 0
        for j, (k, slot_id) in enumerate(zip(at, new_ids, strict=True)):
            merged.extend(old_sorted[last:k])
            merged.append(slot_id)
            id_rank[added[slot_id]] = k + j
            last = k
        merged.extend(old_sorted[last:])
        touched: dict[str, list[int]] = {}
        for i, s in enumerate(new):
            touched.setdefault(str(s.service), []).append(n + i)
        by_service = dict(self.by_service)
        service_starts = dict(self.service_starts)
        for key, members in touched.items():
            pos = np.concatenate((self.by_service.get(key, _EMPTY), np.asarray(members)))
            order = np.lexsort((id_rank[pos], all_end[pos], all_start[pos]))
            by_service[key] = _frozen(pos[order])
            service_starts[key] = _frozen(all_start[by_service[key]])
        cache = {
            key: value
            for key, value in self.cache.items()
            if not (
                isinstance(key, tuple)
                and key[:1] == ("stage-base",)
                and isinstance(key[1], tuple)
                and not touched.keys().isdisjoint(key[1])
            )
        }
        cache[_IDS_BY_RANK] = merged
        # The ids of the new slots in a map of their own, in front of the original index's map
        # (not copied): a look-up costs two probes, an extension copies only the added ids.
        if isinstance(self.slot_position, ChainMap):
            positions = ChainMap(
                {**self.slot_position.maps[0], **added}, *self.slot_position.maps[1:]
            )
        else:
            positions = ChainMap(added, cast("MutableMapping[str, int]", self.slot_position))
        return SlotIndex(
            calendar=cal,
            travel=self.travel,
            slots=self.slots + new,
            facilities=self.facilities,
            start=all_start,
            end=all_end,
            day=_frozen(np.concatenate((self.day, day))),
            end_day=_frozen(np.concatenate((self.end_day, end_day))),
            facility=_frozen(np.concatenate((self.facility, fac))),
            open_day=_frozen(np.concatenate((self.open_day, open_day))),
            in_person=_frozen(np.concatenate((self.in_person, _in_person(new)))),
            facility_level=self.facility_level,
            id_rank=id_rank,
            travel_minutes=self.travel_minutes,
            travel_table=self.travel_table,
            by_service=by_service,
            service_starts=service_starts,
            facility_position=self.facility_position,
            slot_position=positions,
            travel_is_metric=self.travel_is_metric,
            issues=self.issues,
            projected_slots=self.projected_slots + int(np.count_nonzero(day >= cal.projected_from)),
            cache=cache,
        )

    def _ids_by_rank(self) -> list[str]:
        """The slot ids sorted (cached)."""
        cached = self.cache.get(_IDS_BY_RANK)
        if isinstance(cached, list):
            return cached
        ids: list[str] = [""] * len(self.slots)
        for slot, rank in zip(self.slots, self.id_rank.tolist(), strict=True):
            ids[rank] = slot.id
        self.cache[_IDS_BY_RANK] = ids
        return ids

    def facility_level_ok(self, positions: IntArray, level: int | None) -> npt.NDArray[np.bool_]:
        """Mask of the slots at ``positions`` whose facility has at least ``level``."""
        if level is None:
            return np.ones(len(positions), dtype=np.bool_)
        return np.asarray(self.facility_level[self.facility[positions]] >= level)

    def mode_is(self, positions: IntArray, mode: VisitMode) -> npt.NDArray[np.bool_]:
        """Mask of the slots at ``positions`` offered in ``mode`` (every slot for ``EITHER``)."""
        if mode is VisitMode.EITHER:
            return np.ones(len(positions), dtype=np.bool_)
        flags = self.in_person[positions]
        return np.asarray(flags if mode is VisitMode.IN_PERSON else ~flags)

    def __len__(self) -> int:
        return len(self.slots)

    def __repr__(self) -> str:
        return (
            f"SlotIndex({len(self.slots)} slots, {len(self.facilities)} facilities, "
            f"{len(self.by_service)} services)"
        )


_EMPTY = np.empty(0, dtype=np.int64)
_IDS_BY_RANK = "ids-by-rank"


def _frozen(array: npt.NDArray[_T]) -> npt.NDArray[_T]:
    array.setflags(write=False)
    return array


def _in_person(slots: tuple[Slot, ...]) -> npt.NDArray[np.bool_]:
    return np.array([s.mode is VisitMode.IN_PERSON for s in slots], dtype=np.bool_)


def _slot_arrays(
    cal: WorkingCalendar,
    facilities: tuple[Facility, ...],
    facility_position: Mapping[str, int],
    slots: tuple[Slot, ...],
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, npt.NDArray[np.bool_]]:
    """Start and end minutes, facility positions, start and end days and the open-day flags of
    ``slots``.

    Raises
    ------
    InvalidInputError
        A slot of an unknown facility.
    CalendarRangeError
        A slot outside the calendar's span (naming the slot and the field).
    """
    n = len(slots)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    fac = np.empty(n, dtype=np.int64)
    for i, s in enumerate(slots):
        position = facility_position.get(s.facility_id)
        if position is None:
            raise InvalidInputError(
                f"slot {s.id!r}", "facility_id", f"unknown facility {s.facility_id!r}"
            )
        fac[i] = position
        try:
            start[i] = cal.minute_of(s.start)
            end[i] = cal.minute_of(s.end)
        except CalendarRangeError:
            outside = "end" if cal.covers(s.start) else "start"
            reason = f"{cal.range_reason}; the slot is not added"
            raise CalendarRangeError(f"slot {s.id!r}", outside, reason) from None
    table = cal.working_day_offset_table()
    day = np.searchsorted(table.day_start, start, side="right").astype(np.int64) - 1
    end_day = np.searchsorted(table.day_start, end, side="right").astype(np.int64) - 1
    open_day = np.ones(n, dtype=np.bool_)
    closed_days = [_days_off(cal, f, []) for f in facilities]  # the index has the issues
    for i in range(n):
        closed = closed_days[int(fac[i])]
        if closed and int(day[i]) in closed:
            open_day[i] = False
    return start, end, fac, day, end_day, open_day


def _days_off(
    calendar: WorkingCalendar, facility: Facility, issues: list[InvalidInputError]
) -> frozenset[int]:
    """A facility's days off as day indices; one outside the span is an issue and is ignored."""
    inside = [d for d in facility.days_off if calendar.covers(d)]
    if len(inside) < len(facility.days_off):
        issues.append(
            CalendarRangeError(
                f"facility {facility.id!r}",
                "days_off",
                f"{calendar.range_reason}; those days off are ignored",
            )
        )
    return frozenset(calendar.day_index(d) for d in inside)


def _is_metric(matrix: IntArray) -> bool:
    """Whether ``matrix[i, j] <= matrix[i, k] + matrix[k, j]`` for all ``i, j, k``."""
    n = matrix.shape[0]
    for k in range(n):
        via = matrix[:, k : k + 1] + matrix[k : k + 1, :]
        if np.any(matrix > via):
            return False
    return True
