"""The patient's timeline: every stage of a planned route, in the patient's words.

:func:`build_timeline` turns a :class:`~routing.result.RouteResult`, the
:class:`~routing.slot_index.SlotIndex` it was planned over and the pathway into a
:class:`Timeline`: ordered items, each a visit (date, time, facility name, address, phone,
room, what to bring, how to prepare), a remote stage (shown as remote: no building), the travel
between two visits of the same day, or the results expected before the next step.

Discretion
----------
Nothing on the timeline names the diagnosis or the pathway: stages are labelled by their
``public_title`` (a discreet label every built-in stage has) or, without one, by a neutral label
by mode ("Appointment", "Remote consultation"); stage and pathway ids are not shown (each stage
is known by its order and a stable opaque ``uid``, a hash of the request and stage ids).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime

from nosology.pathway import (
    EventPoint,
    FrozenModel,
    LocalizedText,
    Pathway,
    Stage,
    VisitMode,
    parse_event,
)
from routing.domain import Facility, Slot
from routing.exceptions import InvalidInputError
from routing.result import Booking, RouteResult
from routing.slot_index import SlotIndex
from routing.views.i18n import DEFAULT_LANGUAGE, Language, Texts, texts_for

__all__ = [
    "ItemKind",
    "Timeline",
    "TimelineItem",
    "build_timeline",
    "stage_label",
    "stage_uid",
]

UID_DOMAIN = "patient-routing"
"""The right-hand side of every calendar UID."""


class ItemKind(StrEnum):
    """What a timeline item is."""

    VISIT = "visit"
    """An in-person appointment at a facility."""
    REMOTE = "remote"
    """A remote stage (telemedicine, or doctors deciding without the patient): no building."""
    TRAVEL = "travel"
    """Getting from one visit to the next on the same day."""
    RESULTS = "results"
    """Results of earlier stages are expected before the next step."""


class TimelineItem(FrozenModel):
    """One entry of the timeline, its texts already in the timeline's language.

    Attributes
    ----------
    kind
        Visit, remote stage, travel or results.
    step
        The stage's number in the route (1, 2, ...) for visits and remote stages; ``None`` else.
    uid
        A stable opaque id of the stage in this request (also the calendar UID), or ``None``.
    label
        The discreet label shown.
    start, end
        When (for travel: from the end of one visit to the start of the next).
    date_text, time_text
        The localised date with weekday, and ``HH:MM–HH:MM``.
    facility_name, address, phone, room
        Where, for visits (address and room where the sources carry them); remote stages keep
        the facility's name and phone only.
    bring, preparation
        What to bring and how to prepare, if the stage says.
    travel_minutes
        For travel items: the planned minutes.
    next_text
        What happens next (the following step and its date), for visits and remote stages.
    """

    kind: ItemKind
    step: int | None = None
    uid: str | None = None
    label: str
    start: AwareDatetime
    end: AwareDatetime
    date_text: str
    time_text: str
    facility_name: str | None = None
    address: str | None = None
    phone: str | None = None
    room: str | None = None
    bring: str | None = None
    preparation: str | None = None
    travel_minutes: int | None = None
    next_text: str | None = None

    @property
    def remote(self) -> bool:
        """Whether this is a remote stage."""
        return self.kind is ItemKind.REMOTE


class Timeline(FrozenModel):
    """The patient's timeline of one planned route.

    Attributes
    ----------
    request_id, patient_id
        The request and the pseudonymous patient.
    language
        ``"ru"`` or ``"en"``.
    zone
        The IANA zone the times are shown in.
    issued
        When the timeline was issued (the calendar's DTSTAMP): the referral unless given.
    items
        Visits, remote stages, travel and results, in time order.
    completion_text
        The localised date of the last step.
    """

    request_id: str
    patient_id: str
    language: Language
    zone: str
    issued: AwareDatetime
    items: tuple[TimelineItem, ...]
    completion_text: str

    @property
    def stages(self) -> tuple[TimelineItem, ...]:
        """The visits and remote stages, in order."""
        return tuple(i for i in self.items if i.kind in (ItemKind.VISIT, ItemKind.REMOTE))


def stage_uid(request_id: str, stage_id: str, domain: str = UID_DOMAIN) -> str:
    """A stable, opaque calendar UID of a stage of a request: the same inputs, the same UID.

    Examples
    --------
    >>> stage_uid("R-1", "ct") == stage_uid("R-1", "ct") != stage_uid("R-2", "ct")
    True
    """
    digest = hashlib.sha256(f"{request_id}\x1f{stage_id}".encode()).hexdigest()[:32]
    return f"{digest}@{domain}"


def stage_label(stage: Stage, texts: Texts) -> str:
    """The discreet label of ``stage``: its public title, or a neutral label by mode."""
    if stage.public_title is not None:
        return stage.public_title.ru if texts.language == "ru" else stage.public_title.en
    if stage.mode is VisitMode.REMOTE:
        return texts.gettext("Remote consultation")
    return texts.gettext("Appointment")


def _pick(text: LocalizedText | None, language: Language) -> str | None:
    if text is None:
        return None
    return text.ru if language == "ru" else text.en


def build_timeline(
    result: RouteResult,
    index: SlotIndex,
    pathway: Pathway,
    *,
    language: Language = DEFAULT_LANGUAGE,
    issued: datetime | None = None,
) -> Timeline:
    """The patient's timeline of a planned route.

    Parameters
    ----------
    result
        A result with a route (OPTIMAL or FEASIBLE).
    index
        The slots and facilities the route was planned over (for contacts and travel).
    pathway
        The pathway the route follows (for labels and patient texts).
    language
        ``"ru"`` (default) or ``"en"``.
    issued
        When the timeline is issued; the referral by default (so the same input gives the same
        output).

    Raises
    ------
    InvalidInputError
        The result has no route, or names a stage or slot that ``pathway`` or ``index`` lacks.
    """
    record = f"route of request {result.request_id!r}"
    if not result.has_route:
        raise InvalidInputError(record, "status", "the result has no route to show")
    texts = texts_for(language)
    zone = index.calendar.zone
    stages = {s.id: s for s in pathway.stages}
    bookings = sorted(result.bookings, key=lambda b: (b.start, b.stage_id))
    for booking in bookings:
        if booking.stage_id not in stages:
            raise InvalidInputError(record, "bookings", f"stage {booking.stage_id!r} is unknown")
        if booking.slot_id not in index.slot_position:
            raise InvalidInputError(record, "bookings", f"slot {booking.slot_id!r} is unknown")
    labels = [stage_label(stages[b.stage_id], texts) for b in bookings]
    items: list[TimelineItem] = []
    previous_visit: tuple[Booking, Facility] | None = None
    for n, booking in enumerate(bookings):
        stage = stages[booking.stage_id]
        slot = index.slots[index.slot_position[booking.slot_id]]
        facility = index.facilities[index.facility_position[booking.facility_id]]
        start = booking.start.astimezone(zone)
        results = _results_before(booking, bookings[:n], pathway)
        if results is not None:
            items.append(
                TimelineItem(
                    kind=ItemKind.RESULTS,
                    label=texts.gettext("Results of the earlier examinations are expected"),
                    start=results,
                    end=start,
                    date_text=texts.full_date(start),
                    time_text="",
                    next_text=texts.gettext(
                        "The results will be ready before {what} on {day}",
                        what=labels[n],
                        day=texts.long_date(start),
                    ),
                )
            )
        in_person = booking.mode is VisitMode.IN_PERSON
        if in_person and previous_visit is not None:
            before, before_facility = previous_visit
            if index.calendar.local_date(before.end) == index.calendar.local_date(start):
                items.append(_travel(before, before_facility, booking, facility, index, texts))
        items.append(
            _stage_item(
                n + 1,
                result.request_id,
                booking,
                stage,
                slot,
                facility,
                labels[n],
                _next_text(bookings, labels, n, texts, zone),
                texts,
                zone,
            )
        )
        if in_person:
            previous_visit = (booking, facility)
    last = max(b.end for b in bookings).astimezone(zone)
    return Timeline(
        request_id=result.request_id,
        patient_id=result.patient_id,
        language=language,
        zone=zone.key,
        issued=issued or result.referral,
        items=tuple(items),
        completion_text=texts.full_date(last),
    )


def _stage_item(
    step: int,
    request_id: str,
    booking: Booking,
    stage: Stage,
    slot: Slot,
    facility: Facility,
    label: str,
    next_text: str,
    texts: Texts,
    zone: ZoneInfo,
) -> TimelineItem:
    start = booking.start.astimezone(zone)
    end = booking.end.astimezone(zone)
    remote = booking.mode is VisitMode.REMOTE
    return TimelineItem(
        kind=ItemKind.REMOTE if remote else ItemKind.VISIT,
        step=step,
        uid=stage_uid(request_id, stage.id),
        label=label,
        start=start,
        end=end,
        date_text=texts.full_date(start),
        time_text=f"{texts.time(start)}–{texts.time(end)}",
        facility_name=facility.name,
        address=None if remote else (slot.address or facility.address),
        phone=facility.phone,
        room=None if remote else slot.room,
        bring=_pick(stage.bring, texts.language),
        preparation=_pick(stage.preparation, texts.language),
        next_text=next_text,
    )


def _travel(
    before: Booking,
    before_facility: Facility,
    after: Booking,
    after_facility: Facility,
    index: SlotIndex,
    texts: Texts,
) -> TimelineItem:
    minutes = int(
        index.travel_minutes[
            index.facility_position[before_facility.id], index.facility_position[after_facility.id]
        ]
    )
    zone = index.calendar.zone
    start, end = before.end.astimezone(zone), after.start.astimezone(zone)
    if before_facility.id == after_facility.id:
        label = texts.gettext("Next appointment in the same building")
    else:
        label = texts.gettext(
            "Travel to {place}: about {duration}",
            place=after_facility.name,
            duration=texts.minutes(minutes),
        )
    return TimelineItem(
        kind=ItemKind.TRAVEL,
        label=label,
        start=start,
        end=end,
        date_text=texts.full_date(start),
        time_text=f"{texts.time(start)}–{texts.time(end)}",
        travel_minutes=minutes,
    )


def _results_before(booking: Booking, earlier: list[Booking], pathway: Pathway) -> datetime | None:
    """The end of the latest earlier stage whose results ``booking`` waits for, if any.

    A stage waits for results when the pathway demands a minimum lag (a turnaround) from the
    end of an earlier stage to its start.
    """
    ends = {b.stage_id: b.end for b in earlier}
    waited: list[datetime] = []
    for constraint in pathway.constraints:
        to_stage, _ = parse_event(constraint.to_event)
        from_stage, point = parse_event(constraint.from_event)
        if (
            to_stage == booking.stage_id
            and from_stage in ends
            and point is EventPoint.END
            and (constraint.min or 0) > 0
        ):
            waited.append(ends[from_stage])
    return max(waited) if waited else None


def _next_text(
    bookings: list[Booking], labels: list[str], n: int, texts: Texts, zone: ZoneInfo
) -> str:
    if n + 1 >= len(bookings):
        return texts.gettext("After this step your doctor will tell you what comes next.")
    following = bookings[n + 1]
    return texts.gettext(
        "Next: {what}, {day}",
        what=labels[n + 1],
        day=texts.full_date(following.start.astimezone(zone)),
    )
