"""What the ``routing`` command writes and prints: atomic files, checked paths, JSON, verbosity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from routing.cli import main
from routing.examples import example_text
from routing.outputs import atomic
from routing.outputs.schemas import schema_of

WINDOW = ["--start", "2026-03-01T00:00+03:00", "--end", "2026-03-10T00:00+03:00"]
BATCH = ["batch", "--example", "--iterations", "5", "--time-limit", "20"]
GOOD = b'{"kept": "the previous good file"}\n'


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command in-process; return the exit status, stdout and stderr."""
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def example_with(tmp_path: Path, **changes: Any) -> Path:
    """The example problem with the second request's fields changed, as a file."""
    document = json.loads(example_text())
    document["requests"][1].update(changes)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def only_document(out: str) -> Any:
    """Standard output parsed as exactly one JSON document (json.loads rejects anything more)."""
    return json.loads(out)


# ---------------------------------------------------------------------------------------------
# Output paths, checked before any work
# ---------------------------------------------------------------------------------------------


def test_plan_output_naming_a_directory_fails_before_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan -o DIR is exit 2 with a clear message, before any planning (nothing on stdout)."""
    status, out, err = run(["plan", "--example", "-o", str(tmp_path)], capsys)
    assert status == 2
    assert out == ""
    assert f"--output: {tmp_path}: is a directory; give a file name" in err
    assert list(tmp_path.iterdir()) == []


def test_plan_output_into_missing_directories_creates_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan -o a/b/results.json creates a and a/b, says so on stderr, and writes the file."""
    target = tmp_path / "a" / "b" / "results.json"
    status, _, err = run(["plan", "--example", "-o", str(target)], capsys)
    assert status == 0
    assert f"created directory {tmp_path / 'a'}" in err
    assert f"created directory {tmp_path / 'a' / 'b'}" in err
    assert len(json.loads(target.read_text(encoding="utf-8"))["results"]) == 3
    assert run(["plan", "--example", "-q", "-o", str(target)], capsys)[2] == ""


def test_plan_output_under_a_file_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A parent path that is a file is named in the error; nothing is planned."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x", encoding="utf-8")
    status, out, err = run(["plan", "--example", "-o", str(blocker / "r.json")], capsys)
    assert status == 2
    assert out == ""
    assert f"{blocker} is not a directory" in err


def test_plan_with_an_invalid_problem_keeps_the_old_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable problem file is exit 2 and leaves the previous results file byte for byte."""
    output = tmp_path / "results.json"
    output.write_bytes(GOOD)
    bad = tmp_path / "broken.json"
    bad.write_text('{"format_version": 1, "facilities": [', encoding="utf-8")
    status, _, err = run(["plan", str(bad), "-o", str(output)], capsys)
    assert status == 2
    assert "broken.json" in err
    assert output.read_bytes() == GOOD


def test_plan_with_a_bad_request_record_plans_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad request record is left out (exit 1, named on stderr); the rest are written."""
    output = tmp_path / "results.json"
    output.write_bytes(GOOD)
    bad = example_with(tmp_path, referral="not a date")
    status, _, err = run(["plan", str(bad), "-o", str(output)], capsys)
    assert status == 1
    assert "R-0002" in err
    assert output.read_bytes() != GOOD
    assert json.loads(output.read_text(encoding="utf-8"))["results"]


def test_plan_with_an_invalid_record_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record rejected while planning (a slot outside the calendar: exit 2) means no results
    file, the old one kept; the requests are still planned and shown."""
    output = tmp_path / "results.json"
    output.write_bytes(GOOD)
    document = json.loads(example_text())
    beyond = dict(document["slots"][0], id="S-BEYOND")
    beyond.update(start="2099-03-03T11:30:00+03:00", end="2099-03-03T12:00:00+03:00")
    document["slots"].append(beyond)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    status, out, err = run(["plan", str(path), "-o", str(output)], capsys)
    assert status == 2
    assert "request R-0001" in out  # the others are still shown
    assert "slot 'S-BEYOND', field 'start'" in err
    assert f"{output} not written" in err
    assert output.read_bytes() == GOOD


def test_plan_with_a_referral_beyond_the_calendar_is_an_invalid_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A referral outside the calendar's span is that request's INVALID result (exit 1, the
    results written), its reason naming the field; the other requests are routed."""
    output = tmp_path / "results.json"
    beyond = example_with(tmp_path, referral="2099-03-03T11:30:00+03:00")
    status, _, err = run(["plan", str(beyond), "-o", str(output)], capsys)
    assert status == 1, err
    results = json.loads(output.read_text(encoding="utf-8"))["results"]
    assert [r["status"] for r in results][1] == "INVALID"
    assert "field 'referral'" in results[1]["reasons"][0]
    assert "2099" not in results[1]["reasons"][0]
    assert sum(r["status"] in ("OPTIMAL", "FEASIBLE") for r in results) == len(results) - 1


def test_plan_failing_at_the_write_step_keeps_the_old_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails after planning is exit 2; the old file and no temporary remain."""
    output = tmp_path / "results.json"
    output.write_bytes(GOOD)

    def full_disk(target: Path, text: str) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "_write_temporary", full_disk)
    status, _, err = run(["plan", "--example", "-o", str(output)], capsys)
    assert status == 2
    assert "cannot write" in err
    assert "No space left on device" in err
    assert output.read_bytes() == GOOD
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_batch_output_dir_that_is_a_file_fails_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """batch -o FILE is exit 2 at once: no progress line, nothing planned, the file unchanged."""
    blocker = tmp_path / "out"
    blocker.write_bytes(GOOD)
    status, out, err = run([*BATCH, "-o", str(blocker)], capsys)
    assert status == 2
    assert out == ""
    assert "exists and is not a directory" in err
    assert "first come" not in err
    assert blocker.read_bytes() == GOOD


def good_batch_dir(tmp_path: Path) -> Path:
    """An output directory holding three good files from an earlier run."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("plan.json", "report.json", "summary.txt"):
        (out / name).write_bytes(GOOD)
    return out


def test_batch_with_bad_input_keeps_the_old_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cohort file that is not JSON is exit 2; the three earlier files stay as they were."""
    out = good_batch_dir(tmp_path)
    bad = tmp_path / "cohort.json"
    bad.write_text("{not json", encoding="utf-8")
    assert run(["batch", str(bad), "-q", "-o", str(out)], capsys)[0] == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        "plan.json": GOOD,
        "report.json": GOOD,
        "summary.txt": GOOD,
    }


def test_batch_failing_at_the_last_file_replaces_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When summary.txt cannot be written, plan.json and report.json are not replaced either."""
    out = good_batch_dir(tmp_path)
    real = atomic._write_temporary

    def fail_on_summary(target: Path, text: str) -> Path:
        if target.name == "summary.txt":
            raise OSError(5, "Input/output error")
        return real(target, text)

    monkeypatch.setattr(atomic, "_write_temporary", fail_on_summary)
    status, _, err = run([*BATCH, "-q", "-o", str(out)], capsys)
    assert status == 2
    assert "Input/output error" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        "plan.json": GOOD,
        "report.json": GOOD,
        "summary.txt": GOOD,
    }


def test_slots_import_output_naming_a_directory_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """slots import -o DIR fails before any source is read (a missing source is not reported)."""
    status, out, err = run(
        ["slots", "import", str(tmp_path / "missing.json"), *WINDOW, "-o", str(tmp_path)], capsys
    )
    assert status == 2
    assert out == ""
    assert "is a directory" in err
    assert "missing.json" not in err


def test_slots_import_into_a_new_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """slots import -o new/slots.json creates new/ and writes a loadable slots file there."""
    source = tmp_path / "example.json"
    source.write_text(example_text(), encoding="utf-8")
    target = tmp_path / "new" / "slots.json"
    status, _, err = run(["slots", "import", str(source), *WINDOW, "-o", str(target)], capsys)
    assert status == 0
    assert f"created directory {tmp_path / 'new'}" in err
    assert json.loads(target.read_text(encoding="utf-8"))["requests"] == []


# ---------------------------------------------------------------------------------------------
# --json: one document on stdout, valid against its published schema
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "schema", "expected_status"),
    [
        (["pathways", "list", "--json"], "pathways-list", 0),
        (["pathways", "show", "zno_lung", "--json"], "pathways-show", 0),
        (["pathways", "resolve", "C34.1", "Z03.1", "--json"], "pathways-resolve", 0),
        (["pathways", "resolve", "C34.1", "Z99.99", "--json"], "pathways-resolve", 2),
        (["plan", "--example", "--json", "--time-limit", "2"], "plan", 0),
    ],
)
def test_json_output_validates_against_its_schema(
    argv: list[str], schema: str, expected_status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each --json output is one JSON document on stdout, valid against the published schema."""
    status, out, _ = run(argv, capsys)
    assert status == expected_status
    jsonschema.validate(only_document(out), schema_of(schema))


def test_resolve_json_keeps_valid_and_invalid_entries(capsys: pytest.CaptureFixture[str]) -> None:
    """resolve --json marks each code valid or not; the invalid one has its error text."""
    _, out, err = run(["pathways", "resolve", "C34.1", "Z99.99", "--json"], capsys)
    codes = only_document(out)["codes"]
    assert [(c["input"], c["valid"]) for c in codes] == [("C34.1", True), ("Z99.99", False)]
    assert codes[0]["pathway_id"] == "zno_lung"
    assert codes[1]["error"]
    assert "Z99.99" in err


def test_pathways_show_json_carries_the_origin(capsys: pytest.CaptureFixture[str]) -> None:
    """show --json is the pathway's own fields plus its origin."""
    document = only_document(run(["pathways", "show", "zno_lung", "--json"], capsys)[1])
    assert document["origin"] == "builtin"
    assert document["id"] == "zno_lung"
    assert [s["id"] for s in document["stages"]][-1] == "treatment"


def test_plan_json_equals_the_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan --json prints the same document that --output writes, validated by the schema."""
    output = tmp_path / "results.json"
    status, out, _ = run(["plan", "--example", "--json", "-o", str(output)], capsys)
    assert status == 0
    written = json.loads(output.read_text(encoding="utf-8"))
    assert only_document(out) == written
    jsonschema.validate(written, schema_of("plan"))


def test_batch_json_is_one_document_with_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """batch --json prints one document (exit status, files, report) valid against its schema."""
    out_dir = tmp_path / "out"
    status, out, err = run([*BATCH, "--json", "-o", str(out_dir)], capsys)
    document = only_document(out)
    jsonschema.validate(document, schema_of("batch"))
    assert document["exit_status"] == status == 0
    assert document["files"] == ["plan.json", "report.json", "summary.txt"]
    assert sorted(p.name for p in out_dir.iterdir()) == document["files"]
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert document["report"]["planned"] == report["planned"] == report["requests"] > 0
    assert "patients: " not in out  # the summary is not mixed into the document
    assert "routing batch: done" in err


def test_slots_import_json_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """slots import --json is one document valid against the slots-import schema."""
    source = tmp_path / "example.json"
    source.write_text(example_text(), encoding="utf-8")
    status, out, _ = run(["slots", "import", str(source), *WINDOW, "--json"], capsys)
    assert status == 0
    document = only_document(out)
    jsonschema.validate(document, schema_of("slots-import"))
    assert document["output"] is None


@pytest.mark.parametrize("name", ["plan", "batch", "slots-import", "pathways-resolve"])
def test_schema_of_prints_the_published_schema(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """routing schema --of NAME prints that schema; routing schema alone is the problem file's."""
    status, out, _ = run(["schema", "--of", name], capsys)
    assert status == 0
    assert only_document(out) == schema_of(name)
    assert only_document(run(["schema"], capsys)[1]) == schema_of("problem")


def test_schema_of_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown schema name is exit 2 and the error lists the choices."""
    status, _, err = run(["schema", "--of", "nope"], capsys)
    assert status == 2
    assert "pathways-list" in err


# ---------------------------------------------------------------------------------------------
# Progress, verbosity and help
# ---------------------------------------------------------------------------------------------


def test_batch_progress_in_a_pipe_is_plain_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Off a terminal, progress is one line per phase on stderr, with no carriage return."""
    status, out, err = run([*BATCH, "-o", str(tmp_path / "out")], capsys)
    assert status == 0
    assert "\r" not in err
    assert "\r" not in out
    phases = [line for line in err.splitlines() if line.startswith("routing batch: ")]
    assert phases[0].startswith("routing batch: no competition")
    assert phases[-2].startswith("routing batch: done")
    assert len(phases) == len(set(phases))  # one line per phase
    assert "patients: " in out


@pytest.mark.parametrize(
    "argv",
    [
        [*BATCH, "-q"],
        ["-q", *BATCH],
        [*BATCH, "--quiet"],
    ],
)
def test_quiet_silences_progress_before_or_after_the_command(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-q before or after the subcommand leaves stderr empty."""
    status, out, err = run([*argv, "-o", str(tmp_path / "out")], capsys)
    assert status == 0
    assert err == ""
    assert "patients: " in out


@pytest.mark.parametrize(
    "argv",
    [
        ["pathways", "list", "-v"],
        ["-v", "pathways", "list"],
        ["pathways", "-v", "list"],
        ["schema", "-vv"],
        ["plan", "--example", "-q", "--time-limit", "2"],
    ],
)
def test_verbosity_is_accepted_after_the_subcommand(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """-v, -vv and -q are accepted on either side of a subcommand."""
    status, out, err = run(argv, capsys)
    assert status == 0
    assert "unrecognized arguments" not in err
    assert out


def test_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    """routing --help lists exit statuses 0 to 3 and points at the schemas."""
    status, out, _ = run(["--help"], capsys)
    assert status == 0
    for code in ("0  success", "1  some requests not planned", "2  bad input", "3  batch only"):
        assert code in out
    assert "routing schema --of NAME" in out
