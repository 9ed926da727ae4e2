"""Booking through the saga into the journal (``routing.lifecycle.booking``, ``routing book``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.booking.memory import FailurePlan, Fault, MemoryBackend
from routing.booking.saga import SagaStatus, live_replanner
from routing.cli import main
from routing.examples import load_example
from routing.exceptions import InvalidTransitionError
from routing.lifecycle.booking import BookingRecord, book, memory_backend
from routing.lifecycle.model import StageStatus, WaitReason
from routing.lifecycle.service import Service
from routing.live import LiveSlots
from routing.outputs.lifecycle_documents import book_document
from routing.outputs.schemas import shipped_schema_text
from routing.problem import Problem
from routing.solve import plan_route

AT = datetime(2026, 2, 20, 9, 0, tzinfo=UTC)
PROBLEM = load_example()
REQUEST = PROBLEM.requests[0]


@pytest.fixture
def service() -> Iterator[Service]:
    """An in-memory journal with the example's slots published."""
    with Service.open("sqlite://") as opened:
        opened.publish(PROBLEM.facilities, PROBLEM.slots, event_id="publish", at=AT)
        yield opened


def run(
    service: Service, failures: FailurePlan | None = None, *, replan: bool = False
) -> tuple[BookingRecord, MemoryBackend]:
    """Book the example's first request with the memory back-end; the back-end."""
    live = service.state().live
    assert live is not None
    backend = memory_backend(service, failures=failures)
    result = plan_route(REQUEST, live)
    replanner = live_replanner(REQUEST, backend.live) if replan else None
    return book(service, result, backend, at=AT, replan=replanner), backend


def places(live: LiveSlots | None) -> dict[str, tuple[int, int]]:
    """Held and booked places by slot, of the slots with any."""
    assert live is not None
    return {s.slot_id: (s.held, s.booked) for s in live.snapshot().states if s.held or s.booked}


def test_booked_saga_books_every_stage_in_the_journal(service: Service) -> None:
    """A booked saga: every stage booked on the saga's slots, one place each, nothing waiting."""
    record, backend = run(service)
    assert record.outcome.status is SagaStatus.BOOKED
    state = service.state()
    route = state.routes[REQUEST.id]
    assert record.route == route
    assert {(s.stage_id, s.slot_id) for s in route.stages} == {
        (b.stage_id, b.slot_id) for b in record.outcome.route.bookings
    }
    assert {s.status for s in route.stages} == {StageStatus.BOOKED}
    assert places(state.live) == {b.slot_id: (0, 1) for b in record.outcome.route.bookings}
    assert places(state.live) == places(backend.live)
    assert state.waitlist == {}
    assert service.journal.replay() == state


def test_failed_saga_leaves_no_place_held(service: Service) -> None:
    """The third hold fails (slot taken) without a re-plan: no hold or booking in the journal,
    the failed stage without a slot and the route on the waitlist."""
    record, _ = run(service, FailurePlan(calls={3: Fault.TAKEN}))
    assert record.outcome.status is SagaStatus.FAILED
    state = service.state()
    assert places(state.live) == {}
    route = state.routes[REQUEST.id]
    assert {s.status for s in route.stages} == {StageStatus.PROPOSED}
    failed = record.outcome.failed_slots[0]
    assert [s.slot_id for s in route.stages].count(None) == 1
    assert failed not in {s.slot_id for s in route.stages}
    assert state.waitlist == {REQUEST.id: WaitReason.BOOKING_FAILED}
    assert service.journal.replay() == state


def test_failed_confirmation_cancels_the_bookings_made(service: Service) -> None:
    """A confirmation refused after two were made: those two cancelled, the holds released,
    nothing left taken in the journal."""
    stages = len(plan_route(REQUEST, service.state().live).bookings)  # type: ignore[arg-type]
    record, _ = run(service, FailurePlan(calls={stages + 3: Fault.CONFLICT}))
    assert record.outcome.status is SagaStatus.FAILED
    state = service.state()
    assert places(state.live) == {}
    statuses = [s.status for s in state.routes[REQUEST.id].stages]
    assert statuses.count(StageStatus.CANCELLED) == 2
    assert service.journal.replay() == state


def test_replanned_saga_books_the_new_route(service: Service) -> None:
    """A slot taken before its hold, with re-plans: the route is revised and booked elsewhere."""
    record, backend = run(service, FailurePlan(calls={2: Fault.TAKEN}), replan=True)
    assert record.outcome.status is SagaStatus.BOOKED
    assert record.outcome.attempts == 2
    state = service.state()
    route = state.routes[REQUEST.id]
    assert {s.status for s in route.stages} == {StageStatus.BOOKED}
    assert record.outcome.failed_slots[0] not in {s.slot_id for s in route.stages}
    assert any(e.type == "route_revised" for e in record.events)
    taken = set(backend.taken_by_others)
    assert taken == {record.outcome.failed_slots[0]}
    assert {k: v for k, v in places(backend.live).items() if k not in taken} == places(state.live)
    assert state.waitlist == {}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    faults=st.dictionaries(
        st.integers(min_value=1, max_value=14), st.sampled_from(list(Fault)), max_size=3
    ),
    replan=st.booleans(),
)
def test_journal_places_are_the_back_ends(faults: dict[int, Fault], replan: bool) -> None:
    """Whatever calls fail, the journal's places equal the back-end's (but for places taken by
    others), a booked saga books every stage, and replay gives the same state."""
    with Service.open("sqlite://") as journal:
        journal.publish(PROBLEM.facilities, PROBLEM.slots, event_id="publish", at=AT)
        record, backend = run(journal, FailurePlan(calls=faults), replan=replan)
        state = journal.state()
        others = set(backend.taken_by_others)
        if record.outcome.status is not SagaStatus.ORPHANED:
            ours = {k: v for k, v in places(state.live).items() if k not in others}
            theirs = {k: v for k, v in places(backend.live).items() if k not in others}
            assert ours == theirs
        route = state.routes[REQUEST.id]
        if record.booked:
            assert {s.status for s in route.stages} == {StageStatus.BOOKED}
        elif record.outcome.status is not SagaStatus.ORPHANED:
            assert places(state.live) == {}
        assert journal.journal.replay() == state


def test_booking_a_request_twice_is_refused(service: Service) -> None:
    """A second booking of a booked request is refused before any call; the journal unchanged."""
    run(service)
    before, count = service.state(), len(service.journal)
    with pytest.raises(InvalidTransitionError) as caught:
        run(service)
    assert caught.value.field == "route_id"
    assert len(service.journal) == count
    assert service.state() == before


# -- the command ------------------------------------------------------------------------------
def example_file(tmp_path: Path, problem: Problem = PROBLEM) -> Path:
    """The example problem as a file."""
    path = tmp_path / "problem.json"
    path.write_text(problem.model_dump_json(), encoding="utf-8")
    return path


def test_book_command_then_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``routing book --json`` prints one document; ``routing state`` shows the stages booked
    and their slots' places taken."""
    db = f"sqlite:///{tmp_path / 'journal.db'}"
    problem = str(example_file(tmp_path))
    argv = ["book", problem, "--request", REQUEST.id, "--db", db, "--at", AT.isoformat()]
    assert main([*argv, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "BOOKED"
    assert document["booked"] is True
    booked = {(b["stage_id"], b["slot_id"]) for b in document["bookings"]}
    assert len(booked) == len(document["route"]["stages"])
    assert main(["state", "--db", db, "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    [route] = state["routes"]
    assert {(s["stage_id"], s["slot_id"]) for s in route["stages"]} == booked
    assert {s["status"] for s in route["stages"]} == {"booked"}
    assert {h["slot_id"] for h in state["holds"]} == {slot for _, slot in booked}
    assert all(h["booked"] == 1 and h["held"] == 0 for h in state["holds"])
    # twice: refused, naming the option, and nothing changes
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--request" in captured.err
    assert "already" in captured.err
    assert main(["state", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == state
    # another request over the same journal: its slots published already, booked elsewhere
    other = PROBLEM.requests[1].id
    assert main(["book", problem, "--request", other, "--db", db, "--at", AT.isoformat()]) == 0
    assert other in capsys.readouterr().out


def test_book_command_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown request, a bad --db URL, a missing file: exit 2 naming what is wrong, no
    output and no journal written."""
    db = f"sqlite:///{tmp_path / 'journal.db'}"
    problem = str(example_file(tmp_path))
    cases = [
        (["book", problem, "--request", "nope", "--db", db], "--request"),
        (["book", problem, "--request", REQUEST.id, "--db", "nope://x"], "--db"),
        (["book", str(tmp_path / "missing.json"), "--request", REQUEST.id, "--db", db], "missing"),
        (["book", problem, "--request", REQUEST.id, "--max-attempts", "0"], "--max-attempts"),
    ]
    for argv, named in cases:
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == ""
        assert named in captured.err
    assert not (tmp_path / "journal.db").exists()


def test_lifecycle_documents_match_their_published_schemas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], service: Service
) -> None:
    """The --json documents of event, state and book (booked, and a failed saga's) validate
    against the shipped schemas."""
    db = f"sqlite:///{tmp_path / 'journal.db'}"
    problem = str(example_file(tmp_path))
    schemas = {n: json.loads(shipped_schema_text(n)) for n in ("event", "state", "book")}
    argv = ["book", problem, "--request", REQUEST.id, "--db", db, "--at", AT.isoformat(), "--json"]
    assert main(argv) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), schemas["book"])
    assert main(["state", "--db", db, "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), schemas["state"])
    event = ["--type", "stage_attended", "--id", "a1", "--at", "2026-03-02T10:00:00+03:00"]
    assert (
        main(
            [
                "event",
                *event,
                "--route",
                REQUEST.id,
                "--stage",
                "consultation",
                "--db",
                db,
                "--json",
            ]
        )
        == 0
    )
    jsonschema.validate(json.loads(capsys.readouterr().out), schemas["event"])
    record, _ = run(service, FailurePlan(calls={3: Fault.TAKEN}))
    failed = book_document(record, request_id=REQUEST.id, journal_events=len(service.journal))
    jsonschema.validate(failed.model_dump(mode="json"), schemas["book"])
    assert main(["state", "--db", db, "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), schemas["state"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**failed.model_dump(mode="json"), "status": "MAYBE"}, schemas["book"])
