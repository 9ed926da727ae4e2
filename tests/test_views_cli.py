"""``routing timeline`` and ``routing propose``: the files they write and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from icalendar import Calendar

from routing.cli import EXIT_BAD_INPUT, EXIT_NO_ROUTE, EXIT_OK, main
from routing.examples import example_text


def test_timeline_writes_page_calendar_and_json(tmp_path: Path) -> None:
    """The three files are written; the calendar parses; the JSON lists every stage."""
    out = tmp_path / "new" / "dir"
    status = main(
        ["timeline", "--example", "--request", "R-0003", "--revision", "2", "-o", str(out)]
    )
    assert status == EXIT_OK
    assert sorted(p.name for p in out.iterdir()) == ["route.ics", "timeline.html", "timeline.json"]
    calendar = Calendar.from_ical((out / "route.ics").read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 5
    assert {int(e["SEQUENCE"]) for e in events} == {2}
    document = json.loads((out / "timeline.json").read_text(encoding="utf-8"))
    assert document["request_id"] == "R-0003"
    assert document["language"] == "ru"
    assert [i["step"] for i in document["items"] if i["step"]] == [1, 2, 3, 4, 5]
    page = (out / "timeline.html").read_text(encoding="utf-8")
    assert '<html lang="ru">' in page
    assert "Ваши записи" in page


def test_timeline_in_english_from_a_problem_file(tmp_path: Path) -> None:
    """A problem file and --lang en give an English page."""
    problem = tmp_path / "problem.json"
    problem.write_text(example_text(), encoding="utf-8")
    status = main(
        ["-q", "timeline", str(problem), "--request", "R-0002", "--lang", "en", "-o", str(tmp_path)]
    )
    assert status == EXIT_OK
    page = (tmp_path / "timeline.html").read_text(encoding="utf-8")
    assert "Your appointments" in page
    assert "Tuesday, March 3, 2026" in page


def test_propose_writes_page_and_json(tmp_path: Path) -> None:
    """proposal.html and proposal.json; the JSON has the fastest option first."""
    assert main(["propose", "--example", "-o", str(tmp_path)]) == EXIT_OK
    document = json.loads((tmp_path / "proposal.json").read_text(encoding="utf-8"))
    assert document["request_id"] == "R-0001"
    assert document["options"][0]["kind"] == "fastest"
    assert "Предлагаемые маршруты" in (tmp_path / "proposal.html").read_text(encoding="utf-8")


def test_unknown_request_and_bad_arguments_are_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown request id, no problem, or both a file and --example: exit 2, nothing written."""
    assert (
        main(["timeline", "--example", "--request", "NOPE", "-o", str(tmp_path)]) == EXIT_BAD_INPUT
    )
    assert "no request 'NOPE'" in capsys.readouterr().err
    assert main(["propose", "-o", str(tmp_path)]) == EXIT_BAD_INPUT
    problem = tmp_path / "p.json"
    problem.write_text(example_text(), encoding="utf-8")
    assert main(["propose", str(problem), "--example", "-o", str(tmp_path)]) == EXIT_BAD_INPUT
    assert main(["timeline", "--example", "--lang", "de", "-o", str(tmp_path)]) == EXIT_BAD_INPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


def test_an_output_path_that_is_a_file_is_refused_before_work(tmp_path: Path) -> None:
    """-o naming an existing file is bad input."""
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    assert main(["timeline", "--example", "-o", str(target)]) == EXIT_BAD_INPUT
    assert target.read_text(encoding="utf-8") == "x"


def test_no_route_writes_no_timeline(tmp_path: Path) -> None:
    """A request without a route: exit 1 and no files."""
    raw = json.loads(example_text())
    raw["slots"] = [s for s in raw["slots"] if "A06.09.005" not in s["service"]]
    problem = tmp_path / "in" / "p.json"
    problem.parent.mkdir()
    problem.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["timeline", str(problem), "-o", str(out)]) == EXIT_NO_ROUTE
    assert not out.exists() or not any(out.iterdir())
