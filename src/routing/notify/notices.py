"""What to tell a patient, and when: notices derived from the lifecycle's change records.

Each route's history (:class:`~routing.lifecycle.model.ChangeRecord`, oldest first) gives:

- ``booked``: a visit booked (with the route's calendar attached);
- ``changed``: a visit the patient held moved, old time → new time (calendar attached, its
  SEQUENCE the route's revision);
- ``cancelled``: a visit the patient held cancelled, withdrawn by the facility, or dropped by a
  change of pathway (a ``METHOD:CANCEL`` calendar attached); when a re-plan moves the visit,
  the move is told instead, once (and the booking of the new time is not told again);

and the route's state at ``now`` gives:

- ``reminder``: a booked visit within the next day;
- ``result_due``: an attended stage whose result is awaited, with the day it is due;

and a repair (:class:`~routing.lifecycle.repair.Repair`) that finds the route at risk gives
``at_risk``. Each notice has a key made of what it is about (route, place in the history, stage,
slot, kind), so that deriving the notices again, after any replay, gives the same keys: the
outbox sends one message per key and channel.

Discreet by construction: a notice names the stage by its public label
(:func:`~routing.views.timeline.stage_label`), the facility, address, room and time; never the
diagnosis, the pathway or a clinical title.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from nosology.catalogue import Catalogue
from nosology.pathway import FrozenModel, Pathway, VisitMode
from routing.lifecycle.model import ChangeReason, ChangeRecord, RouteState, StageStatus, State
from routing.lifecycle.repair import Repair
from routing.live import LiveSlots
from routing.views.i18n import DEFAULT_LANGUAGE, Language, Texts, texts_for
from routing.views.ics import cancellation_ics, timeline_ics
from routing.views.living import route_result_of
from routing.views.timeline import Timeline, build_timeline, stage_label, stage_uid

__all__ = ["Notice", "NoticeKind", "at_risk_notice", "route_notices", "state_notices"]

logger = logging.getLogger(__name__)

REMINDER_AHEAD = timedelta(days=1)
"""A booked visit starting this soon gets a reminder."""

_CANCELLING = (
    ChangeReason.STAGE_CANCELLED,
    ChangeReason.REFERRAL_CANCELLED,
    ChangeReason.DROPPED,
    ChangeReason.SLOT_WITHDRAWN,
)


class NoticeKind(StrEnum):
    """What a notice tells."""

    BOOKED = "booked"
    CHANGED = "changed"
    CANCELLED = "cancelled"
    REMINDER = "reminder"
    RESULT_DUE = "result_due"
    AT_RISK = "at_risk"


class Notice(FrozenModel):
    """One thing to tell one patient, already worded.

    Attributes
    ----------
    key
        Unique and stable: the same change gives the same key whenever it is derived.
    kind
        What it tells.
    route_id, patient_id
        The route and the patient's pseudonym.
    language
        The language of ``subject`` and ``body``.
    subject, body
        The message, discreet (see the module docstring).
    ics
        A calendar to attach (``.ics`` text), if any.
    """

    key: str
    kind: NoticeKind
    route_id: str
    patient_id: str
    language: Language
    subject: str
    body: str
    ics: str | None = None


def state_notices(
    state: State,
    now: datetime,
    *,
    language: Language = DEFAULT_LANGUAGE,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    referrals: Mapping[str, datetime] | None = None,
) -> list[Notice]:
    """The notices of every route of ``state`` (see :func:`route_notices`), route by route."""
    notices: list[Notice] = []
    for route_id in sorted(state.routes):
        notices += route_notices(
            state,
            route_id,
            now,
            language=language,
            catalogue=catalogue,
            pathways=pathways,
            referral=(referrals or {}).get(route_id),
        )
    return notices


def route_notices(
    state: State,
    route_id: str,
    now: datetime,
    *,
    language: Language = DEFAULT_LANGUAGE,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    referral: datetime | None = None,
) -> list[Notice]:
    """The notices of one route as of ``now``, oldest change first.

    A route whose pathway is unknown (neither in ``pathways`` nor in the catalogue) is told
    with neutral labels by visit mode. Raises ``KeyError`` for an unknown route.
    """
    route = state.routes[route_id]
    live = state.live
    if live is None:
        return []
    pathway = _pathway(route, catalogue, pathways)
    words = _Words(route, live, pathway, texts_for(language), referral, state)
    notices = [n for i, record in enumerate(route.history) if (n := words.change(i, record))]
    notices += words.reminders(now)
    notices += words.results_due()
    return notices


def at_risk_notice(
    state: State, repair: Repair, *, language: Language = DEFAULT_LANGUAGE
) -> Notice | None:
    """The notice that the route's re-plan may miss a waiting-time limit (``None`` when the
    repair does not find it at risk)."""
    if not repair.at_risk:
        return None
    route = state.routes[repair.route_id]
    texts = texts_for(language)
    return Notice(
        key=f"{route.route_id}:r{route.revision}:at_risk",
        kind=NoticeKind.AT_RISK,
        route_id=route.route_id,
        patient_id=route.patient_id,
        language=language,
        subject=texts.gettext("Your appointments are being rearranged"),
        body=texts.gettext(
            "A waiting-time limit of your care may not be met with the appointments now "
            "available. Your care team is looking for earlier ones and will contact you."
        ),
    )


def _pathway(
    route: RouteState, catalogue: Catalogue | None, pathways: Mapping[str, Pathway] | None
) -> Pathway | None:
    if route.pathway_id is None:
        return None
    if pathways and route.pathway_id in pathways:
        return pathways[route.pathway_id]
    try:
        return (catalogue or Catalogue.builtin()).get(route.pathway_id)
    except Exception:  # an unknown pathway: neutral labels
        logger.info("route %s: its pathway is unknown, neutral labels", route.route_id)
        return None


class _Words:
    """Words for one route's notices."""

    def __init__(
        self,
        route: RouteState,
        live: LiveSlots,
        pathway: Pathway | None,
        texts: Texts,
        referral: datetime | None,
        state: State,
    ) -> None:
        self.route = route
        self.live = live
        self.pathway = pathway
        self.texts = texts
        self.referral = referral
        self.state = state
        self.stages = {s.id: s for s in pathway.stages} if pathway is not None else {}
        self.superseded = _superseded(route.history)
        self._told: dict[str, str | None] = {}
        self._route_calendar: tuple[str | None] | None = None

    # -- one record ------------------------------------------------------------------------------
    def change(self, i: int, record: ChangeRecord) -> Notice | None:
        """The notice of record ``i`` (``None``: nothing to tell); records go in history order."""
        told = self._told.get(record.stage_id)
        self._told[record.stage_id] = self._told_after(i, record, told)
        return self._change(i, record, told)

    def _change(self, i: int, record: ChangeRecord, told: str | None) -> Notice | None:
        route = self.route
        base = f"{route.route_id}:h{i}:{record.stage_id}"
        if record.reason == ChangeReason.BOOKED and record.new_slot is not None:
            if told == record.new_slot:
                return None  # the re-plan that moved it here told the patient already
            when = self._when(record.new_slot)
            return self._notice(
                f"{base}:booked",
                NoticeKind.BOOKED,
                self.texts.gettext("Appointment booked: {date}", date=when.date),
                self.texts.gettext(
                    "{label}: {date}, {time}. {place}", label=self._label(record), **when.parts
                ),
                self._calendar(),
            )
        if record.reason == ChangeReason.REPLANNED and record.new_slot is not None:
            if told is None or told == record.new_slot:
                return None  # the patient held no time for it: nothing they knew changed
            new, old = self._when(record.new_slot), self._when(told)
            return self._notice(
                f"{base}:changed",
                NoticeKind.CHANGED,
                self.texts.gettext("Appointment moved: {date}", date=new.date),
                self.texts.gettext(
                    "{label} is moved to {date}, {time}{before}. {place}",
                    label=self._label(record),
                    before=self.texts.gettext(
                        " (was {date}, {time})", date=old.date, time=old.time
                    ),
                    **new.parts,
                ),
                self._calendar(),
            )
        if record.reason in _CANCELLING and record.notify and record.old_slot is not None:
            if i in self.superseded:
                return None  # told as the change the re-plan makes
            old = self._when(record.old_slot)
            return self._notice(
                f"{base}:cancelled",
                NoticeKind.CANCELLED,
                self.texts.gettext("Appointment cancelled: {date}", date=old.date),
                self.texts.gettext(
                    "{label} on {date}, {time} is cancelled. {place}",
                    label=self._label(record),
                    **old.parts,
                ),
                self._cancellation(record.stage_id, record.old_slot),
            )
        return None

    def _told_after(self, i: int, record: ChangeRecord, told: str | None) -> str | None:
        """The slot of the stage the patient knows of after record ``i``: that of its last
        booking or of a re-plan after one; ``None`` when never booked, or after a cancellation
        they were told of."""
        if record.reason == ChangeReason.BOOKED or (
            record.reason == ChangeReason.REPLANNED and told is not None
        ):
            return record.new_slot
        if record.reason in _CANCELLING and record.notify and i not in self.superseded:
            return None
        return told

    # -- the state now ---------------------------------------------------------------------------
    def reminders(self, now: datetime) -> list[Notice]:
        out = []
        for stage in self.route.stages:
            if stage.status != StageStatus.BOOKED or stage.slot_id is None or stage.start is None:
                continue
            if not now < stage.start <= now + REMINDER_AHEAD:
                continue
            when = self._when(stage.slot_id)
            out.append(
                self._notice(
                    f"{self.route.route_id}:{stage.stage_id}:{stage.slot_id}:reminder",
                    NoticeKind.REMINDER,
                    self.texts.gettext("Reminder: appointment {date}", date=when.date),
                    self.texts.gettext(
                        "{label}: {date}, {time}. {place}",
                        label=self._label_of(stage.stage_id),
                        **when.parts,
                    ),
                    None,
                )
            )
        return out

    def results_due(self) -> list[Notice]:
        out = []
        for stage in self.route.stages:
            until = stage.result_pending_until
            if stage.status != StageStatus.ATTENDED or until is None:
                continue
            day = self.texts.full_date(until.astimezone(self.live.index.calendar.zone))
            out.append(
                self._notice(
                    f"{self.route.route_id}:{stage.stage_id}:result:{until.isoformat()}",
                    NoticeKind.RESULT_DUE,
                    self.texts.gettext("Result expected: {date}", date=day),
                    self.texts.gettext(
                        "The result of your appointment ({label}) is expected on {date}. "
                        "You will be told what happens next.",
                        label=self._label_of(stage.stage_id),
                        date=day,
                    ),
                    None,
                )
            )
        return out

    # -- pieces ----------------------------------------------------------------------------------
    def _notice(
        self, key: str, kind: NoticeKind, subject: str, body: str, ics: str | None
    ) -> Notice:
        return Notice(
            key=key,
            kind=kind,
            route_id=self.route.route_id,
            patient_id=self.route.patient_id,
            language=self.texts.language,
            subject=subject,
            body=body.strip(),
            ics=ics,
        )

    def _label(self, record: ChangeRecord) -> str:
        return self._label_of(record.stage_id)

    def _label_of(self, stage_id: str) -> str:
        stage = self.stages.get(stage_id)
        if stage is not None:
            return stage_label(stage, self.texts)
        return self.texts.gettext("Appointment")

    def _when(self, slot_id: str) -> _When:
        slot = self.live.slot(slot_id)
        zone = self.live.index.calendar.zone
        facility = self.state.facilities.get(slot.facility_id)
        start = slot.start.astimezone(zone)
        parts = [facility.name if facility is not None else ""]
        address = slot.address or (facility.address if facility is not None else None)
        remote = slot.mode is VisitMode.REMOTE
        if remote:
            parts = [self.texts.gettext("remote, no visit needed")]
        elif address:
            parts.append(address)
        if slot.room and not remote:
            parts.append(self.texts.gettext("room {room}", room=slot.room))
        return _When(
            self.texts.full_date(start), self.texts.time(start), ", ".join(p for p in parts if p)
        )

    def _timeline(self, slots: dict[str, str] | None = None) -> Timeline | None:
        """The route's visits still to come or attended (and those of ``slots``)."""
        if self.pathway is None:
            return None
        gone = (StageStatus.CANCELLED, StageStatus.NO_SHOW)
        showing = {
            s.stage_id
            for s in self.route.stages
            if s.stage_id in self.stages and (s.status not in gone or s.stage_id in (slots or {}))
        }
        result = route_result_of(
            self.route, self.live, referral=self.referral, stages=showing, slots=slots
        )
        if result is None:
            return None
        return build_timeline(result, self.live.index, self.pathway, language=self.texts.language)

    def _calendar(self) -> str | None:
        """The route's calendar as it now stands (built once per route)."""
        if self._route_calendar is None:
            timeline = self._timeline()
            ics = None
            if timeline is not None:
                ics = timeline_ics(timeline, revision=self.route.revision).decode("utf-8")
            self._route_calendar = (ics,)
        return self._route_calendar[0]

    def _cancellation(self, stage_id: str, slot_id: str) -> str | None:
        if stage_id not in self.stages:
            return None
        timeline = self._timeline({stage_id: slot_id})
        if timeline is None:
            return None
        uid = stage_uid(self.route.request_id, stage_id)
        if uid not in {item.uid for item in timeline.stages}:
            return None
        return cancellation_ics(timeline, [uid], revision=self.route.revision).decode("utf-8")


def _superseded(history: tuple[ChangeRecord, ...]) -> frozenset[int]:
    """Positions of the cancelling records a later re-plan moves on from: a cancellation a
    re-plan made to move the visit (its id extends the revision's: see
    :func:`routing.lifecycle.repair.repair`), or a withdrawn slot re-planned since. One pass from
    the end."""
    replanned: dict[str, set[str]] = {}  # stage -> ids of the re-plans after this point
    out: set[int] = set()
    for i in range(len(history) - 1, -1, -1):
        record = history[i]
        later = replanned.get(record.stage_id, set())
        if record.reason == ChangeReason.REPLANNED:
            replanned.setdefault(record.stage_id, set()).add(record.event_id)
        elif record.reason in _CANCELLING and later:
            prefixes = {record.event_id[:n] for n, ch in enumerate(record.event_id) if ch == ":"}
            if record.reason == ChangeReason.SLOT_WITHDRAWN or prefixes & later:
                out.add(i)
    return frozenset(out)


class _When:
    """A slot's date, time and place, worded."""

    def __init__(self, date: str, time: str, place: str) -> None:
        self.date = date
        self.time = time
        self.place = place

    @property
    def parts(self) -> dict[str, str]:
        return {"date": self.date, "time": self.time, "place": self.place}
