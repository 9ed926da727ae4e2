"""Server-rendered HTML of the patient's timeline and the doctor's proposal (Jinja2).

The templates (``routing/views/templates/*.html.j2``) are plain HTML with inline CSS and no
script; autoescaping is on, so names and texts from the sources are shown, never interpreted.
The patient's page links its ``.ics`` as a ``data:`` URI (a download named ``route.ics``), so
the page is one self-contained file. :func:`doctor_view` is the doctor's proposal as data: the
page shows it and ``routing propose`` writes it as JSON.
"""

from __future__ import annotations

import base64
import functools

from jinja2 import Environment, PackageLoader

from nosology.pathway import FrozenModel, Pathway
from routing.result import RouteResult
from routing.slot_index import SlotIndex
from routing.views.i18n import DEFAULT_LANGUAGE, Language, Texts, texts_for
from routing.views.proposals import OptionKind, Proposal, RouteOption
from routing.views.timeline import Timeline

__all__ = [
    "DeadlineView",
    "DoctorView",
    "OptionView",
    "StageView",
    "doctor_page",
    "doctor_view",
    "ics_data_uri",
    "patient_page",
]


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("routing.views", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def ics_data_uri(ics: bytes) -> str:
    """A ``data:`` URI of an ``.ics`` file, for a download link."""
    return "data:text/calendar;charset=utf-8;base64," + base64.b64encode(ics).decode("ascii")


def patient_page(timeline: Timeline, ics: bytes, *, ics_name: str = "route.ics") -> str:
    """The patient's timeline as one HTML page, with a link that downloads ``ics``."""
    texts = texts_for(timeline.language)
    template = _environment().get_template("patient.html.j2")
    return template.render(
        timeline=timeline,
        _=texts.gettext,
        lang=timeline.language,
        ics_href=ics_data_uri(ics),
        ics_name=ics_name,
    )


class StageView(FrozenModel):
    """One booked stage as the doctor sees it."""

    stage_id: str
    title: str
    date: str
    time: str
    facility: str
    remote: bool


class DeadlineView(FrozenModel):
    """One regulatory deadline of a route: met or missed, with its slack (negative: overrun)."""

    deadline_id: str
    title: str
    met: bool
    slack: int
    unit: str
    margin: str
    """The slack or overrun in words, e.g. "slack: 2 working days"."""


class OptionView(FrozenModel):
    """One proposed route with its figures and why it differs from the fastest."""

    kind: OptionKind
    name: str
    why: str
    completion: str
    completion_days: float
    visit_days: int
    travel_minutes: int
    travel: str
    non_preferred: int
    deadlines_met: int
    deadlines_missed: int
    deadlines: tuple[DeadlineView, ...]
    stages: tuple[StageView, ...]


class DoctorView(FrozenModel):
    """The doctor's proposal as data (the page and ``proposal.json``)."""

    request_id: str
    patient_id: str
    pathway_id: str | None
    pathway_title: str | None
    language: Language
    status: str
    reasons: tuple[str, ...]
    options: tuple[OptionView, ...]


_UNITS = {
    "minutes": "minutes",
    "hours": "hours",
    "calendar_days": "calendar days",
    "working_days": "working days",
}

_NAMES = {
    OptionKind.FASTEST: "Fastest route",
    OptionKind.FEWER_VISIT_DAYS: "Fewer visit days",
    OptionKind.CLOSER: "Less travel, closer facilities",
    OptionKind.PREFERRED: "The patient's preferred facility",
}


def doctor_view(
    proposal: Proposal,
    index: SlotIndex,
    pathway: Pathway | None,
    *,
    language: Language = DEFAULT_LANGUAGE,
) -> DoctorView:
    """The proposal as the doctor sees it, its texts in ``language``."""
    texts = texts_for(language)
    return DoctorView(
        request_id=proposal.request_id,
        patient_id=proposal.patient_id,
        pathway_id=proposal.pathway_id,
        pathway_title=None if pathway is None else _lang(pathway.title, language),
        language=language,
        status=proposal.fastest.status.value,
        reasons=proposal.fastest.reasons,
        options=tuple(_option_view(o, index, pathway, texts) for o in proposal.options),
    )


def _lang(text: object, language: Language) -> str:
    return str(getattr(text, language))


def _option_view(
    option: RouteOption, index: SlotIndex, pathway: Pathway | None, texts: Texts
) -> OptionView:
    result = option.result
    assert result.objective is not None
    objective = result.objective
    zone = index.calendar.zone
    completion = result.completion
    assert completion is not None
    titles = (
        {} if pathway is None else {s.id: _lang(s.title, texts.language) for s in pathway.stages}
    )
    deadline_titles = (
        {} if pathway is None else {d.id: _lang(d.title, texts.language) for d in pathway.deadlines}
    )
    facilities = {f.id: f.name for f in index.facilities}
    return OptionView(
        kind=option.kind,
        name=texts.gettext(_NAMES[option.kind]),
        why=_why(option, texts),
        completion=texts.full_date(completion.astimezone(zone)),
        completion_days=round(objective.completion_minutes / 1440, 1),
        visit_days=objective.visit_days,
        travel_minutes=objective.travel_minutes,
        travel=texts.minutes(objective.travel_minutes),
        non_preferred=objective.non_preferred,
        deadlines_met=sum(d.met for d in result.deadlines),
        deadlines_missed=sum(not d.met for d in result.deadlines),
        deadlines=tuple(
            DeadlineView(
                deadline_id=d.deadline_id,
                title=deadline_titles.get(d.deadline_id, d.title),
                met=d.met,
                slack=d.slack,
                unit=d.unit.value,
                margin=_margin(d.slack, d.unit.value, texts),
            )
            for d in result.deadlines
        ),
        stages=_stage_views(result, titles, facilities, index, texts),
    )


def _margin(slack: int, unit: str, texts: Texts) -> str:
    """A deadline's slack, or its overrun when negative, in words."""
    n = texts.number(abs(slack))
    unit_text = texts.gettext(_UNITS[unit])
    if slack >= 0:
        return texts.gettext("slack: {n} {unit}", n=n, unit=unit_text)
    return texts.gettext("overrun: {n} {unit}", n=n, unit=unit_text)


def _stage_views(
    result: RouteResult,
    titles: dict[str, str],
    facilities: dict[str, str],
    index: SlotIndex,
    texts: Texts,
) -> tuple[StageView, ...]:
    zone = index.calendar.zone
    return tuple(
        StageView(
            stage_id=b.stage_id,
            title=titles.get(b.stage_id, b.stage_id),
            date=texts.full_date(b.start.astimezone(zone)),
            time=f"{texts.time(b.start.astimezone(zone))}–{texts.time(b.end.astimezone(zone))}",
            facility=facilities.get(b.facility_id, b.facility_id),
            remote=b.mode.value == "remote",
        )
        for b in result.bookings
    )


def _why(option: RouteOption, texts: Texts) -> str:
    if option.kind is OptionKind.FASTEST:
        return texts.gettext("The earliest completion over the free slots.")
    parts: list[str] = []
    if option.visit_days_fewer:
        parts.append(texts.gettext("{n} fewer visit day(s)", n=option.visit_days_fewer))
    if option.travel_minutes_less > 0:
        parts.append(texts.gettext("{d} less travel", d=texts.minutes(option.travel_minutes_less)))
    if option.non_preferred_fewer > 0:
        parts.append(
            texts.gettext(
                "{n} more visit(s) at the preferred facility", n=option.non_preferred_fewer
            )
        )
    later = option.completion_days_later
    if later > 0:
        parts.append(texts.gettext("completes {d} later", d=texts.days(later)))
    elif later == 0:
        parts.append(texts.gettext("completes at the same time"))
    return "; ".join(parts)


def doctor_page(view: DoctorView) -> str:
    """The doctor's proposal as one HTML page."""
    texts = texts_for(view.language)
    template = _environment().get_template("doctor.html.j2")
    return template.render(view=view, _=texts.gettext, lang=view.language)
