"""No personal data from a failing batch reaches logs, standard error, output or the summary.

The cohort carries distinctive diagnosis codes, reference-date keys and dates, referral times and
free text, in good and in bad records. Planned with full debug logging, the run's log records,
standard error, standard output and summary must contain none of them; the issues keep the
offending values on their ``value`` attribute only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bad_input_helpers import good_document
from routing.cli import main
from routing.reading import read_problem

SECRETS = {
    "code-invalid": "QQ17.3",
    "code-nul": "C43\x00.7",
    "code-valid-no-pathway": "L40.5",
    "code-too-long": "K" + "7" * 45,
    "reference-key": "lmp_quokka",
    "reference-date": "2019-07-23",
    "referral-naive": "2026-05-08T07:41:13",
    "referral-planned": "07:39:59",
    "free-text": "Zyxwvut Qwertovich",
    "district": "Distinctivo-Seven",
}


def _cohort() -> dict[str, Any]:
    """A cohort of good and bad requests carrying every distinctive value."""
    document = good_document()
    r1, r2 = document["requests"]
    r1["referral"] = "2026-05-08T07:39:59+03:00"
    r1["reference_dates"] = {SECRETS["reference-key"]: SECRETS["reference-date"]}
    r1["patient"]["district"] = SECRETS["district"]
    r2["diagnoses"] = [SECRETS["code-invalid"], SECRETS["code-nul"]]
    extra = [
        {
            "id": "R3",
            "patient": {"id": "P-3", "surname": SECRETS["free-text"]},
            "diagnoses": [SECRETS["code-valid-no-pathway"]],
            "referral": SECRETS["referral-naive"],
        },
        {
            "id": "R4",
            "patient": {"id": "P-4"},
            "diagnoses": [SECRETS["code-valid-no-pathway"]],
            "referral": "2026-05-08T09:00:00+03:00",
            "reference_dates": {SECRETS["reference-key"]: "2019-02-30"},
        },
        {
            "id": "R5",
            "patient": {"id": "P-5"},
            "diagnoses": [SECRETS["code-too-long"]],
            "referral": "2026-05-08T09:00:00+03:00",
        },
        {
            "id": "R6",
            "patient": {"id": "P-6"},
            "diagnoses": [SECRETS["code-invalid"]],
            "referral": "2026-05-08T09:00:00+03:00",
        },
        {
            "id": "R7",
            "patient": {"id": "P-7"},
            "diagnoses": [SECRETS["code-valid-no-pathway"]],
            "referral": "2026-05-08T09:00:00+03:00",
        },
    ]
    document["requests"] += extra
    return document


def _leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


@pytest.mark.parametrize("command", ["batch", "plan"])
def test_failing_run_leaks_no_personal_data(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logs, stderr, stdout and the summary of a failing run hold no code, date or free text."""
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(_cohort(), ensure_ascii=False), encoding="utf-8")
    out_dir = tmp_path / "out"
    argv = ["-vv", "batch", str(path), "--quiet", "--time-limit", "5", "-o", str(out_dir)]
    if command == "plan":
        argv = ["-vv", "plan", str(path)]
    root = logging.getLogger()
    level = root.level
    try:
        with caplog.at_level(logging.DEBUG):
            status = main(argv)
    finally:
        root.setLevel(level)  # -vv sets the root level; leave it as it was for other tests
    out, err = capsys.readouterr()
    assert status == 1
    if command == "batch":  # the good request was planned
        plan = json.loads((out_dir / "plan.json").read_text(encoding="utf-8"))
        assert {r["request_id"]: r for r in plan["routes"]}["R1"]["bookings"]
    else:
        assert "request R1" in out
    logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    texts = {"logs": logs, "stderr": err, "stdout": out}
    if command == "batch":
        summary = (out_dir / "summary.txt").read_text(encoding="utf-8")
        texts["summary"] = summary
        assert "request 'R3', field 'referral'" in summary
        assert "request 'R2', field 'diagnoses.1'" in summary
    else:
        assert "request 'R3', field 'referral'" in err
        assert "request 'R2', field 'diagnoses.1'" in err
    for where, text in texts.items():
        assert _leaks(text) == [], where
    # The planned request's referral time is printed by the CLI as local time (HH:MM), not
    # echoed from the input; no log line carries it.
    assert SECRETS["referral-planned"] not in logs


def test_issues_keep_values_as_attributes_only() -> None:
    """Each issue's str() and repr() are free of the input; its value attribute holds it."""
    reading = read_problem(_cohort())
    by_record = {(i.record, i.field): i for i in reading.issues}
    assert by_record[("request 'R2'", "diagnoses.1")].value == SECRETS["code-nul"]
    assert by_record[("request 'R3'", "referral")].value == SECRETS["referral-naive"]
    assert by_record[("request 'R3'", "patient.surname")].value == SECRETS["free-text"]
    for issue in reading.issues:
        assert _leaks(str(issue) + repr(issue) + repr(issue.args)) == []


def test_repeated_private_key_is_not_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A repeated reference-date key makes the file unreadable without the key being shown."""
    key, day = SECRETS["reference-key"], SECRETS["reference-date"]
    text = (
        '{"format_version": 1, "facilities": [], "slots": [], "requests": [{"id": "R1", '
        f'"reference_dates": {{"{key}": "{day}", "{key}": "{day}"}}}}]}}'
    )
    path = tmp_path / "cohort.json"
    path.write_text(text, encoding="utf-8")
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "twice" in err
    assert _leaks(err) == []


@pytest.mark.parametrize("command", ["plan", "batch"])
def test_referral_outside_the_calendar_is_named_without_the_date(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A referral beyond the calendar's years: R2 is INVALID, R1 planned, no date in messages."""
    document = good_document()
    document["requests"][1]["referral"] = "2090-05-08T09:13:00+03:00"
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    out_dir = tmp_path / "out"
    argv = ["batch", str(path), "--quiet", "-o", str(out_dir)]
    status = main(argv if command == "batch" else ["plan", str(path)])
    out, err = capsys.readouterr()
    texts = out + err
    if command == "batch":
        assert status == 1
        summary = (out_dir / "summary.txt").read_text(encoding="utf-8")
        texts += summary
        assert "request 'R2', field 'referral'" in summary
        plan = json.loads((out_dir / "plan.json").read_text(encoding="utf-8"))
        assert {r["request_id"]: r for r in plan["routes"]}["R1"]["bookings"]
        assert "2090" not in texts
        assert "09:13" not in texts
    else:
        # ``plan`` prints each request's own route, referral included, on stdout (that is its
        # output); R2 is INVALID with the field named, and nothing else shows the date.
        assert status == 1
        assert "request 'R2', field 'referral'" in out
        assert "request R1" in out
        assert "2090" not in err
        assert "09:13" not in err
