"""A two-stage route over a few slots, for the booking tests."""

from __future__ import annotations

from collections.abc import Sequence

from route_helpers import facility, make_pathway, make_request, slot, stage
from routing.domain import RouteRequest
from routing.live import LiveSlots
from test_plan_bruteforce import DAYS, REFERRAL

__all__ = ["two_stages"]


def two_stages(
    a_ids: Sequence[str], b_ids: Sequence[str], *, request_id: str = "R1"
) -> tuple[RouteRequest, LiveSlots]:
    """Stage ``a`` then stage ``b`` (two days later at least); the slots of each in order of
    preference (earlier first), so the planner picks ``a_ids[0]`` and ``b_ids[0]``."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    slots = [slot(s, "a", DAYS[1], f"{9 + i:02d}:00") for i, s in enumerate(a_ids)]
    slots += [slot(s, "b", DAYS[3], f"{9 + i:02d}:00") for i, s in enumerate(b_ids)]
    live = LiveSlots.build([facility("F1")], slots)
    return make_request(pathway, REFERRAL, request_id=request_id), live
