"""A hypothesis state machine over living routes end to end: plans, bookings through the saga with
failing sources, and events repaired as they come (``Service.apply_and_repair``).

Over the contended example (patients competing for scarce slots), random sequences of bookings
(each with a fault injected into the source at a random call), slot withdrawals, cancelled
stages, no-shows, attended visits whose result is delayed, and pathway changes. After every step:
no slot is over capacity; no patient is lost (every referral is booked, waiting with a reason,
cancelled, or never planned because no route existed, said so); every held or booked place
belongs to a stage (a compensation leaves no orphan hold); every route the state calls planned
passes the independent evaluator, with the waits its pending results impose. At the end the
journal, replayed from the database, equals the live state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache, partial

from hypothesis import HealthCheck, settings
from hypothesis import event as event_label
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lifecycle_world import assert_no_orphan_place
from nosology.pathway import Pathway
from routing.booking import live_replanner
from routing.booking.memory import FailurePlan, Fault
from routing.domain import RouteRequest
from routing.evaluate import evaluate_route
from routing.examples import load_example
from routing.lifecycle import StageStatus
from routing.lifecycle.booking import book, memory_backend
from routing.lifecycle.events import (
    Event,
    NoShow,
    PathwayChanged,
    ResultDelayed,
    SlotWithdrawn,
    StageAttended,
    StageCancelled,
)
from routing.lifecycle.model import ACTIVE
from routing.lifecycle.repair import RepairPolicy, request_for, result_waits
from routing.lifecycle.service import Service
from routing.problem import Problem
from routing.solve import plan_route
from routing.solve.plan import resolve_pathway

POLICY = RepairPolicy(rebook=True, time_limit=1.0, node_limit=20_000)
PATHWAYS = ("zno_lung", "zno_breast", "zno_colorectal", "zno_suspected")
"""Pathways a diagnosis may change to (the region generator offers their services)."""


@cache
def _problem() -> Problem:
    return load_example("contended_spb")


@cache
def _requests() -> dict[str, RouteRequest]:
    return {r.id: r for r in _problem().requests[:10]}


def _pathways() -> dict[str, Pathway]:
    return {p.id: p for p in _problem().pathways}


class LivingRoutes(RuleBasedStateMachine):
    """Bookings, failures and events over one journal; invariants after every step."""

    def __init__(self) -> None:
        super().__init__()
        problem = _problem()
        self.now: datetime = min(r.referral for r in _requests().values())
        self.service = Service.open("sqlite://")
        self.service.publish(problem.facilities, problem.slots, event_id="publish", at=self.now)
        self.unplanned: dict[str, str] = {}
        self.n = 0

    def teardown(self) -> None:
        try:
            assert self.service.journal.replay() == self.service.state()
        finally:
            self.service.close()

    def _id(self, kind: str) -> str:
        self.n += 1
        return f"{kind}-{self.n}"

    def _event(self, event: Event) -> None:
        """Journal ``event`` and repair what it puts on the waitlist."""
        _, repairs = self.service.apply_and_repair(event, _requests(), POLICY)
        for found in repairs:
            label = "moved" if found.moved else "kept" if found.planned else "no plan"
            event_label(f"{type(event).__name__}: repair {label}")

    def _routes(self, *statuses: StageStatus) -> list[tuple[str, str, datetime, str]]:
        """(route, stage, start, slot) of open routes' stages with one of ``statuses``."""
        state = self.service.state()
        return sorted(
            (r.route_id, s.stage_id, s.start, s.slot_id)
            for r in state.routes.values()
            if not r.cancelled
            for s in r.stages
            if s.status in statuses and s.start is not None and s.slot_id is not None
        )

    # -- rules ---------------------------------------------------------------------------------
    @rule(
        index=st.integers(0, 9),
        call=st.integers(1, 12),
        fault=st.sampled_from([*Fault, None]),
    )
    def book_request(self, index: int, call: int, fault: Fault | None) -> None:
        """Plan a request over the journal's live places and book it, a fault injected."""
        request = list(_requests().values())[index]
        if request.id in self.service.state().routes or request.id in self.unplanned:
            return
        live = self.service.state().live
        assert live is not None
        at = max(self.now, request.referral)
        result = plan_route(request.model_copy(update={"referral": at}), live, pathways=_pathways())
        if not result.has_route:
            self.unplanned[request.id] = result.status.value
            event_label("no route to book")
            return
        failures = FailurePlan(calls={call: fault}) if fault is not None else None
        backend = memory_backend(self.service, failures=failures)
        replan = live_replanner(request, backend.live, partial(plan_route, pathways=_pathways()))
        record = book(self.service, result, backend, at=at, replan=replan, max_attempts=3)
        event_label(f"booking {record.outcome.status.value}")
        assert record.route is not None
        assert record.booked == all(s.status == StageStatus.BOOKED for s in record.route.stages)

    @precondition(lambda self: self.service.state().routes)
    @rule(pick=st.integers(0, 10_000))
    def withdraw(self, pick: int) -> None:
        """A facility withdraws a slot some route is booked on."""
        booked = self._routes(StageStatus.BOOKED, StageStatus.HELD)
        if booked:
            slot = booked[pick % len(booked)][3]
            self._event(SlotWithdrawn(event_id=self._id("w"), at=self.now, slot_id=slot))

    @precondition(lambda self: self.service.state().routes)
    @rule(pick=st.integers(0, 10_000))
    def cancel_stage(self, pick: int) -> None:
        """The patient cancels one visit still to come."""
        active = [b for b in self._routes(*ACTIVE) if b[2] > self.now]
        if active:
            route, stage, _, _ = active[pick % len(active)]
            event = StageCancelled(
                event_id=self._id("c"), at=self.now, route_id=route, stage_id=stage
            )
            self._event(event)

    @precondition(lambda self: self.service.state().routes)
    @rule(pick=st.integers(0, 10_000), show=st.booleans(), delay_days=st.integers(0, 8))
    def next_visit(self, pick: int, show: bool, delay_days: int) -> None:
        """Time moves to a booked visit of a route not waiting: it is missed, or attended with
        its result due a day later and then delayed by ``delay_days`` (0: no delay)."""
        waiting = self.service.state().waitlist
        booked = [
            b for b in self._routes(StageStatus.BOOKED) if b[0] not in waiting and b[2] >= self.now
        ]
        if not booked:
            return
        route, stage, start, _ = booked[pick % len(booked)]
        self.now = start + timedelta(minutes=10)
        common = {"at": self.now, "route_id": route, "stage_id": stage}
        if not show:
            self._event(NoShow(event_id=self._id("n"), **common))
            return
        due = self.now + timedelta(days=1)
        self._event(StageAttended(event_id=self._id("a"), result_due=due, **common))
        if delay_days:
            expected = due + timedelta(days=delay_days)
            self._event(ResultDelayed(event_id=self._id("d"), expected=expected, **common))

    @precondition(lambda self: self.service.state().routes)
    @rule(pick=st.integers(0, 10_000), pathway=st.sampled_from(PATHWAYS))
    def change_pathway(self, pick: int, pathway: str) -> None:
        """A diagnosis changes a route's pathway."""
        routes = sorted(r for r, v in self.service.state().routes.items() if not v.cancelled)
        if routes:
            route = routes[pick % len(routes)]
            event = PathwayChanged(
                event_id=self._id("p"), at=self.now, route_id=route, pathway_id=pathway
            )
            self._event(event)

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def no_slot_over_capacity(self) -> None:
        """No slot has more places held and booked than it has."""
        live = self.service.state().live
        assert live is not None
        for s in live.snapshot().states:
            assert s.held >= 0
            assert s.booked >= 0
            assert s.held + s.booked <= s.capacity

    @invariant()
    def no_patient_lost(self) -> None:
        """Every referral is planned, waiting with a reason, cancelled, or known unplanned."""
        state = self.service.state()
        for route in state.routes.values():
            assert route.planned or route.route_id in state.waitlist or route.cancelled
        assert not set(state.routes) & set(self.unplanned)

    @invariant()
    def no_orphan_place(self) -> None:
        """Every held or booked place belongs to a stage (missed visits keep theirs)."""
        assert_no_orphan_place(self.service.state())

    @invariant()
    def planned_routes_pass_the_evaluator(self) -> None:
        """Every planned route not waiting passes the independent evaluator, with its pathway
        as it is now and the waits of its pending results."""
        state = self.service.state()
        assert state.live is not None
        slots = {s.id: s for s in state.live.index.slots}
        for route in state.routes.values():
            if route.cancelled or route.route_id in state.waitlist or not route.planned:
                continue
            request = request_for(route, _requests()[route.request_id])
            pathway = resolve_pathway(request, pathways=_pathways())
            waits = result_waits(route, pathway, request.referral)
            request = request.model_copy(update={"not_before": waits})
            stage_ids = {s.id for s in pathway.stages}
            bookings = {s.stage_id: str(s.slot_id) for s in route.stages if s.stage_id in stage_ids}
            evaluation = evaluate_route(
                request,
                pathway,
                bookings,
                slots=slots,
                facilities=state.facilities,
                travel=_problem().travel,
                calendar=state.live.index.calendar,
            )
            assert evaluation.feasible, (route.route_id, evaluation.violations)


LivingRoutes.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLivingRoutes = LivingRoutes.TestCase
