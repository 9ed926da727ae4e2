"""The patient's route as an iCalendar file (RFC 5545), through :mod:`icalendar`.

One VEVENT per stage of the :class:`~routing.views.timeline.Timeline` (visits and remote
stages; travel and results are not events), with the timeline's discreet labels: nothing names
the diagnosis or the pathway. Times are in the route's zone with its VTIMEZONE (Europe/Moscow
for Russian sources). UIDs are stable per request and stage, so a calendar client updates an
event instead of adding a copy; ``SEQUENCE`` is the revision number the caller passes (increase
it on every change); :func:`cancellation_ics` is the ``METHOD:CANCEL`` message for visits that
were cancelled. A remote stage says it is remote and has no LOCATION (no building to go to).
"""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from routing.views.i18n import texts_for
from routing.views.timeline import ItemKind, Timeline, TimelineItem

__all__ = ["PRODID", "cancellation_ics", "timeline_ics"]

PRODID = "-//patient-routing//route timeline//EN"
"""The calendar's product id."""


def timeline_ics(timeline: Timeline, *, revision: int = 0) -> bytes:
    """The timeline's stages as a ``METHOD:PUBLISH`` calendar.

    Parameters
    ----------
    timeline
        The patient's timeline (its language is the calendar's).
    revision
        The route's revision: 0 first, then one more on every change (each event's SEQUENCE).

    Returns
    -------
    bytes
        The ``.ics`` text, UTF-8, CRLF line ends.
    """
    calendar = _calendar(timeline, "PUBLISH")
    for item in timeline.stages:
        calendar.add_component(_event(timeline, item, revision, cancelled=False))
    return _finish(calendar)


def cancellation_ics(
    timeline: Timeline, uids: Iterable[str] | None = None, *, revision: int
) -> bytes:
    """A ``METHOD:CANCEL`` calendar that cancels stages of the timeline.

    Parameters
    ----------
    timeline
        The timeline whose events are cancelled.
    uids
        The UIDs of the cancelled stages; all of them when ``None``.
    revision
        The revision of the cancellation: higher than that of the calendar it cancels.

    Raises
    ------
    ValueError
        A UID is not one of the timeline's.
    """
    known = {item.uid: item for item in timeline.stages}
    wanted = list(known) if uids is None else list(uids)
    unknown = [uid for uid in wanted if uid not in known]
    if unknown:
        raise ValueError(f"{len(unknown)} UID(s) are not stages of this timeline")
    calendar = _calendar(timeline, "CANCEL")
    for uid in wanted:
        calendar.add_component(_event(timeline, known[uid], revision, cancelled=True))
    return _finish(calendar)


def _calendar(timeline: Timeline, method: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    return calendar


def _finish(calendar: Calendar) -> bytes:
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data


def _event(timeline: Timeline, item: TimelineItem, revision: int, *, cancelled: bool) -> Event:
    if revision < 0:
        raise ValueError("revision must be 0 or more")
    texts = texts_for(timeline.language)
    zone = ZoneInfo(timeline.zone)
    event = Event()
    event.add("uid", item.uid)
    event.add("sequence", revision)
    event.add("dtstamp", timeline.issued.astimezone(ZoneInfo("UTC")))
    event.add("dtstart", item.start.astimezone(zone))
    event.add("dtend", item.end.astimezone(zone))
    remote = item.kind is ItemKind.REMOTE
    summary = item.label
    if remote:
        summary = texts.gettext("{label} (remote)", label=item.label)
    event.add("summary", summary)
    lines: list[str] = []
    if remote:
        lines.append(texts.gettext("Remote: you do not need to come to a facility."))
    elif item.facility_name:
        location = ", ".join(
            part
            for part in (
                item.facility_name,
                item.address,
                texts.gettext("room {room}", room=item.room) if item.room else None,
            )
            if part
        )
        event.add("location", location)
    if item.phone:
        lines.append(texts.gettext("Phone: {phone}", phone=item.phone))
    if item.preparation:
        lines.append(texts.gettext("How to prepare: {text}", text=item.preparation))
    if item.bring:
        lines.append(texts.gettext("What to bring: {text}", text=item.bring))
    if item.next_text:
        lines.append(item.next_text)
    if lines:
        event.add("description", "\n".join(lines))
    event.add("transp", "OPAQUE")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if remote:
        event.add("x-patient-routing-mode", "remote")
    return event
