"""Care-pathway templates: the stages of care a nosology prescribes and the rules between them.

A pathway is data. It is written in a human-editable file (see :mod:`nosology.catalogue`), validated
once into the frozen models below, and compiled into a temporal graph by
:mod:`nosology.temporal`. The models check their own fields and every cross-reference inside the
pathway (stage ids named by ``after``, events named by constraints, windows and deadlines), with
messages that name the offending id.

Events
------
A constraint or deadline links two *events*. An event is written ``"<stage>.start"`` or
``"<stage>.end"``, or ``"referral"`` for the moment the route starts (the referral or order).

Units
-----
A lag or limit is in one :class:`LagUnit`. Its meaning between events ``X`` and ``Y``:

- ``minutes`` / ``hours``: ``Y - X >= min`` and ``Y - X <= max`` exactly;
- ``calendar_days``: ``date(Y) >= date(X) + min`` and ``date(Y) <= date(X) + max`` (local dates);
- ``working_days``: ``date(Y) >= wd(date(X), min)`` and ``date(Y) <= wd(date(X), max)``, where
  ``wd(d, n)`` is the n-th working day after ``d`` (``d`` itself not counted, ``wd(d, 0) = d``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Annotated, Any, Self

import networkx as nx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = [
    "MAX_LAG",
    "REFERRAL",
    "Applicability",
    "Deadline",
    "EventPoint",
    "FrozenModel",
    "Lag",
    "LagUnit",
    "LocalizedText",
    "Pathway",
    "PlainText",
    "ServiceRef",
    "Stage",
    "TemporalConstraint",
    "VisitMode",
    "Window",
    "parse_event",
]

REFERRAL = "referral"
"""The event at which every route starts: the referral (or order) date and time."""

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)]
"""A lower-case identifier: a letter, then letters, digits or underscores."""

EventRef = Annotated[
    str, StringConstraints(pattern=r"^(referral|[a-z][a-z0-9_]*\.(start|end))$", max_length=90)
]
"""``"referral"`` or ``"<stage id>.start"`` / ``"<stage id>.end"``."""

MAX_LAG = 5_270_400
"""The largest lag, limit or duration in any unit: the minutes of ten years (3,660 days)."""

Lag = Annotated[int, Strict(), Field(ge=-MAX_LAG, le=MAX_LAG)]
"""A whole number of a lag unit: strict (``true`` or ``1.0`` is not a number of days), bounded."""

_Count = Annotated[int, Strict(), Field(ge=0, le=MAX_LAG)]
_Duration = Annotated[int, Strict(), Field(gt=0, le=MAX_LAG)]
_Level = Annotated[int, Strict(), Field(ge=1, le=3)]

PlainText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
"""Free text without control characters (NUL and the like); tabs and newlines are allowed."""

_EVENT_RE = re.compile(r"^(?:(referral)|([a-z][a-z0-9_]*)\.(start|end))$")


class FrozenModel(BaseModel):
    """Base of every domain model: immutable, no unknown fields, no input echoed in errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class LagUnit(StrEnum):
    """The unit of a lag, limit or window (see the module docstring for the exact arithmetic)."""

    MINUTES = "minutes"
    HOURS = "hours"
    CALENDAR_DAYS = "calendar_days"
    WORKING_DAYS = "working_days"


class VisitMode(StrEnum):
    """How a stage is attended."""

    IN_PERSON = "in_person"
    """The patient comes to the facility: counts as a visit, needs travel."""
    REMOTE = "remote"
    """Telemedicine or without the patient (e.g. a tumour board in absentia): no travel."""
    EITHER = "either"
    """A stage only: in person or remotely, whichever slot the route takes (a consultation a
    federal centre also gives by telemedicine). A slot is always one or the other."""


class EventPoint(StrEnum):
    """Which end of a stage an event is."""

    START = "start"
    END = "end"


@lru_cache(maxsize=4096)
def parse_event(event: str) -> tuple[str | None, EventPoint | None]:
    """Split an event reference into ``(stage id, point)``; ``(None, None)`` for the referral.

    Cached (a pathway's few events are read on every route's deadlines and warnings).

    Examples
    --------
    >>> parse_event("biopsy.end")
    ('biopsy', <EventPoint.END: 'end'>)
    >>> parse_event("referral")
    (None, None)
    """
    match = _EVENT_RE.match(event)
    if match is None:
        raise ValueError(f"event {event!r} is not 'referral' or '<stage>.start' / '<stage>.end'")
    if match.group(1):
        return None, None
    return match.group(2), EventPoint(match.group(3))


class LocalizedText(FrozenModel):
    """A text in Russian and English."""

    ru: Annotated[PlainText, StringConstraints(min_length=1, strip_whitespace=True)]
    en: Annotated[PlainText, StringConstraints(min_length=1, strip_whitespace=True)]


class ServiceRef(FrozenModel):
    """A medical service that can satisfy a stage: a code in a named coding system.

    ``system`` is ``"nmu"`` for the federal Номенклатура медицинских услуг (e.g. ``A06.09.005``,
    CT of the chest), ``"fer"`` for a federal specialty code (``ferId`` of the city portal, used for
    consultations), or any other system a catalogue defines. A string ``"system:code"`` is accepted.
    """

    system: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=40)]
    code: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=80, strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f]+$"
        ),
    ]

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            system, sep, code = value.partition(":")
            if not sep:
                raise ValueError("a service is 'system:code', e.g. 'nmu:A06.09.005'")
            return {"system": system, "code": code}
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The object form, or the ``"system:code"`` string that is accepted too."""
        as_object = handler(core_schema)
        as_string = {
            "type": "string",
            "pattern": r"^[a-z][a-z0-9_.-]*:\S.*$",
            "description": "system:code, e.g. nmu:A06.09.005",
        }
        return {"anyOf": [as_object, as_string]}

    def __str__(self) -> str:
        return f"{self.system}:{self.code}"


class Stage(FrozenModel):
    """One stage of a pathway: a visit, test or decision that takes one appointment slot.

    Attributes
    ----------
    id
        Unique within the pathway.
    title
        What the stage is, in Russian and English.
    services
        Alternatives, any one of which satisfies the stage (CT *or* MRI).
    duration_minutes
        How long the appointment takes when a slot does not say.
    mode
        In person (a visit: travel, counts towards visits a day), remote, or either (the slot
        the route takes decides: an in-person slot is a visit, a remote one is not).
    facility_level
        The lowest facility level that may provide it (1 primary, 2 inter-district / ЦАОП,
        3 regional hospital or dispensary), or ``None`` for any.
    shares_day
        Whether an in-person stage may share its day with other in-person stages of the route
        (remote stages never count: the patient is not there).
    after
        Stages that must have ended before this one starts (each adds ``end -> start >= 0``).
    public_title
        A discreet label for what the patient sees (timeline, calendar, notifications): it names
        neither the diagnosis nor the pathway (e.g. "Консультация специалиста"). Without it, the
        patient's views use a neutral label by mode.
    preparation
        How to prepare (plain, discreet text for the patient), if anything is needed.
    bring
        What to bring to the visit (plain, discreet text for the patient).
    """

    id: Identifier
    title: LocalizedText
    services: Annotated[tuple[ServiceRef, ...], Field(min_length=1)]
    duration_minutes: _Duration = 30
    mode: VisitMode = VisitMode.IN_PERSON
    facility_level: _Level | None = None
    shares_day: bool = True
    after: tuple[Identifier, ...] = ()
    public_title: LocalizedText | None = None
    preparation: LocalizedText | None = None
    bring: LocalizedText | None = None

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: tuple[ServiceRef, ...]) -> tuple[ServiceRef, ...]:
        seen = {str(s) for s in services}
        if len(seen) != len(services):
            raise ValueError("a service is listed twice")
        return services

    @cached_property
    def service_keys(self) -> frozenset[str]:
        """The services as ``"system:code"`` strings."""
        return frozenset(str(s) for s in self.services)


class _Sourced(FrozenModel):
    source: Annotated[PlainText, StringConstraints(min_length=3, strip_whitespace=True)]
    """Where the figure comes from (a legal act, guideline or order)."""
    assumption: bool = False
    """True where the figure is the catalogue author's assumption rather than a cited rule."""
    note: PlainText = ""


class TemporalConstraint(_Sourced):
    """A minimum and/or maximum lag from event ``from_event`` to event ``to_event``.

    With ``X = from_event`` and ``Y = to_event`` in the given unit: ``Y - X >= min`` and
    ``Y - X <= max`` (see the module docstring for days). Both are hard: a route that breaks one is
    clinically invalid.
    """

    from_event: EventRef
    to_event: EventRef
    min: Lag | None = None
    max: Lag | None = None
    unit: LagUnit

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("a constraint needs a min, a max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.from_event == self.to_event:
            raise ValueError("from_event and to_event are the same event")
        return self


class Window(_Sourced):
    """A window for an event relative to a reference date given with the request.

    ``date(event)`` must lie in ``[reference + min_days, reference + max_days]`` (calendar days,
    inclusive at both ends), e.g. first-trimester screening at 11+0 to 13+6 weeks after the last
    menstrual period: ``reference = "last_menstrual_period"``, ``min_days = 77``, ``max_days = 97``.
    """

    event: EventRef
    reference: Identifier
    min_days: Lag
    max_days: Lag

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days ({self.min_days}) is greater than max_days")
        if self.event == REFERRAL:
            raise ValueError("a window applies to a stage event, not the referral")
        return self


class Deadline(_Sourced):
    """A regulatory waiting-time limit between two events, reported as met or missed.

    Soft by default (reported, not enforced); ``hard = True`` makes a route that misses it invalid.
    ``region`` is ``"RU"`` for a federal rule or an ISO 3166-2 code (``"RU-SPE"``) for a regional
    one; ``valid_from`` / ``valid_to`` bound the referral dates it applies to.
    """

    id: Identifier
    title: LocalizedText
    from_event: EventRef
    to_event: EventRef
    limit: _Count
    unit: LagUnit
    hard: bool = False
    region: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")] = "RU"
    valid_from: date | None = None
    valid_to: date | None = None

    @model_validator(mode="after")
    def _check_validity(self) -> Self:
        if self.valid_from and self.valid_to and self.valid_from > self.valid_to:
            raise ValueError("valid_from is after valid_to")
        return self

    def applies_on(self, day: date, region: str = "RU") -> bool:
        """Whether the limit is in force for a referral on ``day`` in ``region``.

        A federal limit (``"RU"``) applies in every Russian region; a regional one only there.
        """
        if self.valid_from is not None and day < self.valid_from:
            return False
        if self.valid_to is not None and day > self.valid_to:
            return False
        return self.region in ("RU", region)


class Applicability(FrozenModel):
    """Which diagnoses a pathway applies to.

    ``codes`` holds codes (``C34``, ``C34.1``) and ranges (``C18-C20``); a code applies when it
    equals one of them or lies within one. ``priority`` breaks ties between equally specific
    pathways (higher wins).
    """

    codes: Annotated[tuple[str, ...], Field(min_length=1)]
    priority: Annotated[int, Strict(), Field(ge=-1_000_000, le=1_000_000)] = 0


class Pathway(FrozenModel):
    """A care-pathway template: stages, temporal constraints, windows and deadlines.

    Cross-references are checked here, once: stage ids are unique, ``after`` names existing stages
    without a cycle, and every event, window and deadline refers to a stage of this pathway.
    """

    id: Identifier
    version: str = "1"
    title: LocalizedText
    applicability: Applicability
    stages: Annotated[tuple[Stage, ...], Field(min_length=1)]
    constraints: tuple[TemporalConstraint, ...] = ()
    windows: tuple[Window, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    sources: tuple[str, ...] = ()
    notes: str = ""
    refines: tuple[Identifier, ...] = ()
    """Generic pathways this one replaces when both apply to one patient's diagnoses."""

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        ids = [s.id for s in self.stages]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"stage id {duplicates[0]!r} is used twice")
        known = set(ids)
        order = nx.DiGraph()
        order.add_nodes_from(ids)
        for stage in self.stages:
            for before in stage.after:
                if before not in known:
                    raise ValueError(f"stage {stage.id!r}: 'after' names unknown stage {before!r}")
                if before == stage.id:
                    raise ValueError(f"stage {stage.id!r}: 'after' names the stage itself")
                order.add_edge(before, stage.id)
        if not nx.is_directed_acyclic_graph(order):
            cycle = [u for u, _ in nx.find_cycle(order)]
            raise ValueError(f"'after' forms a cycle through stages {', '.join(cycle)}")
        links: list[tuple[str, str, str]] = [
            (f"constraint {n}", c.from_event, c.to_event) for n, c in enumerate(self.constraints)
        ]
        links += [(f"deadline {n}", d.from_event, d.to_event) for n, d in enumerate(self.deadlines)]
        for where, first, second in links:
            for event in (first, second):
                self._check_event(known, event, where)
        for n, window in enumerate(self.windows):
            self._check_event(known, window.event, f"window {n}")
        if self.id in self.refines:
            raise ValueError("a pathway cannot refine itself")
        deadline_ids = [d.id for d in self.deadlines]
        if len(set(deadline_ids)) != len(deadline_ids):
            raise ValueError("a deadline id is used twice")
        return self

    @staticmethod
    def _check_event(known: set[str], event: str, where: str) -> None:
        stage, _ = parse_event(event)
        if stage is not None and stage not in known:
            raise ValueError(f"{where}: event {event!r} names unknown stage {stage!r}")

    def stage(self, stage_id: str) -> Stage:
        """The stage with this id; :class:`KeyError` naming it if there is none."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(f"pathway {self.id!r} has no stage {stage_id!r}")

    def events(self) -> Iterator[str]:
        """Every event of the pathway: the referral, then each stage's start and end."""
        yield REFERRAL
        for stage in self.stages:
            yield f"{stage.id}.start"
            yield f"{stage.id}.end"
