"""Proactive informing (routing.notify): notices from the journal's changes, the outbox, e-mail
through a real local SMTP server (aiosmtpd) and a signed webhook to a real local HTTP server."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message as EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar

from http_servers import Reply, serve
from routing.cli import main
from routing.examples import load_example
from routing.lifecycle.events import SlotWithdrawn, StageBooked
from routing.lifecycle.journal import Journal
from routing.lifecycle.repair import RepairPolicy
from routing.lifecycle.service import Service
from routing.notify import (
    EmailChannel,
    NoticeKind,
    Outbox,
    OutboxStatus,
    WebhookChannel,
    state_notices,
)
from routing.notify.channels import SIGNATURE_HEADER
from routing.solve import plan_route
from test_views_timeline import _forbidden

SECRET = b"a-webhook-secret-of-32-bytes-...."


class _Inbox:
    """An aiosmtpd handler: keeps what it accepts, refuses the next ``refuse`` messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    """A real SMTP server on a loopback port."""
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _journal(path: Path) -> tuple[str, datetime, str]:
    """A journal file: the example published, R-0001 planned and booked, then one of its booked
    slots withdrawn and the route repaired (rebooked): the URL, the time after, the patient."""
    url = f"sqlite:///{path}"
    problem = load_example()
    request = problem.requests[0]
    requests = {r.id: r for r in problem.requests}
    at = request.referral
    with Service.open(url) as service:
        state = service.publish(problem.facilities, problem.slots, event_id="P", at=at)
        route = service.propose(plan_route(request, state.live), at=at)
        for stage in route.stages:
            service.apply(
                StageBooked(
                    event_id=f"B-{stage.stage_id}",
                    at=at,
                    route_id=route.route_id,
                    stage_id=stage.stage_id,
                )
            )
        lost = str(route.stages[1].slot_id)
        later = at + timedelta(hours=1)
        service.apply_and_repair(
            SlotWithdrawn(event_id="W", at=later, slot_id=lost),
            requests,
            RepairPolicy(rebook=True),
        )
    return url, later, request.patient.id


def test_notices_tell_each_change_discreetly(tmp_path: Path) -> None:
    """Booked visits and the move the withdrawal forced are told, in Russian, with a calendar;
    no notice names the diagnosis or the pathway."""
    url, now, patient = _journal(tmp_path / "j.db")
    with Journal.open(url) as journal:
        state = journal.state()
    notices = state_notices(state, now)
    kinds = [n.kind for n in notices]
    assert kinds.count(NoticeKind.BOOKED) >= 5
    assert NoticeKind.CHANGED in kinds
    assert len({n.key for n in notices}) == len(notices)
    changed = next(n for n in notices if n.kind is NoticeKind.CHANGED)
    assert changed.subject.startswith("Приём перенесён")
    assert "было:" in changed.body
    assert changed.ics is not None
    assert Calendar.from_ical(changed.ics).get("method") == "PUBLISH"
    forbidden = _forbidden()  # every code, pathway and clinical title of the catalogue
    for notice in [*notices, *state_notices(state, now, language="en")]:
        assert notice.patient_id == patient
        text = f"{notice.subject}\n{notice.body}\n{notice.ics or ''}".replace("\r\n ", "")
        for pattern in forbidden:
            assert not pattern.search(text), (pattern.pattern, notice.kind)


def test_outbox_adds_each_message_once_even_after_a_replay(tmp_path: Path) -> None:
    """The same notices again, or derived from the replayed journal: nothing added."""
    url, now, _ = _journal(tmp_path / "j.db")
    with Journal.open(url) as journal:
        outbox = Outbox(journal)
        first = outbox.enqueue(state_notices(journal.state(), now), ["email", "webhook"], now)
        assert first > 0
        assert outbox.enqueue(state_notices(journal.state(), now), ["email", "webhook"], now) == 0
    with Journal.open(url) as reopened:
        again = state_notices(reopened.replay(), now + timedelta(minutes=5))
        assert Outbox(reopened).enqueue(again, ["email", "webhook"], now) == 0
        assert len(Outbox(reopened).messages()) == first


def test_email_is_retried_with_backoff_in_order_per_patient(
    tmp_path: Path, smtp: tuple[_Inbox, int]
) -> None:
    """The server refuses the first message for now: it is retried after the backoff, and the
    patient's later messages wait behind it; then all arrive, in order, calendars attached."""
    inbox, port = smtp
    url, now, patient = _journal(tmp_path / "j.db")
    channel = EmailChannel(
        "127.0.0.1", port, sender="noreply@clinic.example", addresses={patient: "p@example.org"}
    )
    with Journal.open(url) as journal:
        outbox = Outbox(journal)
        added = outbox.enqueue(state_notices(journal.state(), now), ["email"], now)
        inbox.refuse = 1
        report = outbox.deliver({"email": channel}, now)
        assert len(report.retrying) == 1
        assert report.sent == []
        assert len(report.waiting) == added - 1
        assert inbox.messages == []
        early = outbox.deliver({"email": channel}, now + timedelta(seconds=30))
        assert early.sent == []  # the backoff (one minute) has not passed
        done = outbox.deliver({"email": channel}, now + timedelta(minutes=2))
        assert len(done.sent) == added
        statuses = {status for _, status, _ in outbox.messages()}
        assert statuses == {OutboxStatus.SENT.value}
        order = [m.key for m, _, _ in outbox.messages()]
    assert inbox.messages[0]["Subject"].startswith("Запись подтверждена")
    assert len(inbox.messages) == len(order)
    calendars = [
        part
        for m in inbox.messages
        for part in m.iter_attachments()
        if part.get_content_type() == "text/calendar"
    ]
    assert calendars
    parsed = Calendar.from_ical(calendars[0].get_content())
    assert parsed.walk("VEVENT")


def test_a_patient_without_an_address_is_failed_not_retried(
    tmp_path: Path, smtp: tuple[_Inbox, int]
) -> None:
    """No address in the directory: each message fails at once, with a reason and no text."""
    inbox, port = smtp
    url, now, _ = _journal(tmp_path / "j.db")
    channel = EmailChannel("127.0.0.1", port, sender="noreply@clinic.example", addresses={})
    with Journal.open(url) as journal:
        outbox = Outbox(journal)
        added = outbox.enqueue(state_notices(journal.state(), now), ["email"], now)
        report = outbox.deliver({"email": channel}, now)
    assert len(report.failed) == added
    assert inbox.messages == []


def test_webhook_is_signed_and_retried_on_a_server_error(tmp_path: Path) -> None:
    """Each POST carries an HMAC-SHA256 of its body and an idempotency key; a 503 is retried
    with the same key."""
    url, now, patient = _journal(tmp_path / "j.db")
    with serve() as server:
        server.route("/hook", Reply(503), Reply(204))
        channel = WebhookChannel(server.url("/hook"), secret=SECRET)
        with Journal.open(url) as journal:
            outbox = Outbox(journal)
            notices = state_notices(journal.state(), now, language="en")
            outbox.enqueue(notices[:1], ["webhook"], now)
            assert len(outbox.deliver({"webhook": channel}, now).retrying) == 1
            assert len(outbox.deliver({"webhook": channel}, now + timedelta(hours=1)).sent) == 1
        channel.close()
        received = list(server.received)
    assert len(received) == 2
    for request in received:
        expected = "sha256=" + hmac.new(SECRET, request.body, hashlib.sha256).hexdigest()
        assert request.header(SIGNATURE_HEADER) == expected
    assert received[0].header("Idempotency-Key") == received[1].header("Idempotency-Key")
    body = json.loads(received[1].body)
    assert body["patient_id"] == patient
    assert body["subject"].startswith("Appointment booked")


def test_routing_notify_sends_once_and_then_nothing(
    tmp_path: Path, smtp: tuple[_Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """The command: the first run sends every message, the second finds nothing new."""
    inbox, port = smtp
    url, now, patient = _journal(tmp_path / "j.db")
    contacts = tmp_path / "contacts.json"
    contacts.write_text(json.dumps({patient: "p@example.org"}), encoding="utf-8")
    argv = ["notify", "--db", url, "--smtp", f"127.0.0.1:{port}", "--smtp-from", "no@clinic.ru"]
    argv += ["--contacts", str(contacts), "--now", now.isoformat(), "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)
    assert first["sent"] == first["added"] > 0
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["added"], second["sent"]) == (0, 0)
    assert len(inbox.messages) == first["sent"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ([], "--smtp"),
        (["--smtp", "localhost"], "--smtp"),
        (["--smtp", "127.0.0.1:25", "--smtp-from", "a@b.c"], "--contacts"),
        (["--webhook", "http://127.0.0.1:1/h"], "--webhook-secret-file"),
        (["--webhook", "ftp://x", "--webhook-secret-file", "SECRET"], "--webhook"),
        (["--smtp", "127.0.0.1:25", "--smtp-from", "a@b.c", "--contacts", "BAD"], "entry 0"),
        (["--webhook", "http://127.0.0.1:1/h", "--webhook-secret-file", "SHORT"], "16 bytes"),
    ],
)
def test_bad_options_exit_2_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], named: str
) -> None:
    """Bad channel options: exit 2, the option (or the contacts entry, not its value) named."""
    (tmp_path / "secret").write_bytes(SECRET)
    (tmp_path / "short").write_bytes(b"short")
    (tmp_path / "bad.json").write_text(json.dumps({"P1": "not-an-address"}), encoding="utf-8")
    files = {
        "SECRET": tmp_path / "secret",
        "SHORT": tmp_path / "short",
        "BAD": tmp_path / "bad.json",
    }
    argv = [str(files.get(a, a)) for a in extra]
    db = f"sqlite:///{tmp_path / 'j.db'}"
    assert main(["notify", "--db", db, *argv]) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "not-an-address" not in err


def test_outbox_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The outbox's migration and its one-message-per-key rule on PostgreSQL."""
    sqlite_url, now, _ = _journal(tmp_path / "j.db")
    with Journal.open(sqlite_url) as journal:
        events = list(journal.events())
    with Journal.open(postgres_url) as journal:
        journal.append_all(events)
        outbox = Outbox(journal)
        notices = state_notices(journal.state(), now)
        added = outbox.enqueue(notices, ["email"], now)
        assert added == len(notices) > 0
        assert outbox.enqueue(notices, ["email"], now) == 0


def test_many_notices_are_added_once_across_lookup_chunks(tmp_path: Path) -> None:
    """More notices than one key lookup takes: all added, then none again."""
    from routing.notify import Notice

    url, now, _ = _journal(tmp_path / "j.db")
    notices = [
        Notice(
            key=f"k{n}",
            kind=NoticeKind.REMINDER,
            route_id="R-0001",
            patient_id="P",
            language="ru",
            subject="s",
            body="b",
        )
        for n in range(1200)
    ]
    with Journal.open(url) as journal:
        outbox = Outbox(journal)
        assert outbox.enqueue(notices, ["email"], now) == 1200
        assert outbox.enqueue(notices, ["email"], now) == 0


def test_a_db_that_names_no_journal_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing SQLite file is bad input (opening it would create an empty journal and tell
    nobody), and nothing is created."""
    (tmp_path / "secret").write_bytes(SECRET)
    missing = tmp_path / "typo.db"
    argv = ["notify", "--db", f"sqlite:///{missing}", "--webhook", "http://127.0.0.1:1/h"]
    assert main([*argv, "--webhook-secret-file", str(tmp_path / "secret")]) == 2
    assert "--db" in capsys.readouterr().err
    assert not missing.exists()
