"""An index of free slots, built once and shared by every request planned over it.

The index holds the slots as flat integer arrays (minutes and local day indices on a
:class:`~routing.calendar.WorkingCalendar`), grouped by service and sorted by start, so that the
candidates of a stage are found by binary search. It also holds the travel minutes between every
pair of facilities, computed once from the :class:`~routing.domain.TravelModel`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nosology.pathway import VisitMode
from routing.calendar import WorkingCalendar, default_calendar
from routing.domain import Facility, Slot, TravelModel
from routing.exceptions import CalendarRangeError, InvalidInputError

__all__ = ["SlotIndex"]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]


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

    def facility_level_ok(self, positions: IntArray, level: int | None) -> npt.NDArray[np.bool_]:
        """Mask of the slots at ``positions`` whose facility has at least ``level``."""
        if level is None:
            return np.ones(len(positions), dtype=np.bool_)
        return np.asarray(self.facility_level[self.facility[positions]] >= level)

    def mode_is(self, positions: IntArray, mode: VisitMode) -> npt.NDArray[np.bool_]:
        """Mask of the slots at ``positions`` offered in ``mode``."""
        flags = self.in_person[positions]
        return np.asarray(flags if mode is VisitMode.IN_PERSON else ~flags)

    def __len__(self) -> int:
        return len(self.slots)

    def __repr__(self) -> str:
        return (
            f"SlotIndex({len(self.slots)} slots, {len(self.facilities)} facilities, "
            f"{len(self.by_service)} services)"
        )


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
