"""A route journal for the manager's report: the contended example planned, entered, lived.

The shipped batch example (30 patients over shared slots) is planned once with a fixed seed; its
slots are published and every planned route proposed at its request's referral, then, in time
order: most routes booked an hour later, the first stage of some attended (at its end), one
visit missed (``no_show``: the route waits for a re-plan) and one referral cancelled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from routing.batch import BatchResult, plan_batch
from routing.examples import BATCH_EXAMPLE, example_text
from routing.lifecycle.events import (
    Event,
    NoShow,
    PlannedStage,
    ReferralCancelled,
    RouteProposed,
    SlotsPublished,
    StageAttended,
    StageBooked,
)
from routing.problem import Problem, load_problem

__all__ = ["CANCELLED_ROUTE", "NO_SHOW_ROUTE", "journal_events", "planned", "problem"]

NO_SHOW_ROUTE_INDEX = 2
CANCELLED_ROUTE_INDEX = 5


@cache
def problem() -> Problem:
    """The shipped contended example."""
    return load_problem(example_text(BATCH_EXAMPLE))


@cache
def planned() -> BatchResult:
    """The example planned (seed 0, 10 iterations: the same plan on every machine)."""
    return plan_batch(
        problem(),
        seed=0,
        max_iterations=10,
        time_limit=60.0,
        polish_share=0.0,
        exact_max_patients=0,
    )


def _routes() -> list[tuple[str, datetime, list[tuple[str, str, datetime, datetime]]]]:
    """(route id, referral, [(stage, slot, start, end)]) of every planned route, by referral."""
    routes = []
    for r in planned().routes:
        if r.has_route:
            stages = [(b.stage_id, b.slot_id, b.start, b.end) for b in r.bookings]
            routes.append((r.request_id, r.referral, stages))
    return sorted(routes, key=lambda x: (x[1], x[0]))


def _route_id(index: int) -> str:
    return _routes()[index][0]


NO_SHOW_ROUTE = _route_id(NO_SHOW_ROUTE_INDEX)
CANCELLED_ROUTE = _route_id(CANCELLED_ROUTE_INDEX)


def journal_events() -> list[Event]:
    """The journal's events, in time order (ties by event id)."""
    p = problem()
    routes = _routes()
    first = min(referral for _, referral, _ in routes)
    events: list[Event] = [
        SlotsPublished(
            event_id="publish",
            at=first - timedelta(days=1),
            facilities=tuple(p.facilities),
            slots=tuple(p.slots),
        )
    ]
    by_id = {r.request_id: r for r in planned().routes}
    for n, (route_id, referral, stages) in enumerate(routes):
        result = by_id[route_id]
        events.append(
            RouteProposed(
                event_id=f"{route_id}:proposed",
                at=referral,
                route_id=route_id,
                request_id=route_id,
                patient_id=result.patient_id,
                pathway_id=result.pathway_id,
                stages=tuple(PlannedStage(stage_id=s, slot_id=slot) for s, slot, _, _ in stages),
            )
        )
        if n % 4 == 3:
            continue  # left proposed
        booked_at = referral + timedelta(hours=1)
        events += [
            StageBooked(
                event_id=f"{route_id}:{s}:booked", at=booked_at, route_id=route_id, stage_id=s
            )
            for s, _, _, _ in stages
        ]
        stage, _, _start, end = min(stages, key=lambda x: (x[2], x[0]))
        if n == NO_SHOW_ROUTE_INDEX:
            events.append(
                NoShow(
                    event_id=f"{route_id}:{stage}:no_show",
                    at=end,
                    route_id=route_id,
                    stage_id=stage,
                )
            )
        elif n == CANCELLED_ROUTE_INDEX:
            events.append(
                ReferralCancelled(
                    event_id=f"{route_id}:cancelled",
                    at=booked_at + timedelta(minutes=1),
                    route_id=route_id,
                )
            )
        elif n % 3 == 0:
            events.append(
                StageAttended(
                    event_id=f"{route_id}:{stage}:attended",
                    at=end,
                    route_id=route_id,
                    stage_id=stage,
                )
            )
    return sorted(events, key=lambda e: (e.at, e.event_id))
