"""What the planner says when a limit stops the search: TIME_LIMIT or FEASIBLE, with a bound."""

from __future__ import annotations

import pytest

from route_helpers import (
    at,
    facility,
    make_pathway,
    make_request,
    patient,
    slot,
    solve_and_check,
    stage,
)
from routing.domain import RouteRequest, Slot
from routing.result import SolveStatus
from routing.solve import SolveOptions

FACILITIES = tuple(
    facility(f"F{n}", lat=59.90 + 0.02 * n, lon=30.30 + 0.03 * (n % 3)) for n in range(4)
)
PATHWAY = make_pathway([stage("a"), stage("b", after=["a"]), stage("c", after=["b"])])


def many_slots() -> list[Slot]:
    """Each stage at every facility, on three mornings: many routes complete equally early."""
    result = []
    for day in ("2026-05-12", "2026-05-13", "2026-05-14"):
        for n, fac in enumerate(FACILITIES):
            for stage_id, hhmm in (("a", "09:00"), ("b", "11:00"), ("c", "14:00")):
                result.append(
                    slot(f"{stage_id}-{day}-{n}", stage_id, day, hhmm, facility_id=fac.id)
                )
    return result


def request() -> RouteRequest:
    """A patient living near F3, who may come twice a day."""
    home = patient(max_visits_per_day=2, location={"lat": 59.96, "lon": 30.30})
    return make_request(PATHWAY, at("2026-05-12", "08:00"), patient=home)


def test_node_limit_before_any_route_is_time_limit() -> None:
    """Stopped before a route is found: TIME_LIMIT, no bookings, and the root's bound."""
    # The first slot of a (at F0) leaves no time to travel to b's only slot (at F3, five
    # minutes after a ends), so the greedy first try finds no route: the search must start
    # before any route is known.
    slots = [
        *(slot(f"a-{f.id}", "a", "2026-05-12", "09:00", facility_id=f.id) for f in FACILITIES),
        slot("b-only", "b", "2026-05-12", "09:35", facility_id="F3"),
        *(slot(f"c-{f.id}", "c", "2026-05-13", "14:00", facility_id=f.id) for f in FACILITIES),
    ]
    result = solve_and_check(request(), PATHWAY, FACILITIES, slots, node_limit=1)
    assert result.status is SolveStatus.TIME_LIMIT
    assert result.bookings == ()
    assert result.bound is not None
    assert any("node limit" in reason for reason in result.reasons)


def test_node_limit_after_a_route_is_feasible_with_a_valid_bound() -> None:
    """Stopped after a route but before the proof: FEASIBLE, the route checks, bound <= route."""
    proven = solve_and_check(request(), PATHWAY, FACILITIES, many_slots())
    assert proven.status is SolveStatus.OPTIMAL
    assert proven.objective is not None
    found_feasible = False
    for limit in range(2, 200):
        result = solve_and_check(request(), PATHWAY, FACILITIES, many_slots(), node_limit=limit)
        if result.status is SolveStatus.OPTIMAL:
            break
        if result.status is SolveStatus.FEASIBLE:
            found_feasible = True
            assert result.objective is not None
            assert result.bound is not None
            assert result.bound.key() <= proven.objective.key() <= result.objective.key()
            assert any("not proven" in reason for reason in result.reasons)
    assert found_feasible


@pytest.mark.parametrize(("field", "value"), [("time_limit", 0.0), ("node_limit", 0)])
def test_options_reject_nonsense(field: str, value: float) -> None:
    """A time limit that is not positive or a node limit below 1 is refused at once."""
    with pytest.raises(ValueError, match=field):
        SolveOptions(**{field: value})
