"""Years past the known transfer decrees: projected exactly, planned with warnings, and the
records outside the calendar's span (the sensible range of dates) reported one by one."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.pathway import LagUnit
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
from routing.batch import plan_batch
from routing.batch.report import plan_document
from routing.calendar import (
    LABOUR_CODE_HOLIDAYS,
    PROJECTION_YEARS,
    WorkingCalendar,
    calendar_for,
    default_calendar,
    known_decree_years,
)
from routing.cli import main
from routing.evaluate import evaluate_route
from routing.exceptions import CalendarRangeError
from routing.problem import load_problem
from routing.result import RouteResult, SolveStatus
from routing.slot_index import SlotIndex
from routing.solve import plan_route

CAL = default_calendar()
FIRST_KNOWN, LAST_KNOWN = known_decree_years("RU")
LAST = LAST_KNOWN + PROJECTION_YEARS
TOO_LATE = date(LAST + 1, 3, 3)
"""A date past the default span: outside the sensible range."""


def weekday_days_off(cal: WorkingCalendar, year: int) -> list[date]:
    """The days of ``year`` from Monday to Friday that ``cal`` takes for days off."""
    day, found = date(year, 1, 1), []
    while day.year == year:
        if day.weekday() < 5 and not cal.is_working_day(day):
            found.append(day)
        day += timedelta(days=1)
    return found


def reference_wd(day: date, n: int) -> date:
    """wd(day, n), n >= 1, stepping a day at a time: the package for known years, the Labour
    Code's fixed holidays and weekends after them."""
    package = holidays.country_holidays("RU", years=range(LAST_KNOWN - 1, LAST_KNOWN + 1))
    fixed = LABOUR_CODE_HOLIDAYS["RU"]

    def working(d: date) -> bool:
        if d.year > LAST_KNOWN:
            return d.weekday() < 5 and (d.month, d.day) not in fixed
        return bool(package.is_working_day(d))

    for _ in range(n):
        day += timedelta(days=1)
        while not working(day):
            day += timedelta(days=1)
    return day


# --- the projection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (
            2029,
            [
                (1, 1),
                (1, 2),
                (1, 3),
                (1, 4),
                (1, 5),
                (1, 8),
                (2, 23),
                (3, 8),
                (5, 1),
                (5, 9),
                (6, 12),
            ],
        ),
        (2049, [(1, 1), (1, 4), (1, 5), (1, 6), (1, 7), (1, 8), (2, 23), (3, 8), (11, 4)]),
    ],
)
def test_projected_year_has_exactly_the_labour_code_holidays(
    year: int, expected: list[tuple[int, int]]
) -> None:
    """A projected year: weekends and art. 112's fixed holidays off, nothing moved (2029, 2049)."""
    assert year > LAST_KNOWN
    assert CAL.is_projected(date(year, 6, 1))
    assert weekday_days_off(CAL, year) == [date(year, m, d) for m, d in expected]
    saturday = next(date(year, 7, d) for d in range(1, 8) if date(year, 7, d).weekday() == 5)
    assert not CAL.is_working_day(saturday)
    assert not CAL.is_working_day(saturday + timedelta(days=1))
    if year == 2029:
        # 4 November 2029 is a Sunday: no day off is added on Monday 5 November.
        assert CAL.is_working_day(date(2029, 11, 5))


def test_projection_agrees_with_the_package_past_its_decrees() -> None:
    """The own art. 112 table gives what holidays gives for every projected year of the span."""
    package = holidays.country_holidays("RU", years=range(LAST_KNOWN + 1, LAST + 1))
    day = date(LAST_KNOWN + 1, 1, 1)
    while day <= CAL.last_date:
        assert CAL.is_working_day(day) == package.is_working_day(day), day
        day += timedelta(days=1)


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(min_value=date(LAST_KNOWN - 1, 1, 1), max_value=date(LAST - 1, 12, 31)),
    n=st.integers(1, 60),
)
def test_working_days_match_stepping_across_known_and_projected_years(day: date, n: int) -> None:
    """wd(day, n) and the count back agree with stepping day by day, either side of the boundary."""
    expected = reference_wd(day, n)
    assert CAL.add_working_days(day, n) == expected
    assert CAL.working_days_between(day, expected) == n


def test_default_span_and_projected_accessors() -> None:
    """The default calendar covers the known years and PROJECTION_YEARS more; accessors agree."""
    assert (CAL.first_date, CAL.last_date) == (date(FIRST_KNOWN, 1, 1), date(LAST, 12, 31))
    assert CAL.projected_years == (LAST_KNOWN + 1, LAST)
    assert CAL.date_at(CAL.projected_from) == date(LAST_KNOWN + 1, 1, 1)
    assert not CAL.is_projected(date(LAST_KNOWN, 12, 31))
    assert CAL.is_projected(TOO_LATE)
    assert CAL.covers(date(LAST, 12, 31))
    assert not CAL.covers(TOO_LATE)
    assert not CAL.covers(at(date(FIRST_KNOWN - 1, 12, 31)))
    assert CAL.covers(at(date(LAST, 12, 31), "23:59"))
    with pytest.raises(ValueError, match="naive"):
        CAL.covers(datetime(2030, 1, 1))  # noqa: DTZ001 - the point of the test
    strict = WorkingCalendar(first_year=2026, allow_projected_years=False)
    assert strict.projected_from == strict.day_index(strict.last_date) + 1
    assert "allow_projected_years" in strict.range_reason


def test_working_day_deadline_across_the_boundary() -> None:
    """wd from the last working days of the known years runs into the projected year."""
    last_working = [d for d in _last_days(LAST_KNOWN, 20) if CAL.is_working_day(d)]
    for n in (1, 2, 3, 8):
        assert CAL.add_working_days(last_working[-1], n) == reference_wd(last_working[-1], n)
    # With holidays 0.109: Friday 31 December 2027 is off (transfer), 1-8 January 2028 are the
    # New Year holidays, so three working days after Wednesday 29 December is Tuesday 11 January.
    if LAST_KNOWN == 2027:
        assert CAL.add_working_days(date(2027, 12, 29), 3) == date(2028, 1, 11)


def test_zone_calendars_are_built_once() -> None:
    """calendar_for caches a calendar per zone; it projects like the default one."""
    ekb = calendar_for("Asia/Yekaterinburg")
    assert calendar_for("Asia/Yekaterinburg") is ekb
    assert calendar_for(None) is CAL
    assert ekb.projected_years == CAL.projected_years


def _last_days(year: int, n: int) -> list[date]:
    end = date(year, 12, 31)
    return [end - timedelta(days=k) for k in range(n - 1, -1, -1)]


# --- planning on projected years -----------------------------------------------------------------

PATHWAY = make_pathway(
    [stage("consult"), stage("ct", after=["consult"])],
    constraints=[constraint("consult.end", "ct.start", LagUnit.WORKING_DAYS, min=2)],
    deadlines=[deadline("consult_3wd", "referral", "consult.start", 3, LagUnit.WORKING_DAYS)],
)
FACILITIES = [facility("F1")]


def test_route_in_a_projected_year_plans_with_a_warning() -> None:
    """Referral and slots in a projected year: planned, checked by the evaluator, warned."""
    year = LAST_KNOWN + 4
    # Friday 1 March (2031) or whatever weekday: take a Friday before 8 March in that year.
    friday = next(date(year, 3, d) for d in range(1, 8) if date(year, 3, d).weekday() == 4)
    consult_day = CAL.add_working_days(friday, 1)  # the next Monday
    ct_day = CAL.add_working_days(consult_day, 2)
    slots = [
        slot("C1", "consult", consult_day, "10:00"),
        slot("T0", "ct", consult_day + timedelta(days=1), "10:00"),  # too early: 1 working day
        slot("T1", "ct", ct_day, "10:00"),
    ]
    request = make_request(PATHWAY, at(friday, "09:00"))
    result = solve_and_check(request, PATHWAY, FACILITIES, slots)
    assert result.status is SolveStatus.OPTIMAL
    assert [b.slot_id for b in result.bookings] == ["C1", "T1"]
    (warning,) = result.warnings
    assert f"after {LAST_KNOWN}" in warning
    for part in ("the referral", "stage 'consult'", "stage 'ct'", "deadline 'consult_3wd'"):
        assert part in warning
    assert "warning: the working calendar projects" in result.summary()
    dumped = json.loads(result.model_dump_json())
    assert dumped["warnings"] == [warning]
    assert RouteResult.model_validate_json(result.model_dump_json()) == result


def test_deadline_across_the_boundary_is_measured_on_the_projection() -> None:
    """A deadline counted from the known years into the projected one: met on wd(·, 3), missed
    the working day after; the evaluator agrees; only what crosses the boundary is warned."""
    last_working = [d for d in _last_days(LAST_KNOWN, 20) if CAL.is_working_day(d)]
    referral_day, inside = last_working[-2], last_working[-1]
    last_day = reference_wd(referral_day, 3)
    assert last_day.year == LAST_KNOWN + 1
    request = make_request(PATHWAY, at(referral_day, "08:00"))
    after = reference_wd(last_day, 2)
    for consult_day, met in ((last_day, True), (reference_wd(last_day, 1), False)):
        slots = [slot("C", "consult", consult_day, "10:00"), slot("T", "ct", after, "12:00")]
        if not met:
            slots[1] = slot("T", "ct", reference_wd(after, 1), "12:00")
        result = solve_and_check(request, PATHWAY, FACILITIES, slots)
        (outcome,) = result.deadlines
        assert (outcome.met, outcome.actual) == (met, 3 if met else 4)
        (warning,) = result.warnings
        assert "the referral" not in warning
        assert "stage 'consult'" in warning
    # The whole route inside the known years: only the deadline's last day is projected.
    one_stage = make_pathway(
        [stage("consult")],
        deadlines=[deadline("consult_3wd", "referral", "consult.start", 3, LagUnit.WORKING_DAYS)],
    )
    result = solve_and_check(
        make_request(one_stage, at(referral_day, "08:00")),
        one_stage,
        FACILITIES,
        [slot("C", "consult", inside, "10:00")],
    )
    assert result.has_route
    (warning,) = result.warnings
    assert warning.endswith(": the last day of deadline 'consult_3wd'")
    # And a route entirely in a known year, with deadlines inside it, has no warning.
    early = solve_and_check(
        make_request(one_stage, at(date(2026, 5, 8), "08:00")),
        one_stage,
        FACILITIES,
        [slot("C", "consult", date(2026, 5, 12), "10:00")],
    )
    assert early.has_route
    assert early.warnings == ()


def test_infeasible_result_warns_when_its_horizon_reaches_a_projected_year() -> None:
    """Without a route, a horizon that reaches a projected year is warned about."""
    request = make_request(PATHWAY, at(date(LAST_KNOWN, 12, 1)), horizon_days=60)
    index = SlotIndex.build(FACILITIES, [slot("C", "consult", date(LAST_KNOWN, 12, 2))])
    result = plan_route(request, index)
    assert result.status is SolveStatus.INFEASIBLE
    (warning,) = result.warnings
    assert warning.endswith(": the search horizon")


# --- records outside the sensible range -----------------------------------------------------------

GOOD_SLOTS = [slot("C1", "consult", "2026-05-12", "10:00"), slot("T1", "ct", "2026-05-15")]
REQUEST = make_request(PATHWAY, at("2026-05-08"))


def test_slot_outside_the_span_is_dropped_and_reported() -> None:
    """SlotIndex.build leaves out a slot past the span, naming slot and field, and indexes the
    rest; a facility day off outside is ignored and reported; projected slots are counted."""
    late = slot("LATE", "ct", TOO_LATE)
    early = slot("EARLY", "ct", date(FIRST_KNOWN - 1, 6, 3))
    crossing = slot("CROSS", "ct", date(LAST, 12, 31), "23:50", minutes=30)
    projected = slot("P1", "ct", date(LAST_KNOWN + 1, 3, 3))
    closed = facility("F1").model_copy(update={"days_off": frozenset({TOO_LATE})})
    index = SlotIndex.build([closed], [*GOOD_SLOTS, late, early, crossing, projected])
    assert [s.id for s in index.slots] == ["C1", "T1", "P1"]
    assert [(i.record, i.field) for i in index.issues] == [
        ("facility 'F1'", "days_off"),
        ("slot 'LATE'", "start"),
        ("slot 'EARLY'", "start"),
        ("slot 'CROSS'", "end"),
    ]
    for issue in index.issues:
        assert isinstance(issue, CalendarRangeError)
        assert str(TOO_LATE.year) not in str(issue)
        assert str(FIRST_KNOWN - 1) not in str(issue)
    assert index.projected_slots == 1
    (warning,) = index.warnings
    assert warning.startswith(f"1 of 3 slots start after {LAST_KNOWN}")
    result = plan_route(REQUEST, index)
    assert result.has_route
    assert result.warnings == ()
    assert SlotIndex.build(FACILITIES, GOOD_SLOTS).warnings == ()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"referral": at(TOO_LATE)}, "referral"),
        ({"referral": at(date(FIRST_KNOWN - 1, 5, 5))}, "referral"),
        ({"reference_dates": {"lmp": date(FIRST_KNOWN - 5, 1, 1)}}, "reference_dates.lmp"),
    ],
)
def test_request_outside_the_span_is_invalid_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    """A referral or a read reference date outside the span: INVALID, the reason names the
    field and no date; a batch plans the other requests."""
    pathway = make_pathway(
        [stage("consult"), stage("ct", after=["consult"])],
        windows=[window("consult.start", "lmp", 0, 20000)],
    )
    base = {"referral": at("2026-05-08"), "reference_dates": {"lmp": date(2026, 4, 1)}}
    bad = make_request(pathway, **{**base, **fields}, request_id="BAD")
    good = make_request(pathway, **base, request_id="GOOD")
    index = SlotIndex.build(FACILITIES, GOOD_SLOTS)
    result = plan_route(bad, index)
    assert result.status is SolveStatus.INVALID
    (reason,) = result.reasons
    assert f"request 'BAD', field '{field}'" in reason
    assert "outside the working calendar" in reason
    assert str(FIRST_KNOWN - 1) not in reason
    assert str(TOO_LATE.year) not in reason
    batch = plan_batch(([bad, good], index), seed=1, time_limit=10)
    statuses = {r.request_id: r.status for r in batch.routes}
    assert statuses["BAD"] is SolveStatus.INVALID
    assert statuses["GOOD"] in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


def test_unused_reference_date_and_unbounded_unavailability_are_fine() -> None:
    """A reference date no window reads, and an unavailable period running past the span, do
    not stop planning (the period is clipped to the span)."""
    request = make_request(
        PATHWAY,
        at("2026-05-08"),
        reference_dates={"birth": date(FIRST_KNOWN - 30, 1, 1)},
        patient=patient(unavailable=[unavailable(at("2026-05-15", "12:00"), at(TOO_LATE))]),
    )
    result = solve_and_check(request, PATHWAY, FACILITIES, GOOD_SLOTS)
    assert [b.slot_id for b in result.bookings] == ["C1", "T1"]
    later = [GOOD_SLOTS[0], slot("T3", "ct", "2026-05-18")]  # inside the unavailable period
    assert solve_and_check(request, PATHWAY, FACILITIES, later).status is SolveStatus.INFEASIBLE


def test_batch_carries_the_warnings_into_the_plan_document() -> None:
    """plan_batch's routes keep each route's warnings, and the plan document carries them."""
    year = LAST_KNOWN + 3
    day = next(date(year, 4, d) for d in range(1, 8) if date(year, 4, d).weekday() == 0)
    slots = [
        slot("C9", "consult", day, "10:00"),
        slot("T9", "ct", CAL.add_working_days(day, 2), "10:00"),
        *GOOD_SLOTS,
    ]
    index = SlotIndex.build(FACILITIES, slots)
    late = make_request(PATHWAY, at(day, "08:00"), request_id="LATE")
    now = make_request(PATHWAY, at("2026-05-08"), request_id="NOW")
    batch = plan_batch(([late, now], index), seed=1, time_limit=10)
    routes = {r.request_id: r for r in batch.routes}
    assert routes["LATE"].has_route
    assert routes["NOW"].has_route
    assert len(routes["LATE"].warnings) == 1
    assert routes["NOW"].warnings == ()
    document = plan_document(batch)
    by_id = {r["request_id"]: r for r in document["routes"]}
    assert by_id["LATE"]["warnings"] == list(routes["LATE"].warnings)
    assert by_id["NOW"]["warnings"] == []
    bookings = {b.stage_id: b.slot_id for b in routes["LATE"].bookings}
    evaluation = evaluate_route(late, PATHWAY, bookings, slots=slots, facilities=FACILITIES)
    assert evaluation.feasible


# --- the command line ----------------------------------------------------------------------------


def problem_with_a_bad_slot() -> dict[str, Any]:
    """Two slots of one service, one of them past the span; one request."""
    visit = {"id": "visit", "title": {"ru": "Приём", "en": "Visit"}, "services": ["fer:27"]}

    def slot_record(slot_id: str, day: str) -> dict[str, str]:
        return {
            "id": slot_id,
            "facility_id": "F1",
            "service": "fer:27",
            "start": f"{day}T10:00:00+03:00",
            "end": f"{day}T10:30:00+03:00",
        }

    return {
        "format_version": 1,
        "facilities": [{"id": "F1", "name": "Polyclinic", "level": 1}],
        "slots": [slot_record("S-BAD", TOO_LATE.isoformat()), slot_record("S1", "2026-05-12")],
        "requests": [
            {
                "id": "R1",
                "patient": {"id": "P-1"},
                "pathway_id": "one_visit",
                "referral": "2026-05-08T09:00:00+03:00",
            }
        ],
        "pathways": [
            {
                "id": "one_visit",
                "title": {"ru": "Один приём", "en": "One visit"},
                "applicability": {"codes": ["J45"]},
                "stages": [visit],
            }
        ],
    }


def test_plan_batch_on_a_problem_reports_the_bad_slot_and_plans_the_rest() -> None:
    """plan_batch on a problem: the slot past the span is an input issue, the request planned."""
    result = plan_batch(load_problem(problem_with_a_bad_slot()), seed=1, time_limit=10)
    (route,) = result.routes
    assert route.has_route
    assert [b.slot_id for b in route.bookings] == ["S1"]
    (issue,) = result.input_issues
    assert issue.startswith("slot 'S-BAD', field 'start': outside the working calendar")
    assert str(TOO_LATE.year) not in issue


def test_cli_plan_reports_the_bad_slot_and_plans_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """routing plan: the slot past the span is reported (exit 2), the request is still routed."""
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem_with_a_bad_slot()), encoding="utf-8")
    status = main(["plan", str(path)])
    out, err = capsys.readouterr()
    assert status == 2
    assert "slot 'S-BAD', field 'start'" in err
    assert TOO_LATE.isoformat() not in err
    assert str(TOO_LATE.year) not in err
    assert "1 of 1 requests routed" in out
    assert "S1" not in err


def test_cli_batch_reports_the_bad_slot_and_plans_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """routing batch: the slot past the span is rejected in the report, the request planned."""
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem_with_a_bad_slot()), encoding="utf-8")
    out_dir = tmp_path / "out"
    status = main(["batch", str(path), "--quiet", "--time-limit", "10", "-o", str(out_dir)])
    capsys.readouterr()
    assert status == 1  # not everything in the input could be used
    plan = json.loads((out_dir / "plan.json").read_text(encoding="utf-8"))
    (route,) = plan["routes"]
    assert route["status"] in ("OPTIMAL", "FEASIBLE")
    assert [b["slot_id"] for b in route["bookings"]] == ["S1"]
    summary = (out_dir / "summary.txt").read_text(encoding="utf-8")
    assert "slot 'S-BAD', field 'start'" in summary
    assert str(TOO_LATE.year) not in summary
