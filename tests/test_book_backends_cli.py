"""``routing book --backend fhir|portal``: a command-line booking through a FHIR server and the
city portal, each a local server on a real socket."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from booking_servers import fhir_server, portal_server
from route_helpers import facility, make_pathway, make_request, slot, stage
from routing.booking.portal import split_slot_id
from routing.cli import main
from routing.examples import load_example
from test_plan_bruteforce import DAYS, REFERRAL

LPU = "100"
A0, A1 = f"gorzdrav:{LPU}:17.02.2025;10:30;п100.136", f"gorzdrav:{LPU}:17.02.2025;11:00;п100.136"
B0 = f"gorzdrav:{LPU}:19.02.2025;09:00;п7.1"
SECRET_NAME = "Родионова"
IDENTITY = {
    "last_name": SECRET_NAME,
    "first_name": "Анна",
    "middle_name": "Петровна",
    "birth_date": "1961-03-14",
    "email": "rodionova.secret@example.org",
}
PATIENTS = {(LPU, SECRET_NAME, "1961-03-14T00:00:00"): "pat-1"}


def _portal_problem(path: Path) -> Path:
    """A two-stage request over three portal tickets at one clinic (``a0`` taken later)."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    slots = [slot(A0, "a", DAYS[1], "09:00"), slot(A1, "a", DAYS[1], "10:00")]
    slots.append(slot(B0, "b", DAYS[3], "09:00"))
    request = make_request(pathway, REFERRAL, request_id="R1")
    document: dict[str, Any] = {
        "format_version": 1,
        "facilities": [facility("F1").model_dump(mode="json")],
        "slots": [s.model_dump(mode="json") for s in slots],
        "requests": [request.model_dump(mode="json", exclude_defaults=True)],
    }
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_book_through_a_fhir_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every stage of the example's first request is an Appointment booked for the patient's
    pseudonymous reference; the journal holds the route booked; the token is sent, not shown."""
    request = load_example().requests[0]
    token = tmp_path / "token"
    token.write_text("s3cret-token\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'j.db'}"
    with fhir_server(delay=4.0) as server:
        argv = ["book", "--example", "--request", request.id, "--db", db, "--json"]
        argv += ["--backend", "fhir", "--fhir-url", server.base_url]
        argv += ["--fhir-token-file", str(token), "--at", request.referral.isoformat()]
        assert main(argv) == 0, capsys.readouterr().err
        captured = capsys.readouterr()
        document = json.loads(captured.out)
        booked = [a for a in server.live() if a["status"] == "booked"]
        sent = {r.header("Authorization") for r in server.server.received}
    assert document["status"] == "BOOKED"
    expected = sorted(f"Slot/{b['slot_id']}" for b in document["bookings"])
    assert sorted(a["slot"][0]["reference"] for a in booked) == expected
    assert {a["participant"][0]["actor"]["reference"] for a in booked} == {
        f"Patient/{request.patient.id}"
    }
    assert sent == {"Bearer s3cret-token"}
    assert "s3cret" not in captured.out + captured.err
    assert main(["state", "--db", db, "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert {s["status"] for s in state["routes"][0]["stages"]} == {"booked"}


def test_book_through_the_portal_replans_around_a_taken_ticket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first ticket is taken at the portal meanwhile: the saga gives back what it holds,
    re-plans onto the other ticket and books; the identity never reaches the output."""
    problem = _portal_problem(tmp_path / "problem.json")
    identity = tmp_path / "me.json"
    identity.write_text(json.dumps(IDENTITY, ensure_ascii=False), encoding="utf-8")
    tickets = {LPU: {split_slot_id(s)[1] for s in (A0, A1, B0)}}
    db = f"sqlite:///{tmp_path / 'j.db'}"
    with portal_server(tickets, PATIENTS, delay=4.0) as server:
        server.free[LPU].discard(split_slot_id(A0)[1])  # taken by someone else meanwhile
        argv = ["book", str(problem), "--request", "R1", "--db", db, "--json"]
        argv += ["--backend", "portal", "--portal-url", server.base_url]
        argv += ["--patient-file", str(identity), "--at", REFERRAL.isoformat()]
        code = main(argv)
        captured = capsys.readouterr()
        mine = sorted(t for _, t in server.bookings_of("pat-1"))
    assert code == 0, captured.err
    document = json.loads(captured.out)
    assert document["status"] == "BOOKED"
    assert sorted(b["slot_id"] for b in document["bookings"]) == sorted([A1, B0])
    assert mine == sorted(split_slot_id(s)[1] for s in (A1, B0))
    for secret in (SECRET_NAME, "1961", "rodionova"):
        assert secret not in captured.out + captured.err


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--backend", "fhir"], "--fhir-url"),
        (["--backend", "portal"], "--patient-file"),
        (["--fhir-url", "http://127.0.0.1:1"], "--fhir-url"),  # an option of another back-end
        (["--backend", "fhir", "--fhir-url", "ftp://x"], "--fhir-url"),
        (["--backend", "memory", "--timeout", "0"], "--timeout"),
    ],
)
def test_backend_options_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], option: str
) -> None:
    """A missing or misplaced back-end option exits 2 naming it, and books nothing."""
    db = f"sqlite:///{tmp_path / 'j.db'}"
    request = load_example().requests[0]
    assert main(["book", "--example", "--request", request.id, "--db", db, *extra]) == 2
    assert option in capsys.readouterr().err
    assert main(["state", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["routes"] == []


@pytest.mark.parametrize(
    ("identity", "field"),
    [
        ({"first_name": "Анна", "birth_date": "1961-03-14"}, "last_name"),
        (
            {"last_name": SECRET_NAME, "first_name": "Анна", "birth_date": "14.03.1961"},
            "birth_date",
        ),
        ({**IDENTITY, "passport": "4500 123456"}, "passport"),
    ],
)
def test_a_bad_patient_file_names_the_field_not_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], identity: dict[str, str], field: str
) -> None:
    """A bad identity file: exit 2 naming the field; no value of the file is echoed."""
    path = tmp_path / "me.json"
    path.write_text(json.dumps(identity, ensure_ascii=False), encoding="utf-8")
    problem = _portal_problem(tmp_path / "problem.json")
    db = f"sqlite:///{tmp_path / 'j.db'}"
    argv = ["book", str(problem), "--request", "R1", "--db", db, "--backend", "portal"]
    assert main([*argv, "--patient-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert field in err
    for value in identity.values():
        assert value not in err
    assert date(1961, 3, 14).isoformat() not in err
