"""An independent checker of any route: its hard rules and its objective, from the input alone.

Every route a solver returns is checked here. This module shares no code with the solvers: it reads
the input records (slots, facilities, the patient, the pathway) and works on aware datetimes and
local dates directly, never on minute indices. The working calendar is used for two things only:
the local date of an instant and working-day arithmetic (``wd(d, n)``).

Rules
-----
Each broken rule is one :class:`Violation` with a code from :data:`RULES`:

- ``missing_stage``, ``unknown_stage``, ``unknown_slot``: every stage booked, nothing else, into a
  slot that exists;
- ``service``, ``level``, ``facility_not_allowed``, ``out_of_region``, ``mode``,
  ``unknown_facility``: the slot fits its stage and the patient (an in-person visit at a facility
  of another region than the request's only with ``patient.travels_out_of_region``);
- ``before_referral``, ``not_before``, ``horizon``: ``slot.start >= referral``,
  ``slot.start >= request.not_before[stage]`` where the request names the stage, and
  ``date(slot.start) <= date(referral) + horizon_days``;
- ``facility_day_off``: ``date(slot.start)`` is not one of the facility's own days off;
- ``unavailable``: an in-person booking meets no period the patient is unavailable;
- ``lag_min``, ``lag_max``, ``hard_deadline``: ``after``, temporal constraints and applicable hard
  deadlines, with the arithmetic of :mod:`nosology.pathway` per unit;
- ``window``: ``date(event)`` in ``[reference + min_days, reference + max_days]``;
- ``visits_per_day``, ``shares_day``: in-person bookings per local date of start;
- ``overlap``: no two in-person bookings overlap in time, whatever their dates;
- ``travel``: between consecutive in-person bookings in time order, whatever their local dates,
  ``next.start >= previous.end + travel(previous facility, next facility)`` (a visit from 23:30 to
  00:05 and the next at 00:20 need room to travel as two visits of one day do). Consecutive pairs
  are the rule (the patient goes from one visit to the next); when travel times obey the triangle
  inequality, this is the same as requiring it of every pair of visits in time order;
- ``slot_reused``: no slot booked for two stages.

A booking is in person when its slot is (``slot.mode``); remote bookings never count for the
patient's availability, visits a day, overlap, travel or day sharing. Bookings of stages the
pathway lacks are reported as ``unknown_stage`` and take no part in any other rule.

Objective
---------
``(completion_minutes, visit_days, travel_minutes, non_preferred)``, computed whenever every stage
is booked into a known slot, feasible or not; see :func:`evaluate_route`. A slot whose facility is
unknown travels as a facility without a location (the travel model's matrix entry by id, else its
``unknown_minutes``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Literal, Self, TypeVar, get_args

from pydantic import model_validator

from nosology.pathway import (
    EventPoint,
    FrozenModel,
    LagUnit,
    Pathway,
    Stage,
    VisitMode,
    parse_event,
)
from routing.calendar import WorkingCalendar, default_calendar
from routing.domain import Facility, RouteRequest, Slot, TravelModel, record_name
from routing.exceptions import CalendarRangeError, InvalidInputError

__all__ = [
    "RULES",
    "DeadlineCheck",
    "RouteEvaluation",
    "RuleCode",
    "Violation",
    "evaluate_route",
]

logger = logging.getLogger(__name__)

RuleCode = Literal[
    "missing_stage",
    "unknown_stage",
    "unknown_slot",
    "service",
    "level",
    "facility_not_allowed",
    "out_of_region",
    "mode",
    "unknown_facility",
    "before_referral",
    "not_before",
    "horizon",
    "facility_day_off",
    "unavailable",
    "lag_min",
    "lag_max",
    "hard_deadline",
    "window",
    "visits_per_day",
    "overlap",
    "travel",
    "shares_day",
    "slot_reused",
]
"""The code of a hard rule (see the module docstring)."""

RULES: tuple[str, ...] = get_args(RuleCode)
"""Every rule code, in the order the evaluator checks them."""

_MICROSECOND = timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000
_MINUTE = timedelta(minutes=1)

_T = TypeVar("_T", Slot, Facility)


class Violation(FrozenModel):
    """One broken hard rule: its code, the stages involved and a readable detail.

    The detail holds ids, times and figures only, never diagnoses or names.
    """

    rule: RuleCode
    stage_ids: tuple[str, ...]
    detail: str


class DeadlineCheck(FrozenModel):
    """A deadline in force for the route: the measured ``actual`` against its ``limit``.

    ``actual`` is in the deadline's unit and defined so that ``met`` is ``actual <= limit``:
    minutes and hours are rounded up, calendar days are the difference of local dates, working days
    are the least ``n >= 0`` with ``wd(date(X), n) >= date(Y)``.
    """

    deadline_id: str
    actual: int
    limit: int
    unit: LagUnit
    met: bool


class RouteEvaluation(FrozenModel):
    """The verdict on a route: feasibility, every violation, the objective and the deadlines.

    Attributes
    ----------
    feasible
        No violations.
    violations
        Every broken hard rule, in the order of :data:`RULES`, then of the pathway's stages.
    objective
        ``(completion_minutes, visit_days, travel_minutes, non_preferred)``; ``None`` when a stage
        is unbooked or its slot unknown.
    deadlines
        The deadlines in force for the referral's date and region whose events are booked.
    """

    feasible: bool
    violations: tuple[Violation, ...]
    objective: tuple[int, int, int, int] | None
    deadlines: tuple[DeadlineCheck, ...]

    @model_validator(mode="after")
    def _check_feasible(self) -> Self:
        if self.feasible != (not self.violations):
            raise ValueError("feasible must be true exactly when there are no violations")
        return self


@dataclass(frozen=True)
class _Booked:
    """A stage of the pathway booked into a known slot."""

    stage: Stage
    slot: Slot
    facility: Facility | None
    day: date
    """The local date of the slot's start."""

    @property
    def in_person(self) -> bool:
        return self.slot.mode is VisitMode.IN_PERSON

    @property
    def place(self) -> Facility:
        """The facility, or a stand-in without a location when it is unknown (travel only)."""
        if self.facility is not None:
            return self.facility
        fid = self.slot.facility_id
        return Facility(id=fid, name=fid, level=1)


def evaluate_route(
    request: RouteRequest,
    pathway: Pathway,
    bookings: Mapping[str, str],
    *,
    slots: Mapping[str, Slot] | Iterable[Slot],
    facilities: Mapping[str, Facility] | Iterable[Facility],
    travel: TravelModel | None = None,
    calendar: WorkingCalendar | None = None,
) -> RouteEvaluation:
    """Check a route against every hard rule and compute its objective and deadlines.

    Parameters
    ----------
    request
        The request routed: patient, referral, reference dates, region and horizon.
    pathway
        The pathway the route follows.
    bookings
        Stage id → slot id.
    slots, facilities
        The records, by id or as an iterable (a mapping is looked up without copying; an iterable
        is read once into a mapping).
    travel
        Travel times; ``TravelModel()`` by default.
    calendar
        Local dates and working days; :func:`~routing.calendar.default_calendar` by default.

    Returns
    -------
    RouteEvaluation
        ``objective`` is ``(completion_minutes, visit_days, travel_minutes, non_preferred)``:
        whole minutes from the referral to the latest slot end (both truncated to the minute in
        UTC first); distinct local dates with an in-person booking; per such date, travel between
        consecutive facilities by start, plus home to the first and from the last when the patient's
        location is known; in-person bookings outside a non-empty ``preferred_facilities``.

    Raises
    ------
    InvalidInputError
        If two slots or two facilities share an id, or a mapping holds a record under another id.
    CalendarRangeError
        If a working-day rule needs a date outside the calendar's span.

    Examples
    --------
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> from nosology.pathway import Applicability, LocalizedText, Stage
    >>> from routing.domain import Patient
    >>> msk, text = ZoneInfo("Europe/Moscow"), LocalizedText(ru="т", en="t")
    >>> pathway = Pathway(id="p", title=text, applicability=Applicability(codes=("C34",)),
    ...     stages=(Stage(id="consult", title=text, services=("fer:27",)),))
    >>> request = RouteRequest(id="R1", patient=Patient(id="P1"), pathway=pathway,
    ...     referral=datetime(2026, 5, 8, 9, tzinfo=msk))
    >>> slot = Slot(id="S1", facility_id="F1", service="fer:27",
    ...     start=datetime(2026, 5, 12, 10, tzinfo=msk),
    ...     end=datetime(2026, 5, 12, 10, 30, tzinfo=msk))
    >>> result = evaluate_route(request, pathway, {"consult": "S1"}, slots=[slot],
    ...     facilities=[Facility(id="F1", name="One", level=2)])
    >>> result.feasible, result.objective
    (True, (5850, 1, 0, 0))
    """
    travel = TravelModel() if travel is None else travel
    calendar = default_calendar() if calendar is None else calendar
    slot_map = _by_id(slots, "slot")
    facility_map = _by_id(facilities, "facility")

    violations: list[Violation] = []
    booked, complete = _resolve(pathway, bookings, slot_map, facility_map, calendar, violations)
    route = list(booked.values())
    in_person = [b for b in route if b.in_person]

    violations += _check_fit(request, route)
    violations += _check_dates(request, route, calendar)
    violations += _check_unavailable(request, in_person)
    violations += _check_lags(request, pathway, booked, calendar)
    violations += _check_windows(request, pathway, booked, calendar)
    violations += _check_days(request, in_person, travel)
    violations += _check_reuse(route)
    violations.sort(key=lambda v: RULES.index(v.rule))  # stable: stage order kept within a rule

    objective = _objective(request, route, travel) if complete else None
    deadlines = _deadlines(request, pathway, booked, calendar)
    logger.debug(
        "request %s: route checked, %d violation(s), objective %s",
        request.id,
        len(violations),
        objective,
    )
    return RouteEvaluation(
        feasible=not violations,
        violations=tuple(violations),
        objective=objective,
        deadlines=deadlines,
    )


# --- input


def _by_id(records: Mapping[str, _T] | Iterable[_T], noun: str) -> Mapping[str, _T]:
    """The records by id; a mapping is checked when looked up (see :func:`_lookup`)."""
    if isinstance(records, Mapping):
        return records
    by_id: dict[str, _T] = {}
    for record in records:
        if record.id in by_id:
            raise InvalidInputError(
                record_name(noun, record.id), "id", f"two {noun}s share this id"
            )
        by_id[record.id] = record
    return by_id


def _lookup(records: Mapping[str, _T], key: str, noun: str) -> _T | None:
    record = records.get(key)
    if record is not None and record.id != key:
        raise InvalidInputError(
            record_name(noun, key), "id", f"the {noun} mapped under this key has id {record.id!r}"
        )
    return record


def _resolve(
    pathway: Pathway,
    bookings: Mapping[str, str],
    slots: Mapping[str, Slot],
    facilities: Mapping[str, Facility],
    calendar: WorkingCalendar,
    violations: list[Violation],
) -> tuple[dict[str, _Booked], bool]:
    """The stages booked into known slots, and whether that is every stage (rules 1 and 2e)."""
    known = {s.id for s in pathway.stages}
    for stage_id in sorted(set(bookings) - known):
        violations.append(
            _v("unknown_stage", (stage_id,), f"booking for stage {stage_id!r}: not in the pathway")
        )
    booked: dict[str, _Booked] = {}
    complete = True
    for stage in pathway.stages:
        slot_id = bookings.get(stage.id)
        if slot_id is None:
            complete = False
            violations.append(_v("missing_stage", (stage.id,), f"stage {stage.id!r} not booked"))
            continue
        slot = _lookup(slots, slot_id, "slot")
        if slot is None:
            complete = False
            violations.append(
                _v("unknown_slot", (stage.id,), f"stage {stage.id!r}: slot {slot_id!r} not known")
            )
            continue
        facility = _lookup(facilities, slot.facility_id, "facility")
        if facility is None:
            violations.append(
                _v(
                    "unknown_facility",
                    (stage.id,),
                    f"stage {stage.id!r}: slot {slot.id!r} at facility {slot.facility_id!r}, "
                    "which is not known",
                )
            )
        booked[stage.id] = _Booked(stage, slot, facility, calendar.local_date(slot.start))
    return booked, complete


# --- rules 2-5: each booking on its own


def _check_fit(request: RouteRequest, route: list[_Booked]) -> list[Violation]:
    """Service, facility level, allowed facilities and visit mode (rule 2)."""
    found: list[Violation] = []
    patient = request.patient
    for b in route:
        stage, slot, where = b.stage, b.slot, f"stage {b.stage.id!r}: slot {b.slot.id!r}"
        if str(slot.service) not in stage.service_keys:
            wanted = ", ".join(sorted(stage.service_keys))
            found.append(
                _v("service", (stage.id,), f"{where} gives {slot.service}, not one of {wanted}")
            )
        if (
            b.facility is not None
            and stage.facility_level is not None
            and b.facility.level < stage.facility_level
        ):
            found.append(
                _v(
                    "level",
                    (stage.id,),
                    f"{where} at facility {b.facility.id!r} of level {b.facility.level}, "
                    f"below the level {stage.facility_level} required",
                )
            )
        allowed = patient.allowed_facilities
        if allowed is not None and slot.facility_id not in allowed:
            found.append(
                _v(
                    "facility_not_allowed",
                    (stage.id,),
                    f"{where} at facility {slot.facility_id!r}, outside the facilities "
                    f"patient {patient.id!r} may be routed to",
                )
            )
        if (
            b.in_person
            and b.facility is not None
            and b.facility.region is not None
            and b.facility.region != request.region
            and not patient.travels_out_of_region
        ):
            found.append(
                _v(
                    "out_of_region",
                    (stage.id,),
                    f"{where} in person at facility {b.facility.id!r} in {b.facility.region}, "
                    f"outside the request's region {request.region}, without the patient's "
                    "consent to travel",
                )
            )
        if stage.mode is not VisitMode.EITHER and slot.mode is not stage.mode:
            found.append(
                _v("mode", (stage.id,), f"{where} is {slot.mode}, the stage is {stage.mode}")
            )
    return found


def _check_dates(
    request: RouteRequest, route: list[_Booked], calendar: WorkingCalendar
) -> list[Violation]:
    """Referral, the stage's earliest start, horizon and the facility's own days off (rules 3
    and 4)."""
    found: list[Violation] = []
    referral_day = calendar.local_date(request.referral)
    for b in route:
        where = f"stage {b.stage.id!r}: slot {b.slot.id!r}"
        if b.slot.start < request.referral:
            found.append(
                _v(
                    "before_referral",
                    (b.stage.id,),
                    f"{where} starts {_show(b.slot.start, calendar)}, before the referral "
                    f"{_show(request.referral, calendar)}",
                )
            )
        earliest = request.not_before.get(b.stage.id)
        if earliest is not None and b.slot.start < earliest:
            found.append(
                _v(
                    "not_before",
                    (b.stage.id,),
                    f"{where} starts {_show(b.slot.start, calendar)}, before the stage may start "
                    f"{_show(earliest, calendar)}",
                )
            )
        if (b.day - referral_day).days > request.horizon_days:
            found.append(
                _v(
                    "horizon",
                    (b.stage.id,),
                    f"{where} on {b.day}, more than {request.horizon_days} days after the "
                    f"referral on {referral_day}",
                )
            )
        if b.facility is not None and b.day in b.facility.days_off:
            found.append(
                _v(
                    "facility_day_off",
                    (b.stage.id,),
                    f"{where} on {b.day}, a day off of facility {b.facility.id!r}",
                )
            )
    return found


def _check_unavailable(request: RouteRequest, in_person: list[_Booked]) -> list[Violation]:
    """No in-person booking meets a period the patient is unavailable (rule 5)."""
    found: list[Violation] = []
    for b in in_person:
        for n, period in enumerate(request.patient.unavailable):
            if b.slot.start < period.end and b.slot.end > period.start:
                found.append(
                    _v(
                        "unavailable",
                        (b.stage.id,),
                        f"stage {b.stage.id!r}: slot {b.slot.id!r} overlaps unavailable period "
                        f"{n} of patient {request.patient.id!r}",
                    )
                )
    return found


# --- rules 6-7: between events


def _instant(event: str, request: RouteRequest, booked: Mapping[str, _Booked]) -> datetime | None:
    """The instant of an event, or ``None`` when its stage is not booked into a known slot."""
    stage_id, point = parse_event(event)
    if stage_id is None:
        return request.referral
    b = booked.get(stage_id)
    if b is None:
        return None
    return b.slot.start if point is EventPoint.START else b.slot.end


def _stages_of(*events: str) -> tuple[str, ...]:
    ids = (parse_event(e)[0] for e in events)
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def _wd(calendar: WorkingCalendar, day: date, n: int) -> date:
    """``wd(day, n)``; past either end of the calendar's span, ``date.max`` / ``date.min``.

    ``day`` itself must lie in the span (else :class:`CalendarRangeError`).
    """
    try:
        return calendar.add_working_days(day, n)
    except CalendarRangeError:
        calendar.add_working_days(day, 0)  # raises if ``day`` itself is outside the span
        return date.max if n > 0 else date.min


def _lag_ok(
    x: datetime,
    y: datetime,
    bound: int,
    unit: LagUnit,
    side: Literal["min", "max"],
    cal: WorkingCalendar,
) -> bool:
    """Whether ``Y - X >= bound`` (``side="min"``) or ``Y - X <= bound`` holds in ``unit``."""
    if unit in (LagUnit.MINUTES, LagUnit.HOURS):
        scale = 60 if unit is LagUnit.HOURS else 1
        elapsed_us = (y - x) // _MICROSECOND
        limit_us = bound * scale * _US_PER_MINUTE
        return elapsed_us >= limit_us if side == "min" else elapsed_us <= limit_us
    x_day, y_day = cal.local_date(x), cal.local_date(y)
    if unit is LagUnit.CALENDAR_DAYS:
        days = (y_day - x_day).days
        return days >= bound if side == "min" else days <= bound
    edge = _wd(cal, x_day, bound)
    return y_day >= edge if side == "min" else y_day <= edge


def _check_lags(
    request: RouteRequest,
    pathway: Pathway,
    booked: Mapping[str, _Booked],
    calendar: WorkingCalendar,
) -> list[Violation]:
    """``after``, temporal constraints and applicable hard deadlines (rule 6)."""
    found: list[Violation] = []
    for stage in pathway.stages:
        for before in stage.after:
            ended, later = _instant(f"{before}.end", request, booked), booked.get(stage.id)
            if ended is not None and later is not None and later.slot.start < ended:
                found.append(
                    _v(
                        "lag_min",
                        (before, stage.id),
                        f"stage {stage.id!r} starts {_show(later.slot.start, calendar)}, before "
                        f"stage {before!r} ends {_show(ended, calendar)}",
                    )
                )
    for n, c in enumerate(pathway.constraints):
        x, y = _instant(c.from_event, request, booked), _instant(c.to_event, request, booked)
        if x is None or y is None:
            continue
        sides: tuple[tuple[Literal["min", "max"], int | None], ...] = (
            ("min", c.min),
            ("max", c.max),
        )
        for side, bound in sides:
            if bound is not None and not _lag_ok(x, y, bound, c.unit, side, calendar):
                found.append(
                    _v(
                        "lag_min" if side == "min" else "lag_max",
                        _stages_of(c.from_event, c.to_event),
                        f"constraint {n}: {c.from_event} {_show(x, calendar)} -> {c.to_event} "
                        f"{_show(y, calendar)} breaks {side} {bound} {c.unit}",
                    )
                )
    referral_day = calendar.local_date(request.referral)
    for d in pathway.deadlines:
        if not (d.hard and d.applies_on(referral_day, request.region)):
            continue
        x, y = _instant(d.from_event, request, booked), _instant(d.to_event, request, booked)
        if x is not None and y is not None and not _lag_ok(x, y, d.limit, d.unit, "max", calendar):
            found.append(
                _v(
                    "hard_deadline",
                    _stages_of(d.from_event, d.to_event),
                    f"deadline {d.id!r}: {d.from_event} {_show(x, calendar)} -> {d.to_event} "
                    f"{_show(y, calendar)} exceeds {d.limit} {d.unit}",
                )
            )
    return found


def _check_windows(
    request: RouteRequest,
    pathway: Pathway,
    booked: Mapping[str, _Booked],
    calendar: WorkingCalendar,
) -> list[Violation]:
    """Each window holds its event's date, inclusive at both ends (rule 7)."""
    found: list[Violation] = []
    for n, w in enumerate(pathway.windows):
        stages = _stages_of(w.event)
        reference = request.reference_dates.get(w.reference)
        if reference is None:
            found.append(
                _v(
                    "window",
                    stages,
                    f"window {n} on {w.event}: request {request.id!r} has no reference date "
                    f"{w.reference!r}",
                )
            )
            continue
        moment = _instant(w.event, request, booked)
        if moment is None:
            continue
        days = (calendar.local_date(moment) - reference).days
        if not w.min_days <= days <= w.max_days:
            found.append(
                _v(
                    "window",
                    stages,
                    f"window {n}: {w.event} on {calendar.local_date(moment)} is day {days} from "
                    f"{w.reference!r}, outside [{w.min_days}, {w.max_days}]",
                )
            )
    return found


# --- rules 8-11: bookings together


def _by_day(in_person: list[_Booked]) -> dict[date, list[_Booked]]:
    """In-person bookings per local date of start, each day sorted by start (then end, stage)."""
    days: dict[date, list[_Booked]] = defaultdict(list)
    for b in sorted(in_person, key=lambda b: (b.slot.start, b.slot.end, b.stage.id)):
        days[b.day].append(b)
    return dict(sorted(days.items()))


def _check_days(
    request: RouteRequest, in_person: list[_Booked], travel: TravelModel
) -> list[Violation]:
    """Visits a day, overlap, travel and day sharing of in-person bookings (rules 8-10)."""
    found: list[Violation] = []
    limit = request.patient.max_visits_per_day
    days = _by_day(in_person)
    for day, visits in days.items():
        if len(visits) > limit:
            found.append(
                _v(
                    "visits_per_day",
                    tuple(b.stage.id for b in visits),
                    f"{len(visits)} in-person bookings on {day}, more than {limit}",
                )
            )
    ordered = [b for visits in days.values() for b in visits]
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if a.slot.start < b.slot.end and b.slot.start < a.slot.end:
                found.append(
                    _v(
                        "overlap",
                        (a.stage.id, b.stage.id),
                        f"slots {a.slot.id!r} and {b.slot.id!r} overlap in time",
                    )
                )
    # Consecutive visits in time order, on one date or across midnight (``ordered`` is sorted by
    # start: the dates in order, each date's visits by start).
    for prev, nxt in pairwise(ordered):
        if nxt.slot.start < prev.slot.end:
            continue  # an overlap, reported as such
        need = travel.minutes(prev.place, nxt.place)
        if nxt.slot.start < prev.slot.end + timedelta(minutes=need):
            gap = (nxt.slot.start - prev.slot.end) / _MINUTE
            found.append(
                _v(
                    "travel",
                    (prev.stage.id, nxt.stage.id),
                    f"{gap:g} min from slot {prev.slot.id!r} at {prev.slot.facility_id!r} to "
                    f"slot {nxt.slot.id!r} at {nxt.slot.facility_id!r}, {need} min needed",
                )
            )
    for visits in days.values():
        for b in visits:
            others = tuple(o.stage.id for o in visits if o is not b)
            if not b.stage.shares_day and others:
                found.append(
                    _v(
                        "shares_day",
                        (b.stage.id, *others),
                        f"stage {b.stage.id!r} must have {b.day} to itself; also booked: "
                        + ", ".join(others),
                    )
                )
    return found


def _check_reuse(route: list[_Booked]) -> list[Violation]:
    """No slot booked for two stages (rule 11)."""
    users: dict[str, list[str]] = defaultdict(list)
    for b in route:
        users[b.slot.id].append(b.stage.id)
    return [
        _v("slot_reused", tuple(stages), f"slot {slot_id!r} booked for {len(stages)} stages")
        for slot_id, stages in users.items()
        if len(stages) > 1
    ]


# --- objective and deadlines


def _whole_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _objective(
    request: RouteRequest, route: list[_Booked], travel: TravelModel
) -> tuple[int, int, int, int]:
    """``(completion_minutes, visit_days, travel_minutes, non_preferred)`` of a complete route."""
    latest = max(_whole_minute(b.slot.end) for b in route)
    completion = (latest - _whole_minute(request.referral)) // _MINUTE
    days = _by_day([b for b in route if b.in_person])
    home = request.patient.location
    moving = 0
    for visits in days.values():
        moving += sum(travel.minutes(a.place, b.place) for a, b in pairwise(visits))
        if home is not None:
            moving += travel.from_home(home, visits[0].place)
            moving += travel.from_home(home, visits[-1].place)
    preferred = set(request.patient.preferred_facilities)
    non_preferred = (
        sum(1 for visits in days.values() for b in visits if b.slot.facility_id not in preferred)
        if preferred
        else 0
    )
    return (completion, len(days), moving, non_preferred)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _actual(x: datetime, y: datetime, unit: LagUnit, calendar: WorkingCalendar) -> int:
    """The time from ``x`` to ``y`` in ``unit``, such that ``actual <= limit`` means met."""
    if unit is LagUnit.MINUTES:
        return _ceil_div((y - x) // _MICROSECOND, _US_PER_MINUTE)
    if unit is LagUnit.HOURS:
        return _ceil_div((y - x) // _MICROSECOND, 60 * _US_PER_MINUTE)
    x_day, y_day = calendar.local_date(x), calendar.local_date(y)
    if unit is LagUnit.CALENDAR_DAYS:
        return (y_day - x_day).days
    if y_day <= x_day:
        return 0
    # The least n >= 0 with wd(x_day, n) >= y_day. wd is increasing in n and wd(x_day, n) lies at
    # least n days after x_day, so n = (y_day - x_day).days qualifies: bisect below it.
    low, high = 1, (y_day - x_day).days
    while low < high:
        mid = (low + high) // 2
        if _wd(calendar, x_day, mid) >= y_day:
            high = mid
        else:
            low = mid + 1
    return low


def _deadlines(
    request: RouteRequest,
    pathway: Pathway,
    booked: Mapping[str, _Booked],
    calendar: WorkingCalendar,
) -> tuple[DeadlineCheck, ...]:
    """The deadlines in force for the referral, measured where both events are booked."""
    referral_day = calendar.local_date(request.referral)
    checks: list[DeadlineCheck] = []
    for d in pathway.deadlines:
        if not d.applies_on(referral_day, request.region):
            continue
        x, y = _instant(d.from_event, request, booked), _instant(d.to_event, request, booked)
        if x is None or y is None:
            continue
        actual = _actual(x, y, d.unit, calendar)
        checks.append(
            DeadlineCheck(
                deadline_id=d.id, actual=actual, limit=d.limit, unit=d.unit, met=actual <= d.limit
            )
        )
    return tuple(checks)


# --- messages


def _v(rule: RuleCode, stage_ids: tuple[str, ...], detail: str) -> Violation:
    return Violation(rule=rule, stage_ids=stage_ids, detail=detail)


def _show(moment: datetime, calendar: WorkingCalendar) -> str:
    """An instant as local ISO time in the calendar's zone."""
    return moment.astimezone(calendar.zone).isoformat()
