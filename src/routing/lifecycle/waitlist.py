"""Offer a freed slot to the route that gains most from it, cascading over the slots it frees.

When a place is given back (a cancellation, a move), :func:`offer_freed_slot` re-plans every
candidate route with that slot free (:func:`~routing.lifecycle.repair.repair`, so freeze windows
and the minimum gain hold) and gives it to the route whose plan takes the slot and gains most:
deadlines newly met (the current plan judged by :func:`~routing.evaluate_route`), then minutes
of completion (a route waiting for a slot gains more
than any planned one). The places the taker gives back are offered in turn, up to
:attr:`~routing.lifecycle.repair.RepairPolicy.cascade_depth` more times.

:class:`OfferRule` also gives the two baselines of the benchmark: ``FIRST_IN_QUEUE`` (the first
candidate, by waitlist then route id, whose plan takes the slot) and ``LEAVE_EMPTY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway
from routing.domain import RouteRequest, Slot
from routing.evaluate import evaluate_route
from routing.lifecycle.apply import apply_all
from routing.lifecycle.model import ACTIVE, State
from routing.lifecycle.repair import (
    Repair,
    RepairPolicy,
    current_completion,
    repair,
    request_for,
)
from routing.solve.plan import resolve_pathway

__all__ = ["Offer", "OfferRule", "offer_freed_slot"]

UNPLANNED = 10**9
"""The completion given to a route that waits for a slot (any plan gains on it)."""

UNPLANNED_MISSES = 1_000
"""The deadline misses counted for a route that waits for a slot."""


class OfferRule(StrEnum):
    """Who gets a freed slot."""

    GAIN = "gain"
    """The route whose deadlines, then completion, gain most."""
    FIRST_IN_QUEUE = "first_in_queue"
    """The first candidate (waitlisted first, then by route id) whose plan takes the slot."""
    LEAVE_EMPTY = "leave_empty"
    """Nobody: the slot stays free."""


@dataclass(frozen=True, slots=True)
class Offer:
    """The outcome of offering a freed slot: the repairs made, in order, and the state after.

    Attributes
    ----------
    repairs
        One per slot taken (the first for the slot offered, then the cascade).
    state
        The state with every repair's events applied.
    """

    repairs: tuple[Repair, ...]
    state: State

    @property
    def moved(self) -> int:
        """Stages that changed slot over the whole cascade."""
        return sum(r.moved for r in self.repairs)


def offer_freed_slot(
    state: State,
    requests: Mapping[str, RouteRequest],
    slot_id: str,
    now: datetime,
    policy: RepairPolicy | None = None,
    *,
    rule: OfferRule = OfferRule.GAIN,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    event_prefix: str = "offer",
) -> Offer:
    """Give the freed ``slot_id`` to a route (see the module's docstring).

    Parameters
    ----------
    state
        The lifecycle state (never changed).
    requests
        Requests by id.
    slot_id
        The slot with a place given back.
    now
        The current time (a slot starting before it is not offered).
    policy
        The repair policy; its ``cascade_depth`` bounds the cascade.
    rule
        Who gets the slot.
    catalogue, pathways
        Where pathways come from.
    event_prefix
        Prefix of the ids of the events appended.
    """
    policy = policy or RepairPolicy()
    repairs: list[Repair] = []
    queue = [slot_id]
    depth = 0
    while queue and depth <= policy.cascade_depth and rule is not OfferRule.LEAVE_EMPTY:
        offered = queue.pop(0)
        taken = _offer_one(
            state, requests, offered, now, policy, rule, catalogue, pathways, event_prefix, depth
        )
        depth += 1
        if taken is None:
            continue
        state = apply_all(state, taken.events)
        repairs.append(taken)
        queue.extend(c.old_slot for c in taken.changes if c.old_slot is not None)
    return Offer(tuple(repairs), state)


def _candidates(state: State, slot_id: str, now: datetime) -> list[str]:
    """Waitlisted routes, and open routes with a visit of the slot's service later than the
    slot; waitlisted first, then by id."""
    if state.live is None:
        return []
    live_state = state.live.state(slot_id)
    slot = state.live.slot(slot_id)
    if live_state.withdrawn or live_state.free <= 0 or slot.start < now:
        return []
    live = state.live
    ids = []
    for rid, route in state.routes.items():
        if route.cancelled or any(s.slot_id == slot_id for s in route.stages):
            continue
        if rid in state.waitlist or any(
            s.status in ACTIVE
            and s.slot_id is not None
            and live.slot(s.slot_id).service == slot.service
            and live.slot(s.slot_id).start > slot.start
            for s in route.stages
        ):
            ids.append(rid)
    return sorted(ids, key=lambda rid: (rid not in state.waitlist, rid))


def _missed(
    state: State,
    requests: Mapping[str, RouteRequest],
    route_id: str,
    catalogue: Catalogue | None,
    pathways: Mapping[str, Pathway] | None,
    slots: Mapping[str, Slot],
) -> int:
    """Deadlines the route's current plan misses, by the evaluator (a route waiting for a slot
    counts as missing :data:`UNPLANNED_MISSES`)."""
    route = state.routes[route_id]
    if not route.planned or state.live is None:
        return UNPLANNED_MISSES
    request = request_for(route, requests[route.request_id])
    evaluation = evaluate_route(
        request,
        resolve_pathway(request, catalogue, pathways),
        {s.stage_id: s.slot_id for s in route.stages if s.slot_id is not None},
        slots=slots,
        facilities=state.facilities,
    )
    return sum(not d.met for d in evaluation.deadlines)


def _offer_one(
    state: State,
    requests: Mapping[str, RouteRequest],
    slot_id: str,
    now: datetime,
    policy: RepairPolicy,
    rule: OfferRule,
    catalogue: Catalogue | None,
    pathways: Mapping[str, Pathway] | None,
    prefix: str,
    depth: int,
) -> Repair | None:
    best: tuple[tuple[int, int], Repair] | None = None
    slots = {} if state.live is None else {s.id: s for s in state.live.index.slots}
    for rid in _candidates(state, slot_id, now):
        before = current_completion(state, requests, rid)
        found = repair(
            state,
            requests,
            rid,
            now,
            policy,
            catalogue=catalogue,
            pathways=pathways,
            event_id=f"{prefix}:{slot_id}:{depth}:{rid}",
        )
        if not found.planned or not any(c.new_slot == slot_id for c in found.changes):
            continue
        assert found.completion_minutes is not None
        gain = (UNPLANNED if before is None else before) - found.completion_minutes
        if rid not in state.waitlist and gain < policy.min_gain_minutes:
            continue
        assert found.result is not None
        missed_after = sum(not d.met for d in found.result.deadlines)
        key = (_missed(state, requests, rid, catalogue, pathways, slots) - missed_after, gain)
        if rule is OfferRule.FIRST_IN_QUEUE:
            return found
        if best is None or key > best[0]:
            best = (key, found)
    return None if best is None else best[1]
