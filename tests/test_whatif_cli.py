"""The ``routing whatif`` command: proposals, withdrawals, verification, terminal and bad input."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from routing.batch.whatif import CandidateSlot, CapacityBudget, propose_additions
from routing.cli import main
from routing.examples import BATCH_EXAMPLE, example_text
from routing.exceptions import InvalidInputError
from routing.outputs.schemas import schema_of
from routing.problem import Problem, load_problem

ITERATIONS = ["--iterations", "20"]


@pytest.fixture(scope="module")
def example() -> Problem:
    """The shipped batch example (30 contended patients), as the command reads it."""
    return load_problem(example_text(BATCH_EXAMPLE))


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    status = main(["whatif", *argv, "--json"])
    captured = capsys.readouterr()
    document: dict[str, Any] = json.loads(captured.out)
    assert status == document["exit_status"] == 0, captured.err
    jsonschema.validate(document, schema_of("whatif"))
    return document


def test_budget_proposes_and_verifies_against_both_baselines(
    capsys: pytest.CaptureFixture[str], example: Problem
) -> None:
    """``--budget 3``: three copies, the bound they lower, four re-plans with three slots each."""
    document = _json(capsys, ["--example", "--budget", "3", *ITERATIONS])
    proposal, comparison = document["proposal"], document["comparison"]
    library = propose_additions(example, CapacityBudget(slots=3, working_days=10))
    assert [a["slot"]["id"] for a in proposal["additions"]] == [s.id for s in library.slots]
    assert (proposal["bound_before"], proposal["bound_after"]) == (14, 11)
    assert proposal["pool_size"] == len(library.pool)
    assert len(proposal["days"]) == 10
    labels = [comparison[k]["label"] for k in ("before", "proposed", "random", "longest_queue")]
    assert labels == ["before", "proposed", "random", "longest queue"]
    for key in ("proposed", "random", "longest_queue"):
        assert comparison[key]["slots_changed"] == 3
        assert comparison[key]["planned"] == 30
    # The re-plan's bound, solved afresh on the augmented index, is the proposal's.
    assert comparison["proposed"]["bound"] == proposal["bound_after"]
    assert comparison["before"]["bound"] == proposal["bound_before"]
    assert comparison["proposed"]["patients_missing"] < comparison["before"]["patients_missing"]
    assert comparison["max_iterations"] == 20


def test_same_input_prints_the_same_document(capsys: pytest.CaptureFixture[str]) -> None:
    """Seeded re-plans stopped by the iteration limit: the JSON is the same on a second run."""
    argv = ["--example", "--budget", "2", *ITERATIONS]
    assert _json(capsys, argv) == _json(capsys, argv)


def test_tables_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """In a pipe: the additions table and the four plans as plain columns, no box drawing."""
    assert main(["whatif", "--example", "--budget", "2", *ITERATIONS]) == 0
    out = capsys.readouterr().out
    assert "Proposed additions: 2 of 2 slots; first-deadline bound 14 → 12" in out
    assert "nmu:B01.027.001  syn-03-oncology_hospital-01  2026-04-27  12:00  14 → 13" in out
    for label in ("before", "proposed", "random", "longest queue"):
        assert any(line.strip().startswith(label) for line in out.splitlines())
    assert "Verified by re-planning the whole cohort (plan_batch, seed 0, 20 iterations)" in out
    assert "━" not in out
    assert "─" not in out


def test_tables_on_a_terminal_are_drawn_by_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a real pseudo-terminal the tables are drawn by rich (a rule under the header)."""
    master, slave = os.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with open(slave, "w", encoding="utf-8", closefd=True) as tty:
        monkeypatch.setattr(sys, "stdout", tty)
        status = main(["whatif", "--example", "--withdraw", "2", *ITERATIONS])
        tty.flush()
    reader.join(timeout=10)
    os.close(master)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    assert status == 0
    assert "━" in text or "─" in text
    assert "Slots that can be withdrawn with the least harm: 2 of 2" in text


def test_withdraw_ranks_harmless_slots_and_replans_without_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--withdraw 3``: three free slots of the window that leave the bound, then re-planned."""
    document = _json(capsys, ["--example", "--withdraw", "3", *ITERATIONS])
    assert document["mode"] == "withdraw"
    assert document["proposal"] is None
    withdrawals = document["withdrawals"]["withdrawals"]
    assert len(withdrawals) == 3
    assert all(w["bound_after"] == w["bound_before"] == 14 for w in withdrawals)
    check = document["withdrawal_check"]
    assert check["withdrawn"] == [w["slot_id"] for w in withdrawals]
    assert check["after"]["slots_changed"] == 3
    assert check["after"]["bound"] == document["withdrawals"]["bound_after"]
    assert check["after"]["planned"] == 30


def _candidates(example: Problem, path: Path, extra: list[dict[str, Any]] | None = None) -> Path:
    """Two candidates: the slot the budget's proposal copies first, and another day's slot."""
    first = propose_additions(example, CapacityBudget(slots=1)).additions[0]
    other = next(
        s
        for s in example.slots
        if str(s.service) == "nmu:A04.10.002" and s.start.date().isoformat() == "2026-04-22"
    )
    items = [
        {"facility_id": other.facility_id, "service": "nmu:A04.10.002", "day": "2026-04-22"},
        {
            "facility_id": first.facility_id,
            "service": first.service,
            "day": first.day.isoformat(),
            "start": f"{first.slot.start:%H:%M}",
        },
        *(extra or []),
    ]
    path.write_text(json.dumps({"candidates": items}), encoding="utf-8")
    return path


def test_candidates_are_ranked_and_capped_by_the_budget(
    capsys: pytest.CaptureFixture[str], example: Problem, tmp_path: Path
) -> None:
    """``--candidates FILE --budget 1``: the binding candidate is chosen; baselines use the list."""
    path = _candidates(example, tmp_path / "candidates.json")
    document = _json(capsys, ["--example", "--candidates", str(path), "--budget", "1", *ITERATIONS])
    proposal = document["proposal"]
    assert proposal["requested"] == 1
    assert proposal["pool_size"] == 2
    assert proposal["repeat"] is False
    (addition,) = proposal["additions"]
    assert addition["service"] == "nmu:B01.027.001"
    assert addition["bound_before"] - addition["bound_after"] == 1
    assert document["comparison"]["random"]["slots_changed"] == 1


def test_no_verify_proposes_only(capsys: pytest.CaptureFixture[str]) -> None:
    """``--no-verify``: the proposal without any re-plan."""
    document = _json(capsys, ["--example", "--budget", "2", "--no-verify"])
    assert len(document["proposal"]["additions"]) == 2
    assert document["comparison"] is None
    assert document["ratio_to_random"] is None


def _bad(capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str) -> None:
    status = main(["whatif", *argv])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.startswith("routing whatif: error: ")
    for text in expected:
        assert text in captured.err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--budget", "0"], ["--budget", "≥ 1"]),
        (["--budget", "-3"], ["--budget", "≥ 1"]),
        (["--withdraw", "0"], ["--withdraw", "≥ 1"]),
        (["--budget", "2", "--horizon-days", "0"], ["--horizon-days"]),
        ([], ["--budget N, --candidates FILE or --withdraw K"]),
        (["--budget", "2", "--withdraw", "2"], ["--withdraw", "not with --budget"]),
        (["--budget", "2", "--service", "nmu:A04.10.002", "--service", "nmu:X"], ["--service"]),
        (["--budget", "2", "--facility", "nowhere"], ["--facility", "unknown facility"]),
        (["--budget", "2", "--first-day", "1990-01-01"], ["--first-day", "calendar"]),
    ],
    ids=[
        "budget-zero",
        "budget-negative",
        "withdraw-zero",
        "horizon-zero",
        "no-mode",
        "both-modes",
        "unknown-service",
        "unknown-facility",
        "day-out-of-calendar",
    ],
)
def test_bad_options_exit_2_naming_the_option(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]
) -> None:
    """Bad options: exit 2, the option named, nothing on standard output, no traceback."""
    _bad(capsys, ["--example", *argv], *expected)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"facility_id": "nowhere", "service": "nmu:A04.10.002", "day": "2026-04-22"},
            "candidates[2], field 'facility_id': unknown facility",
        ),
        (
            {"facility_id": "syn-02-caop-01", "service": "nmu:X99", "day": "2026-04-22"},
            "candidates[2], field 'service': no slot of this service",
        ),
        (
            {"facility_id": "syn-02-caop-01", "service": "catalogue:biopsy", "day": "2026-01-05"},
            "candidates[2], field 'day': the facility has no slot",
        ),
        ({"facility_id": "syn-02-caop-01", "service": "catalogue:biopsy"}, "candidates[2]"),
        (
            {"facility_id": "syn-02-caop-01", "service": "catalogue:biopsy", "day": "22.04.2026"},
            "field 'day'",
        ),
        (
            {
                "facility_id": "syn-02-caop-01",
                "service": "catalogue:biopsy",
                "day": "2026-04-22",
                "start": "10:00+03:00",
            },
            "field 'start'",
        ),
    ],
    ids=["unknown-facility", "unknown-service", "no-slot-that-day", "no-day", "bad-day", "zoned"],
)
def test_bad_candidates_exit_2_naming_the_candidate_and_field(
    capsys: pytest.CaptureFixture[str],
    example: Problem,
    tmp_path: Path,
    item: dict[str, Any],
    expected: str,
) -> None:
    """A bad candidate (the third in the file): exit 2 naming the file, candidate and field."""
    path = _candidates(example, tmp_path / "candidates.json", [item])
    _bad(capsys, ["--example", "--candidates", str(path)], str(path), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[]", "at least one candidate"), ('{"x": 1}', "field 'candidates'"), ("[1", "JSON")],
    ids=["empty", "no-list", "not-json"],
)
def test_bad_candidates_files_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    """An empty list, an object without candidates or text that is not JSON: exit 2."""
    path = tmp_path / "candidates.json"
    path.write_text(text, encoding="utf-8")
    _bad(capsys, ["--example", "--candidates", str(path)], expected)
    _bad(capsys, ["--example", "--candidates", str(tmp_path / "missing.json")], "cannot read")


def test_empty_cohort_exits_2_naming_the_requests(
    capsys: pytest.CaptureFixture[str], example: Problem, tmp_path: Path
) -> None:
    """Slots but no request: exit 2, naming the cohort's requests."""
    document = json.loads(example.model_dump_json(exclude_none=True))
    document["requests"] = []
    source = tmp_path / "slots.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    _bad(capsys, [str(source), "--budget", "2"], "cohort, field 'requests'")


def test_at_most_caps_the_greedy_prefix(example: Problem) -> None:
    """``at_most`` keeps the first additions the greedy chooses among all the candidates."""
    full = propose_additions(example, CapacityBudget(slots=3))
    candidates = [
        CandidateSlot(a.facility_id, a.service, a.day, a.slot.start.time()) for a in full.additions
    ]
    ranked = propose_additions(example, candidates)
    capped = propose_additions(example, candidates, at_most=2)
    assert capped.additions == ranked.additions[:2]
    assert capped.requested == 2
    assert capped.pool == ranked.pool
    with pytest.raises(InvalidInputError, match="at_most"):
        propose_additions(example, candidates, at_most=0)


def test_rejected_records_are_reported_and_exit_1(
    capsys: pytest.CaptureFixture[str], example: Problem, tmp_path: Path
) -> None:
    """A malformed request is left out and reported (stderr and JSON); the rest are used."""
    document = json.loads(example.model_dump_json(exclude_none=True))
    bad = dict(document["requests"][0], id="BAD-REFERRAL", referral="not a time")
    document["requests"].append(bad)
    source = tmp_path / "cohort.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    status = main(["whatif", str(source), "--budget", "1", "--no-verify", "--json"])
    captured = capsys.readouterr()
    assert status == 1
    printed = json.loads(captured.out)
    assert printed["exit_status"] == 1
    assert printed["requests"] == 30
    assert len(printed["rejected"]) == 1
    assert "request 'BAD-REFERRAL'" in printed["rejected"][0]
    assert "referral" in printed["rejected"][0]
    assert "not a time" not in captured.err
    assert "routing whatif: rejected: " in captured.err
    assert len(printed["proposal"]["additions"]) == 1


def test_a_re_plan_the_clock_stops_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    """A time limit that stops the re-plans is said (their figures are not repeatable)."""
    assert main(["whatif", "--example", "--budget", "1", "--time-limit", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "warning: the time limit stopped the re-plan(s) before, proposed" in out
    assert main(["whatif", "--example", "--budget", "1", *ITERATIONS]) == 0
    assert "warning" not in capsys.readouterr().out
