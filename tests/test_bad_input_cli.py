"""Bad input at the command line: whole files, single records and arguments, never a traceback.

A file that cannot be read at all gives exit status 2 and one line naming the file; a file with
some bad records gives exit status 1, a report of each record, and a plan of the good ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bad_input_helpers import good_document
from routing.cli import main

# (case id, file bytes, a fragment of the message)
UNREADABLE_FILES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty"),
    ("blank", b"  \n\t\n", "empty"),
    ("not-json", b"{not json", "not valid JSON"),
    ("truncated", b'{"format_version": 1, "facilities": [', "not valid JSON"),
    ("deeply-nested", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
    ("nested-objects", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "nested"),
    ("huge-integer", b'{"format_version": 1, "n": ' + b"9" * 5_000 + b"}", "digits"),
    ("huge-exponent-digits", b'{"format_version": 1, "n": 1' + b"0" * 60 + b".5}", "digits"),
    ("nan", b'{"format_version": 1, "n": NaN}', "NaN"),
    ("infinity", b'{"format_version": 1, "n": Infinity}', "Infinity"),
    ("minus-infinity", b'{"format_version": 1, "n": -Infinity}', "Infinity"),
    ("not-utf8", b'{"format_version": 1, "x": "\xff\xfe"}', "offset 28"),
    ("latin1", '{"format_version": 1, "x": "é"}'.encode("latin-1"), "not UTF-8"),
    ("utf16", '{"format_version": 1}'.encode("utf-16"), "not UTF-8"),
    ("nul-byte", b'{"format_version": 1,\x00 "x": 1}', "NUL"),
    ("raw-control-in-string", b'{"format_version": 1, "x": "a\x01b"}', "not valid JSON"),
    ("duplicate-key", b'{"format_version": 1, "format_version": 1}', "twice"),
    ("nested-duplicate-key", b'{"format_version": 1, "x": {"a": 1, "a": 2}}', "twice"),
    ("list", b"[]", "JSON object"),
    ("string", b'"problem"', "JSON object"),
    ("number", b"42", "JSON object"),
    ("null", b"null", "JSON object"),
    ("true", b"true", "JSON object"),
    ("no-format-version", b'{"facilities": [], "slots": [], "requests": []}', "format_version"),
    ("format-version-2", b'{"format_version": 2, "requests": []}', "format_version"),
    ("format-version-true", b'{"format_version": true, "requests": []}', "format_version"),
    ("bad-timezone", b'{"format_version": 1, "timezone": "Mars/Base"}', "timezone"),
    ("timezone-number", b'{"format_version": 1, "timezone": 3}', "timezone"),
]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [(t, f) for _, t, f in UNREADABLE_FILES],
    ids=[c[0] for c in UNREADABLE_FILES],
)
def test_plan_unreadable_file_is_one_line_exit_2(
    text: bytes, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`routing plan` on an unreadable file: exit 2, one line naming the file, no traceback."""
    path = tmp_path / "problem.json"
    path.write_bytes(text)
    status = main(["plan", str(path)])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert fragment in err
    assert str(path) in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [(t, f) for _, t, f in UNREADABLE_FILES if f not in ("format_version", "timezone")],
    ids=[c[0] for c in UNREADABLE_FILES if c[2] not in ("format_version", "timezone")],
)
def test_batch_unreadable_file_is_exit_2_and_writes_nothing(
    text: bytes, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`routing batch` on an unreadable file: exit 2 naming the file, no output directory."""
    path = tmp_path / "cohort.json"
    path.write_bytes(text)
    out_dir = tmp_path / "out"
    status = main(["batch", str(path), "--quiet", "-o", str(out_dir)])
    err = capsys.readouterr().err
    assert status == 2
    assert fragment in err
    assert str(path) in err
    assert "Traceback" not in err
    assert not out_dir.exists()


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


# (case id, kind, index, field, value, the record and field the report names)
BAD_RECORDS: list[tuple[str, str, int, str, Any, str]] = [
    ("slot-capacity-bool", "slots", 2, "capacity", True, "slot 'S3', field 'capacity'"),
    ("slot-capacity-huge", "slots", 2, "capacity", 1e40, "slot 'S3', field 'capacity'"),
    ("slot-capacity-10e30", "slots", 2, "capacity", 10**30, "slot 'S3', field 'capacity'"),
    ("slot-id-nul", "slots", 2, "id", "S\u00003", "slots[2], field 'id'"),
    ("slot-naive-start", "slots", 2, "start", "2026-05-14T10:00", "slot 'S3', field 'start'"),
    ("facility-level-bool", "facilities", 1, "level", True, "facility 'F2', field 'level'"),
    ("facility-id-control", "facilities", 1, "id", "F\u00072", "facilities[1], field 'id'"),
    ("facility-service-nul", "facilities", 1, "services", ["fer:\u0000"], "facility 'F2'"),
    ("pathway-no-stages", "pathways", 1, "stages", [], "pathway 'other_visit', field 'stages'"),
    ("request-priority-bool", "requests", 1, "priority", True, "request 'R2', field 'priority'"),
    ("request-code-nul", "requests", 1, "diagnoses", ["C\u000034"], "request 'R2'"),
    ("request-referral-naive", "requests", 1, "referral", "2026-05-08T09:00", "request 'R2'"),
    ("request-horizon-huge", "requests", 1, "horizon_days", 10**30, "field 'horizon_days'"),
]


@pytest.mark.parametrize(
    ("collection", "index", "key", "value", "named"),
    [c[1:] for c in BAD_RECORDS],
    ids=[c[0] for c in BAD_RECORDS],
)
def test_plan_reports_bad_records_and_plans_the_rest(
    collection: str,
    index: int,
    key: str,
    value: Any,
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`routing plan`: a bad record is named with its field, R1 is planned, exit status 1."""
    document = good_document()
    document[collection][index][key] = value
    path = _write(tmp_path / "problem.json", document)
    output = tmp_path / "results.json"
    status = main(["plan", str(path), "--json", "-o", str(output)])
    out, err = capsys.readouterr()
    assert status == 1
    assert named in err
    assert "Traceback" not in err
    results = {r["request_id"]: r for r in json.loads(out)["results"]}
    assert results["R1"]["status"] in ("optimal", "feasible", "OPTIMAL", "FEASIBLE")
    assert results["R1"]["bookings"]
    assert json.loads(output.read_text(encoding="utf-8"))["results"]


@pytest.mark.parametrize(
    ("collection", "index", "key", "value", "named"),
    [c[1:] for c in BAD_RECORDS],
    ids=[c[0] for c in BAD_RECORDS],
)
def test_batch_reports_bad_records_and_plans_the_rest(
    collection: str,
    index: int,
    key: str,
    value: Any,
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`routing batch`: a bad record is in the summary with its field; R1 is planned; exit 1."""
    document = good_document()
    document[collection][index][key] = value
    path = _write(tmp_path / "cohort.json", document)
    out_dir = tmp_path / "out"
    status = main(["batch", str(path), "--quiet", "--time-limit", "5", "-o", str(out_dir)])
    captured = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in captured.err
    summary = (out_dir / "summary.txt").read_text(encoding="utf-8")
    assert named in summary
    plan = json.loads((out_dir / "plan.json").read_text(encoding="utf-8"))
    routes = {r["request_id"]: r for r in plan["routes"]}
    assert routes["R1"]["bookings"]


# (case id, argv after the command name, a fragment of the message)
BAD_ARGUMENTS: list[tuple[str, list[str], str]] = [
    ("plan-no-file", ["plan"], "give a problem file"),
    ("plan-missing-file", ["plan", "{tmp}/missing.json"], "cannot read"),
    ("plan-directory", ["plan", "{tmp}"], "cannot read"),
    ("plan-file-and-example", ["plan", "{tmp}/x.json", "--example"], "not both"),
    ("plan-negative-limit", ["plan", "--example", "--time-limit", "-1"], "positive"),
    ("plan-nan-limit", ["plan", "--example", "--time-limit", "nan"], "positive"),
    ("plan-inf-limit", ["plan", "--example", "--time-limit", "inf"], "positive"),
    ("plan-word-limit", ["plan", "--example", "--time-limit", "soon"], "not a number"),
    ("plan-unknown-option", ["plan", "--example", "--fast"], "unrecognized"),
    ("batch-nothing", ["batch", "--quiet"], "--example"),
    ("batch-missing", ["batch", "{tmp}/missing.json", "--quiet"], "no such file"),
    ("batch-empty-dir", ["batch", "{tmp}/empty", "--quiet"], "no *.json"),
    ("batch-zero-limit", ["batch", "--example", "--time-limit", "0", "--quiet"], "positive"),
    ("batch-zero-workers", ["batch", "--example", "--workers", "0", "--quiet"], "--workers"),
    ("batch-word-seed", ["batch", "--example", "--seed", "x", "--quiet"], "invalid int"),
    (
        "import-naive-start",
        [
            "slots",
            "import",
            "{tmp}/x.json",
            "--start",
            "2026-03-01T00:00",
            "--end",
            "2026-03-02T00:00+03:00",
        ],
        "no UTC offset",
    ),
    (
        "import-bad-start",
        ["slots", "import", "{tmp}/x.json", "--start", "soon", "--end", "2026-03-02T00:00+03:00"],
        "not an ISO 8601",
    ),
    (
        "import-end-first",
        [
            "slots",
            "import",
            "{tmp}/x.json",
            "--start",
            "2026-03-02T00:00+03:00",
            "--end",
            "2026-03-01T00:00+03:00",
        ],
        "end must be after start",
    ),
    (
        "import-bad-zone",
        [
            "slots",
            "import",
            "{tmp}/x.json",
            "--start",
            "2026-03-01T00:00+03:00",
            "--end",
            "2026-03-02T00:00+03:00",
            "--timezone",
            "Mars/Base",
        ],
        "time zone",
    ),
    (
        "import-missing",
        [
            "slots",
            "import",
            "{tmp}/missing.csv",
            "--start",
            "2026-03-01T00:00+03:00",
            "--end",
            "2026-03-02T00:00+03:00",
        ],
        "no such",
    ),
    (
        "import-txt",
        [
            "slots",
            "import",
            "{tmp}/x.txt",
            "--start",
            "2026-03-01T00:00+03:00",
            "--end",
            "2026-03-02T00:00+03:00",
        ],
        "expected a .csv or .json",
    ),
    ("resolve-nul", ["pathways", "resolve", "C34\x00"], "invalid diagnosis code"),
    ("show-unknown", ["pathways", "show", "no_such_pathway"], "unknown pathway"),
]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(a, f) for _, a, f in BAD_ARGUMENTS],
    ids=[c[0] for c in BAD_ARGUMENTS],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad argument gives exit status 2 and a message saying what is wrong, no traceback."""
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "x.json", good_document())
    (tmp_path / "x.txt").write_text("slots", encoding="utf-8")
    args = [part.replace("{tmp}", str(tmp_path)) for part in argv]
    status = main(args)
    err = capsys.readouterr().err
    assert status == 2
    assert fragment in err
    assert "Traceback" not in err


@pytest.mark.parametrize("rows", [1, 5, 50])
def test_slots_import_of_naive_csv_is_one_error_and_writes_nothing(
    rows: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Naive CSV times without --timezone: one error saying how to fix it, no file written."""
    slots = tmp_path / "slots.csv"
    body = "".join(
        f"S{n},F1,fer:27,2026-03-02T09:{n % 60:02d},2026-03-02T10:{n % 60:02d}\n"
        for n in range(rows)
    )
    slots.write_text("slot_id,facility_id,service,start,end\n" + body, encoding="utf-8")
    facilities = tmp_path / "facilities.csv"
    facilities.write_text("facility_id,name,level,services\nF1,One,1,fer:27\n", encoding="utf-8")
    pair = f"{slots},{facilities}"
    output = tmp_path / "out.json"
    window = ["--start", "2026-03-01T00:00+03:00", "--end", "2026-03-10T00:00+03:00"]
    status = main(["slots", "import", pair, *window, "-o", str(output)])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "--timezone Europe/Moscow" in err
    assert not output.exists()
    good = main(
        ["slots", "import", pair, *window, "--timezone", "Europe/Moscow", "-o", str(output)]
    )
    assert good == 0
    assert f"{rows} free slots" in capsys.readouterr().out
    assert output.exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [(t, f) for _, t, f in UNREADABLE_FILES if f not in ("format_version", "timezone")],
    ids=[c[0] for c in UNREADABLE_FILES if c[2] not in ("format_version", "timezone")],
)
def test_slots_import_unreadable_json_is_exit_2_and_writes_nothing(
    text: bytes, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`routing slots import` of an unreadable JSON file: exit 2 naming it, nothing written."""
    path = tmp_path / "slots.json"
    path.write_bytes(text)
    output = tmp_path / "out.json"
    window = ["--start", "2026-03-01T00:00+03:00", "--end", "2026-03-10T00:00+03:00"]
    status = main(["slots", "import", str(path), *window, "-o", str(output)])
    err = capsys.readouterr().err
    assert status == 2
    assert "slots.json" in err
    assert "Traceback" not in err
    assert not output.exists()
