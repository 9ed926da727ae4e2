"""The tree search skips a stage's candidates of a day on which no route can book the stage.

After a child fails, :meth:`~routing.solve.bnb.propagation.Propagation.day_fails` propagates the
node with the stage's start narrowed to that day; when that fails, the day's other candidates
are skipped. These tests check that the test is sound: it never rules out a day that a feasible
route completing by the cap uses, judged by the independent evaluator over every combination of
slots. (That the search still finds the optimum is what the brute-force tests of
``test_plan_bruteforce.py`` check, with the skip in place.)
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings

from routing.solve.bnb.common import INF
from test_plan_bruteforce import (
    Instance,
    feasible_routes,
    instances,
    packed_instances,
    propagated_root,
)


def _check_dead_days(instance: Instance) -> None:
    """Every day ``day_fails`` rules out at the root, for every stage and cap, holds no feasible
    route of the instance with that stage on that day."""
    index, cr, state, root = propagated_root(instance)
    feasible = [(route, objective[0]) for route, objective in feasible_routes(instance)]
    fastest = min((done for _, done in feasible), default=None)
    # No cap; one minute before the fastest completion (phase 1 once it holds that route); at it.
    caps = [INF] + ([] if fastest is None else [state.r + fastest - 1, state.r + fastest])
    dead = 0
    for i, st_ in enumerate(cr.stages):
        day_of_slot = {index.slots[p].id: d for p, d in zip(st_.slot, st_.day, strict=True)}
        for day in sorted(set(st_.day)):
            for cap in caps:
                if not state.day_fails(i, day, [list(x) for x in root], cap):
                    continue
                dead += 1
                booking = [
                    route
                    for route, done in feasible
                    if state.r + done <= cap and day_of_slot.get(route[st_.stage_id]) == day
                ]
                assert not booking, (st_.stage_id, day, cap, booking[0])
    event(f"days ruled out: {min(dead, 3)}{'+' if dead > 3 else ''}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_a_day_ruled_out_holds_no_feasible_route(instance: Instance) -> None:
    """Whatever the lags, windows, travel and caps: a day the test rules out for a stage is the
    day of that stage in no feasible route completing by the cap."""
    _check_dead_days(instance)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packed_instances())
def test_a_day_ruled_out_holds_no_feasible_route_on_packed_days(instance: Instance) -> None:
    """The same where several stages crowd two days (same-day rules and visits a day)."""
    _check_dead_days(instance)
