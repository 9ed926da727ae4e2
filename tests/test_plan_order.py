"""A route does not depend on the order in which the slots are given."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from route_helpers import at, facility, make_pathway, make_request, slot, solve_and_check, stage
from routing.domain import Slot

FACILITIES = (facility("F1", lat=59.93, lon=30.31), facility("F2", lat=59.94, lon=30.36))


def slots_with_twins() -> list[Slot]:
    """Two stages whose slots come in twins (same time, same or other facility)."""
    result = []
    for n, (day, hhmm, place) in enumerate(
        [
            ("2026-05-12", "09:00", "F1"),
            ("2026-05-12", "09:00", "F2"),
            ("2026-05-13", "10:00", "F1"),
        ]
    ):
        for twin in ("x", "y"):
            result.append(slot(f"a{n}{twin}", "a", day, hhmm, facility_id=place))
            result.append(slot(f"b{n}{twin}", "b", day, "12:00", facility_id=place))
    return result


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_shuffled_slots_give_the_same_route(seed: int) -> None:
    """Shuffling the slots changes nothing in the result: ties are broken by slot id."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    request = make_request(pathway, at("2026-05-12", "08:00"))
    slots = slots_with_twins()
    first = solve_and_check(request, pathway, FACILITIES, slots)
    shuffled = list(slots)
    random.Random(seed).shuffle(shuffled)
    again = solve_and_check(request, pathway, FACILITIES, shuffled)
    keep = {"runtime_seconds"}
    assert first.model_dump_json(exclude=keep) == again.model_dump_json(exclude=keep)
    assert [b.slot_id for b in first.bookings] == ["a0x", "b0x"]
