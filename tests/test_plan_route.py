"""plan_route on micro-instances whose optimum is worked out by hand, one per constraint kind.

Every instance lives in Europe/Moscow. Unless a test says otherwise the referral is Monday
2026-05-18 08:00, slots are 30 minutes long, facilities have no location (so travel between two
different ones is ``TravelModel.unknown_minutes`` = 60 and there are no home legs), and the
objective key is ``(completion minutes after the referral, visit days, travel, non-preferred)``.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.pathway import LagUnit, ServiceRef, VisitMode
from route_helpers import (
    at,
    constraint,
    deadline,
    facility,
    make_pathway,
    make_request,
    patient,
    slot,
    solve_and_check,
    stage,
    unavailable,
    window,
)
from routing.domain import Facility, Slot, TravelModel
from routing.result import RouteResult, SolveStatus

MON = "2026-05-18"
TUE = "2026-05-19"
WED = "2026-05-20"
THU = "2026-05-21"
REFERRAL = at(MON, "08:00")
F1 = facility("F1")
DAY = 1440


def booked(result: RouteResult) -> dict[str, str]:
    """Stage id → slot id of a result."""
    return {b.stage_id: b.slot_id for b in result.bookings}


def key(result: RouteResult) -> tuple[int, int, int, int]:
    """The objective key of a result that has a route."""
    assert result.objective is not None
    return result.objective.key()


def check_optimal(
    result: RouteResult, bookings: dict[str, str], objective: tuple[int, ...]
) -> None:
    """The result is OPTIMAL with these bookings and this objective, and its bound is tight."""
    assert result.status is SolveStatus.OPTIMAL, result.reasons
    assert booked(result) == bookings
    assert key(result) == objective
    assert result.bound == result.objective


def test_stage_order() -> None:
    """``after``: a stage starts no earlier than the end of the stage it follows."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    slots = [
        slot("A1", "a", MON, "10:00"),
        slot("B1", "b", MON, "09:00"),  # before a
        slot("B2", "b", MON, "10:15"),  # overlaps a's 10:00-10:30
        slot("B3", "b", MON, "11:00"),
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    # b ends 11:30, 210 minutes after the 08:00 referral; one visit day.
    check_optimal(result, {"a": "A1", "b": "B3"}, (210, 1, 0, 0))


def test_min_lag_minutes() -> None:
    """A minimum lag in minutes is exact: 60 minutes from a's end, not 30."""
    pathway = make_pathway(
        [stage("a"), stage("b")],
        constraints=[constraint("a.end", "b.start", LagUnit.MINUTES, min=60)],
    )
    slots = [
        slot("A1", "a", MON, "09:00"),
        slot("B1", "b", MON, "10:00"),  # 30 min after a ends
        slot("B2", "b", MON, "10:30"),  # exactly 60
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    # b ends 11:00: 180 minutes.
    check_optimal(result, {"a": "A1", "b": "B2"}, (180, 1, 0, 0))


def test_min_lag_calendar_days() -> None:
    """A calendar-day lag compares dates: the next morning is 1 day even if under 24 hours."""
    pathway = make_pathway(
        [stage("a"), stage("b")],
        constraints=[constraint("a.end", "b.start", LagUnit.CALENDAR_DAYS, min=1)],
    )
    slots = [
        slot("A1", "a", MON, "09:00"),
        slot("B1", "b", MON, "15:00"),  # same date
        slot("B2", "b", TUE, "08:00"),  # next date, 22.5 hours later
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    # b ends Tue 08:30: 1 day + 30 min = 1470; two visit days.
    check_optimal(result, {"a": "A1", "b": "B2"}, (DAY + 30, 2, 0, 0))


def test_min_lag_working_days_across_may_holidays() -> None:
    """1 working day after Fri 2026-05-08 is Tue 05-12 (9, 10, 11 May are days off)."""
    pathway = make_pathway(
        [stage("a"), stage("b")],
        constraints=[constraint("a.end", "b.start", LagUnit.WORKING_DAYS, min=1)],
    )
    slots = [
        slot("A1", "a", "2026-05-08", "09:00"),
        slot("B1", "b", "2026-05-09", "09:00"),  # Saturday
        slot("B2", "b", "2026-05-11", "09:00"),  # Monday, a day off
        slot("B3", "b", "2026-05-12", "09:00"),
    ]
    request = make_request(pathway, at("2026-05-08", "08:00"))
    result = solve_and_check(request, pathway, [F1], slots)
    # b ends Tue 05-12 09:30: 4 days + 90 min = 5850.
    check_optimal(result, {"a": "A1", "b": "B3"}, (4 * DAY + 90, 2, 0, 0))


def test_min_lag_working_days_across_transferred_saturday() -> None:
    """Sat 2025-11-01 is a working day and 3-4 Nov are days off: Fri → Sat → Wed."""
    pathway = make_pathway(
        [stage("a"), stage("b"), stage("c")],
        constraints=[
            constraint("a.end", "b.start", LagUnit.WORKING_DAYS, min=1),
            constraint("b.end", "c.start", LagUnit.WORKING_DAYS, min=1),
        ],
    )
    slots = [
        slot("A1", "a", "2025-10-31", "09:00"),
        slot("B1", "b", "2025-11-01", "09:00"),  # the working Saturday
        slot("C1", "c", "2025-11-03", "09:00"),  # day off
        slot("C2", "c", "2025-11-04", "09:00"),  # day off
        slot("C3", "c", "2025-11-05", "09:00"),
    ]
    request = make_request(pathway, at("2025-10-31", "08:00"))
    result = solve_and_check(request, pathway, [F1], slots)
    # c ends Wed 11-05 09:30: 5 days + 90 min = 7290; three visit days.
    check_optimal(result, {"a": "A1", "b": "B1", "c": "C3"}, (5 * DAY + 90, 3, 0, 0))


def test_max_lag_moves_the_earlier_stage_later() -> None:
    """A maximum lag: b's only slot is too late for a's earliest, so a takes a later slot."""
    pathway = make_pathway(
        [stage("a"), stage("b", after=["a"])],
        constraints=[constraint("a.end", "b.start", LagUnit.CALENDAR_DAYS, max=1)],
    )
    slots = [
        slot("A1", "a", MON, "09:00"),  # 3 days before b
        slot("A2", "a", WED, "09:00"),
        slot("B1", "b", THU, "09:00"),
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    # b ends Thu 09:30: 3 days + 90 min = 4410; two visit days.
    check_optimal(result, {"a": "A2", "b": "B1"}, (3 * DAY + 90, 2, 0, 0))


def test_window_relative_to_reference_date() -> None:
    """A window of 10-12 days after the reference date 2026-05-08 allows 18-20 May only."""
    pathway = make_pathway(
        [stage("a")], windows=[window("a.start", "last_menstrual_period", 10, 12)]
    )
    slots = [
        slot("A1", "a", "2026-05-13", "09:00"),
        slot("A2", "a", "2026-05-17", "09:00"),  # one day early
        slot("A3", "a", "2026-05-18", "09:00"),
        slot("A4", "a", "2026-05-21", "09:00"),  # one day late
    ]
    request = make_request(
        pathway,
        at("2026-05-12", "08:00"),
        reference_dates={"last_menstrual_period": at("2026-05-08").date()},
    )
    result = solve_and_check(request, pathway, [F1], slots)
    # A3 ends 05-18 09:30: 6 days + 90 min = 8730.
    check_optimal(result, {"a": "A3"}, (6 * DAY + 90, 1, 0, 0))


def test_window_without_reference_date_is_invalid() -> None:
    """A window whose reference date the request lacks makes the request INVALID, saying which."""
    pathway = make_pathway(
        [stage("a")], windows=[window("a.start", "last_menstrual_period", 10, 12)]
    )
    slots = [slot("A1", "a", "2026-05-18", "09:00")]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    assert result.status is SolveStatus.INVALID
    assert not result.bookings
    assert any("last_menstrual_period" in r for r in result.reasons)


def test_facility_level() -> None:
    """A stage needing level 2 skips an earlier slot at a level-1 facility."""
    pathway = make_pathway([stage("a", level=2)])
    facilities = [facility("F1", level=1), facility("F2", level=2)]
    slots = [
        slot("A1", "a", MON, "09:00", facility_id="F1"),
        slot("A2", "a", MON, "10:00", facility_id="F2"),
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, facilities, slots)
    # A2 ends 10:30: 150 minutes.
    check_optimal(result, {"a": "A2"}, (150, 1, 0, 0))


def test_allowed_facilities() -> None:
    """A patient restricted to F2 is not routed to an earlier slot at F1."""
    pathway = make_pathway([stage("a")])
    facilities = [facility("F1"), facility("F2")]
    slots = [
        slot("A1", "a", MON, "09:00", facility_id="F1"),
        slot("A2", "a", MON, "10:00", facility_id="F2"),
    ]
    request = make_request(pathway, REFERRAL, patient=patient(allowed_facilities={"F2"}))
    result = solve_and_check(request, pathway, facilities, slots)
    check_optimal(result, {"a": "A2"}, (150, 1, 0, 0))


def test_remote_stage_uses_remote_slots_only() -> None:
    """A remote stage takes a remote slot, not an earlier in-person one, and adds no visit."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"], mode=VisitMode.REMOTE)])
    slots = [
        slot("A1", "a", MON, "09:00"),
        slot("A2", "a", MON, "10:00", mode=VisitMode.REMOTE),  # a is in person
        slot("B1", "b", MON, "10:00"),  # in person
        slot("B2", "b", TUE, "09:00", mode=VisitMode.REMOTE),
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    # b ends Tue 09:30: 1 day + 90 = 1530; only Monday is a visit day.
    check_optimal(result, {"a": "A1", "b": "B2"}, (DAY + 90, 1, 0, 0))
    modes = {b.stage_id: b.mode for b in result.bookings}
    assert modes == {"a": VisitMode.IN_PERSON, "b": VisitMode.REMOTE}


def test_patient_unavailability() -> None:
    """A slot inside a period the patient cannot come is not used."""
    pathway = make_pathway([stage("a")])
    slots = [slot("A1", "a", MON, "09:00"), slot("A2", "a", TUE, "09:00")]
    away = unavailable(at(MON, "08:45"), at(MON, "09:15"))  # overlaps A1 only
    request = make_request(pathway, REFERRAL, patient=patient(unavailable=(away,)))
    result = solve_and_check(request, pathway, [F1], slots)
    # A2 ends Tue 09:30: 1530.
    check_optimal(result, {"a": "A2"}, (DAY + 90, 1, 0, 0))


@pytest.mark.parametrize(
    ("max_visits", "b_slot", "objective"),
    [
        # One visit a day: b moves to Tuesday, ending 09:30 (1530), two visit days.
        (1, "B2", (DAY + 90, 2, 0, 0)),
        # Two a day: b right after a on Monday, ending 10:30 (150).
        (2, "B1", (150, 1, 0, 0)),
    ],
)
def test_visits_a_day(max_visits: int, b_slot: str, objective: tuple[int, ...]) -> None:
    """At most N in-person visits a day."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    slots = [
        slot("A1", "a", MON, "09:00"),
        slot("B1", "b", MON, "10:00"),
        slot("B2", "b", TUE, "09:00"),
    ]
    request = make_request(pathway, REFERRAL, patient=patient(max_visits_per_day=max_visits))
    result = solve_and_check(request, pathway, [F1], slots)
    check_optimal(result, {"a": "A1", "b": b_slot}, objective)


def test_travel_between_facilities_on_the_same_day() -> None:
    """A slot at another facility starting sooner than the travel time after a visit is skipped."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    facilities = [facility("F1"), facility("F2")]
    travel = TravelModel(matrix={"F1": {"F2": 45}})
    slots = [
        slot("A1", "a", MON, "09:00", facility_id="F1"),
        slot("B1", "b", MON, "10:00", facility_id="F2"),  # 30 min after a: too soon
        slot("B2", "b", MON, "10:15", facility_id="F2"),  # 45 min after a: just enough
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, facilities, slots, travel)
    # b ends 10:45 (165 min); one day; 45 minutes of travel F1 → F2.
    check_optimal(result, {"a": "A1", "b": "B2"}, (165, 1, 45, 0))


METRIC = TravelModel(matrix={"F1": {"F2": 150}})
"""F1 -> F2 takes 150 minutes (a trip across the city)."""
NOT_METRIC = TravelModel(matrix={"F1": {"F2": 150, "F3": 0}})
"""The same with F3 next to F1: F1 -> F3 -> F2 takes 0 + 60 (unlocated F3, unknown minutes), less
than 150, so the triangle inequality fails and only whole routes are checked for travel."""
NIGHT = [facility("F1"), facility("F2"), facility("F3")]


@given(
    st.lists(
        st.one_of(st.none(), st.tuples(st.floats(59.8, 60.1), st.floats(30.1, 30.5))),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(0, 12), min_size=6, max_size=6),
    st.tuples(st.floats(59.8, 60.1), st.floats(30.1, 30.5)),
)
@settings(max_examples=150, deadline=None)
def test_home_legs_and_their_triangle_check(
    places: list[tuple[float, float] | None], minutes: list[int], home: tuple[float, float]
) -> None:
    """The home legs the solver caches are :meth:`TravelModel.from_home` to each facility, and
    they keep the triangle inequality exactly when no tour home -> a -> b (or back) is shorter
    than the leg to b (an explicit matrix, often breaking it)."""
    from itertools import combinations

    from routing.domain import GeoPoint
    from routing.slot_index import SlotIndex
    from routing.solve.homes import home_legs

    facilities = [
        facility(f"F{n}") if p is None else facility(f"F{n}", lat=p[0], lon=p[1])
        for n, p in enumerate(places)
    ]
    pairs = list(combinations([f.id for f in facilities], 2))
    travel = TravelModel(matrix={a: {b: 10 * m} for (a, b), m in zip(pairs, minutes, strict=False)})
    index = SlotIndex.build(facilities, [], travel=travel)
    here = GeoPoint(lat=home[0], lon=home[1])
    legs, array, metric = home_legs(index, here)
    assert legs == [travel.from_home(here, f) for f in facilities]
    assert array.tolist() == legs
    t = index.travel_minutes
    n = len(facilities)
    expected = all(
        legs[b] <= legs[a] + t[a, b] and legs[a] <= t[a, b] + legs[b]
        for a in range(n)
        for b in range(n)
    )
    assert metric is expected


@pytest.mark.parametrize("travel", [METRIC, NOT_METRIC], ids=["metric", "not metric"])
def test_travel_across_midnight(travel: TravelModel) -> None:
    """After a visit from 23:30 to 00:05, a visit at 00:20 on the next date 150 minutes away is
    never booked; the one at 02:35 (00:05 + 150 minutes) is."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    late = slot("A1", "a", MON, "23:30", minutes=35, facility_id="F1")
    soon = slot("B1", "b", TUE, "00:20", facility_id="F2")
    slots = [late, soon, slot("B2", "b", TUE, "02:35", facility_id="F2")]
    request = make_request(pathway, REFERRAL)
    result = solve_and_check(request, pathway, NIGHT, slots, travel)
    # b ends 03:05 on Tuesday, 19 h 05 after the referral; one visit each date, no home legs.
    check_optimal(result, {"a": "A1", "b": "B2"}, (1145, 2, 0, 0))
    alone = solve_and_check(request, pathway, NIGHT, [late, soon], travel)
    assert alone.status is SolveStatus.INFEASIBLE
    assert "across midnight" in alone.reasons[0]


def test_short_travel_across_midnight() -> None:
    """With 15 minutes between the facilities, the visit at 00:20 after 23:30-00:05 is booked."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    slots = [
        slot("A1", "a", MON, "23:30", minutes=35, facility_id="F1"),
        slot("B1", "b", TUE, "00:20", facility_id="F2"),
        slot("B2", "b", TUE, "02:35", facility_id="F2"),
    ]
    travel = TravelModel(matrix={"F1": {"F2": 15}})
    # Two dates, so one visit a day is enough; b ends 00:50, 16 h 50 after the referral.
    request = make_request(pathway, REFERRAL, patient=patient(max_visits_per_day=1))
    result = solve_and_check(request, pathway, NIGHT, slots, travel)
    check_optimal(result, {"a": "A1", "b": "B1"}, (1010, 2, 0, 0))


@pytest.mark.parametrize("travel", [METRIC, NOT_METRIC], ids=["metric", "not metric"])
def test_travel_across_midnight_to_an_assigned_later_visit(travel: TravelModel) -> None:
    """A stage booked first early on Tuesday keeps the other's late Monday visits out of reach."""
    # b has one candidate, so the search books it first; a's candidates then face it. Only a's
    # slot at F3, which the patient does not prefer, leaves time to get to b (F3 -> F2: 60).
    pathway = make_pathway([stage("a"), stage("b")])
    slots = [
        slot("A1", "a", MON, "23:30", minutes=35, facility_id="F1"),  # 15 minutes before b
        slot("A2", "a", MON, "22:00", facility_id="F1"),  # 110 minutes before b
        slot("A3", "a", MON, "20:00", facility_id="F3"),  # 230 minutes before b
        slot("B1", "b", TUE, "00:20", facility_id="F2"),
    ]
    request = make_request(pathway, REFERRAL, patient=patient(preferred_facilities=("F1", "F2")))
    result = solve_and_check(request, pathway, NIGHT, slots, travel)
    check_optimal(result, {"a": "A3", "b": "B1"}, (1010, 2, 0, 1))


def test_shares_day_false() -> None:
    """A stage that must have its own day is not booked on a day with another visit."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"], shares_day=False)])
    slots = [
        slot("A1", "a", MON, "09:00"),
        slot("B1", "b", MON, "11:00"),
        slot("B2", "b", TUE, "09:00"),
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    check_optimal(result, {"a": "A1", "b": "B2"}, (DAY + 90, 2, 0, 0))


def test_fewer_visit_days_at_equal_completion() -> None:
    """With the same completion, the route with fewer visit days wins."""
    pathway = make_pathway([stage("a"), stage("b")])
    slots = [
        slot("A1", "a", MON, "09:00"),
        slot("A2", "a", TUE, "09:00"),
        slot("B1", "b", TUE, "10:00"),
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    # Completion is b's end, Tue 10:30 (1 day + 150) either way; a on Tuesday makes one day.
    check_optimal(result, {"a": "A2", "b": "B1"}, (DAY + 150, 1, 0, 0))


def test_less_travel_at_equal_completion_and_days() -> None:
    """With the same completion and visit days, the route with less travel wins."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    facilities = [facility("F1"), facility("F2"), facility("F3")]
    # F1-F2 has no entry and no locations: 60 (unknown_minutes). The triangle inequality holds.
    travel = TravelModel(matrix={"F1": {"F3": 60}, "F2": {"F3": 30}})
    slots = [
        slot("A1", "a", MON, "09:00", facility_id="F1"),
        slot("A2", "a", MON, "09:00", facility_id="F2"),
        slot("B1", "b", MON, "11:00", facility_id="F3"),
    ]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, facilities, slots, travel)
    # b ends 11:30 (210) either way; a at F2 travels 30 instead of 60.
    check_optimal(result, {"a": "A2", "b": "B1"}, (210, 1, 30, 0))


def test_preferred_facility_at_equal_completion() -> None:
    """With everything else equal, a preferred facility wins."""
    pathway = make_pathway([stage("a")])
    facilities = [facility("F1"), facility("F2")]
    slots = [
        slot("A1", "a", MON, "09:00", facility_id="F1"),
        slot("A2", "a", MON, "09:00", facility_id="F2"),
    ]
    request = make_request(pathway, REFERRAL, patient=patient(preferred_facilities=("F2",)))
    result = solve_and_check(request, pathway, facilities, slots)
    check_optimal(result, {"a": "A2"}, (90, 1, 0, 0))


def test_completion_comes_before_preference() -> None:
    """An earlier completion outranks a preferred facility."""
    pathway = make_pathway([stage("a")])
    facilities = [facility("F1"), facility("F2")]
    slots = [
        slot("A1", "a", MON, "09:00", facility_id="F1"),
        slot("A2", "a", MON, "10:00", facility_id="F2"),
    ]
    request = make_request(pathway, REFERRAL, patient=patient(preferred_facilities=("F2",)))
    result = solve_and_check(request, pathway, facilities, slots)
    # A1 ends 09:30 (90) outside the preferred facilities: one non-preferred booking.
    check_optimal(result, {"a": "A1"}, (90, 1, 0, 1))


def test_infeasible_without_slots_names_the_stage() -> None:
    """A stage with no slot at all makes the request INFEASIBLE, and the reason names it."""
    pathway = make_pathway([stage("a"), stage("scan", after=["a"])])
    slots = [slot("A1", "a", MON, "09:00")]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    assert result.status is SolveStatus.INFEASIBLE
    assert not result.bookings
    assert result.objective is None
    assert any("'scan'" in r for r in result.reasons)


def test_infeasible_when_a_max_lag_cannot_be_met() -> None:
    """A maximum lag no pair of slots meets makes the request INFEASIBLE, naming a stage."""
    pathway = make_pathway(
        [stage("a"), stage("b", after=["a"])],
        constraints=[constraint("a.end", "b.start", LagUnit.CALENDAR_DAYS, max=1)],
    )
    slots = [slot("A1", "a", MON, "09:00"), slot("B1", "b", THU, "09:00")]
    result = solve_and_check(make_request(pathway, REFERRAL), pathway, [F1], slots)
    assert result.status is SolveStatus.INFEASIBLE
    assert not result.bookings
    assert result.reasons
    assert any("'a'" in r or "'b'" in r for r in result.reasons)


def test_unknown_pathway_id_is_invalid() -> None:
    """A pathway id that no catalogue knows gives INVALID with the id in the reason."""
    request = make_request(None, REFERRAL, pathway_id="no_such_pathway")
    slots = [slot("A1", "a", MON, "09:00")]
    result = solve_and_check(request, None, [F1], slots)
    assert result.status is SolveStatus.INVALID
    assert not result.bookings
    assert any("no_such_pathway" in r for r in result.reasons)


def test_invalid_diagnosis_is_invalid_without_echoing_the_code() -> None:
    """A diagnosis that is no МКБ-10 code gives INVALID, and no reason repeats the code."""
    request = make_request(None, REFERRAL, diagnoses=("C99.9",))
    slots = [slot("A1", "a", MON, "09:00")]
    result = solve_and_check(request, None, [F1], slots)
    assert result.status is SolveStatus.INVALID
    assert result.reasons
    assert not any("C99" in r for r in result.reasons)
    assert "C99" not in result.model_dump_json()


@pytest.mark.parametrize(
    ("day", "actual", "met"),
    [
        # 3 working days after Fri 05-08 (9-11 May off): 12, 13, 14 → Thu 05-14 is the last.
        ("2026-05-14", 3, True),
        ("2026-05-15", 4, False),
    ],
)
def test_deadline_in_working_days_across_may_holidays(day: str, actual: int, met: bool) -> None:
    """A referral → consultation ≤ 3 working days deadline: met on Thu 05-14, missed on Fri."""
    pathway = make_pathway(
        [stage("a"), stage("consultation", after=["a"])],
        deadlines=[
            deadline("consult_3wd", "referral", "consultation.start", 3, LagUnit.WORKING_DAYS)
        ],
    )
    slots = [
        slot("A1", "a", day, "09:00"),
        slot("C1", "consultation", day, "10:00"),
    ]
    request = make_request(pathway, at("2026-05-08", "08:00"))
    result = solve_and_check(request, pathway, [F1], slots)
    assert result.status is SolveStatus.OPTIMAL
    (outcome,) = result.deadlines
    assert outcome.deadline_id == "consult_3wd"
    assert (outcome.actual, outcome.slack, outcome.met) == (actual, 3 - actual, met)
    # When missed, the cause is a: it waited days for its slot, the consultation 30 minutes.
    assert outcome.caused_by == (None if met else "a")


def test_deterministic_output() -> None:
    """The same input twice gives byte-identical results (apart from the measured runtime)."""
    pathway = make_pathway(
        [stage("a"), stage("b"), stage("c", after=["a", "b"])],
        constraints=[constraint("a.end", "c.start", LagUnit.WORKING_DAYS, min=1)],
        deadlines=[deadline("c_5wd", "referral", "c.start", 5, LagUnit.WORKING_DAYS)],
    )
    facilities = [facility("F1", lat=59.93, lon=30.31), facility("F2", lat=59.95, lon=30.35)]
    # Ties on purpose: the same times at both facilities.
    slots = [
        slot(f"{s.upper()}{f}{d}", s, day, "10:00", facility_id=f"F{f}")
        for s in "abc"
        for f in (1, 2)
        for d, day in enumerate((MON, TUE, WED))
    ]
    request = make_request(pathway, REFERRAL)

    def dump() -> str:
        result = solve_and_check(request, pathway, facilities, slots)
        assert result.status is SolveStatus.OPTIMAL
        return result.model_dump_json(exclude={"runtime_seconds"})

    assert dump() == dump()


def test_builtin_zno_lung_from_cyrillic_diagnosis() -> None:
    """The diagnosis "С34.1" (Cyrillic С) resolves to zno_lung, planned optimally as by hand."""
    in_person = VisitMode.IN_PERSON
    centre = Facility(id="CAOP", name="ЦАОП", level=2)
    hospital = Facility(id="HOSP", name="Диспансер", level=3)
    services = {
        # stage id: (service, facility, minutes, mode)
        "consultation": ("nmu:B01.027.001", centre, 30, in_person),
        "chest_ct": ("nmu:A06.09.005", centre, 20, in_person),
        "bronchoscopy_biopsy": ("nmu:A03.09.001", hospital, 45, in_person),
        "tumour_board": ("catalogue:oncology_tumour_board", hospital, 30, VisitMode.REMOTE),
        "treatment": ("catalogue:oncology_specialised_treatment", hospital, 60, in_person),
    }
    slots = []
    first = at(MON).date()
    for offset in range(21):
        day = first + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for hhmm in ("09:00", "11:00", "14:00"):
            for stage_id, (service, fac, minutes, mode) in services.items():
                start = at(day, hhmm)
                slots.append(
                    Slot(
                        id=f"{stage_id}-{day:%m%d}-{hhmm[:2]}",
                        facility_id=fac.id,
                        service=ServiceRef.model_validate(service),
                        start=start,
                        end=start + timedelta(minutes=minutes),
                        mode=mode,
                    )
                )
    request = make_request(None, REFERRAL, diagnoses=("С34.1",))
    result = solve_and_check(request, None, [centre, hospital], slots)
    assert result.pathway_id == "zno_lung"
    # Mon: consultation 09:00 and CT 11:00 at the centre (two visits, the most a day); Tue:
    # bronchoscopy 09:00; tumour board ≥ 5 working days later, Tue 05-26 09:00 (remote); then
    # treatment on its own day, Tue 05-26 11:00-12:00: 8 days + 4 hours = 11760 minutes, visit
    # days Mon, Tue, Tue 26; no travel (one facility a day, no home location).
    check_optimal(
        result,
        {
            "consultation": "consultation-0518-09",
            "chest_ct": "chest_ct-0518-11",
            "bronchoscopy_biopsy": "bronchoscopy_biopsy-0519-09",
            "tumour_board": "tumour_board-0526-09",
            "treatment": "treatment-0526-11",
        },
        (8 * DAY + 240, 3, 0, 0),
    )
    assert {d.deadline_id: d.met for d in result.deadlines} == {
        "consultation_3wd": True,
        "chest_ct_7wd": True,
        "bronchoscopy_7wd": True,
        "histology_15wd": True,
        "treatment_7wd": True,
    }


def test_a_chain_of_visits_longer_than_a_day_allows_implies_day_gaps() -> None:
    """Five chained visits, two a day: the fifth starts two days after the first at the earliest.

    The implied links (chains of ``n`` in-person stages are at least ``ceil(n / V) - 1`` days
    long) cut no route: the optimum is the same as without them, on three days.
    """
    from routing.slot_index import SlotIndex
    from routing.solve.compiled import compile_request

    ids = ["a", "b", "c", "d", "e"]
    pathway = make_pathway([stage(s, after=[ids[n - 1]] if n else []) for n, s in enumerate(ids)])
    slots = [
        slot(f"{s}{day}{n}", s, day, hhmm)
        for s in ids
        for day in (MON, TUE, WED)
        for n, hhmm in enumerate(("09:00", "10:00", "11:00", "12:00", "13:00", "14:00"))
    ]
    request = make_request(pathway, REFERRAL, patient=patient(max_visits_per_day=2))
    cr = compile_request(request, pathway, SlotIndex.build([F1], slots))
    implied = {
        (link.x_stage, link.y_stage): link.min for link in cr.links if "same-day" in link.origin
    }
    assert implied[(0, 2)] == 1  # a, b, c: three visits, two a day
    assert implied[(0, 4)] == 2  # five visits: three days
    assert (0, 1) not in implied  # two visits fit one day
    result = solve_and_check(request, pathway, [F1], slots)
    assert result.status is SolveStatus.OPTIMAL
    # a, b on Monday 09:00/10:00; c, d on Tuesday; e on Wednesday 09:00 (ends 09:30).
    assert key(result) == (2 * DAY + 90, 3, 0, 0)


def test_links_cached_on_the_index_depend_on_visits_a_day() -> None:
    """The links an index caches for a pathway are those of the patient's visits a day: a
    request that comes twice a day and one that comes once get the same links as on a fresh
    index, in either order."""
    from routing.slot_index import SlotIndex
    from routing.solve.compiled import compile_request

    ids = ["a", "b", "c"]
    pathway = make_pathway([stage(s, after=[ids[n - 1]] if n else []) for n, s in enumerate(ids)])
    slots = [slot(f"{s}{day}", s, day, "09:00") for s in ids for day in (MON, TUE, WED)]
    requests = [
        make_request(pathway, REFERRAL, patient=patient(max_visits_per_day=v)) for v in (2, 1)
    ]
    shared = SlotIndex.build([F1], slots)
    for request in [*requests, *reversed(requests)]:
        alone = compile_request(request, pathway, SlotIndex.build([F1], slots))
        cached = compile_request(request, pathway, shared)
        assert cached.links == alone.links
        assert cached.precedes == alone.precedes
    twice = compile_request(requests[0], pathway, shared)
    once = compile_request(requests[1], pathway, shared)
    assert len(once.links) > len(twice.links)  # once a day: every stage on a later day


def test_links_cached_on_the_index_depend_on_the_hard_deadlines_in_force() -> None:
    """Referrals on different dates share an index's cached links only when the same hard
    deadlines are in force for them: a hard deadline that ends on Monday binds a referral on
    Monday, not one on Tuesday, and each gets the links it gets on a fresh index."""
    from datetime import date

    from routing.slot_index import SlotIndex
    from routing.solve.compiled import compile_request

    limit = deadline("quick", "referral", "b.start", 3, LagUnit.CALENDAR_DAYS).model_copy(
        update={"hard": True, "valid_to": date.fromisoformat(MON)}
    )
    pathway = make_pathway([stage("a"), stage("b", after=["a"])], deadlines=[limit])
    slots = [slot(f"{s}{day}", s, day, "09:00") for s in ("a", "b") for day in (MON, TUE, WED)]
    requests = [
        make_request(pathway, REFERRAL),
        make_request(pathway, REFERRAL + timedelta(days=1)),
        make_request(pathway, REFERRAL + timedelta(hours=2)),
    ]
    shared = SlotIndex.build([F1], slots)
    found = []
    for request in requests:
        cached = compile_request(request, pathway, shared)
        alone = compile_request(request, pathway, SlotIndex.build([F1], slots))
        assert cached.links == alone.links
        found.append({link.origin for link in cached.links})
    assert "hard deadline quick" in found[0]
    assert "hard deadline quick" not in found[1]
    assert found[2] == found[0]


def test_home_travel_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """An index keeps the travel of the last few homes only, and reuses them."""
    from routing.slot_index import SlotIndex
    from routing.solve import compiled, homes

    monkeypatch.setattr(homes, "HOMES_CACHED", 2)
    located = facility("F1", lat=59.93, lon=30.31)
    pathway = make_pathway([stage("a")])
    index = SlotIndex.build([located], [slot("A1", "a", MON, "09:00")])
    homes = [{"lat": 59.90 + 0.01 * n, "lon": 30.30} for n in range(4)]
    for home in homes:
        request = make_request(pathway, REFERRAL, patient=patient(location=home))
        compiled.compile_request(request, pathway, index)
    cached = index.cache["homes"]
    assert isinstance(cached, dict)
    assert list(cached) == [(59.92, 30.30), (59.93, 30.30)]


def test_an_existing_booking_of_an_unknown_slot_makes_the_request_invalid() -> None:
    """plan_route names the stage and the slot the request says it holds; nothing is planned."""
    from routing import SlotIndex, plan_route

    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    slots = [slot("A1", "a", MON, "09:00"), slot("B1", "b", MON, "11:00")]
    request = make_request(pathway, REFERRAL, existing_bookings={"b": "NO-SUCH-SLOT"})
    result = plan_route(request, SlotIndex.build([F1], slots))
    assert result.status is SolveStatus.INVALID
    assert not result.bookings
    assert result.reasons == ("stage b: the booked slot 'NO-SUCH-SLOT' is not known",)


def test_compile_refuses_bad_pins_and_a_negative_per_day() -> None:
    """A specific error naming the request and the field, without the pathway or diagnoses."""
    from routing import SlotIndex
    from routing.solve.compiled import compile_request

    pathway = make_pathway([stage("a")])
    index = SlotIndex.build([F1], [slot("A1", "a", MON, "09:00")])
    request = make_request(pathway, REFERRAL, request_id="R-PIN")
    cases = [
        ({"pins": {"zz": 0}}, "request R-PIN: pins names stage 'zz', which the request's pathway"),
        ({"pins": {"a": 1}}, "request R-PIN: pins puts stage 'a' on slot position 1, outside"),
        ({"pins": {"a": -1}}, "request R-PIN: pins puts stage 'a' on slot position -1"),
        ({"per_day": -1}, "request R-PIN: per_day must be at least 0"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)) as raised:
            compile_request(request, pathway, index, **options)
        assert pathway.id not in str(raised.value)
    pinned = compile_request(request, pathway, index, pins={"a": 0})
    assert pinned.stages[0].slot == [0]
