"""Continuity across regions: facilities of another region (federal centres), the patient's
consent to travel there, travel between regions in days, remote stages from anywhere."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nosology.pathway import VisitMode
from route_helpers import (
    facility,
    make_pathway,
    make_request,
    patient,
    slot,
    solve_and_check,
    stage,
)
from routing.domain import Facility, RouteRequest, TravelModel
from routing.domain.regions import REGIONS, is_known_region
from routing.evaluate import evaluate_route
from routing.exceptions import InvalidProblemError
from routing.problem import load_problem
from routing.result import SolveStatus
from test_plan_bruteforce import DAYS, REFERRAL
from test_problem import base_document

PATHWAY = make_pathway(
    [
        stage("consult"),
        stage("treat", after=["consult"]),
        stage("board", after=["treat"], mode=VisitMode.REMOTE),
    ]
)
"""A consultation at home, a treatment that only a federal centre gives, a remote board."""
HOME = facility("F1")
MOSCOW = facility("FC").model_copy(update={"region": "RU-MOW"})
SLOTS = [
    slot("C1", "consult", DAYS[0], "10:00"),
    slot("T1", "treat", DAYS[0], "15:00", facility_id="FC"),  # the same day: too soon
    slot("T2", "treat", DAYS[1], "15:00", facility_id="FC"),  # a day's journey later
    slot("B1", "board", DAYS[2], "12:00", facility_id="FC", mode=VisitMode.REMOTE),
]
REMOTE_BOARD = make_pathway(
    [stage("consult"), stage("board", after=["consult"], mode=VisitMode.REMOTE)]
)


def _request(consent: bool, pathway: Any = PATHWAY) -> RouteRequest:
    return make_request(
        pathway, REFERRAL, patient=patient(travels_out_of_region=consent), region="RU-SPE"
    )


def test_without_consent_no_in_person_visit_in_another_region() -> None:
    """The only treatment is in Moscow: without the patient's consent there is no route, and
    the reason says why."""
    result = solve_and_check(_request(False), PATHWAY, [HOME, MOSCOW], SLOTS)
    assert result.status is SolveStatus.INFEASIBLE
    assert any("another region" in r for r in result.reasons)


def test_with_consent_the_journey_takes_a_day() -> None:
    """With consent the Moscow treatment is planned, not on the day of the consultation in
    Saint Petersburg (a day's journey between the regions), and the evaluator agrees."""
    result = solve_and_check(_request(True), PATHWAY, [HOME, MOSCOW], SLOTS)
    assert result.status is SolveStatus.OPTIMAL
    assert {b.stage_id: b.slot_id for b in result.bookings}["treat"] == "T2"


def test_a_remote_stage_is_served_from_another_region_without_consent() -> None:
    """A remote board by a federal centre needs no travel and no consent."""
    slots = [slot("C1", "consult", DAYS[0], "10:00"), SLOTS[-1]]
    result = solve_and_check(_request(False, REMOTE_BOARD), REMOTE_BOARD, [HOME, MOSCOW], slots)
    assert result.status is SolveStatus.OPTIMAL
    assert {b.stage_id: b.slot_id for b in result.bookings} == {"consult": "C1", "board": "B1"}


def test_the_evaluator_flags_a_visit_out_of_region_without_consent() -> None:
    """The independent evaluator: an in-person Moscow visit without consent is out_of_region."""
    evaluation = evaluate_route(
        _request(False),
        PATHWAY,
        {"consult": "C1", "treat": "T2", "board": "B1"},
        slots=SLOTS,
        facilities=[HOME, MOSCOW],
    )
    assert [v.rule for v in evaluation.violations] == ["out_of_region"]
    assert (
        evaluate_route(
            _request(True),
            PATHWAY,
            {"consult": "C1", "treat": "T1", "board": "B1"},
            slots=SLOTS,
            facilities=[HOME, MOSCOW],
        )
        .violations[0]
        .rule
        == "travel"
    )


def test_region_travel_days_by_table_either_way_or_the_default() -> None:
    """Travel between regions: the table's days (looked up both ways), else the default."""
    kazan = facility("FK").model_copy(update={"region": "RU-TA"})
    spb = facility("FS").model_copy(update={"region": "RU-SPE"})
    travel = TravelModel(region_days={"RU-MOW": {"RU-TA": 2}}, other_region_days=1)
    assert travel.minutes(kazan, MOSCOW) == travel.minutes(MOSCOW, kazan) == 2 * 1440
    assert travel.minutes(spb, MOSCOW) == 1440
    assert travel.minutes(HOME, MOSCOW) == 1440  # no region: the home region
    assert travel.minutes(HOME, facility("F2")) == travel.unknown_minutes


def test_the_85_federal_subjects_are_known_and_nothing_else() -> None:
    """The region table: 85 subjects and the country; an unknown code is refused."""
    assert len(REGIONS) == 85
    assert is_known_region("RU")
    assert is_known_region("RU-SEV")
    assert not is_known_region("RU-ZZZ")
    with pytest.raises(ValidationError, match="unknown region 'RU-ZZZ'"):
        Facility(id="F", name="F", level=1, region="RU-ZZZ")


@pytest.mark.parametrize(
    ("where", "record", "field"),
    [
        ("facilities", "facility 'F1'", "region"),
        ("requests", "request 'R1'", "region"),
    ],
)
def test_an_unknown_region_in_a_problem_names_the_record(
    where: str, record: str, field: str
) -> None:
    """A facility or a referral naming an unknown region: the record and the field named."""
    document = base_document()
    document[where][0]["region"] = "RU-ZZZ"
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    assert [(i.record, i.field) for i in info.value.issues] == [(record, field)]


# -- stages done in person or remotely -------------------------------------------------------
EITHER_TREAT = make_pathway(
    [stage("consult"), stage("treat", after=["consult"], mode=VisitMode.EITHER)]
)
"""A consultation at home, then a consultation that a federal centre gives in person in Moscow
or by telemedicine: whichever slot the route takes decides."""
EITHER_SLOTS = [
    slot("C1", "consult", DAYS[0], "10:00"),
    slot("T2", "treat", DAYS[1], "15:00", facility_id="FC"),  # in person, a day's journey
    slot("TR", "treat", DAYS[3], "11:00", facility_id="FC", mode=VisitMode.REMOTE),
]


@pytest.mark.parametrize(
    ("consent", "taken", "mode"), [(True, "T2", "in_person"), (False, "TR", "remote")]
)
def test_an_either_stage_is_a_visit_only_when_its_slot_is(
    consent: bool, taken: str, mode: str
) -> None:
    """With consent the earlier in-person slot in Moscow is best (a day's journey after the
    consultation); without it the stage is done remotely, later, with no journey. The booking
    carries the slot's mode; the evaluator agrees (solve_and_check)."""
    request = _request(consent, EITHER_TREAT)
    result = solve_and_check(request, EITHER_TREAT, [HOME, MOSCOW], EITHER_SLOTS)
    assert result.status is SolveStatus.OPTIMAL
    booked = {b.stage_id: b for b in result.bookings}
    assert booked["treat"].slot_id == taken
    assert booked["treat"].mode.value == mode


def test_an_either_stage_goes_remote_when_the_visit_would_break_the_day_rules() -> None:
    """A same-day in-person slot at home cannot follow a consultation that does not share its
    day; the same-day remote slot can (a remote stage is no visit), and it is the best route."""
    pathway = make_pathway(
        [
            stage("consult", shares_day=False),
            stage("treat", after=["consult"], mode=VisitMode.EITHER),
        ]
    )
    slots = [
        slot("C1", "consult", DAYS[0], "10:00"),
        slot("TP", "treat", DAYS[0], "12:00"),
        slot("TR", "treat", DAYS[0], "14:00", mode=VisitMode.REMOTE),
        slot("TL", "treat", DAYS[2], "09:00"),
    ]
    result = solve_and_check(_request(False, pathway), pathway, [HOME], slots)
    assert {b.stage_id: b.slot_id for b in result.bookings}["treat"] == "TR"


def test_the_evaluator_takes_either_mode_for_an_either_stage_and_slots_are_never_either() -> None:
    """An either stage may be booked into an in-person or a remote slot; a slot cannot be
    either (named by record and field)."""
    slots = {s.id: s for s in EITHER_SLOTS}
    facilities = {f.id: f for f in (HOME, MOSCOW)}
    for taken in ("T2", "TR"):
        evaluation = evaluate_route(
            _request(True, EITHER_TREAT),
            EITHER_TREAT,
            {"consult": "C1", "treat": taken},
            slots=slots,
            facilities=facilities,
        )
        assert evaluation.feasible, evaluation.violations
    with pytest.raises(ValidationError) as info:
        slot("X", "treat", DAYS[0], mode=VisitMode.EITHER)
    assert "mode" in str(info.value)


def test_a_batch_with_either_stages_plans_by_cases_and_shares_the_remote_slot() -> None:
    """Two patients without consent, one remote slot of the federal centre, one in-person slot
    at home later: one gets each, and every route passes the evaluator (plan_batch checks)."""
    from routing.batch import plan_batch
    from routing.slot_index import SlotIndex

    slots = [
        slot("C1", "consult", DAYS[0], "10:00"),
        slot("C2", "consult", DAYS[0], "11:00"),
        slot("TR", "treat", DAYS[1], "11:00", facility_id="FC", mode=VisitMode.REMOTE),
        slot("TH", "treat", DAYS[3], "11:00"),
    ]
    requests = [
        make_request(
            EITHER_TREAT,
            REFERRAL,
            patient=patient(travels_out_of_region=False).model_copy(update={"id": f"P{n}"}),
            request_id=f"R{n}",
            region="RU-SPE",
        )
        for n in (1, 2)
    ]
    result = plan_batch((requests, SlotIndex.build([HOME, MOSCOW], slots)), seed=1)
    taken = sorted(b.slot_id for r in result.routes for b in r.bookings if b.stage_id == "treat")
    assert taken == ["TH", "TR"]
    modes = {b.slot_id: b.mode.value for r in result.routes for b in r.bookings}
    assert modes["TR"] == "remote"
    assert modes["TH"] == "in_person"


def test_a_far_facility_the_route_cannot_use_leaves_the_search_metric() -> None:
    """Home legs by distance to a centre 700 km away break the triangle inequality with the
    flat day between regions; the request's visits cannot go there (no consent), so its compiled
    request keeps the metric pruning; when they can (consent), it does not. Both plan the
    route the evaluator accepts."""
    from routing.slot_index import SlotIndex
    from routing.solve.compiled import compile_request

    home = facility("F1", lat=55.79, lon=49.12).model_copy(update={"region": "RU-SPE"})
    near = facility("F2", lat=55.80, lon=49.20).model_copy(update={"region": "RU-SPE"})
    moscow = facility("FC", lat=55.66, lon=37.63).model_copy(update={"region": "RU-MOW"})
    slots = [
        slot("C1", "consult", DAYS[0], "10:00"),
        slot("T1", "treat", DAYS[1], "11:00", facility_id="F2"),
        slot("T2", "treat", DAYS[2], "11:00", facility_id="FC"),
    ]
    pathway = make_pathway([stage("consult"), stage("treat", after=["consult"])])
    travel = TravelModel(other_region_days=1)
    index = SlotIndex.build([home, near, moscow], slots, travel=travel)
    assert index.travel_is_metric
    for consent, metric in ((False, True), (True, False)):
        request = make_request(
            pathway,
            REFERRAL,
            patient=patient(travels_out_of_region=consent, location=home.location),
            region="RU-SPE",
        )
        cr = compile_request(request, pathway, index, None, merge_twins=True)
        assert cr.travel_is_metric is metric
        result = solve_and_check(request, pathway, [home, near, moscow], slots, travel)
        assert {b.stage_id: b.slot_id for b in result.bookings}["treat"] == "T1"
