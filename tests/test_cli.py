"""The ``routing`` command: every subcommand through ``main(argv)``, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nosology.registry import MKB10_REGISTRY_OID, MKB10_VERSION
from routing._version import __version__
from routing.cli import main

PATHWAY_TOML = """
id = "local_visit"
title = { ru = "Приём", en = "A visit" }
[applicability]
codes = ["J45"]
[[stages]]
id = "visit"
title = { ru = "Приём", en = "Visit" }
services = ["fer:27"]
"""

ONE_STAGE: dict[str, Any] = {
    "id": "one_visit",
    "title": {"ru": "Один приём", "en": "One visit"},
    "applicability": {"codes": ["J45"]},
    "stages": [{"id": "visit", "title": {"ru": "Приём", "en": "Visit"}, "services": ["fer:27"]}],
    "deadlines": [
        {
            "id": "visit_1wd",
            "title": {"ru": "Приём за 1 рабочий день", "en": "Visit within 1 working day"},
            "from_event": "referral",
            "to_event": "visit.start",
            "limit": 1,
            "unit": "working_days",
            "source": "test rule",
        }
    ],
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command in-process; return the exit status, stdout and stderr."""
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def problem_document(slot_day: str = "2026-05-20") -> dict[str, Any]:
    """A one-request problem whose only slot lies on ``slot_day`` (referral Friday 2026-05-08)."""
    return {
        "format_version": 1,
        "facilities": [{"id": "F1", "name": "Polyclinic", "level": 1, "services": ["fer:27"]}],
        "slots": [
            {
                "id": "S1",
                "facility_id": "F1",
                "service": "fer:27",
                "start": f"{slot_day}T10:00:00+03:00",
                "end": f"{slot_day}T10:30:00+03:00",
            }
        ],
        "requests": [
            {
                "id": "R1",
                "patient": {"id": "P-1"},
                "pathway_id": "one_visit",
                "referral": "2026-05-08T09:00:00+03:00",
            }
        ],
        "pathways": [ONE_STAGE],
    }


def write(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` and return the path."""
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_version_names_package_and_registry(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and the МКБ-10 registry OID and version."""
    status, out, _ = run(["--version"], capsys)
    assert status == 0
    assert __version__ in out
    assert MKB10_REGISTRY_OID in out
    assert f"version {MKB10_VERSION}" in out


def test_python_m_routing_version() -> None:
    """``python -m routing --version`` runs the same command in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "routing", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert __version__ in done.stdout
    assert MKB10_REGISTRY_OID in done.stdout


def test_pathways_list_text(capsys: pytest.CaptureFixture[str]) -> None:
    """The list names each built-in pathway with its titles, codes and number of stages."""
    status, out, _ = run(["pathways", "list"], capsys)
    assert status == 0
    line = next(x for x in out.splitlines() if x.startswith("zno_lung "))
    assert "Suspected lung cancer" in line
    assert "C33, C34" in line
    assert " 5 " in line


def test_pathways_list_json_with_user_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json parses, and --catalogue adds a user pathway beside the built-in ones."""
    path = tmp_path / "local.toml"
    path.write_text(PATHWAY_TOML, encoding="utf-8")
    status, out, _ = run(["pathways", "list", "--json", "--catalogue", str(path)], capsys)
    assert status == 0
    entries = {e["id"]: e for e in json.loads(out)}
    assert entries["local_visit"]["origin"] == str(path)
    assert entries["local_visit"]["stages"] == 1
    assert entries["zno_lung"]["title"]["en"] == "Suspected lung cancer"
    assert entries["zno_lung"]["origin"] == "builtin"


def test_pathways_list_bad_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken pathway file gives exit status 2 and names the file, without a traceback."""
    path = tmp_path / "broken.toml"
    path.write_text('id = "x"\n', encoding="utf-8")
    status, out, err = run(["pathways", "list", "--catalogue", str(path)], capsys)
    assert status == 2
    assert out == ""
    assert "broken.toml" in err
    assert "Traceback" not in err


def test_pathways_show_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Show lists stages with level and order, the hard constraints and the sourced deadlines."""
    status, out, _ = run(["pathways", "show", "zno_lung"], capsys)
    assert status == 0
    assert "bronchoscopy_biopsy" in out
    assert "≥ 5 working days" in out
    assert "[assumption]" in out
    assert "consultation_3wd: referral → consultation.start ≤ 3 working days" in out
    assert "№ 116н" in out


def test_pathways_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Show --json is the pathway's own JSON plus its origin."""
    status, out, _ = run(["pathways", "show", "zno_lung", "--json"], capsys)
    assert status == 0
    data = json.loads(out)
    assert data["origin"] == "builtin"
    assert data["stages"][0]["id"] == "consultation"
    assert {d["id"] for d in data["deadlines"]} >= {"consultation_3wd", "treatment_7wd"}


def test_pathways_show_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown pathway id gives exit status 2 and a message naming it."""
    status, _, err = run(["pathways", "show", "no_such_pathway"], capsys)
    assert status == 2
    assert "no_such_pathway" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("raw", "code", "pathway"),
    [
        ("С34.1", "C34.1", "zno_lung"),  # a Cyrillic С
        ("c341", "C34.1", "zno_lung"),
        ("E11.3†", "E11.3", "diabetes_t2_dispensary"),
    ],
)
def test_resolve_valid_codes(
    raw: str, code: str, pathway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Messy codes are normalised, named and resolved to their pathway with an explanation."""
    status, out, err = run(["pathways", "resolve", raw], capsys)
    assert status == 0, err
    assert out.splitlines()[0] == raw
    assert f"code:         {code}" in out
    assert f"pathway:      {pathway}" in out
    assert "explanation:" in out


def test_resolve_asterisk_code_without_pathway(capsys: pytest.CaptureFixture[str]) -> None:
    """An asterisk code is valid, says it is a manifestation code, and may lead to no pathway."""
    status, out, _ = run(["pathways", "resolve", "H36.0*"], capsys)
    assert status == 0
    assert "H36.0 *" in out
    assert "manifestation" in out
    assert "pathway:      none" in out


def test_resolve_invalid_code(capsys: pytest.CaptureFixture[str]) -> None:
    """Z99.99 gives a one-line error on stderr (with a suggestion) and exit status 2."""
    status, out, err = run(["pathways", "resolve", "Z99.99"], capsys)
    assert status == 2
    assert out.strip() == ""
    assert err.count("\n") == 1
    assert "'Z99.99'" in err
    assert "Z99.9" in err
    assert "Traceback" not in err


def test_resolve_mixed_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json covers valid and invalid codes; a dagger/asterisk pair in one argument is split."""
    argv = ["pathways", "resolve", "--json", "С34.1", "E11.3† H36.0*", "Z99.99"]
    status, out, err = run(argv, capsys)
    assert status == 2
    data = json.loads(out)
    entries = data["codes"]
    assert [e["input"] for e in entries] == ["С34.1", "E11.3†", "H36.0*", "Z99.99"]
    assert [e["valid"] for e in entries] == [True, True, True, False]
    assert entries[0]["pathway_id"] == "zno_lung"
    assert entries[0]["code"]["warnings"] == ["Cyrillic 'С' read as Latin 'C'"]
    assert "not in МКБ-10" in entries[3]["error"]
    assert data["combined_pathway"].startswith("diabetes_t2_dispensary")
    assert "Z99.99" in err


def test_plan_example_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """plan --example routes every request (exit 0) and writes every result as JSON."""
    output = tmp_path / "results.json"
    status, out, err = run(["plan", "--example", "--output", str(output)], capsys)
    assert status == 0, err
    assert "request R-0001" in out
    assert "consultation_3wd" in out
    assert "3 of 3 requests routed" in out
    data = json.loads(output.read_text(encoding="utf-8"))
    assert data["mkb10_registry"] == {"oid": MKB10_REGISTRY_OID, "version": MKB10_VERSION}
    results = data["results"]
    assert [r["request_id"] for r in results] == ["R-0001", "R-0002", "R-0003"]
    for result in results:
        assert result["status"] in ("OPTIMAL", "FEASIBLE")
        assert [b["stage_id"] for b in result["bookings"]][-1] == "treatment"


def test_plan_json_and_missed_deadline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A route that misses a deadline is printed as MISSED with negative slack; --json parses."""
    path = write(tmp_path / "problem.json", problem_document("2026-05-20"))
    status, out, _ = run(["plan", str(path)], capsys)
    assert status == 0
    assert "pathway one_visit (One visit)" in out
    assert "MISSED" in out
    # Friday 8 May 2026 -> Wednesday 20 May: 9-11 May are days off, so 7 working days later.
    assert "visit_1wd: 7 of ≤ 1 working day, slack -6" in out
    status, out, _ = run(["plan", str(path), "--json", "--time-limit", "1"], capsys)
    assert status == 0
    (result,) = json.loads(out)["results"]
    assert result["deadlines"][0]["met"] is False
    assert result["deadlines"][0]["slack"] == -6


def test_plan_without_route_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A request with no usable slot is reported with its reason and gives exit status 1."""
    document = problem_document()
    document["slots"][0]["service"] = "fer:999"
    path = write(tmp_path / "problem.json", document)
    status, out, _ = run(["plan", str(path)], capsys)
    assert status == 1
    assert "INFEASIBLE" in out
    assert "reason:" in out
    assert "0 of 1 requests routed" in out


def test_plan_bad_request_alone_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When the only request is bad, nothing is planned: exit 2 naming the record and field."""
    document = problem_document()
    document["requests"][0]["referral"] = "2026-05-08T09:00:00"
    path = write(tmp_path / "problem.json", document)
    status, out, err = run(["plan", str(path)], capsys)
    assert status == 2
    assert out == ""
    assert "request 'R1', field 'referral'" in err
    assert "no valid request left" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("facility_id", "F404", "slot 'S1', field 'facility_id'"),
        ("end", "2026-05-20T09:00:00+03:00", "slot 'S1', field 'end'"),
    ],
)
def test_plan_bad_slot_is_left_out_and_the_rest_planned(
    key: str,
    value: str,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad slot is reported by record and field; the request is still planned; exit 1."""
    document = problem_document()
    document["slots"][0][key] = value
    path = write(tmp_path / "problem.json", document)
    status, out, err = run(["plan", str(path)], capsys)
    assert status == 1
    assert expected in err
    assert "request R1" in out
    assert "Traceback" not in err


@pytest.mark.parametrize("text", ["{not json", "[]"])
def test_plan_unreadable_problem(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text that is not a JSON object gives exit status 2 and a message, no traceback."""
    path = tmp_path / "problem.json"
    path.write_text(text, encoding="utf-8")
    status, _, err = run(["plan", str(path)], capsys)
    assert status == 2
    assert "problem" in err
    assert "Traceback" not in err


def test_plan_missing_file_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file, no file at all, both a file and --example, a bad limit: exit status 2."""
    missing = tmp_path / "missing.json"
    assert run(["plan", str(missing)], capsys)[0] == 2
    assert run(["plan"], capsys)[0] == 2
    assert run(["plan", str(missing), "--example"], capsys)[0] == 2
    status, _, err = run(["plan", "--example", "--time-limit", "-1"], capsys)
    assert status == 2
    assert "positive" in err


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """schema prints the problem file's JSON Schema."""
    status, out, _ = run(["schema"], capsys)
    assert status == 0
    schema = json.loads(out)
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"facilities", "slots", "requests"} <= set(schema["properties"])


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command, or a pathways subcommand, the exit status is 2 with a hint."""
    status, _, err = run([], capsys)
    assert status == 2
    assert "--help" in err
    status, _, err = run(["pathways"], capsys)
    assert status == 2
    assert "pathways --help" in err


def test_a_closed_pipe_ends_quietly() -> None:
    """`routing plan --example | head -1` exits 0 and prints no traceback."""
    command = f"{sys.executable} -m routing plan --example | head -1"
    done = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("built-in example")
