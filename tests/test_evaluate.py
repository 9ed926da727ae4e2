"""The independent route evaluator: every hard rule, the objective and the deadline report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nosology.pathway import (
    Applicability,
    Deadline,
    LagUnit,
    LocalizedText,
    Pathway,
    Stage,
    TemporalConstraint,
    VisitMode,
    Window,
)
from routing.domain import Facility, GeoPoint, Patient, Period, RouteRequest, Slot, TravelModel
from routing.evaluate import RULES, RouteEvaluation, Violation, evaluate_route
from routing.exceptions import InvalidInputError

MSK = ZoneInfo("Europe/Moscow")
TEXT = LocalizedText(ru="этап", en="stage")
REMOTE = VisitMode.REMOTE
HOME = GeoPoint(lat=59.93, lon=30.31)
NORTH = GeoPoint(lat=60.02, lon=30.31)  # 0.09° north of HOME: 10.008 km

F1 = Facility(id="F1", name="One", level=2, location=HOME)
F2 = Facility(id="F2", name="Two", level=1, location=NORTH)
F3 = Facility(id="F3", name="Board", level=3)
FACILITIES = (F1, F2, F3)
TRAVEL = TravelModel(matrix={"F1": {"F2": 45}})


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 5) -> datetime:
    """An instant in Moscow in 2026 (May unless said)."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=MSK)


def slot(
    sid: str,
    fid: str,
    service: str,
    start: datetime,
    minutes: int = 30,
    mode: VisitMode = VisitMode.IN_PERSON,
) -> Slot:
    return Slot(
        id=sid,
        facility_id=fid,
        service=service,
        start=start,
        end=start + timedelta(minutes=minutes),
        mode=mode,
    )


def stage(sid: str, *services: str, **changes: Any) -> Stage:
    return Stage(id=sid, title=TEXT, services=services or ("nmu:X",), **changes)


def pathway(stages: Iterable[Stage], **changes: Any) -> Pathway:
    return Pathway(
        id="p",
        title=TEXT,
        applicability=Applicability(codes=("C34",)),
        stages=tuple(stages),
        **changes,
    )


CONSULT = stage("consult", "fer:27", facility_level=2)
CT = stage("ct", "nmu:CT")
BOARD = stage("board", "nmu:BOARD", mode=REMOTE, after=("consult", "ct"))
D_CONSULT = Deadline(
    id="d_consult",
    title=TEXT,
    from_event="referral",
    to_event="consult.start",
    limit=3,
    unit=LagUnit.WORKING_DAYS,
    source="ПГГ 2026",
)
PATHWAY = pathway((CONSULT, CT, BOARD), deadlines=(D_CONSULT,))

S_CONS = slot("S_CONS", "F1", "fer:27", at(12, 10))
S_CT = slot("S_CT", "F2", "nmu:CT", at(12, 11, 15))  # exactly the 45 travel minutes after consult
S_BOARD = Slot(
    id="S_BOARD",
    facility_id="F3",
    service="nmu:BOARD",
    start=at(13, 15),
    end=at(13, 15, 30, 10),
    mode=REMOTE,
)
SLOTS = (S_CONS, S_CT, S_BOARD)
BOOKINGS = {"consult": "S_CONS", "ct": "S_CT", "board": "S_BOARD"}
PATIENT = Patient(id="P-001", location=HOME, preferred_facilities=("F1",))
REFERRAL = at(8, 9, 0, 50)  # Friday 2026-05-08; 9, 10 and 11 May are days off


def request(path: Pathway = PATHWAY, patient: Patient = PATIENT, **changes: Any) -> RouteRequest:
    data: dict[str, Any] = {
        "id": "R1",
        "patient": patient,
        "diagnoses": ("C34.1",),
        "pathway": path,
        "referral": REFERRAL,
    }
    return RouteRequest(**(data | changes))


def run(
    bookings: Mapping[str, str] = BOOKINGS,
    *,
    path: Pathway = PATHWAY,
    req: RouteRequest | None = None,
    slots: Iterable[Slot] | Mapping[str, Slot] = SLOTS,
    facilities: Iterable[Facility] | Mapping[str, Facility] = FACILITIES,
    travel: TravelModel = TRAVEL,
) -> RouteEvaluation:
    return evaluate_route(
        req if req is not None else request(path),
        path,
        bookings,
        slots=slots,
        facilities=facilities,
        travel=travel,
    )


def replace(*new: Slot) -> tuple[Slot, ...]:
    """The base slots with those of the same id replaced by ``new``."""
    ids = {s.id for s in new}
    return (*(s for s in SLOTS if s.id not in ids), *new)


def rules(evaluation: RouteEvaluation) -> list[str]:
    return [v.rule for v in evaluation.violations]


def only(evaluation: RouteEvaluation, rule: str) -> Violation:
    """The single violation, after checking it is of ``rule``."""
    assert rules(evaluation) == [rule]
    assert not evaluation.feasible
    return evaluation.violations[0]


# --- a valid route


def test_home_legs_are_computed_by_hand() -> None:
    """The fixture's home legs: 15 min to F1 (same point), 46 min to F2 (10.008 km at 20 km/h)."""
    assert TRAVEL.from_home(HOME, F1) == 15
    assert TRAVEL.from_home(HOME, F2) == 31 + 15
    assert TRAVEL.minutes(F1, F2) == 45


def test_valid_route_is_feasible_with_hand_computed_objective() -> None:
    """Two visits on one day plus a remote stage: feasible, objective (7590, 1, 106, 1)."""
    result = run()
    assert result.feasible
    assert result.violations == ()
    # completion: 09:00 (seconds dropped) on 8 May to 15:30 on 13 May = 5 d 6 h 30 min
    # travel: home→F1 15 + F1→F2 45 + F2→home 46; only F2 is outside the preferred F1
    assert result.objective == (5 * 1440 + 390, 1, 15 + 45 + 46, 1)


def test_completion_truncates_both_instants_to_the_minute() -> None:
    """Completion drops seconds of both ends first, so 7589 min 20 s exactly counts as 7590."""
    exact = (S_BOARD.end - REFERRAL) / timedelta(minutes=1)
    assert 7589 < exact < 7590
    objective = run().objective
    assert objective is not None
    assert objective[0] == 7590


def test_single_visit_day_counts_home_leg_twice() -> None:
    """One visit on a day adds 2 × from_home; visits on two days count two days."""
    path = pathway((CONSULT, CT))
    ct = slot("S_CT", "F2", "nmu:CT", at(13, 11))
    result = run({"consult": "S_CONS", "ct": "S_CT"}, path=path, slots=replace(ct))
    assert result.feasible
    assert result.objective is not None
    assert result.objective[1:] == (2, 2 * 15 + 2 * 46, 1)


def test_no_home_location_and_no_preferences() -> None:
    """Without a home location only facility legs count; without preferences none is penalised."""
    req = request(patient=Patient(id="P-002"))
    result = run(req=req)
    assert result.objective is not None
    assert result.objective[1:] == (1, 45, 0)


def test_mapping_input_gives_the_same_result() -> None:
    """Slots and facilities given by id evaluate exactly as when given as iterables."""
    by_id = run(slots={s.id: s for s in SLOTS}, facilities={f.id: f for f in FACILITIES})
    assert by_id == run()


def test_duplicate_slot_ids_raise() -> None:
    """Two slots sharing an id are bad input, named by the id."""
    with pytest.raises(InvalidInputError, match="slot 'S_CT'"):
        run(slots=(*SLOTS, S_CT))


def test_mapping_under_another_key_raises() -> None:
    """A mapping holding a slot under another id is bad input."""
    with pytest.raises(InvalidInputError, match="field 'id'"):
        run(slots={"S_CONS": S_CONS, "S_CT": S_BOARD, "S_BOARD": S_BOARD})


# --- one test per rule


def test_missing_stage() -> None:
    """An unbooked stage is missing_stage and leaves the objective unknown."""
    result = run({"consult": "S_CONS", "ct": "S_CT"})
    assert only(result, "missing_stage").stage_ids == ("board",)
    assert result.objective is None


def test_unknown_stage() -> None:
    """A booking for a stage the pathway lacks is unknown_stage; the objective is still computed."""
    result = run(BOOKINGS | {"xray": "S_CONS"})
    assert only(result, "unknown_stage").stage_ids == ("xray",)
    assert result.objective == run().objective


def test_unknown_slot() -> None:
    """A slot id that does not exist is unknown_slot and leaves the objective unknown."""
    result = run(BOOKINGS | {"board": "NOPE"})
    assert only(result, "unknown_slot").stage_ids == ("board",)
    assert result.objective is None


def test_service() -> None:
    """A slot giving a service the stage does not list is a service violation."""
    result = run(slots=replace(slot("S_CT", "F2", "nmu:XRAY", at(12, 11, 15))))
    assert only(result, "service").stage_ids == ("ct",)


def test_level() -> None:
    """A facility below the stage's level is a level violation."""
    consult = slot("S_CONS", "F2", "fer:27", at(12, 10))
    assert only(run(slots=replace(consult)), "level").stage_ids == ("consult",)


def test_facility_not_allowed() -> None:
    """A facility outside the patient's allowed set is facility_not_allowed."""
    patient = Patient(id="P-001", allowed_facilities=frozenset({"F1", "F3"}))
    violation = only(run(req=request(patient=patient)), "facility_not_allowed")
    assert violation.stage_ids == ("ct",)


def test_mode() -> None:
    """A remote stage booked into an in-person slot is a mode violation."""
    board = slot("S_BOARD", "F3", "nmu:BOARD", at(13, 15))
    assert only(run(slots=replace(board)), "mode").stage_ids == ("board",)


def test_unknown_facility() -> None:
    """A slot at an unknown facility is unknown_facility; the objective is still computed."""
    result = run(facilities=(F1, F2))
    assert only(result, "unknown_facility").stage_ids == ("board",)
    assert result.objective == run().objective


def test_unknown_facility_travels_as_unlocated() -> None:
    """A visit at an unknown facility costs the travel model's unknown_minutes each way."""
    ct = slot("S_CT", "F9", "nmu:CT", at(12, 12, 30))
    result = run(slots=replace(ct))
    assert rules(result) == ["unknown_facility"]
    assert result.objective is not None
    assert result.objective[2] == 15 + 60 + 60


def test_before_referral() -> None:
    """A slot starting before the referral instant is before_referral."""
    consult = slot("S_CONS", "F1", "fer:27", at(8, 8))
    assert only(run(slots=replace(consult)), "before_referral").stage_ids == ("consult",)


def test_not_before_is_inclusive() -> None:
    """A stage may start exactly at its ``not_before``; a minute earlier it is not_before."""
    ct_start = S_CT.start
    assert run(req=request(not_before={"ct": ct_start})).feasible
    late = request(not_before={"ct": ct_start + timedelta(minutes=1)})
    violation = only(run(req=late), "not_before")
    assert violation.stage_ids == ("ct",)


def test_not_before_must_name_a_stage_of_an_inline_pathway() -> None:
    """``not_before`` naming no stage of the pathway given is refused, naming the field."""
    with pytest.raises(ValidationError, match=r"not_before\.nope"):
        request(not_before={"nope": REFERRAL})


def test_horizon_is_inclusive() -> None:
    """The horizon's last date is allowed; the day after is not."""
    assert run(req=request(horizon_days=5)).feasible  # 13 May = 8 May + 5
    assert only(run(req=request(horizon_days=4)), "horizon").stage_ids == ("board",)


def test_facility_day_off() -> None:
    """A slot on a facility's own day off is facility_day_off."""
    closed = F1.model_copy(update={"days_off": (date(2026, 5, 12),)})
    violation = only(run(facilities=(closed, F2, F3)), "facility_day_off")
    assert violation.stage_ids == ("consult",)


def test_unavailable() -> None:
    """An in-person booking meeting an unavailable period is unavailable."""
    patient = PATIENT.model_copy(
        update={"unavailable": (Period(start=at(12, 10, 29), end=at(12, 11)),)}
    )
    assert only(run(req=request(patient=patient)), "unavailable").stage_ids == ("consult",)


def test_unavailable_touching_ends_and_remote_stages_are_fine() -> None:
    """A period ending at a slot's start, or covering only a remote stage, is no violation."""
    periods = (Period(start=at(12, 9), end=at(12, 10)), Period(start=at(13, 14), end=at(13, 16)))
    patient = PATIENT.model_copy(update={"unavailable": periods})
    assert run(req=request(patient=patient)).feasible


def test_after_is_lag_min() -> None:
    """A stage starting before a stage it comes after has ended is lag_min."""
    board = Slot(
        id="S_BOARD",
        facility_id="F3",
        service="nmu:BOARD",
        start=at(12, 11, 44),
        end=at(12, 12),
        mode=REMOTE,
    )
    assert only(run(slots=replace(board)), "lag_min").stage_ids == ("ct", "board")


def test_after_allows_start_at_predecessor_end() -> None:
    """A stage may start at the exact instant its predecessor ends."""
    board = slot("S_BOARD", "F3", "nmu:BOARD", at(12, 11, 45), mode=REMOTE)
    assert run(slots=replace(board)).feasible


def test_hard_deadline() -> None:
    """A hard deadline is a max lag: met at its limit, violated one unit below."""
    hard = D_CONSULT.model_copy(update={"hard": True, "limit": 1})
    assert run(path=pathway((CONSULT, CT, BOARD), deadlines=(hard,))).feasible
    tight = D_CONSULT.model_copy(update={"hard": True, "limit": 0})
    result = run(path=pathway((CONSULT, CT, BOARD), deadlines=(tight,)))
    assert only(result, "hard_deadline").stage_ids == ("consult",)


def test_hard_deadline_not_in_force_is_not_enforced() -> None:
    """A hard deadline of another region is neither enforced nor reported."""
    other = D_CONSULT.model_copy(update={"hard": True, "limit": 0, "region": "RU-MOW"})
    result = run(path=pathway((CONSULT, CT, BOARD), deadlines=(other,)))
    assert result.feasible
    assert result.deadlines == ()


def test_visits_per_day() -> None:
    """More in-person bookings on a date than the patient allows is visits_per_day."""
    patient = PATIENT.model_copy(update={"max_visits_per_day": 1})
    violation = only(run(req=request(patient=patient)), "visits_per_day")
    assert violation.stage_ids == ("consult", "ct")


def test_overlap() -> None:
    """Two in-person bookings sharing time is overlap (and not also travel)."""
    ct = slot("S_CT", "F1", "nmu:CT", at(12, 10, 29))
    assert only(run(slots=replace(ct)), "overlap").stage_ids == ("consult", "ct")


def test_travel() -> None:
    """Less than the travel time between two same-day visits is travel."""
    ct = slot("S_CT", "F2", "nmu:CT", at(12, 11, 14))
    assert only(run(slots=replace(ct)), "travel").stage_ids == ("consult", "ct")


LATE_CONSULT = slot("S_CONS", "F1", "fer:27", at(12, 23, 30), minutes=35)  # ends 00:05 on the 13th
EARLY_CT = slot("S_CT", "F2", "nmu:CT", at(13, 0, 20))  # 15 minutes after, on the next date


@pytest.mark.parametrize(
    ("minutes", "feasible"), [(150, False), (16, False), (15, True), (0, True)]
)
def test_travel_across_midnight(minutes: int, feasible: bool) -> None:
    """Consecutive visits on two dates (23:30-00:05, then 00:20) need room to travel too."""
    travel = TravelModel(matrix={"F1": {"F2": minutes}})
    # One visit a date: visits a day and day sharing do not join the two; travel does.
    patient = PATIENT.model_copy(update={"max_visits_per_day": 1})
    result = run(req=request(patient=patient), slots=replace(LATE_CONSULT, EARLY_CT), travel=travel)
    assert result.feasible is feasible
    if not feasible:
        violation = only(result, "travel")
        assert violation.stage_ids == ("consult", "ct")
        assert f"{minutes} min needed" in violation.detail
    # The objective is unchanged: each date's tour from home, HOME → F1 → HOME (15 minutes each
    # way) and HOME → F2 → HOME (46), never the trip F1 → F2; F2 is not preferred.
    assert result.objective is not None
    assert result.objective[1:] == (2, 15 + 15 + 46 + 46, 1)


def test_travel_across_midnight_counts_consecutive_visits_only() -> None:
    """Across midnight as on one date, travel is asked between consecutive visits only."""
    # ct at F2 23:00-23:30 on the 12th, the consultation at F3 23:45-00:05, the board in person
    # at F1 at 00:20 on the 13th. F2 -> F1 takes 150 minutes, more than via F3 (the triangle
    # inequality fails), but the patient goes F2 -> F3 -> F1: 15 minutes each.
    ct = slot("S_CT", "F2", "nmu:CT", at(12, 23))
    consult = slot("S_CONS", "F3", "fer:27", at(12, 23, 45), minutes=20)
    board = slot("S_BOARD", "F1", "nmu:BOARD", at(13, 0, 20))
    path = pathway((CONSULT, CT, BOARD.model_copy(update={"mode": VisitMode.IN_PERSON})))
    slots = replace(ct, consult, board)

    def travel(f3_to_f1: int) -> TravelModel:
        return TravelModel(matrix={"F1": {"F2": 150, "F3": f3_to_f1}, "F2": {"F3": 15}})

    assert run(path=path, slots=slots, travel=travel(15)).feasible
    late = run(path=path, slots=slots, travel=travel(16))
    assert only(late, "travel").stage_ids == ("consult", "board")


def test_overlap_across_midnight() -> None:
    """A visit until 00:30 and one at 00:20 on the next date overlap (and that is not travel)."""
    consult = slot("S_CONS", "F1", "fer:27", at(12, 23, 30), minutes=60)
    violation = only(run(slots=replace(consult, EARLY_CT)), "overlap")
    assert violation.stage_ids == ("consult", "ct")


def test_shares_day() -> None:
    """A stage that must not share its day, sharing it, is shares_day."""
    lonely = CT.model_copy(update={"shares_day": False})
    violation = only(run(path=pathway((CONSULT, lonely, BOARD))), "shares_day")
    assert violation.stage_ids == ("ct", "consult")


def test_shares_day_ignores_remote_stages() -> None:
    """A remote booking on the same day does not break shares_day."""
    lonely = CT.model_copy(update={"shares_day": False})
    ct = slot("S_CT", "F2", "nmu:CT", at(13, 11))
    assert run(path=pathway((CONSULT, lonely, BOARD)), slots=replace(ct)).feasible


def test_slot_reused() -> None:
    """One slot booked for two stages is slot_reused."""
    review = stage("review", "nmu:BOARD", mode=REMOTE)
    result = run(BOOKINGS | {"review": "S_BOARD"}, path=pathway((CONSULT, CT, BOARD, review)))
    assert only(result, "slot_reused").stage_ids == ("board", "review")


def test_violations_follow_rule_order() -> None:
    """Several violations come in the order of RULES."""
    ct = slot("S_CT", "F9", "nmu:XRAY", at(8, 8))
    result = run(BOOKINGS | {"zz": "S_CT"}, slots=replace(ct))
    assert rules(result) == ["unknown_stage", "service", "unknown_facility", "before_referral"]
    assert rules(result) == sorted(rules(result), key=RULES.index)


# --- lags in each unit, at their exact boundary


def single(
    start: datetime,
    *,
    constraints: tuple[TemporalConstraint, ...] = (),
    deadlines: tuple[Deadline, ...] = (),
    referral: datetime = REFERRAL,
    minutes: int = 30,
) -> RouteEvaluation:
    """A one-stage route: the consultation at F1 at ``start``."""
    path = pathway((CONSULT,), constraints=constraints, deadlines=deadlines)
    consult = slot("S_CONS", "F1", "fer:27", start, minutes)
    req = request(path, referral=referral, horizon_days=365)
    return run({"consult": "S_CONS"}, path=path, req=req, slots=(consult,))


def lag(unit: LagUnit, low: int | None = None, high: int | None = None) -> TemporalConstraint:
    return TemporalConstraint(
        from_event="referral",
        to_event="consult.start",
        min=low,
        max=high,
        unit=unit,
        source="test",
    )


@pytest.mark.parametrize(
    ("day", "ok"),
    [(14, True), (15, False)],
)
def test_working_days_max_across_may_holidays(day: int, ok: bool) -> None:
    """Referral Fri 8 May 2026, ≤ 3 wd: Thu 14 May is allowed, Fri 15 May is not."""
    result = single(at(day, 10), constraints=(lag(LagUnit.WORKING_DAYS, high=3),))
    assert rules(result) == ([] if ok else ["lag_max"])


@pytest.mark.parametrize(("day", "ok"), [(11, False), (12, True)])
def test_working_days_min_skips_days_off(day: int, ok: bool) -> None:
    """≥ 1 wd after Fri 8 May 2026 is Tue 12 May; Mon 11 May (a day off) is too early."""
    result = single(at(day, 10), constraints=(lag(LagUnit.WORKING_DAYS, low=1),))
    assert rules(result) == ([] if ok else ["lag_min"])


@pytest.mark.parametrize(
    ("when", "ok"),
    [(datetime(2025, 11, 1, 10, tzinfo=MSK), True), (datetime(2025, 11, 5, 10, tzinfo=MSK), False)],
)
def test_working_saturday_counts(when: datetime, ok: bool) -> None:
    """Referral Fri 31 Oct 2025, ≤ 1 wd: the working Saturday 1 Nov is it; Wed 5 Nov is the 2nd."""
    referral = datetime(2025, 10, 31, 9, tzinfo=MSK)
    result = single(when, referral=referral, constraints=(lag(LagUnit.WORKING_DAYS, high=1),))
    assert rules(result) == ([] if ok else ["lag_max"])


@pytest.mark.parametrize(("day", "ok"), [(12, True), (13, False)])
def test_calendar_days_max(day: int, ok: bool) -> None:
    """≤ 4 calendar days from 8 May: 12 May at 23:50 is allowed, 13 May at 00:10 is not."""
    start = at(12, 23, 50) if ok else at(13, 0, 10)
    result = single(start, minutes=5, constraints=(lag(LagUnit.CALENDAR_DAYS, high=4),))
    assert rules(result) == ([] if ok else ["lag_max"])


def test_calendar_days_ignore_time_of_day() -> None:
    """≥ 4 calendar days holds on 12 May at 00:10 though less than 4 × 24 h have passed."""
    assert single(at(12, 0, 10), constraints=(lag(LagUnit.CALENDAR_DAYS, low=4),)).feasible
    violated = single(at(11, 23, 50), constraints=(lag(LagUnit.CALENDAR_DAYS, low=4),))
    assert rules(violated) == ["lag_min"]


def test_minutes_are_exact() -> None:
    """A minutes lag compares exact time, seconds included."""
    # referral 09:00:50; 10:00:50 is exactly 60 min later
    assert single(at(8, 10, 0, 50), constraints=(lag(LagUnit.MINUTES, low=60),)).feasible
    early = single(at(8, 10, 0, 49), constraints=(lag(LagUnit.MINUTES, low=60),))
    assert rules(early) == ["lag_min"]
    assert single(at(8, 10, 0, 50), constraints=(lag(LagUnit.MINUTES, high=60),)).feasible
    late = single(at(8, 10, 0, 51), constraints=(lag(LagUnit.MINUTES, high=60),))
    assert rules(late) == ["lag_max"]


def test_hours_are_sixty_minutes() -> None:
    """An hours lag is the exact time × 60 minutes."""
    assert single(at(8, 11, 0, 50), constraints=(lag(LagUnit.HOURS, high=2),)).feasible
    late = single(at(8, 11, 1), constraints=(lag(LagUnit.HOURS, high=2),))
    assert rules(late) == ["lag_max"]


def test_constraint_between_stages() -> None:
    """A constraint between two stage events: consult end → ct start ≤ 45 min holds, ≤ 44 fails."""
    c45 = TemporalConstraint(
        from_event="consult.end", to_event="ct.start", max=45, unit=LagUnit.MINUTES, source="test"
    )
    c44 = c45.model_copy(update={"max": 44})
    assert run(path=pathway((CONSULT, CT, BOARD), constraints=(c45,))).feasible
    result = run(path=pathway((CONSULT, CT, BOARD), constraints=(c44,)))
    assert only(result, "lag_max").stage_ids == ("consult", "ct")


# --- windows


@pytest.mark.parametrize(("offset", "ok"), [(76, False), (77, True), (97, True), (98, False)])
def test_window_inclusive_at_both_ends(offset: int, ok: bool) -> None:
    """A window [77, 97] days holds at both ends and fails one day outside."""
    window = Window(event="consult.start", reference="lmp", min_days=77, max_days=97, source="test")
    path = pathway((CONSULT, CT, BOARD), windows=(window,))
    lmp = date(2026, 5, 12) - timedelta(days=offset)
    result = run(path=path, req=request(path, reference_dates={"lmp": lmp}))
    assert rules(result) == ([] if ok else ["window"])


def test_window_without_reference_date() -> None:
    """A window whose reference date the request lacks is a window violation."""
    window = Window(event="ct.end", reference="lmp", min_days=0, max_days=400, source="test")
    result = run(path=pathway((CONSULT, CT, BOARD), windows=(window,)))
    assert only(result, "window").stage_ids == ("ct",)


# --- deadlines


def deadline(unit: LagUnit, limit: int, **changes: Any) -> Deadline:
    return D_CONSULT.model_copy(update={"unit": unit, "limit": limit, "id": "d"} | changes)


@pytest.mark.parametrize(
    ("start", "unit", "limit", "actual"),
    [
        (at(15, 10), LagUnit.WORKING_DAYS, 3, 4),  # wd(8 May, 4) = 15 May
        (at(14, 10), LagUnit.WORKING_DAYS, 3, 3),
        (at(11, 10), LagUnit.WORKING_DAYS, 0, 1),  # a day off: wd(8 May, 1) = 12 May covers it
        (at(8, 23), LagUnit.WORKING_DAYS, 0, 0),  # the same date
        (at(14, 10), LagUnit.CALENDAR_DAYS, 6, 6),
        (at(8, 10, 1, 50), LagUnit.MINUTES, 61, 61),
        (at(8, 10, 1, 51), LagUnit.MINUTES, 61, 62),  # 61 min 1 s rounds up
        (at(8, 11, 0, 50), LagUnit.HOURS, 2, 2),
        (at(8, 11, 0, 51), LagUnit.HOURS, 2, 3),  # 2 h 1 s rounds up
    ],
)
def test_deadline_actual(start: datetime, unit: LagUnit, limit: int, actual: int) -> None:
    """A deadline's actual in its unit, and met exactly when actual <= limit."""
    result = single(start, deadlines=(deadline(unit, limit),))
    (check,) = result.deadlines
    assert (check.deadline_id, check.actual, check.limit, check.unit) == ("d", actual, limit, unit)
    assert check.met is (actual <= limit)
    assert result.feasible  # soft: reported, not enforced


def test_deadlines_out_of_force_are_not_reported() -> None:
    """Deadlines of another region, or not valid on the referral date, are left out."""
    kept = deadline(LagUnit.WORKING_DAYS, 3, id="kept", region="RU-SPE")
    other = deadline(LagUnit.WORKING_DAYS, 3, id="other", region="RU-MOW")
    old = deadline(LagUnit.WORKING_DAYS, 3, id="old", valid_to=date(2025, 12, 31))
    result = single(at(12, 10), deadlines=(kept, other, old))
    assert [d.deadline_id for d in result.deadlines] == ["kept"]


def test_deadline_of_unbooked_stage_is_not_reported() -> None:
    """A deadline whose event is not booked is left out of the report."""
    result = run({"ct": "S_CT", "board": "S_BOARD"})
    assert result.deadlines == ()


# --- messages and speed


def test_messages_carry_no_diagnosis() -> None:
    """Violation details name ids and figures, never the request's diagnosis codes."""
    lonely = CT.model_copy(update={"shares_day": False})
    window = Window(event="ct.end", reference="lmp", min_days=0, max_days=1, source="test")
    hard = D_CONSULT.model_copy(update={"hard": True, "limit": 0})
    path = pathway((CONSULT, lonely, BOARD), windows=(window,), deadlines=(hard,))
    patient = Patient(id="P-001", max_visits_per_day=1, allowed_facilities=frozenset({"F3"}))
    bad = (slot("S_CONS", "F2", "nmu:XRAY", at(8, 8)), slot("S_CT", "F9", "nmu:CT", at(8, 8, 10)))
    result = run(BOOKINGS | {"zz": "S_BOARD"}, path=path, req=request(path, patient), slots=bad)
    assert len(set(rules(result))) >= 8
    for violation in result.violations:
        assert "C34" not in violation.detail
        assert "One" not in violation.detail  # facility names stay out too


def test_ten_stage_route_is_fast() -> None:
    """A ten-stage route with lags in every unit evaluates in about a millisecond."""
    stages = [stage(f"s{i}", "nmu:X", after=(f"s{i - 1}",) if i else ()) for i in range(10)]
    units = list(LagUnit)
    widest = {
        LagUnit.MINUTES: 2000,
        LagUnit.HOURS: 30,
        LagUnit.CALENDAR_DAYS: 1,
        LagUnit.WORKING_DAYS: 2,
    }
    constraints = tuple(
        TemporalConstraint(
            from_event=f"s{i}.end",
            to_event=f"s{i + 1}.start",
            min=0,
            max=widest[units[i % 4]],
            unit=units[i % 4],
            source="test",
        )
        for i in range(9)
    )
    deadlines = tuple(deadline(u, 30, id=f"d{n}", to_event="s9.end") for n, u in enumerate(units))
    path = pathway(stages, constraints=constraints, deadlines=deadlines)
    slots = [slot(f"S{i}", "F1" if i % 2 else "F2", "nmu:X", at(12 + i, 10)) for i in range(10)]
    bookings = {f"s{i}": f"S{i}" for i in range(10)}
    req = request(path)
    by_id, places = {s.id: s for s in slots}, {f.id: f for f in FACILITIES}
    result = evaluate_route(req, path, bookings, slots=by_id, facilities=places, travel=TRAVEL)
    assert result.feasible


# --- random small routes


SERVICES = ("nmu:A", "nmu:B")


@st.composite
def random_case(draw: st.DrawFn) -> dict[str, Any]:
    """A small random pathway, facilities, slots, patient and bookings, valid or not."""
    n = draw(st.integers(1, 4))
    ids = [f"s{i}" for i in range(n)]
    stages = []
    for i, sid in enumerate(ids):
        stages.append(
            stage(
                sid,
                *draw(st.sampled_from([SERVICES[:1], SERVICES[1:], SERVICES])),
                mode=draw(st.sampled_from(list(VisitMode))),
                facility_level=draw(st.none() | st.integers(1, 3)),
                shares_day=draw(st.booleans()),
                after=tuple(draw(st.sets(st.sampled_from(ids[:i]))) if i else ()),
            )
        )
    events = ["referral", *(f"{s}.{p}" for s in ids for p in ("start", "end"))]
    pair = st.lists(st.sampled_from(events), min_size=2, max_size=2, unique=True)
    constraints = []
    for x, y in draw(st.lists(pair, max_size=3)):
        unit = draw(st.sampled_from(list(LagUnit)))
        span = 3000 if unit is LagUnit.MINUTES else 6
        low = draw(st.none() | st.integers(-span, span))
        high = draw(st.integers(low if low is not None else -span, span))
        constraints.append(
            TemporalConstraint(
                from_event=x, to_event=y, min=low, max=high, unit=unit, source="test"
            )
        )
    deadlines = [
        Deadline(
            id=f"d{k}",
            title=TEXT,
            from_event=x,
            to_event=y,
            limit=draw(st.integers(0, 10)),
            unit=draw(st.sampled_from(list(LagUnit))),
            hard=draw(st.booleans()),
            region=draw(st.sampled_from(["RU", "RU-SPE", "RU-MOW"])),
            source="test",
        )
        for k, (x, y) in enumerate(draw(st.lists(pair, max_size=3)))
    ]
    windows = [
        Window(event=e, reference="lmp", min_days=lo, max_days=lo + 10, source="test")
        for e, lo in draw(
            st.lists(st.tuples(st.sampled_from(events[1:]), st.integers(0, 30)), max_size=1)
        )
    ]
    path = pathway(stages, constraints=constraints, deadlines=deadlines, windows=windows)
    base = at(8, 0)
    facilities = [
        Facility(
            id=f"F{k}",
            name=f"F{k}",
            level=draw(st.integers(1, 3)),
            location=draw(st.none() | st.just(HOME) | st.just(NORTH)),
            days_off=tuple(draw(st.sets(st.sampled_from([date(2026, 5, d) for d in (8, 12)])))),
        )
        for k in range(3)
    ]
    slots = []
    for k in range(draw(st.integers(0, 6))):
        start = base + timedelta(minutes=draw(st.integers(0, 20 * 1440)))
        slots.append(
            slot(
                f"S{k}",
                draw(st.sampled_from(["F0", "F1", "F2", "F9"])),
                draw(st.sampled_from(SERVICES)),
                start,
                draw(st.integers(5, 120)),
                draw(st.sampled_from((VisitMode.IN_PERSON, VisitMode.REMOTE))),
            )
        )
    choices = [s.id for s in slots] + ["NOPE"]
    bookings = {sid: draw(st.sampled_from(choices)) for sid in ids if draw(st.integers(0, 5)) > 0}
    if draw(st.booleans()):
        bookings["zz"] = draw(st.sampled_from(choices))
    referral = base + timedelta(minutes=draw(st.integers(0, 3 * 1440)))
    if draw(st.booleans()):  # a tidy route: each stage in a fitting slot, a day apart, at F0
        facilities[0] = Facility(id="F0", name="F0", level=3)
        fitted = [
            slot(
                f"T{i}",
                "F0",
                str(s.services[0]),
                referral + timedelta(days=i + 1),
                30,
                VisitMode.IN_PERSON if s.mode is VisitMode.EITHER else s.mode,
            )
            for i, s in enumerate(stages)
        ]
        slots += fitted
        bookings = {s.id: f.id for s, f in zip(stages, fitted, strict=True)}
    periods = [
        Period(start=begin, end=begin + timedelta(minutes=draw(st.integers(1, 600))))
        for begin in draw(st.lists(st.sampled_from([at(9, 8), at(12, 10), at(15, 14)]), max_size=2))
    ]
    patient = Patient(
        id="P-9",
        location=draw(st.none() | st.just(HOME)),
        unavailable=tuple(periods),
        max_visits_per_day=draw(st.integers(1, 3)),
        allowed_facilities=draw(st.none() | st.just(frozenset({"F0", "F1"}))),
        preferred_facilities=draw(st.sampled_from([(), ("F0",), ("F1", "F2")])),
    )
    reference = draw(st.sampled_from([{}, {"lmp": date(2026, 4, 20)}]))
    req = request(
        path,
        patient,
        referral=referral,
        reference_dates=reference,
        horizon_days=draw(st.integers(1, 30)),
    )
    return {
        "req": req,
        "path": path,
        "bookings": bookings,
        "slots": slots,
        "facilities": facilities,
    }


@settings(max_examples=150, deadline=None)
@given(random_case())
def test_random_routes_never_raise_and_are_consistent(case: dict[str, Any]) -> None:
    """Random routes: no exception, feasible ⟺ no violations, objective only for complete routes."""
    path: Pathway = case["path"]
    result = run(
        case["bookings"],
        path=path,
        req=case["req"],
        slots=case["slots"],
        facilities=case["facilities"],
    )
    assert result.feasible == (not result.violations)
    assert all(v.rule in RULES for v in result.violations)
    known = {s.id for s in case["slots"]}
    complete = all(case["bookings"].get(s.id) in known for s in path.stages)
    assert (result.objective is not None) == complete
    for check in result.deadlines:
        assert check.met == (check.actual <= check.limit)
    if result.objective is not None:
        assert result.objective[1] <= len(path.stages)


@settings(max_examples=100, deadline=None)
@given(random_case())
def test_hard_deadlines_agree_with_the_report(case: dict[str, Any]) -> None:
    """Made hard, exactly the reported deadlines that are missed become hard_deadline violations."""
    path: Pathway = case["path"]
    hard = path.model_copy(
        update={"deadlines": tuple(d.model_copy(update={"hard": True}) for d in path.deadlines)}
    )
    req = case["req"].model_copy(update={"pathway": hard})
    result = run(
        case["bookings"], path=hard, req=req, slots=case["slots"], facilities=case["facilities"]
    )
    missed = sum(not check.met for check in result.deadlines)
    assert rules(result).count("hard_deadline") == missed
