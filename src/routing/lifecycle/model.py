"""The state of living routes: each stage's status, each route's history, the waitlist.

A stage moves through ``proposed → held → booked → attended | no_show | cancelled``; a held
place may be released (back to ``proposed``), and a stage whose slot is lost (withdrawn, the
booking failed, the visit missed or cancelled) waits for a re-plan, its route on the waitlist.
Every change of a stage's slot is a :class:`ChangeRecord` saying why and whether the patient
must be told. The whole :class:`State` (routes, live capacity, waitlist, event ids seen) is
what :func:`routing.lifecycle.apply.apply` folds events into.

Only pseudonymous ids are kept: the route, its request, the patient's pseudonym, stage and slot
ids, and times of visits and results.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, NonNegativeInt

from nosology.pathway import FrozenModel
from routing.domain import Facility
from routing.lifecycle.seen import EventIds
from routing.live import LiveSlots, LiveSnapshot

__all__ = [
    "ChangeReason",
    "ChangeRecord",
    "RouteState",
    "StageState",
    "StageStatus",
    "State",
    "UnavailablePeriod",
    "WaitReason",
]


class StageStatus(StrEnum):
    """Where a stage of a route stands."""

    PROPOSED = "proposed"
    """Planned onto a slot (or waiting for one), no place taken."""
    HELD = "held"
    """A place of its slot is held."""
    BOOKED = "booked"
    """A place of its slot is booked."""
    ATTENDED = "attended"
    """The visit took place (final)."""
    NO_SHOW = "no_show"
    """The patient did not come (the place is spent; the stage waits for a re-plan)."""
    CANCELLED = "cancelled"
    """The visit was cancelled (its place given back)."""


ACTIVE = frozenset({StageStatus.PROPOSED, StageStatus.HELD, StageStatus.BOOKED})
"""Statuses of a stage whose visit is still to come."""


class ChangeReason(StrEnum):
    """Why a stage's slot or status changed."""

    PROPOSED = "proposed"
    HELD = "held"
    BOOKED = "booked"
    RELEASED = "released"
    BOOKING_FAILED = "booking_failed"
    SLOT_WITHDRAWN = "slot_withdrawn"
    STAGE_CANCELLED = "stage_cancelled"
    REFERRAL_CANCELLED = "referral_cancelled"
    NO_SHOW = "no_show"
    ATTENDED = "attended"
    REPLANNED = "replanned"
    DROPPED = "dropped"
    """The stage left the route: the new pathway does not have it."""
    ADDED = "added"
    """The stage joined the route: the new pathway has it."""


class WaitReason(StrEnum):
    """Why a route is on the waitlist (needs a re-plan)."""

    SLOT_WITHDRAWN = "slot_withdrawn"
    BOOKING_FAILED = "booking_failed"
    STAGE_CANCELLED = "stage_cancelled"
    NO_SHOW = "no_show"
    PATIENT_UNAVAILABLE = "patient_unavailable"
    PATHWAY_CHANGED = "pathway_changed"
    RESULT_LATE = "result_late"
    RESULT_PENDING = "result_pending"
    """A visit is planned before a result it may need is due (judged by time: the repair knows
    which stages need it and may confirm the plan as it stands)."""


class ChangeRecord(FrozenModel):
    """One change of one stage: its slot before and after, why, and whether to tell the patient.

    ``notify`` is true when something the patient was told about (a booked visit) changed.
    """

    event_id: str
    stage_id: str
    old_slot: str | None
    new_slot: str | None
    reason: ChangeReason
    notify: bool


class StageState(FrozenModel):
    """One stage of a living route.

    Attributes
    ----------
    stage_id
        The pathway stage.
    slot_id
        The slot it is planned onto (``None`` while waiting for a re-plan).
    start
        When the visit starts (the slot's start), ``None`` without a slot.
    status
        See :class:`StageStatus`.
    result_due, result_arrived
        When the stage's result is due (set when it is attended), and when it arrived.
    result_expected
        When a delayed result is now expected (see
        :class:`~routing.lifecycle.events.ResultDelayed`); ``None`` while it is not delayed.
    missed
        Slots of earlier visits of this stage that were missed (their places stay spent).
    """

    stage_id: str
    slot_id: str | None
    start: AwareDatetime | None
    status: StageStatus = StageStatus.PROPOSED
    result_due: AwareDatetime | None = None
    result_arrived: AwareDatetime | None = None
    result_expected: AwareDatetime | None = None
    missed: tuple[str, ...] = ()

    @property
    def result_pending_until(self) -> datetime | None:
        """Until when stages that need this stage's result must wait: the delayed result's
        expected time, else the due time, while the result has not arrived (``None`` once it
        has, or when no result is due)."""
        if self.result_arrived is not None:
            return None
        return self.result_expected if self.result_expected is not None else self.result_due

    @property
    def result_late(self) -> bool:
        """Whether the result arrived after it was due (a result still missing is judged when
        it arrives)."""
        return (
            self.result_due is not None
            and self.result_arrived is not None
            and self.result_arrived > self.result_due
        )


class UnavailablePeriod(FrozenModel):
    """A period in which the patient cannot attend, ``[start, end)``."""

    start: AwareDatetime
    end: AwareDatetime


class RouteState(FrozenModel):
    """One living route: its stages, revision and the history of its changes.

    Attributes
    ----------
    route_id, request_id, patient_id
        The route, the request it was planned for, the patient's pseudonym.
    pathway_id
        The care pathway it follows (changes with a pathway change).
    stages
        Its stages, in the order they were proposed.
    revision
        Bumped by every event on the route (0 when proposed).
    cancelled
        Whether the referral was cancelled.
    unavailable
        Periods the patient declared unavailable.
    history
        Every stage change, oldest first.
    reshape
        Whether the pathway changed since the stages were last shaped to it: the next
        :class:`~routing.lifecycle.events.RouteRevised` may add and drop stages.
    missed
        Slots of missed visits of stages dropped from the route (their places stay spent).
    """

    route_id: str
    request_id: str
    patient_id: str
    pathway_id: str | None = None
    stages: tuple[StageState, ...]
    revision: NonNegativeInt = 0
    cancelled: bool = False
    unavailable: tuple[UnavailablePeriod, ...] = ()
    history: tuple[ChangeRecord, ...] = ()
    reshape: bool = False
    missed: tuple[str, ...] = ()

    def stage(self, stage_id: str) -> StageState | None:
        """The stage with that id, or ``None``."""
        return next((s for s in self.stages if s.stage_id == stage_id), None)

    @property
    def planned(self) -> bool:
        """Whether every stage has a slot and is active or attended (nothing to re-plan)."""
        return all(
            s.status == StageStatus.ATTENDED or (s.status in ACTIVE and s.slot_id is not None)
            for s in self.stages
        )


@dataclass(frozen=True, slots=True)
class State:
    """The whole lifecycle state: routes, live capacity, waitlist, the event ids seen.

    Treat as immutable: :func:`~routing.lifecycle.apply.apply` returns a new state and never
    changes ``live`` of the one it was given (it works on a copy).

    Attributes
    ----------
    routes
        Every route by id.
    live
        The live capacity of every slot published.
    facilities
        The facilities of the published slots, by id.
    waitlist
        Routes that need a re-plan, by id, with why.
    event_ids
        Every event id applied (a second event with one of them is refused); an
        :class:`~routing.lifecycle.seen.EventIds` as the fold makes it (added to in constant
        time), any set of strings when given.
    last_event_at
        The time of the latest event applied.
    """

    routes: Mapping[str, RouteState] = field(default_factory=dict)
    live: LiveSlots | None = None
    facilities: Mapping[str, Facility] = field(default_factory=dict)
    waitlist: Mapping[str, WaitReason] = field(default_factory=dict)
    event_ids: AbstractSet[str] = field(default_factory=EventIds)
    last_event_at: datetime | None = None

    def slots_snapshot(self) -> LiveSnapshot | None:
        """The live capacity as plain values (see :class:`~routing.live.LiveSnapshot`)."""
        return None if self.live is None else self.live.snapshot()

    def key(self) -> tuple[object, ...]:
        """Everything the state holds as plain, comparable values."""
        return (
            tuple(sorted(self.routes.items())),
            self.slots_snapshot(),
            tuple(sorted(self.facilities.items())),
            tuple(sorted(self.waitlist.items())),
            self.event_ids,
            self.last_event_at,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return self.key() == other.key()

    __hash__ = None  # type: ignore[assignment]
