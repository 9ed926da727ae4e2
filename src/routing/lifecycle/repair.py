"""Repair a living route after an event: re-plan from the current state, keeping what holds.

:func:`repair` re-plans one route over the live capacity from ``now``:

- attended stages are history: pinned to their slots;
- every held or booked visit whose slot is still published, still in the future and not in a
  period the patient is unavailable is kept (pinned) unless re-planning it gains at least
  :attr:`RepairPolicy.min_gain_minutes` of completion, and even then visits inside the freeze
  window (:attr:`RepairPolicy.freeze_working_days` working days from ``now``) stay;
- every other stage (lost its slot, missed, cancelled, merely proposed) is planned afresh onto
  free slots that start at or after ``now``;
- a stage that needs the result of an attended stage (it comes after it in the pathway, through
  ``after`` or a temporal constraint) cannot start before the result is in: not before its
  expected time (:class:`~routing.lifecycle.events.ResultDelayed`) or due time while it has not
  arrived (``RouteRequest.not_before``); a kept visit earlier than that moves. An overdue result
  with no new expected time is taken as imminent (only ``now`` bounds its dependants);
- after a pathway change the route is reshaped to the new pathway: its new stages are planned
  (added), stages it lacks are dropped (their places given back; attended ones stay as history).

When the route was on the waitlist and nothing needs to move, the answer is a
:class:`~routing.lifecycle.events.RouteRevised` with no stages, which confirms the plan and
takes the route off the waitlist.

The answer is a :class:`Repair`: the events to append (a release or cancellation of each held or
booked place that moves, then one :class:`~routing.lifecycle.events.RouteRevised`, then, with
:attr:`RepairPolicy.rebook`, a booking of each moved visit that was booked), one
:class:`~routing.lifecycle.model.ChangeRecord` per moved stage, and the route's deadlines
re-checked: :attr:`Repair.at_risk` flags a route whose plan misses a deadline or keeps less
than :attr:`RepairPolicy.risk_slack` of slack on one.

Everything here is pure: the state given is never changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway, parse_event
from routing.domain import RouteRequest
from routing.domain.patient import Period
from routing.exceptions import InvalidInputError, UnknownRouteError, UnknownSlotError
from routing.lifecycle.events import (
    Event,
    PlannedStage,
    RouteRevised,
    StageBooked,
    StageCancelled,
    StageReleased,
)
from routing.lifecycle.model import (
    ACTIVE,
    ChangeReason,
    ChangeRecord,
    RouteState,
    StageState,
    StageStatus,
    State,
    WaitReason,
)
from routing.live import LiveSlots
from routing.result import RouteResult
from routing.solve.compiled import compile_request
from routing.solve.modes import search_in_modes
from routing.solve.plan import resolve_pathway, route_result
from routing.solve.search import SearchLimits

__all__ = [
    "Repair",
    "RepairPolicy",
    "current_completion",
    "repair",
    "request_for",
    "result_waits",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RepairPolicy:
    """How a repair weighs keeping visits against moving them.

    Attributes
    ----------
    freeze_working_days
        Held or booked visits on a local date up to ``now``'s plus this many working days never
        move for a gain (they move only when they can no longer take place).
    min_gain_minutes
        Moving kept visits must bring completion this many minutes earlier.
    cascade_depth
        How many freed slots in a row :func:`~routing.lifecycle.waitlist.offer_freed_slot`
        follows (0: the freed slot is offered, the slot its taker frees is not).
    risk_slack
        A deadline met with less slack than this (in the deadline's own unit) puts the route
        at risk.
    rebook
        Book each moved visit that was booked before (otherwise it is left proposed).
    time_limit, node_limit
        Limits of each search.
    """

    freeze_working_days: int = 2
    min_gain_minutes: int = 24 * 60
    cascade_depth: int = 1
    risk_slack: int = 1
    rebook: bool = False
    time_limit: float = 0.5
    node_limit: int = 50_000

    def __post_init__(self) -> None:
        for name in ("freeze_working_days", "min_gain_minutes", "cascade_depth", "risk_slack"):
            if getattr(self, name) < 0:
                raise InvalidInputError("repair policy", name, "must be at least 0")


@dataclass(frozen=True, slots=True)
class Repair:
    """A repaired route: the events to append, the changes they make, the deadlines.

    Attributes
    ----------
    route_id
        The route repaired.
    events
        To append in order (empty when nothing changes or no plan was found).
    changes
        One record per stage whose slot changes (``reason`` is ``replanned``).
    cause
        Why the route was on the waitlist (``None``: repaired for a gain).
    result
        The plan found (``None`` when the route could not be planned at all).
    at_risk
        Whether the plan misses a deadline or keeps less slack than the policy asks on one.
    completion_minutes
        The plan's completion from the referral (``None`` without a plan).
    """

    route_id: str
    events: tuple[Event, ...]
    changes: tuple[ChangeRecord, ...]
    cause: WaitReason | None
    result: RouteResult | None
    at_risk: bool
    completion_minutes: int | None

    @property
    def moved(self) -> int:
        """How many stages change slot."""
        return len(self.changes)

    @property
    def planned(self) -> bool:
        """Whether a plan was found."""
        return self.result is not None and self.result.has_route


def request_for(route: RouteState, request: RouteRequest) -> RouteRequest:
    """The request a route is re-planned for: its current pathway, its unavailable periods."""
    update: dict[str, object] = {}
    if (
        route.pathway_id is not None
        and route.pathway_id != request.pathway_id
        and (request.pathway is None or request.pathway.id != route.pathway_id)
    ):
        update.update(pathway_id=route.pathway_id, pathway=None)
    if route.unavailable:
        periods = tuple(Period(start=p.start, end=p.end) for p in route.unavailable)
        patient = request.patient.model_copy(
            update={"unavailable": (*request.patient.unavailable, *periods)}
        )
        update["patient"] = patient
    return request.model_copy(update=update) if update else request


def repair(
    state: State,
    requests: Mapping[str, RouteRequest],
    route_id: str,
    now: datetime,
    policy: RepairPolicy | None = None,
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    event_id: str | None = None,
    free: frozenset[str] = frozenset(),
) -> Repair:
    """Re-plan one route from ``now`` (see the module's docstring).

    Parameters
    ----------
    state
        The lifecycle state (never changed).
    requests
        Requests by id (the route's ``request_id`` is looked up).
    route_id
        The route to repair.
    now
        The current time: nothing new is planned before it.
    policy
        The repair policy (:class:`RepairPolicy` defaults).
    catalogue, pathways
        Where pathways come from (as :func:`~routing.solve.plan_route`).
    event_id
        The revision's event id (``"<route id>:r<revision>"`` by default); releases,
        cancellations and bookings add ``":<stage id>:<kind>"``.
    free
        Slot ids to treat as free even when full (a slot being offered).

    Raises
    ------
    UnknownRouteError
        If the route is not in the state.
    InvalidInputError
        If no slots are published or the route's request is missing.
    """
    policy = policy or RepairPolicy()
    route = state.routes.get(route_id)
    if route is None:
        raise UnknownRouteError(route_id, "route_id", "no such route", route_id=route_id)
    if state.live is None:
        raise InvalidInputError(f"route {route_id}", "live", "no slots are published")
    request = requests.get(route.request_id)
    if request is None:
        raise InvalidInputError(f"route {route_id}", "request_id", "no such request")
    cause = state.waitlist.get(route_id)
    if route.cancelled:
        return Repair(route_id, (), (), cause, None, False, None)
    request = request_for(route, request)
    pathway = resolve_pathway(request, catalogue, pathways)
    waits = result_waits(route, pathway, now)
    if waits:
        request = request.model_copy(update={"not_before": {**request.not_before, **waits}})
    live = state.live
    blocked = _blocked(live, route, now, free)
    history, keep, frozen = _fixed(live, route, pathway, request, now, policy)
    kept = _plan(request, pathway, live, blocked, {**history, **keep}, policy)
    moved = None
    if kept is None or keep != frozen:
        moved = _plan(request, pathway, live, blocked, {**history, **frozen}, policy)
    chosen: RouteResult | None
    if kept is not None and (
        moved is None or _completion(kept) - _completion(moved) < policy.min_gain_minutes
    ):
        chosen = kept
    elif moved is not None:
        chosen = moved
    else:  # even the frozen visits cannot stay: move anything not yet attended
        chosen = _plan(request, pathway, live, blocked, history, policy)
    if chosen is None:
        logger.info("route %s: no repair found", route_id)
        return Repair(route_id, (), (), cause, None, True, None)
    return _answer(route, pathway, chosen, cause, policy, event_id, now)


def result_waits(route: RouteState, pathway: Pathway, now: datetime) -> dict[str, datetime]:
    """Stage id → the earliest start of each stage of ``pathway`` that needs a result not yet
    in: the latest pending result (see :attr:`StageState.result_pending_until`) among the
    attended stages it follows, and never before ``now``."""
    follows = _followers(pathway)
    waits: dict[str, datetime] = {}
    for stage in route.stages:
        until = stage.result_pending_until
        if stage.status != StageStatus.ATTENDED or until is None:
            continue
        for later in follows.get(stage.stage_id, ()):
            moment = max(until, now)
            if later not in waits or waits[later] < moment:
                waits[later] = moment
    return waits


def _followers(pathway: Pathway) -> dict[str, frozenset[str]]:
    """Stage id → every stage after it, through ``after`` and temporal constraints (from one
    stage's event to another's), transitively."""
    direct: dict[str, set[str]] = {s.id: set() for s in pathway.stages}
    for stage in pathway.stages:
        for earlier in stage.after:
            direct.setdefault(earlier, set()).add(stage.id)
    for c in pathway.constraints:
        first, _ = parse_event(c.from_event)
        then, _ = parse_event(c.to_event)
        if first is not None and then is not None and first != then and c.min is not None:
            direct.setdefault(first, set()).add(then)
    out: dict[str, frozenset[str]] = {}
    for origin in direct:
        seen: set[str] = set()
        todo = list(direct[origin])
        while todo:
            nxt = todo.pop()
            if nxt not in seen and nxt != origin:
                seen.add(nxt)
                todo.extend(direct.get(nxt, ()))
        out[origin] = frozenset(seen)
    return out


def current_completion(
    state: State, requests: Mapping[str, RouteRequest], route_id: str
) -> int | None:
    """Minutes from the referral to the end of the latest visit of a planned route (``None``
    when a stage waits for a slot)."""
    route = state.routes[route_id]
    if not route.planned or state.live is None:
        return None
    referral = requests[route.request_id].referral
    ends = [state.live.slot(s.slot_id).end for s in route.stages if s.slot_id is not None]
    return int((max(ends) - referral).total_seconds() // 60) if ends else 0


# -- planning -------------------------------------------------------------------------------------
def _blocked(
    live: LiveSlots, route: RouteState, now: datetime, free: frozenset[str]
) -> npt.NDArray[np.bool_]:
    """Full slots (but the route's own places and ``free``) and every slot starting before now."""
    blocked = live.blocked().copy()
    for stage in route.stages:
        if stage.status in (StageStatus.HELD, StageStatus.BOOKED) and stage.slot_id is not None:
            p = live.position(stage.slot_id)
            blocked[p] = live.state(stage.slot_id).withdrawn
    for slot_id in free:
        try:
            if not live.state(slot_id).withdrawn:
                blocked[live.position(slot_id)] = False
        except UnknownSlotError:
            continue
    starts = np.array([s.start >= now for s in live.index.slots], dtype=bool)
    out: npt.NDArray[np.bool_] = blocked | ~starts
    return out


def _fixed(
    live: LiveSlots,
    route: RouteState,
    pathway: Pathway,
    request: RouteRequest,
    now: datetime,
    policy: RepairPolicy,
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Pins: attended stages; held or booked visits that can still take place; those of them
    inside the freeze window (stages of ``pathway`` only: others leave the route)."""
    calendar = live.index.calendar
    freeze_day = calendar.add_working_days(calendar.local_date(now), policy.freeze_working_days)
    stage_ids = {s.id for s in pathway.stages}
    history: dict[str, int] = {}
    keep: dict[str, int] = {}
    frozen: dict[str, int] = {}
    for stage in route.stages:
        if stage.slot_id is None or stage.stage_id not in stage_ids:
            continue
        if stage.status == StageStatus.ATTENDED:
            history[stage.stage_id] = live.position(stage.slot_id)
        elif stage.status in (StageStatus.HELD, StageStatus.BOOKED) and _feasible(
            live, route, stage, now, request.not_before.get(stage.stage_id)
        ):
            p = live.position(stage.slot_id)
            keep[stage.stage_id] = p
            assert stage.start is not None
            if calendar.local_date(stage.start) <= freeze_day:
                frozen[stage.stage_id] = p
    return history, keep, frozen


def _feasible(
    live: LiveSlots,
    route: RouteState,
    stage: StageState,
    now: datetime,
    not_before: datetime | None,
) -> bool:
    assert stage.slot_id is not None
    assert stage.start is not None
    if live.state(stage.slot_id).withdrawn or stage.start < now:
        return False
    if not_before is not None and stage.start < not_before:
        return False
    return not any(p.start <= stage.start < p.end for p in route.unavailable)


def _plan(
    request: RouteRequest,
    pathway: Pathway,
    live: LiveSlots,
    blocked: npt.NDArray[np.bool_],
    pins: Mapping[str, int],
    policy: RepairPolicy,
) -> RouteResult | None:
    started = time.perf_counter()
    cr, outcome = search_in_modes(
        lambda p: compile_request(
            request, p, live.index, blocked, merge_twins=True, pins=pins, narrow_by_lags=True
        ),
        pathway,
        live.index,
        SearchLimits(time_limit=policy.time_limit, node_limit=policy.node_limit),
    )
    if outcome is None:
        return None
    result = route_result(cr, outcome, started)
    return result if result.has_route else None


def _completion(result: RouteResult) -> int:
    assert result.objective is not None
    return result.objective.completion_minutes


# -- the answer -----------------------------------------------------------------------------------
def _answer(
    route: RouteState,
    pathway: Pathway,
    result: RouteResult,
    cause: WaitReason | None,
    policy: RepairPolicy,
    event_id: str | None,
    now: datetime,
) -> Repair:
    base = event_id or f"{route.route_id}:r{route.revision}"
    new = {b.stage_id: b.slot_id for b in result.bookings}
    before: list[Event] = []
    planned: list[PlannedStage] = []
    changes: list[ChangeRecord] = []
    after: list[Event] = []
    dropped: list[str] = []
    if route.reshape:
        dropped, reshaped = _reshape(route, pathway, new, base)
        planned += [
            PlannedStage(stage_id=c.stage_id, slot_id=c.new_slot)
            for c in reshaped
            if c.new_slot is not None
        ]
        changes += reshaped
    for stage in route.stages:
        if stage.stage_id in dropped:
            continue
        target = new.get(stage.stage_id)
        if target is None or stage.status == StageStatus.ATTENDED:
            continue
        if stage.status in ACTIVE and stage.slot_id == target:
            continue
        was_booked = _was_booked(route, stage)
        if stage.status == StageStatus.HELD:
            before.append(_release(base, route, stage, now))
        elif stage.status == StageStatus.BOOKED:
            before.append(_cancel(base, route, stage, now))
        planned.append(PlannedStage(stage_id=stage.stage_id, slot_id=target))
        changes.append(
            ChangeRecord(
                event_id=base,
                stage_id=stage.stage_id,
                old_slot=stage.slot_id if stage.slot_id is not None else _lost_slot(route, stage),
                new_slot=target,
                reason=ChangeReason.REPLANNED,
                notify=was_booked,
            )
        )
        if policy.rebook and was_booked:
            after.append(
                StageBooked(
                    event_id=f"{base}:{stage.stage_id}:booked",
                    at=now,
                    route_id=route.route_id,
                    stage_id=stage.stage_id,
                )
            )
    events: list[Event] = []
    if planned or dropped or cause is not None:
        revised = RouteRevised(
            event_id=base,
            at=now,
            route_id=route.route_id,
            stages=tuple(planned),
            dropped=tuple(dropped),
        )
        events = [*before, revised, *after]
    at_risk = any(not d.met or d.slack < policy.risk_slack for d in result.deadlines)
    return Repair(
        route.route_id,
        tuple(events),
        tuple(changes),
        cause,
        result,
        at_risk,
        _completion(result),
    )


def _reshape(
    route: RouteState, pathway: Pathway, new: Mapping[str, str], base: str
) -> tuple[list[str], list[ChangeRecord]]:
    """After a pathway change: the route's stages the pathway lacks (but attended ones), and
    the records of the change: one per stage dropped, one per stage of the pathway the route
    lacks, on its new slot."""
    stage_ids = {s.id for s in pathway.stages}
    leaving = [
        s for s in route.stages if s.stage_id not in stage_ids and s.status != StageStatus.ATTENDED
    ]
    records = [
        ChangeRecord(
            event_id=base,
            stage_id=s.stage_id,
            old_slot=s.slot_id,
            new_slot=None,
            reason=ChangeReason.DROPPED,
            notify=s.status == StageStatus.BOOKED,
        )
        for s in leaving
    ]
    added = [
        ChangeRecord(
            event_id=base,
            stage_id=s.id,
            old_slot=None,
            new_slot=new[s.id],
            reason=ChangeReason.ADDED,
            notify=False,
        )
        for s in pathway.stages
        if route.stage(s.id) is None
    ]
    return [s.stage_id for s in leaving], records + added


def _release(base: str, route: RouteState, stage: StageState, now: datetime) -> Event:
    return StageReleased(
        event_id=f"{base}:{stage.stage_id}:released",
        at=now,
        route_id=route.route_id,
        stage_id=stage.stage_id,
    )


def _cancel(base: str, route: RouteState, stage: StageState, now: datetime) -> Event:
    return StageCancelled(
        event_id=f"{base}:{stage.stage_id}:moved",
        at=now,
        route_id=route.route_id,
        stage_id=stage.stage_id,
    )


def _was_booked(route: RouteState, stage: StageState) -> bool:
    """Whether the patient holds (or held, until the event) a booked visit of this stage."""
    if stage.status in (StageStatus.BOOKED, StageStatus.NO_SHOW):
        return True
    if stage.status == StageStatus.PROPOSED and stage.slot_id is None:
        last = _last_change(route, stage)
        return last is not None and last.notify
    if stage.status == StageStatus.CANCELLED:
        last = _last_change(route, stage)
        return last is not None and last.notify
    return False


def _last_change(route: RouteState, stage: StageState) -> ChangeRecord | None:
    return next((c for c in reversed(route.history) if c.stage_id == stage.stage_id), None)


def _lost_slot(route: RouteState, stage: StageState) -> str | None:
    last = _last_change(route, stage)
    return None if last is None else last.old_slot
