"""The ``routing batch`` and ``routing slots import`` commands through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routing.cli import main
from routing.examples import example_text
from routing.problem import load_problem

WINDOW = ["--start", "2026-03-01T00:00+03:00", "--end", "2026-03-10T00:00+03:00"]


def test_batch_example_writes_plan_report_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`routing batch --example` plans every patient and writes its three files."""
    status = main(["batch", "--example", "--quiet", "--time-limit", "20", "-o", str(tmp_path)])
    assert status == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    plan = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert report["planned"] == report["requests"] == len(plan["routes"]) == 30
    assert "patients: 30: 30 planned" in (tmp_path / "summary.txt").read_text(encoding="utf-8")
    assert "patients: 30: 30 planned" in capsys.readouterr().out


def test_batch_example_beats_first_come_first_served(tmp_path: Path) -> None:
    """The built-in example's plan misses fewer deadlines than FCFS, says by how much, and how
    far from the bound it is; its iteration limit, not the clock, ends the search."""
    assert main(["batch", "--example", "--quiet", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["stop_reason"] in ("iteration limit", "proven optimal")
    assert report["iterations"] <= 100
    assert not report["time_limit_hit"]
    total = report["deadlines_total"]
    missed = total["measured"] - total["met"]
    fcfs_missed = total["fcfs_measured"] - total["fcfs_met"]
    assert total["measured"] == total["fcfs_measured"]
    assert missed < fcfs_missed
    assert report["planned"] > report["fcfs_planned"]
    summary = (tmp_path / "summary.txt").read_text(encoding="utf-8")
    assert f"the plan: {missed} deadlines missed against {fcfs_missed} first come" in summary
    assert "gap to the capacity lower bound" in summary


def test_batch_is_deterministic(tmp_path: Path) -> None:
    """Two runs with the same seed write byte-identical plans."""
    for name in ("a", "b"):
        args = ["batch", "--example", "--quiet", "--seed", "3", "-o", str(tmp_path / name)]
        assert main(args) == 0
    assert (tmp_path / "a" / "plan.json").read_bytes() == (
        tmp_path / "b" / "plan.json"
    ).read_bytes()


def test_batch_rejects_a_file_that_is_not_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cohort file that is not JSON is bad input (exit 2), reported without a traceback."""
    bad = tmp_path / "cohort.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["batch", str(bad), "--quiet", "-o", str(tmp_path / "out")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_slots_import_summarises_and_writes_a_slots_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Importing the example problem file keeps the slots in the window and writes them."""
    source = tmp_path / "example.json"
    source.write_text(example_text(), encoding="utf-8")
    output = tmp_path / "slots.json"
    assert main(["slots", "import", str(source), *WINDOW, "-o", str(output)]) == 0
    written = load_problem(output)
    everything = load_problem(source)
    expected = [s for s in everything.slots if s.start.day < 10 and s.start.month == 3]
    assert len(written.slots) == len(expected)
    assert not written.requests
    assert f"{len(expected)} free slots" in capsys.readouterr().out


def test_slots_import_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints counts, a summary per facility and service, and the issues."""
    source = tmp_path / "example.json"
    source.write_text(example_text(), encoding="utf-8")
    assert main(["slots", "import", str(source), *WINDOW, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["slots"] == sum(s["count"] for s in data["services"])
    assert data["issues"] == []


@pytest.mark.parametrize(
    ("start", "reason"),
    [("2026-03-01T00:00", "no UTC offset"), ("yesterday", "not an ISO 8601")],
)
def test_slots_import_rejects_a_window_without_offset(
    start: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A window bound without a UTC offset, or not a date-time, is a usage error (exit 2)."""
    args = ["slots", "import", "x.json", "--start", start, "--end", "2026-03-10T00:00+03:00"]
    assert main(args) == 2
    assert reason in capsys.readouterr().err


def test_slots_import_unknown_source_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A source that does not exist is named in the error, exit 2."""
    assert main(["slots", "import", str(tmp_path / "missing.csv"), *WINDOW]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_slots_import_with_a_broken_source_exits_1_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV pair whose header lacks columns is reported by file and column, with exit 1."""
    slots_csv = tmp_path / "s.csv"
    slots_csv.write_text("slot_id,facility_id\n", encoding="utf-8")
    facilities_csv = tmp_path / "f.csv"
    facilities_csv.write_text("facility_id,name,level\n", encoding="utf-8")
    assert main(["slots", "import", f"{slots_csv},{facilities_csv}", *WINDOW]) == 1
    err = capsys.readouterr().err
    assert "s.csv" in err
    assert "missing column(s) service" in err
