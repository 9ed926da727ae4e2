"""The FHIR Appointment booking back-end against a local FHIR server over real HTTP: conditional
create by the idempotency key, If-Match updates, 409/412 answers, commit-then-timeout."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from booking_helpers import two_stages
from booking_servers import FhirServer, fhir_server
from routing.adapters.http import HttpPolicy
from routing.booking import SagaStatus, StepAction, StepOutcome, book_route, live_replanner
from routing.booking.fhir import DEFAULT_KEY_SYSTEM, FhirBackend, slot_reference
from routing.exceptions import BookingConflictError, SlotTakenError, UnknownOutcomeError
from routing.solve import plan_route

A0, A1, B0, B1 = "fhir:a0", "fhir:a1", "fhir:b0", "fhir:b1"


@pytest.fixture
def server() -> Iterator[FhirServer]:
    """A local FHIR server with no Appointment yet."""
    with fhir_server(delay=4.0) as running:
        yield running


def _backend(server: FhirServer, patient: str = "Patient/p-1") -> FhirBackend:
    policy = HttpPolicy(
        timeout_s=1.5,
        deadline_s=8.0,
        max_attempts=3,
        backoff_initial_s=0.0,
        jitter=0.0,
        use_system_proxy=False,
    )
    return FhirBackend(server.base_url, patient_reference=patient, policy=policy)


def _booked(server: FhirServer) -> list[str]:
    return sorted(a["slot"][0]["reference"] for a in server.live() if a["status"] == "booked")


def test_happy_path_creates_pending_then_books(server: FhirServer) -> None:
    """Each stage: an Appointment created pending with the key, then PUT booked with If-Match."""
    request, live = two_stages([A0, A1], [B0, B1])
    with _backend(server) as backend:
        outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.status is SagaStatus.BOOKED
    assert _booked(server) == ["Slot/a0", "Slot/b0"]
    assert [b.version for b in outcome.bookings] == ["2", "2"]
    made = server.appointments[outcome.bookings[0].ref]
    assert made["identifier"] == [{"system": DEFAULT_KEY_SYSTEM, "value": "R1:1:a:fhir:a0:hold"}]
    assert made["participant"][0]["actor"] == {"reference": "Patient/p-1"}
    puts = [r for r in server.server.received if r.method == "PUT"]
    assert [r.header("If-Match") for r in puts] == ['W/"1"', 'W/"1"']
    posts = [r for r in server.server.received if r.method == "POST"]
    assert (
        posts[0].header("If-None-Exist") == f"identifier={DEFAULT_KEY_SYSTEM}|R1:1:a:fhir:a0:hold"
    )


def test_a_create_sent_twice_with_one_key_makes_one_appointment(server: FhirServer) -> None:
    """The same key again: the server answers with the first Appointment."""
    with _backend(server) as backend:
        first = backend.hold(A0, "k1")
        again = backend.hold(A0, "k1")
    assert again.ref == first.ref
    assert len(server.appointments) == 1


def test_commit_then_timeout_on_create_is_retried_into_one_appointment(
    server: FhirServer,
) -> None:
    """The server creates the hold and answers too late: the saga sends the same key again and
    gets the same Appointment; one Appointment per slot, both booked."""
    request, live = two_stages([A0], [B0])
    server.fault("POST", "commit-then-timeout")
    with _backend(server) as backend:
        outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.booked
    assert [(s.action, s.slot_id, s.outcome) for s in outcome.steps[:2]] == [
        (StepAction.HOLD, A0, StepOutcome.UNKNOWN),
        (StepAction.HOLD, A0, StepOutcome.OK),
    ]
    assert len(server.appointments) == 2
    assert _booked(server) == ["Slot/a0", "Slot/b0"]


def test_commit_then_timeout_on_update_is_read_back(server: FhirServer) -> None:
    """The PUT to booked takes effect, its answer is lost; the retry meets 412, reads the
    Appointment back: booked, so the confirmation stands, once."""
    with _backend(server) as backend:
        hold = backend.hold(A0, "k1")
        server.fault("PUT", "commit-then-timeout")
        booking = backend.confirm(hold, "k2")
    assert booking.ref == hold.ref
    assert booking.version == "2"
    assert _booked(server) == ["Slot/a0"]


def test_slot_taken_is_compensated_and_replanned(server: FhirServer) -> None:
    """Another patient's Appointment on b0: 409; a0's hold cancelled; the re-plan books b1."""
    request, live = two_stages([A0, A1], [B0, B1])
    with _backend(server, "Patient/p-2") as other:
        other.confirm(other.hold(B0, "other"), "other-book")
    with _backend(server) as backend:
        outcome = book_route(
            plan_route(request, live),
            backend,
            replan=live_replanner(request, live),
            key_prefix="R1",
        )
    assert outcome.booked
    assert [(s.action, s.slot_id, s.outcome) for s in outcome.steps if s.attempt == 1] == [
        (StepAction.HOLD, A0, StepOutcome.OK),
        (StepAction.HOLD, B0, StepOutcome.TAKEN),
        (StepAction.RELEASE, A0, StepOutcome.OK),
    ]
    assert _booked(server) == ["Slot/a0", "Slot/b0", "Slot/b1"]
    mine = [a for a in server.live() if a["participant"][0]["actor"]["reference"] == "Patient/p-1"]
    assert sorted(a["slot"][0]["reference"] for a in mine) == ["Slot/a0", "Slot/b1"]
    cancelled = [a for a in server.appointments.values() if a["status"] == "cancelled"]
    assert [a["slot"][0]["reference"] for a in cancelled] == ["Slot/a0"]


def test_a_version_conflict_is_a_conflict_error_and_compensated(server: FhirServer) -> None:
    """Someone updates the held Appointment meanwhile: 412 → BookingConflictError; the saga
    cancels what it holds (the release re-read past the conflict) and books nothing."""
    with _backend(server) as backend:
        hold = backend.hold(A0, "k1")
        server.touch(hold.ref)
        with pytest.raises(BookingConflictError, match="fhir:a0"):
            backend.confirm(hold, "k2")
    request, live = two_stages([A1], [B1])
    with _backend(server) as backend:
        route = plan_route(request, live)
        original = backend.hold

        def hold_then_touch(slot_id: str, key: str):  # type: ignore[no-untyped-def]
            made = original(slot_id, key)
            if slot_id == B1:
                server.touch(made.ref)
            return made

        backend.hold = hold_then_touch  # type: ignore[method-assign]
        outcome = book_route(route, backend, key_prefix="R2")
    assert outcome.status is SagaStatus.FAILED
    assert [(s.action, s.outcome) for s in outcome.steps][-3:] == [
        (StepAction.BOOK, StepOutcome.CONFLICT),
        (StepAction.RELEASE, StepOutcome.OK),
        (StepAction.CANCEL, StepOutcome.OK),
    ]
    assert _booked(server) == []
    assert server.live() == [server.appointments[hold.ref]]  # only the first test hold left


def test_concurrent_sagas_for_the_last_slot_exactly_one_wins(server: FhirServer) -> None:
    """Four patients' sagas race for a0: one books it; the others leave no live Appointment."""
    request, live = two_stages([A0], [B0, B1, "fhir:b2", "fhir:b3"])
    route = plan_route(request, live)
    barrier = threading.Barrier(4)
    statuses: list[SagaStatus] = []

    def run(i: int) -> None:
        b = route.bookings[1].model_copy(update={"slot_id": f"fhir:b{i}"})
        mine = route.model_copy(update={"bookings": (route.bookings[0], b)})
        with _backend(server, f"Patient/p-{i}") as backend:
            barrier.wait()
            statuses.append(book_route(mine, backend, key_prefix=f"P{i}").status)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses).count(SagaStatus.BOOKED) == 1
    live_ones = server.live()
    assert len(live_ones) == 2
    assert {a["status"] for a in live_ones} == {"booked"}
    assert len({a["participant"][0]["actor"]["reference"] for a in live_ones}) == 1


def test_errors_map_to_the_booking_hierarchy(server: FhirServer) -> None:
    """409 on create is a taken slot; a lost answer is unknown; both name the slot only."""
    with _backend(server) as backend:
        backend.hold(A0, "k1")
        with pytest.raises(SlotTakenError) as taken:
            backend.hold(A0, "k2")
        assert str(taken.value) == "slot 'fhir:a0': /Appointment: HTTP 409, the slot is taken"
        server.fault("POST", "commit-then-timeout")
        with pytest.raises(UnknownOutcomeError, match="fhir:a1"):
            backend.hold(A1, "k3")


def test_slot_reference_takes_the_last_part_of_the_id() -> None:
    """A library FHIR slot id maps to its Slot reference."""
    assert slot_reference("fhir:x:s-1") == "Slot/s-1"


def test_a_server_error_on_create_is_retried_with_the_same_key(server: FhirServer) -> None:
    """HTTP 500 on the create: unavailable, sent again with the same key; one Appointment."""
    request, live = two_stages([A0], [B0])
    server.fault("POST", "500")
    with _backend(server) as backend:
        outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.booked
    first, second = outcome.steps[:2]
    assert (first.outcome, second.outcome) == (StepOutcome.UNAVAILABLE, StepOutcome.OK)
    assert first.key == second.key
    assert len(server.appointments) == 2
    assert _booked(server) == ["Slot/a0", "Slot/b0"]
