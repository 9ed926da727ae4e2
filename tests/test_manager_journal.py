"""The manager's report over the route journal: live routes, trends, ``routing report --db``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest

from journal_report_helpers import (
    CANCELLED_ROUTE,
    NO_SHOW_ROUTE,
    journal_events,
    planned,
    problem,
)
from routing.cli import main
from routing.commands.report import PARQUET_FILES, REPORT_FILES
from routing.exceptions import InvalidInputError
from routing.lifecycle.apply import apply_all
from routing.lifecycle.events import RouteProposed
from routing.lifecycle.journal import Journal
from routing.lifecycle.model import State
from routing.manager.charts import build_charts
from routing.manager.html import render_html
from routing.manager.journal import journal_report, live_routes
from routing.manager.tables import build_tables
from routing.outputs.schemas import schema_of


def _report(**kwargs: object):  # type: ignore[no-untyped-def]
    p = problem()
    return journal_report(
        journal_events(),
        requests=p.requests,
        pathways={x.id: x for x in p.pathways},
        **kwargs,  # type: ignore[arg-type]
    )


def _journal(url: str) -> str:
    """A journal at ``url`` holding :func:`journal_events`, appended in one transaction."""
    with Journal.open(url) as journal:
        journal.append_all(journal_events())
    return url


def test_unchanged_routes_measure_as_the_batch_planned_them() -> None:
    """A route the journal left as planned has the batch's outcome, misses, slack and days."""
    report = _report()
    p = problem()
    batch = build_tables(
        planned(), _index(), districts={r.id: r.patient.district for r in p.requests}
    )
    by_id = {row.request_id: row for row in batch.patients}
    rows = {row.request_id: row for row in report.tables.patients}
    assert set(rows) == {r.request_id for r in planned().routes if r.has_route} - {CANCELLED_ROUTE}
    compared = 0
    for request_id, row in rows.items():
        if request_id == NO_SHOW_ROUTE:
            continue
        expected = by_id[request_id]
        assert (row.outcome, row.deadlines_missed, row.min_slack) == (
            expected.outcome,
            expected.deadlines_missed,
            expected.min_slack,
        )
        assert row.completion_days == pytest.approx(expected.completion_days, abs=1e-3)
        assert (row.district, row.last_facility) == (expected.district, expected.last_facility)
        compared += 1
    assert compared == 28
    assert report.figures.total.missed > 0


def test_waiting_and_cancelled_routes_are_counted_apart() -> None:
    """A missed visit puts the route on the waitlist (unplanned); a cancelled one is not counted."""
    report = _report()
    figures, summary = report.figures, report.figures.journal
    assert summary is not None
    rows = {row.request_id: row for row in report.tables.patients}
    assert CANCELLED_ROUTE not in rows
    assert (rows[NO_SHOW_ROUTE].status, rows[NO_SHOW_ROUTE].outcome) == ("waiting", "unplanned")
    assert {row.status for row in rows.values()} == {"waiting", "in_progress"}
    assert (summary.routes, summary.cancelled, summary.waiting) == (30, 1, 1)
    assert summary.events == len(journal_events())
    assert (summary.from_referral, summary.from_proposal) == (29, 0)
    assert (figures.requests, figures.planned, figures.not_planned) == (29, 28, 1)
    assert figures.total.unplanned == 1
    assert figures.by_deadline[-1].key == "unplanned"
    assert figures.by_deadline[-1].unplanned == 1
    assert figures.source == "journal"
    assert figures.trend_wired


def test_trend_has_a_point_per_day_ending_at_the_live_state() -> None:
    """One point per day of the journal's clock; the last is the live state's outcomes."""
    figures = _report().figures
    days = [p.day for p in figures.trend]
    assert days == sorted(set(days))
    proposal_days = {e.at.date() for e in journal_events() if isinstance(e, RouteProposed)}
    assert proposal_days <= set(days)
    last, total = figures.trend[-1], figures.total
    assert (last.met, last.at_risk, last.missed, last.unplanned) == (
        total.met,
        total.at_risk,
        total.missed,
        total.unplanned,
    )
    sizes = [p.met + p.at_risk + p.missed + p.unplanned for p in figures.trend]
    assert sizes[0] < sizes[-1]
    # The cancelled route is cancelled on the day it is proposed: never counted at a day's end.
    assert max(sizes) == sizes[-1] == 29


def test_utilisation_is_the_places_held_and_booked() -> None:
    """Places taken per facility-day add up to the live state's held and booked places."""
    report = _report()
    state = apply_all(State(), journal_events())
    assert state.live is not None
    snapshot = state.live.snapshot()
    taken = sum(s.held + s.booked for s in snapshot.states)
    assert taken > 0
    assert sum(r.used for r in report.tables.facility_days) == taken
    assert all(0.0 <= r.fill <= 1.0 for r in report.tables.facility_days)


def test_without_requests_routes_are_measured_from_their_proposal() -> None:
    """No request given: each route is measured from the time it was proposed (here the
    referral, as the service proposes), so the figures are the same; districts are unknown."""
    report = journal_report(journal_events(), pathways={x.id: x for x in problem().pathways})
    with_requests = _report()
    summary = report.figures.journal
    assert summary is not None
    assert (summary.from_referral, summary.from_proposal) == (0, 29)
    assert report.figures.total == with_requests.figures.total
    assert {r.key for r in report.figures.by_district} == {"—"}


def test_live_routes_give_results_with_deadline_outcomes() -> None:
    """``live_routes``: the routes with every stage on a slot, with the batch's outcomes."""
    state = apply_all(State(), journal_events())
    p = problem()
    results = live_routes(
        state, requests={r.id: r for r in p.requests}, pathways={x.id: x for x in p.pathways}
    )
    batch = {r.request_id: r for r in planned().routes}
    assert len(results) == 28
    for result in results:
        expected = batch[result.request_id]
        assert [(d.deadline_id, d.actual, d.slack, d.met) for d in result.deadlines] == [
            (d.deadline_id, d.actual, d.slack, d.met) for d in expected.deadlines
        ]
        assert result.bookings == tuple(
            sorted(expected.bookings, key=lambda b: (b.start, b.end, b.stage_id))
        )


def test_empty_journal_gives_an_empty_correct_report() -> None:
    """No event: zero patients, every chart a no-data note, the page renders."""
    report = journal_report([])
    figures = report.figures
    assert figures.requests == 0
    assert figures.trend == ()
    assert figures.journal is not None
    assert figures.journal.events == 0
    charts = build_charts(figures)
    assert all(c.svg is None and c.note for c in charts)
    trend = next(c for c in charts if c.id == "trend")
    assert trend.note == "no data: the journal has no route event yet"
    page = render_html(figures, charts)
    assert page.count('class="no-data"') == len(charts)
    assert "Journal report" in page


def test_unknown_choices_name_the_option() -> None:
    """``--patient`` naming no route of the journal is bad input naming the option."""
    with pytest.raises(InvalidInputError, match="--patient"):
        _report(patient="NOBODY")
    figures = _report(patient=NO_SHOW_ROUTE).figures
    assert figures.patient_gantt is not None
    assert figures.patient_gantt.request_id == NO_SHOW_ROUTE


def test_command_over_a_sqlite_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``routing report --db``: every file written; --json prints the figures written."""
    url = _journal(f"sqlite:///{tmp_path / 'journal.db'}")
    source = tmp_path / "cohort.json"
    source.write_text(problem().model_dump_json(exclude_none=True), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["report", str(source), "--db", url, "-o", str(out), "--json"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES + PARQUET_FILES)
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    assert printed == written
    assert written == json.loads(_report().figures.to_json())
    jsonschema.validate(printed, schema_of("report"))
    patients = list(csv.DictReader(io.StringIO((out / "patients.csv").read_text("utf-8"))))
    assert len(patients) == 29
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'data-chart="trend"' in html
    assert html.count("<svg") == sum(c.svg is not None for c in build_charts(_report().figures))


def test_command_over_postgresql_gives_the_same_figures(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same journal in PostgreSQL gives the same figures as in SQLite."""
    _journal(postgres_url)
    out = tmp_path / "pg"
    assert main(["report", "--example", "--db", postgres_url, "-o", str(out), "-q"]) == 0
    written = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    assert written == json.loads(_report().figures.to_json())
    assert capsys.readouterr().err == ""


def test_command_over_an_empty_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A journal with no event: exit 0 and an empty report, not a traceback."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Journal.open(url).close()
    out = tmp_path / "out"
    assert main(["report", "--db", url, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "journal: 0 events, 0 routes" in captured.out
    assert "Traceback" not in captured.err
    figures = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    assert (figures["requests"], figures["source"], figures["trend"]) == (0, "journal", [])
    assert (out / "patients.csv").read_text(encoding="utf-8").count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--db", "sqlite:///{tmp}/missing.db"], "--db: no SQLite journal file"),
        (["--db", "not a url"], "--db: not an SQLAlchemy URL"),
        (["--db", "nosuchdriver://x/y"], "--db: cannot open the journal"),
        (["--db", "sqlite:///{tmp}/journal.db", "--iterations", "5"], "not with --db"),
        (["--db", "sqlite:///{tmp}/journal.db", "--work-limit", "5"], "not with --db"),
        (["--db", "sqlite:///{tmp}/journal.db", "--patient", "NOBODY"], "--patient"),
    ],
    ids=[
        "missing-file",
        "not-a-url",
        "unknown-driver",
        "planning-option",
        "work-limit",
        "unknown-patient",
    ],
)
def test_command_bad_journal_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    """Bad ``--db`` input: exit 2 naming the option, no traceback, no file, no journal made."""
    _journal(f"sqlite:///{tmp_path / 'journal.db'}")
    out = tmp_path / "out"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["report", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert not out.exists()
    assert not (tmp_path / "missing.db").exists()


def _index():  # type: ignore[no-untyped-def]
    from routing.calendar import calendar_for
    from routing.slot_index import SlotIndex

    p = problem()
    return SlotIndex.build(
        p.facilities, p.slots, calendar=calendar_for(p.timezone), travel=p.travel
    )


def test_benchmark_smoke() -> None:
    """The benchmark's journal of a small region reports what its plan reports."""
    from benchmarks.bench_manager_journal import run as bench_run

    out = io.StringIO()
    figures = bench_run(60, 2, iterations=5, out=out)
    assert figures["same"] is True
    assert figures["events"] > 60
    assert "same compliance counts: yes" in out.getvalue()
