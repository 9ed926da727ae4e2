"""The manager's report: tables, figures, charts, HTML and the ``routing report`` command."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest

from manager_helpers import INVALID_ID, batch, write_problem
from routing.batch import plan_batch
from routing.cli import main
from routing.commands.report import PARQUET_FILES, REPORT_FILES
from routing.exceptions import InvalidInputError
from routing.manager.charts import build_charts
from routing.manager.figures import ManagerFigures, TrendPoint, build_figures
from routing.manager.html import render_html
from routing.manager.tables import (
    FacilityDayRow,
    Outcome,
    PatientRow,
    StageRow,
    Tables,
    build_tables,
    csv_text,
)
from routing.outputs.schemas import schema_of
from routing.result import SolveStatus
from routing.slot_index import SlotIndex


def _tables() -> Tables:
    result, index, requests = batch()
    return build_tables(result, index, districts={r.id: r.patient.district for r in requests})


def _figures(**kwargs: object) -> ManagerFigures:
    result, _, _ = batch()
    return build_figures(result, _tables(), **kwargs)  # type: ignore[arg-type]


def test_every_request_has_one_patient_row_and_outcome() -> None:
    """One patient row per request in order; unplanned exactly when the plan has no route."""
    result, _, requests = batch()
    rows = _tables().patients
    assert [r.request_id for r in rows] == [q.id for q in requests]
    for row, route in zip(rows, result.routes, strict=True):
        assert (row.outcome == Outcome.UNPLANNED) == (not route.has_route)
        missed = sum(not d.met for d in route.deadlines if not d.hard) if route.has_route else 0
        assert row.deadlines_missed == missed
        assert (row.outcome == Outcome.MISSED) == (missed > 0)
        if row.outcome == Outcome.AT_RISK:
            assert row.min_slack is not None
            assert 0 <= row.min_slack <= 1
    assert {r.outcome for r in rows} == set(Outcome)  # the batch has every kind


def test_counts_add_up_every_patient_counted() -> None:
    """planned + not planned + invalid = requests, and every breakdown counts every patient."""
    figures = _figures()
    result, _, _ = batch()
    assert figures.planned + figures.not_planned + figures.invalid == figures.requests == 31
    assert figures.invalid == 1
    assert figures.total.unplanned == figures.not_planned + figures.invalid
    assert figures.total.met + figures.total.at_risk + figures.total.missed == figures.planned
    for rows in (figures.by_pathway, figures.by_district, figures.by_facility):
        assert sum(r.total for r in rows) == figures.requests
        assert sum(r.unplanned for r in rows) == figures.total.unplanned
        assert sum(r.missed for r in rows) == figures.total.missed
    soft = [d for r in result.routes if r.has_route for d in r.deadlines if not d.hard]
    deadline_rows = figures.by_deadline
    assert sum(r.met + r.at_risk + r.missed for r in deadline_rows) == len(soft)
    assert sum(r.missed for r in deadline_rows) == sum(not d.met for d in soft)
    assert sum(r.unplanned for r in deadline_rows) == figures.total.unplanned
    assert any(any("а" <= ch <= "я" for ch in r.key) for r in figures.by_district)


def test_stage_and_facility_day_tables_match_the_plan() -> None:
    """Stage rows are the plan's bookings; places taken per facility-day never exceed offered."""
    result, index, _ = batch()
    tables = _tables()
    bookings = [b for r in result.routes if r.has_route for b in r.bookings]
    assert len(tables.stages) == len(bookings)
    assert sum(r.used for r in tables.facility_days) == len(bookings)
    assert sum(r.capacity for r in tables.facility_days) == sum(s.capacity for s in index.slots)
    assert all(0 <= r.used <= r.capacity for r in tables.facility_days)
    assert all(r.fill == round(r.used / r.capacity, 4) for r in tables.facility_days)


def test_bottlenecks_count_the_misses_their_bookings_cause() -> None:
    """Each missed deadline with a cause is counted once for a service and once for a facility."""
    result, _, _ = batch()
    figures = _figures(top=1000)
    caused = sum(
        1
        for r in result.routes
        if r.has_route
        for d in r.deadlines
        if not d.hard and not d.met and d.caused_by
    )
    assert caused > 0
    for kind in ("service", "facility"):
        assert sum(b.misses for b in figures.bottlenecks if b.kind == kind) == caused
    misses = [b.misses for b in figures.bottlenecks]
    assert misses == sorted(misses, reverse=True)


def test_csv_tables_read_back() -> None:
    """Each CSV has the row type's columns and one line per row."""
    tables = _tables()
    for rows, row_type in (
        (tables.patients, PatientRow),
        (tables.stages, StageRow),
        (tables.facility_days, FacilityDayRow),
    ):
        read = list(csv.DictReader(io.StringIO(csv_text(rows, row_type))))
        assert len(read) == len(rows)
        assert list(read[0]) == list(row_type.__dataclass_fields__)
    first = next(csv.DictReader(io.StringIO(csv_text(tables.patients, PatientRow))))
    assert first["request_id"] == tables.patients[0].request_id


def test_default_gantts_show_the_most_delayed_patient_and_the_busiest_day() -> None:
    """By default: the patient with most misses, and the facility-day with most places taken."""
    tables = _tables()
    figures = _figures()
    worst = max(r.deadlines_missed for r in tables.patients)
    assert figures.patient_gantt is not None
    chosen = next(r for r in tables.patients if r.request_id == figures.patient_gantt.request_id)
    assert chosen.deadlines_missed == worst
    assert len(figures.patient_gantt.bars) == chosen.stages
    assert figures.facility_gantt is not None
    used: dict[tuple[str, str], int] = {}
    for r in tables.facility_days:
        used[(r.facility_id, r.day)] = used.get((r.facility_id, r.day), 0) + r.used
    key = (figures.facility_gantt.facility_id, figures.facility_gantt.day)
    assert used[key] == max(used.values()) == len(figures.facility_gantt.bars)


def test_chosen_gantts_and_unknown_choices() -> None:
    """A chosen patient and facility-day are shown; an unknown one is an error naming the option."""
    tables = _tables()
    row = tables.patients[3]
    figures = _figures(patient=row.patient_id)
    assert figures.patient_gantt is not None
    assert figures.patient_gantt.request_id == row.request_id
    stage = tables.stages[0]
    figures = _figures(facility=stage.facility_id, day=date.fromisoformat(stage.day))
    assert figures.facility_gantt is not None
    assert (figures.facility_gantt.facility_id, figures.facility_gantt.day) == (
        stage.facility_id,
        stage.day,
    )
    for option, kwargs in (
        ("--patient", {"patient": "NOBODY"}),
        ("--facility", {"facility": "NOWHERE"}),
        ("--day", {"day": date(1999, 1, 1)}),
    ):
        with pytest.raises(InvalidInputError) as caught:
            _figures(**kwargs)
        assert caught.value.field == option
        assert option in str(caught.value)


def test_charts_cover_every_figure_and_render_deterministically() -> None:
    """Every chart has an SVG or a no-data note, unique ids, and the same bytes every time."""
    figures = _figures()
    charts = build_charts(figures)
    ids = [c.id for c in charts]
    assert len(ids) == len(set(ids))
    assert len([i for i in ids if i.startswith("utilisation-")]) == len(figures.utilisation)
    assert all(
        (c.svg is None) == (c.note is not None and c.note.startswith("no data")) for c in charts
    )
    drawn = {c.id for c in charts if c.svg}
    assert {"compliance-pathway", "completion", "bottlenecks", "gantt-patient"} <= drawn
    assert {c.id for c in charts if not c.svg} == {"trend"}
    html = render_html(figures, charts)
    assert html == render_html(_figures(), build_charts(_figures()))
    assert html.count("<svg") == len(drawn)
    districts = [r.key for r in figures.by_district if r.key != "—"]
    assert districts
    assert all(key in html for key in districts)
    assert any(ord(ch) >= 0x400 for key in districts for ch in key)  # Cyrillic names
    assert "src=" not in html  # nothing loaded from anywhere
    assert "<script" not in html
    assert "<dc:date>" not in html


def test_input_text_is_escaped() -> None:
    """A rejected record's text with markup is escaped on the page."""
    figures = _figures(rejected=["slots.json: slot '<b>x</b>', field 'end': bad"])
    html = render_html(figures, build_charts(figures))
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html


def test_trend_seam_draws_dated_snapshots() -> None:
    """Dated snapshots given to the figures are drawn as a trend, in date order."""
    points = [
        TrendPoint(day=date(2026, 3, 9), met=5, at_risk=1, missed=2, unplanned=1),
        TrendPoint(day=date(2026, 3, 2), met=4, at_risk=0, missed=3, unplanned=2),
    ]
    figures = _figures(trend=points)
    assert [p.day for p in figures.trend] == sorted(p.day for p in points)
    trend = next(c for c in build_charts(figures) if c.id == "trend")
    assert trend.svg is not None


def test_empty_cohort_gives_an_empty_correct_report() -> None:
    """No request: zero counts, every chart a no-data note (never a blank chart), a valid page."""
    _, index, _ = batch()
    result = plan_batch(([], index), seed=0, time_limit=5.0)
    tables = build_tables(result, index)
    figures = build_figures(result, tables)
    assert (figures.requests, figures.planned, figures.total.total) == (0, 0, 0)
    assert figures.by_pathway == figures.by_deadline == figures.by_district == ()
    assert figures.patient_gantt is None
    charts = build_charts(figures)
    drawn = {c.id for c in charts if c.svg}
    assert drawn == {f"utilisation-{i}" for i in range(len(figures.utilisation))}
    empty = build_figures(
        plan_batch(([], SlotIndex.build([], [])), time_limit=5.0),
        build_tables(
            plan_batch(([], SlotIndex.build([], [])), time_limit=5.0), SlotIndex.build([], [])
        ),
    )
    charts = build_charts(empty)
    assert all(c.svg is None and c.note for c in charts)
    assert render_html(empty, charts).count('class="no-data"') == len(charts)


def test_command_writes_the_report_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``routing report`` writes the page, figures and three tables; ``--json`` prints figures."""
    problem = write_problem(tmp_path / "problem.json")
    out = tmp_path / "out"
    status = main(["report", str(problem), "-o", str(out), "--iterations", "10", "--json"])
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES + PARQUET_FILES)
    parquet = pq.read_table(out / "patients.parquet")
    assert parquet.num_rows == 31
    assert parquet.column("request_id").to_pylist()[-1] == INVALID_ID
    assert str(parquet.schema.field("completion_days").type) == "double"
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    assert printed == written
    jsonschema.validate(printed, schema_of("report"))
    assert written["requests"] == 31
    patients = list(csv.DictReader(io.StringIO((out / "patients.csv").read_text(encoding="utf-8"))))
    assert len(patients) == 31
    invalid = next(p for p in patients if p["request_id"] == INVALID_ID)
    assert (invalid["status"], invalid["outcome"]) == (SolveStatus.INVALID.value, "unplanned")


def test_command_bad_choices_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown --patient or --facility, or a bad --day: exit 2 naming the option, no file."""
    problem = write_problem(tmp_path / "problem.json")
    for option, value in (("--patient", "NOBODY"), ("--facility", "NOWHERE"), ("--day", "x")):
        out = tmp_path / f"out{option}"
        status = main(["report", str(problem), "-o", str(out), "--iterations", "1", option, value])
        assert status == 2
        assert option in capsys.readouterr().err
        assert not out.exists()


def test_command_work_limit_writes_the_same_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``routing report --work-limit``: two runs write the same bytes in every file, and the
    plan they report is the one ``routing batch --work-limit`` writes (the limit binds: without
    it the example's iteration limit gives another plan); a limit below one exits 2 naming the
    option and writes nothing."""
    limited = ["--example", "--work-limit", "300", "--seed", "1", "-q"]
    runs = []
    for n in range(2):
        out = tmp_path / f"run{n}"
        assert main(["report", *limited, "-o", str(out)]) == 0, capsys.readouterr().err
        runs.append({name: (out / name).read_bytes() for name in REPORT_FILES})
    assert runs[0] == runs[1]

    def batch_minutes(*options: str) -> dict[str, int]:
        out = tmp_path / f"batch{len(options)}"
        assert main(["batch", *options, "-o", str(out)]) == 0, capsys.readouterr().err
        plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
        return {
            r["request_id"]: r["objective"]["completion_minutes"]
            for r in plan["routes"]
            if r["objective"] is not None
        }

    rows = csv.DictReader(io.StringIO(runs[0]["patients.csv"].decode("utf-8")))
    reported = {r["request_id"]: float(r["completion_days"]) for r in rows if r["completion_days"]}
    same = batch_minutes(*limited)
    assert same != batch_minutes("--example", "--seed", "1", "-q")
    assert reported.keys() == same.keys()
    assert all(abs(reported[k] * 1440 - same[k]) < 1 for k in same)
    assert main(["report", "--example", "-o", str(tmp_path / "x"), "--work-limit", "0"]) == 2
    assert "--work-limit must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_command_empty_cohort_and_unreadable_source(tmp_path: Path) -> None:
    """A source without requests gives an empty report; a missing source exits 2."""
    empty = tmp_path / "empty.json"
    empty.write_text('{"format_version": 1, "facilities": [], "slots": [], "requests": []}')
    out = tmp_path / "out"
    assert main(["report", str(empty), "-o", str(out), "-q"]) == 0
    figures = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    assert figures["requests"] == 0
    assert (out / "patients.csv").read_text(encoding="utf-8").count("\n") == 1
    assert main(["report", str(tmp_path / "missing.json"), "-o", str(tmp_path / "o2")]) == 2
    assert not (tmp_path / "o2").exists()
