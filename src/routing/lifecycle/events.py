"""The commands and events of living routes: one pydantic model per kind, one union.

Every event has a unique ``event_id``, an aware time ``at`` and a ``type`` that names its kind
(the union's discriminator). They fall in three groups:

- the route and its saga: :class:`RouteProposed`, :class:`StageHeld`, :class:`StageBooked`,
  :class:`StageReleased`, :class:`BookingFailed` (a booking saga records its steps with these);
- what happens to the slots: :class:`SlotsPublished`, :class:`SlotWithdrawn`;
- what happens to the patient and the care: :class:`StageAttended`, :class:`NoShow`,
  :class:`ResultArrived`, :class:`ResultDelayed`, :class:`StageCancelled`,
  :class:`ReferralCancelled`,
  :class:`PatientUnavailable`, :class:`PathwayChanged`, and the re-plan that answers them,
  :class:`RouteRevised`.

Payloads hold pseudonymous ids and times only: nothing else of the request.

Examples
--------
>>> event = parse_event({"type": "stage_booked", "event_id": "E2", "at": "2026-03-02T09:00+03:00",
...                      "route_id": "R1", "stage_id": "ct"})
>>> type(event).__name__, event.route_id
('StageBooked', 'R1')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError, model_validator

from nosology.pathway import FrozenModel
from routing.domain import Facility, Slot
from routing.exceptions import InvalidInputError

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "BookingFailed",
    "Event",
    "NoShow",
    "PathwayChanged",
    "PatientUnavailable",
    "PlannedStage",
    "ReferralCancelled",
    "ResultArrived",
    "ResultDelayed",
    "RouteProposed",
    "RouteRevised",
    "SlotWithdrawn",
    "SlotsPublished",
    "StageAttended",
    "StageBooked",
    "StageCancelled",
    "StageHeld",
    "StageReleased",
    "event_stream",
    "parse_event",
]

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


class _Event(FrozenModel):
    """What every event has: a unique id and the aware time it happened."""

    event_id: Id
    at: AwareDatetime


class _RouteEvent(_Event):
    route_id: Id


class _StageEvent(_RouteEvent):
    stage_id: Id


class PlannedStage(FrozenModel):
    """A stage planned onto a slot: what a route proposal or revision carries per stage (the
    visit's time is the slot's)."""

    stage_id: Id
    slot_id: Id


class RouteProposed(_RouteEvent):
    """A planned route enters the lifecycle, every stage ``proposed`` (no place taken)."""

    type: Literal["route_proposed"] = "route_proposed"
    request_id: Id
    patient_id: Id
    pathway_id: Id | None = None
    stages: tuple[PlannedStage, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _stages_once(self) -> RouteProposed:
        ids = [s.stage_id for s in self.stages]
        if len(set(ids)) != len(ids):
            raise ValueError("a stage is proposed twice")
        return self


class StageHeld(_StageEvent):
    """A place of the stage's slot is held (``proposed → held``)."""

    type: Literal["stage_held"] = "stage_held"


class StageBooked(_StageEvent):
    """The stage's place is booked (``held → booked``, or ``proposed → booked`` directly)."""

    type: Literal["stage_booked"] = "stage_booked"


class StageReleased(_StageEvent):
    """A held place is given back (``held → proposed``; a saga's compensation)."""

    type: Literal["stage_released"] = "stage_released"


class BookingFailed(_StageEvent):
    """The booking of the stage failed: any hold is given back, the stage loses its slot and
    the route waits for a re-plan."""

    type: Literal["booking_failed"] = "booking_failed"


class StageAttended(_StageEvent):
    """The visit took place (``booked → attended``); its result may be due at a time."""

    type: Literal["stage_attended"] = "stage_attended"
    result_due: AwareDatetime | None = None


class NoShow(_StageEvent):
    """The patient missed the visit (``booked → no_show``); the route waits for a re-plan."""

    type: Literal["no_show"] = "no_show"


class ResultArrived(_StageEvent):
    """The result of an attended stage arrived (at ``at``): early, on time or late."""

    type: Literal["result_arrived"] = "result_arrived"


class ResultDelayed(_StageEvent):
    """The result of an attended stage will not come when due: it is now ``expected`` then.

    Stages that need it (those after it in the pathway) cannot start before it is in; a route
    with such a visit planned earlier waits for a re-plan.
    """

    type: Literal["result_delayed"] = "result_delayed"
    expected: AwareDatetime


class StageCancelled(_StageEvent):
    """One visit is cancelled (its place given back); the route waits for a re-plan."""

    type: Literal["stage_cancelled"] = "stage_cancelled"


class ReferralCancelled(_RouteEvent):
    """The referral is withdrawn: every place of the route is given back, every stage still to
    come is cancelled, and the route leaves the waitlist."""

    type: Literal["referral_cancelled"] = "referral_cancelled"


class PatientUnavailable(_RouteEvent):
    """The patient cannot attend over ``[start, end)``; a route with a visit then waits for a
    re-plan."""

    type: Literal["patient_unavailable"] = "patient_unavailable"
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> PatientUnavailable:
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")
        return self


class PathwayChanged(_RouteEvent):
    """The patient's pathway changed; the route waits for a re-plan."""

    type: Literal["pathway_changed"] = "pathway_changed"
    pathway_id: Id


class RouteRevised(_RouteEvent):
    """A re-plan: stages without a place taken (proposed, missed, cancelled) move to new slots;
    the route leaves the waitlist once every stage is planned again.

    After a :class:`PathwayChanged`, the first revision reshapes the route to the new pathway:
    ``stages`` may name stages the route does not have yet (added), and ``dropped`` names the
    stages the new pathway lacks (their places are given back and they leave the route; an
    attended stage stays as history). A revision with no stages and nothing dropped confirms
    the plan as it stands (the re-plan moved nothing).
    """

    type: Literal["route_revised"] = "route_revised"
    stages: tuple[PlannedStage, ...] = ()
    dropped: tuple[Id, ...] = ()


class SlotsPublished(_Event):
    """New slots (and the facilities that give them) become bookable, every place free."""

    type: Literal["slots_published"] = "slots_published"
    facilities: tuple[Facility, ...] = ()
    slots: tuple[Slot, ...] = ()


class SlotWithdrawn(_Event):
    """A slot is withdrawn: its held and booked places are given back, their stages lose the
    slot and their routes wait for a re-plan."""

    type: Literal["slot_withdrawn"] = "slot_withdrawn"
    slot_id: Id


Event = Annotated[
    RouteProposed
    | StageHeld
    | StageBooked
    | StageReleased
    | BookingFailed
    | StageAttended
    | NoShow
    | ResultArrived
    | ResultDelayed
    | StageCancelled
    | ReferralCancelled
    | PatientUnavailable
    | PathwayChanged
    | RouteRevised
    | SlotsPublished
    | SlotWithdrawn,
    Field(discriminator="type"),
]
"""Any command or event of the lifecycle."""

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: tuple[str, ...] = (
    "route_proposed",
    "stage_held",
    "stage_booked",
    "stage_released",
    "booking_failed",
    "stage_attended",
    "no_show",
    "result_arrived",
    "result_delayed",
    "stage_cancelled",
    "referral_cancelled",
    "patient_unavailable",
    "pathway_changed",
    "route_revised",
    "slots_published",
    "slot_withdrawn",
)
"""The ``type`` of every event, in the order of :data:`Event`."""


def parse_event(data: Mapping[str, Any], *, record: str = "event") -> Event:
    """Validate one event from plain data (JSON).

    Raises
    ------
    InvalidInputError
        Naming the event (by its id when it has one) and the first field at fault.
    """
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        event_id = data.get("event_id") if isinstance(data, Mapping) else None
        name = f"event {event_id!r}" if isinstance(event_id, str) else record
        raise InvalidInputError(name, where, first["msg"]) from None


def event_stream(event: Event) -> str:
    """The stream an event belongs to: its route, or ``"slots"``."""
    return "slots" if isinstance(event, SlotsPublished | SlotWithdrawn) else event.route_id
