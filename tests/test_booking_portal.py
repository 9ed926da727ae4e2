"""The city portal booking back-end against a local portal over real HTTP: booking stage by
stage, cancelling on failure, reconciling after a timeout once the server committed, and the
patient's personal data kept out of logs, errors and reprs."""

from __future__ import annotations

import json
import logging
import pickle
import threading
from collections.abc import Iterator
from datetime import date

import pytest

from booking_helpers import two_stages
from booking_servers import PortalServer, portal_server
from routing.adapters.gorzdrav_client import ClientConfig
from routing.booking import Booking, SagaStatus, StepAction, StepOutcome, book_route, live_replanner
from routing.booking.portal import PortalBackend, PortalPatient, split_slot_id
from routing.exceptions import BookingError, SlotTakenError
from routing.solve import plan_route

LPU = "100"
A0, A1 = f"gorzdrav:{LPU}:17.02.2025;10:30;п100.136", f"gorzdrav:{LPU}:17.02.2025;11:00;п100.136"
B0, B1 = f"gorzdrav:{LPU}:19.02.2025;09:00;п7.1", f"gorzdrav:{LPU}:19.02.2025;09:30;п7.1"
TICKETS = {LPU: {split_slot_id(s)[1] for s in (A0, A1, B0, B1)}}

SECRET_NAME = "Родионова"
SECRET_BIRTH = date(1961, 3, 14)
SECRET_MAIL = "rodionova.secret@example.org"
PATIENT = PortalPatient(SECRET_NAME, "Анна", "Петровна", SECRET_BIRTH, SECRET_MAIL)
OTHER = PortalPatient("Орлов", "Иван", "", date(1970, 1, 2), "orlov@example.org")
PATIENTS = {
    (LPU, SECRET_NAME, "1961-03-14T00:00:00"): "pat-1",
    (LPU, "Орлов", "1970-01-02T00:00:00"): "pat-2",
}


def _config(server: PortalServer, timeout: float = 1.5) -> ClientConfig:
    return ClientConfig(
        base_url=server.base_url,
        timeout_s=timeout,
        deadline_s=timeout,
        max_attempts=2,
        backoff_initial_s=0.0,
        jitter=0.0,
        rate_per_s=1000.0,
        burst=100,
        use_system_proxy=False,
    )


@pytest.fixture
def server() -> Iterator[PortalServer]:
    """A local portal with four free tickets at one clinic."""
    with portal_server(TICKETS, PATIENTS, delay=4.0) as running:
        yield running


def _backend(server: PortalServer, patient: PortalPatient = PATIENT) -> PortalBackend:
    return PortalBackend(patient, _config(server))


def _ticket(slot_id: str) -> tuple[str, str]:
    return split_slot_id(slot_id)


def test_happy_path_books_every_stage_and_searches_the_patient_once(server: PortalServer) -> None:
    """Both stages booked at the portal; the patient searched once for the clinic."""
    request, live = two_stages([A0, A1], [B0, B1])
    with _backend(server) as backend:
        outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.status is SagaStatus.BOOKED
    assert server.bookings_of("pat-1") == sorted([_ticket(A0), _ticket(B0)])
    assert server.hits("/patient/search") == 1
    assert [(s.action, s.outcome) for s in outcome.steps] == [
        (StepAction.BOOK, StepOutcome.OK),
        (StepAction.BOOK, StepOutcome.OK),
    ]


def test_ticket_taken_mid_route_cancels_the_first_and_replans(server: PortalServer) -> None:
    """B0 taken by another patient: A0 cancelled at the portal, the re-plan books A0 and B1."""
    request, live = two_stages([A0, A1], [B0, B1])
    with _backend(server, OTHER) as other:
        other.confirm(other.hold(B0, "x"), "x")
    with _backend(server) as backend:
        outcome = book_route(
            plan_route(request, live),
            backend,
            replan=live_replanner(request, live),
            key_prefix="R1",
        )
    assert outcome.status is SagaStatus.BOOKED
    assert outcome.failed_slots == (B0,)
    assert [(s.action, s.slot_id, s.outcome) for s in outcome.steps if s.attempt == 1] == [
        (StepAction.BOOK, A0, StepOutcome.OK),
        (StepAction.BOOK, B0, StepOutcome.TAKEN),
        (StepAction.CANCEL, A0, StepOutcome.OK),
    ]
    assert server.bookings_of("pat-1") == sorted([_ticket(A0), _ticket(B1)])
    assert server.bookings_of("pat-2") == [_ticket(B0)]
    assert server.hits("/appointment/cancel") == 1


def test_without_replan_nothing_stays_booked(server: PortalServer) -> None:
    """A failure with no re-plan: every ticket the saga booked is cancelled at the portal."""
    request, live = two_stages([A0], [B0])
    server.free[LPU].discard(_ticket(B0)[1])
    with _backend(server) as backend:
        outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.status is SagaStatus.FAILED
    assert server.bookings_of("pat-1") == []
    assert _ticket(A0)[1] in server.free[LPU]


def test_commit_then_timeout_is_reconciled_and_books_exactly_once(server: PortalServer) -> None:
    """The server books A0 and answers after the deadline: the saga lists the patient's
    bookings, finds A0, does not send it again; one ticket at the server."""
    request, live = two_stages([A0], [B0])
    server.fault("/appointment/create", "commit-then-timeout")
    with _backend(server) as backend:
        outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.status is SagaStatus.BOOKED
    assert [(s.action, s.slot_id, s.outcome) for s in outcome.steps] == [
        (StepAction.BOOK, A0, StepOutcome.UNKNOWN),
        (StepAction.RECONCILE, A0, StepOutcome.FOUND),
        (StepAction.BOOK, B0, StepOutcome.OK),
    ]
    assert server.hits("/appointment/create") == 2
    assert server.bookings_of("pat-1") == sorted([_ticket(A0), _ticket(B0)])


def test_a_server_error_without_commit_is_reconciled_then_sent_again(
    server: PortalServer,
) -> None:
    """HTTP 500 on create (nothing booked): the list lacks A0, the create is sent again once."""
    request, live = two_stages([A0], [B0])
    server.fault("/appointment/create", "500")
    with _backend(server) as backend:
        outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.booked
    assert [(s.action, s.outcome) for s in outcome.steps[:3]] == [
        (StepAction.BOOK, StepOutcome.UNKNOWN),
        (StepAction.RECONCILE, StepOutcome.ABSENT),
        (StepAction.BOOK, StepOutcome.OK),
    ]
    assert outcome.steps[0].key == outcome.steps[2].key
    assert server.hits("/appointment/create") == 3
    assert server.bookings_of("pat-1") == sorted([_ticket(A0), _ticket(B0)])


def test_a_retried_confirm_after_a_lost_answer_never_books_twice(server: PortalServer) -> None:
    """Directly: the same key sent again after a timeout reconciles first, no second create."""
    server.fault("/appointment/create", "commit-then-timeout")
    with _backend(server) as backend:
        hold = backend.hold(A0, "k")
        with pytest.raises(BookingError) as lost:
            backend.confirm(hold, "k")
        assert type(lost.value).__name__ == "UnknownOutcomeError"
        booking = backend.confirm(hold, "k")
        assert backend.confirm(hold, "k") == booking
    assert server.hits("/appointment/create") == 1
    assert server.bookings_of("pat-1") == [_ticket(A0)]


def test_concurrent_sagas_for_the_last_ticket_exactly_one_wins(server: PortalServer) -> None:
    """Two patients' sagas race for A0 (the only A ticket left): one books, the other none."""
    request, live = two_stages([A0], [B0, B1])
    server.free[LPU].discard(_ticket(A1)[1])
    route = plan_route(request, live)
    other_b = route.bookings[1].model_copy(update={"slot_id": B1})
    routes = [route, route.model_copy(update={"bookings": (route.bookings[0], other_b)})]
    barrier = threading.Barrier(2)
    statuses: dict[str, SagaStatus] = {}

    def run(i: int, patient: PortalPatient) -> None:
        with _backend(server, patient) as backend:
            barrier.wait()
            statuses[patient.last_name] = book_route(routes[i], backend, key_prefix=f"P{i}").status

    threads = [threading.Thread(target=run, args=a) for a in ((0, PATIENT), (1, OTHER))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses.values()) == [SagaStatus.BOOKED, SagaStatus.FAILED]
    booked = server.bookings_of("pat-1") + server.bookings_of("pat-2")
    assert sorted(t for _, t in booked) == sorted(
        [_ticket(A0)[1], _ticket(B0 if statuses[SECRET_NAME] is SagaStatus.BOOKED else B1)[1]]
    )


def test_personal_data_never_reaches_logs_errors_or_reprs(
    server: PortalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The name, birth date and e-mail are sent to the portal and nowhere else."""
    caplog.set_level(logging.DEBUG)
    request, live = two_stages([A0, A1], [B0, B1])
    server.fault("/appointment/create", "commit-then-timeout", "500")
    server.free[LPU].discard(_ticket(B0)[1])
    texts: list[str] = [repr(PATIENT), str(PATIENT)]
    with _backend(server) as backend:
        texts.append(repr(backend))
        outcome = book_route(
            plan_route(request, live),
            backend,
            replan=live_replanner(request, live),
            key_prefix="R1",
        )
        with pytest.raises(SlotTakenError) as taken:
            backend.confirm(backend.hold(B0, "again"), "again")
        texts += [str(taken.value), repr(taken.value)]
    unknown = PortalBackend(
        PortalPatient("Неизвестная", "Мария", "", date(1999, 9, 9), "x@example.org"),
        _config(server),
    )
    with pytest.raises(BookingError) as not_found:
        unknown.confirm(unknown.hold(A1, "k"), "k")
    unknown.close()
    texts += [str(not_found.value), repr(not_found.value), repr(outcome)]
    texts += [r.getMessage() for r in caplog.records]
    with pytest.raises(TypeError):
        pickle.dumps(PATIENT)
    assert outcome.booked
    sent = [json.loads(r.body) for r in server.server.received if r.body]
    wanted = {"lastName": SECRET_NAME, "recipientEmail": SECRET_MAIL}.items()
    assert any(wanted <= body.items() for body in sent)  # the portal got them
    secrets = [SECRET_NAME, "1961-03-14", "14.03.1961", SECRET_MAIL, "Неизвестная", "1999-09-09"]
    secrets += [json.dumps(s).strip('"') for s in secrets]  # escaped forms too
    joined = "\n".join(texts)
    assert caplog.records
    for secret in secrets:
        assert secret not in joined


def test_split_slot_id_refuses_other_sources() -> None:
    """A slot id of another source is refused naming the slot only."""
    with pytest.raises(BookingError, match="not a slot of the city portal"):
        split_slot_id("fhir:s1")


def test_a_cancel_whose_answer_was_lost_is_not_sent_twice(server: PortalServer) -> None:
    """The portal cancels A0 and answers too late: the retry lists the patient's bookings, finds
    A0 gone and does not cancel again; a refused cancel of a ticket not listed counts as done."""
    request, live = two_stages([A0], [B0])
    server.free[LPU].discard(_ticket(B0)[1])
    server.fault("/appointment/cancel", "commit-then-timeout")
    with _backend(server) as backend:
        outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
        assert [(s.action, s.outcome) for s in outcome.steps] == [
            (StepAction.BOOK, StepOutcome.OK),
            (StepAction.BOOK, StepOutcome.TAKEN),
            (StepAction.CANCEL, StepOutcome.UNKNOWN),
            (StepAction.CANCEL, StepOutcome.OK),
        ]
        assert outcome.status is SagaStatus.FAILED
        assert server.hits("/appointment/cancel") == 1
        assert server.bookings_of("pat-1") == []
        backend.cancel(outcome_booking(A0), "another key")  # refused by the portal: not listed
    assert server.hits("/appointment/cancel") == 2


def outcome_booking(slot_id: str) -> Booking:
    """A booking of ``slot_id`` as the back-end made it."""
    return Booking(slot_id, "k", ref=split_slot_id(slot_id)[1])
