"""The live portal client and crawl, against a loopback server replaying recorded answers."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from nosology.pathway import ServiceRef
from routing.adapters.gorzdrav import PORTAL_TIMEZONE
from routing.adapters.gorzdrav_client import (
    ClientConfig,
    CrawlResult,
    FailureKind,
    GorzdravClient,
    GorzdravSource,
    TokenBucket,
    crawl,
)
from routing.adapters.source import SlotSource
from routing.exceptions import InvalidInputError

DATA = Path(__file__).parent / "data" / "gorzdrav"
PREFIX = "/_api/api/v2"
START = datetime(2025, 2, 17, tzinfo=PORTAL_TIMEZONE)
END = datetime(2025, 3, 1, tzinfo=PORTAL_TIMEZONE)
FER27 = ServiceRef(system="fer", code="27")
DOCTOR = "п100.136"
APPOINTMENTS = f"/schedule/lpu/44/doctor/{DOCTOR}/appointments"


def load(name: str) -> bytes:
    """A recorded answer."""
    return (DATA / name).read_bytes()


def envelope_error(code: int, request_id: str = "rq-1") -> bytes:
    """An error envelope."""
    body = {"success": False, "errorCode": code, "message": "x", "requestId": request_id}
    return json.dumps(body).encode()


Reply = tuple[int, bytes, float]  # HTTP status (0: hang up), body, delay before answering (s)


def ok(body: bytes) -> Reply:
    """A 200 answer."""
    return (200, body, 0.0)


class Portal:
    """The portal's routes: path → replies, one per request (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.hits: Counter[str] = Counter()
        self.raw_paths: list[str] = []
        self.lock = threading.Lock()
        self.set("/shared/districts", ok(load("DistrictListResponse_example.json")))
        self.set("/shared/district/12/lpus", ok(load("DistrictResponse_example.json")))
        self.set("/schedule/lpu/44/specialties", ok(load("SpecialtyListResponse_example.json")))
        doctors = ok(load("SpecialtyDoctorsListResponse_example.json"))
        self.set("/schedule/lpu/44/speciality/4/doctors", doctors)
        self.set("/schedule/lpu/44/speciality/988/doctors", doctors)
        self.set(APPOINTMENTS, ok(load("DoctorAppointmentsResponse_example.json")))

    def set(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` with ``replies`` in turn."""
        self.routes[path] = list(replies)

    def reply(self, path: str) -> Reply:
        """The next reply for ``path``; a fallback by endpoint when it is not routed."""
        with self.lock:
            self.hits[path] += 1
            replies = self.routes.get(path)
            if replies:
                return replies.pop(0) if len(replies) > 1 else replies[0]
        if path.startswith("/shared/district/"):
            return ok(load("DistrictResponse_invalid.json"))
        if path.endswith("/specialties"):
            return ok(envelope_error(37))
        if path.endswith("/doctors"):
            return ok(envelope_error(38))
        if path.endswith("/appointments"):
            return ok(load("DoctorAppointmentsNotAvailableResponse_example.json"))
        return (404, b"not found", 0.0)


def make_handler(portal: Portal) -> type[BaseHTTPRequestHandler]:
    """A request handler serving ``portal``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            portal.raw_paths.append(self.path)
            path = urllib.parse.unquote(self.path)
            status, body, delay = portal.reply(path.removeprefix(PREFIX))
            if delay:
                time.sleep(delay)
            if status == 0:
                self.close_connection = True
                return  # hang up without an answer
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def portal() -> Iterator[tuple[Portal, str]]:
    """A loopback server replaying the recorded answers, and its base URL."""
    state = Portal()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    finally:
        server.shutdown()
        server.server_close()


def client_for(base_url: str, **overrides: Any) -> GorzdravClient:
    """A fast client: tiny backoff, loose rate limit, no proxy (timeouts only where slowed)."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "timeout_s": 2.0,
        "max_attempts": 3,
        "backoff_initial_s": 0.001,
        "backoff_max_s": 0.005,
        "rate_per_s": 10_000.0,
        "burst": 100,
        "max_concurrency": 4,
        "use_system_proxy": False,
    }
    settings.update(overrides)
    return GorzdravClient(ClientConfig(**settings))


def run(base_url: str, services: Any = (FER27,), **overrides: Any) -> CrawlResult:
    """Crawl district 12 for ``services`` in the February window."""
    return crawl(client_for(base_url, **overrides), START, END, services, district_ids=["12"])


def kinds(result: CrawlResult) -> list[tuple[str, FailureKind]]:
    """(endpoint, kind) of each failure."""
    return [(f.endpoint, f.kind) for f in result.failures]


# --------------------------------------------------------------------------- happy path


def test_crawl_of_the_recorded_portal(portal: tuple[Portal, str]) -> None:
    """The crawl finds the 38 facilities and the doctor's 68 slots, with nothing failing."""
    state, url = portal
    result = run(url)
    batch = result.batch
    assert result.failures == ()
    assert batch.issues == ()
    assert len(batch.facilities) == 38
    assert len(batch.slots) == 68  # listed under two specialties with ferId 27: counted once
    assert {s.service for s in batch.slots} == {FER27}
    assert batch.slots[0].id == f"gorzdrav:44:17.02.2025;10:30;{DOCTOR}"
    assert batch.slots[0].start.isoformat() == "2025-02-17T10:30:00+03:00"
    gp87 = next(f for f in batch.facilities if f.id == "gorzdrav:44")
    assert len(gp87.services) == 8
    # 37 facilities without specialties, 988 once (same doctors), 12 doctors with a nearestDate
    assert state.hits["/shared/districts"] == 0
    assert state.hits["/schedule/lpu/44/speciality/28/doctors"] == 0  # fer:145 not wanted
    assert state.hits["/schedule/lpu/44/speciality/35/doctors"] == 0  # no nearestDate
    assert state.hits["/schedule/lpu/44/doctor/п100.459/appointments"] == 0  # nearestDate null
    assert state.hits[APPOINTMENTS] == 2
    assert result.requests == 1 + 38 + 2 + 2 * 12
    assert result.empty_answers == 37 + 2 * 11


def test_all_districts_and_all_services(portal: tuple[Portal, str]) -> None:
    """Without a district list every district is read; without services every fer specialty."""
    state, url = portal
    result = crawl(client_for(url), START, END)
    assert state.hits["/shared/districts"] == 1
    assert sum(path.endswith("/lpus") for path in state.hits) == 18
    assert state.hits["/schedule/lpu/44/speciality/28/doctors"] == 1  # fer:145, Feb 24
    assert state.hits["/schedule/lpu/44/speciality/35/doctors"] == 0  # no free tickets
    assert len(result.batch.slots) == 68
    assert result.failures == ()


def test_slot_under_two_services_is_kept_once(portal: tuple[Portal, str]) -> None:
    """A doctor under two federal codes: each slot kept under the first, the rest reported."""
    state, url = portal
    state.set(
        "/schedule/lpu/44/speciality/28/doctors",
        ok(load("SpecialtyDoctorsListResponse_example.json")),
    )
    result = crawl(client_for(url), START, END, None, district_ids=["12"])
    assert len(result.batch.slots) == 68
    assert {str(s.service) for s in result.batch.slots} == {"fer:27"}
    assert len(result.batch.issues) == 68
    assert {(i.field, i.reason) for i in result.batch.issues} == {
        ("service", "also listed under fer:27; the first kept")
    }


def test_window_limits_slots_and_requests(portal: tuple[Portal, str]) -> None:
    """Only slots starting in [start, end) are kept; doctors with nearestDate >= end are skipped."""
    state, url = portal
    start = datetime(2025, 2, 24, tzinfo=PORTAL_TIMEZONE)
    end = datetime(2025, 2, 25, tzinfo=PORTAL_TIMEZONE)
    result = crawl(client_for(url), start, end, [FER27], district_ids=["12"])
    recorded = json.loads(load("DoctorAppointmentsResponse_example.json"))["result"]
    expected = sum(r["visitStart"].startswith("2025-02-24") for r in recorded)
    assert len(result.batch.slots) == expected > 0
    assert all(start <= s.start < end for s in result.batch.slots)
    early = datetime(2025, 2, 18, tzinfo=PORTAL_TIMEZONE)
    crawl(client_for(url), START, early, [FER27], district_ids=["12"])
    assert state.hits[APPOINTMENTS] == 2  # nearestDate Feb 18 is not before the early end


def test_services_without_portal_codes_need_no_schedules(portal: tuple[Portal, str]) -> None:
    """Services of other systems are not on the portal: facilities only, no schedule requests."""
    state, url = portal
    result = run(url, services=[ServiceRef(system="nmu", code="A06.09.005")])
    assert len(result.batch.facilities) == 38
    assert result.batch.slots == ()
    assert not any(path.startswith("/schedule") for path in state.hits)


def test_source_protocol_and_window_check(portal: tuple[Portal, str]) -> None:
    """GorzdravSource is a SlotSource; a naive window is refused before any request."""
    state, url = portal
    source = GorzdravSource(client_for(url), district_ids=["12"])
    assert isinstance(source, SlotSource)
    batch = source.fetch(START, END, [FER27])
    assert len(batch.slots) == 68
    assert source.last is not None
    assert source.last.batch is batch
    hits = sum(state.hits.values())
    with pytest.raises(InvalidInputError, match="time zone"):
        source.fetch(START.replace(tzinfo=None), END)
    assert sum(state.hits.values()) == hits


def test_inactive_facility_is_skipped_and_not_crawled(portal: tuple[Portal, str]) -> None:
    """An inactive LPU gives no facility, no requests and one issue."""
    state, url = portal
    lpus = json.loads(load("DistrictResponse_example.json"))
    lpus["result"][0]["isActive"] = False  # lpu 44
    state.set("/shared/district/12/lpus", ok(json.dumps(lpus).encode()))
    result = run(url)
    assert len(result.batch.facilities) == 37
    assert result.batch.slots == ()
    assert state.hits["/schedule/lpu/44/specialties"] == 0
    (issue,) = result.batch.issues
    assert (issue.record, issue.field) == ("facility 'gorzdrav:44'", "isActive")


# --------------------------------------------------------------------------- faults


def test_slow_endpoint_times_out_after_retries(portal: tuple[Portal, str]) -> None:
    """An endpoint slower than the timeout fails as a retryable timeout; the rest is kept."""
    state, url = portal
    state.set(APPOINTMENTS, (200, load("DoctorAppointmentsResponse_example.json"), 1.5))
    started = time.perf_counter()
    result = run(url, timeout_s=0.3, max_attempts=2)
    assert time.perf_counter() - started < 5
    assert kinds(result) == [(APPOINTMENTS, FailureKind.TIMEOUT)] * 2  # under both specialties
    assert result.failures[0].retryable
    assert state.hits[APPOINTMENTS] == 4
    assert result.batch.slots == ()
    assert len(result.batch.facilities) == 38
    issue = result.batch.issues[0]
    assert issue.record == f"endpoint {APPOINTMENTS!r}"
    assert issue.reason.startswith("timeout")
    assert issue.retryable


def test_transient_5xx_is_retried(portal: tuple[Portal, str]) -> None:
    """A 503 then a good answer: the crawl succeeds and counts the retry."""
    state, url = portal
    good = ok(load("SpecialtyListResponse_example.json"))
    state.set("/schedule/lpu/44/specialties", (503, b"busy", 0.0), good)
    client = client_for(url)
    result = crawl(client, START, END, [FER27], district_ids=["12"])
    assert result.failures == ()
    assert len(result.batch.slots) == 68
    assert state.hits["/schedule/lpu/44/specialties"] == 2
    assert client.retries == 1


def test_persistent_5xx_fails_after_max_attempts(portal: tuple[Portal, str]) -> None:
    """A 500 every time fails as http_status after max_attempts; the facility is still listed."""
    state, url = portal
    state.set("/schedule/lpu/44/specialties", (500, b"<html>oops</html>", 0.0))
    result = run(url, max_attempts=3)
    assert kinds(result) == [("/schedule/lpu/44/specialties", FailureKind.HTTP_STATUS)]
    assert result.failures[0].retryable
    assert state.hits["/schedule/lpu/44/specialties"] == 3
    assert "gorzdrav:44" in {f.id for f in result.batch.facilities}


def test_client_error_status_is_not_retried(portal: tuple[Portal, str]) -> None:
    """A 404 without an envelope fails at once, not retryable."""
    state, url = portal
    state.set("/shared/district/12/lpus", (404, b"", 0.0))
    result = run(url)
    assert kinds(result) == [("/shared/district/12/lpus", FailureKind.HTTP_STATUS)]
    assert not result.failures[0].retryable
    assert state.hits["/shared/district/12/lpus"] == 1
    assert result.batch.facilities == ()


def test_malformed_json_is_reported_not_retried(portal: tuple[Portal, str]) -> None:
    """Truncated JSON is a malformed failure, tried once."""
    state, url = portal
    state.set("/schedule/lpu/44/specialties", ok(load("SpecialtyListResponse_example.json")[:99]))
    result = run(url)
    assert kinds(result) == [("/schedule/lpu/44/specialties", FailureKind.MALFORMED)]
    assert not result.failures[0].retryable
    assert state.hits["/schedule/lpu/44/specialties"] == 1
    assert result.batch.slots == ()


def test_no_free_tickets_envelope_is_empty_not_failure(portal: tuple[Portal, str]) -> None:
    """Error 39 on the appointments is an empty answer: no failure, no issue."""
    state, url = portal
    state.set(APPOINTMENTS, ok(envelope_error(39)))
    result = run(url)
    assert result.failures == ()
    assert result.batch.issues == ()
    assert result.batch.slots == ()
    assert result.empty_answers == 37 + 2 * 12


def test_clinic_system_failure_is_retried_then_reported(portal: tuple[Portal, str]) -> None:
    """603 is retried; a 603 then data succeeds; 603 every time is a retryable clinic failure."""
    state, url = portal
    doctors = "/schedule/lpu/44/speciality/4/doctors"
    state.set(
        doctors, ok(envelope_error(603)), ok(load("SpecialtyDoctorsListResponse_example.json"))
    )
    assert run(url).failures == ()
    state.set(doctors, ok(envelope_error(603, "rq-603")))
    state.hits.clear()
    result = run(url)
    assert kinds(result) == [(doctors, FailureKind.CLINIC_SYSTEM)]
    failure = result.failures[0]
    assert (failure.retryable, failure.request_id) == (True, "rq-603")
    assert state.hits[doctors] == 3
    assert len(result.batch.slots) == 68  # still found through specialty 988


def test_clinic_failure_inside_http_500(portal: tuple[Portal, str]) -> None:
    """An HTTP 500 carrying a 616 envelope is read as the clinic's failure."""
    state, url = portal
    state.set(APPOINTMENTS, (500, envelope_error(616, "rq-616"), 0.0))
    result = run(url, max_attempts=2)
    assert {f.kind for f in result.failures} == {FailureKind.CLINIC_SYSTEM}
    assert state.hits[APPOINTMENTS] == 4


def test_other_portal_error_names_request_id(portal: tuple[Portal, str]) -> None:
    """An unknown error code is a non-retryable portal error whose issue names the request id."""
    state, url = portal
    state.set("/schedule/lpu/44/specialties", ok(envelope_error(77, "rq-77")))
    result = run(url)
    assert kinds(result) == [("/schedule/lpu/44/specialties", FailureKind.PORTAL_ERROR)]
    assert state.hits["/schedule/lpu/44/specialties"] == 1
    assert "rq-77" in result.batch.issues[0].reason
    assert not result.batch.issues[0].retryable


def test_districts_failure_gives_an_empty_batch(portal: tuple[Portal, str]) -> None:
    """If even the district list fails, the crawl returns an empty batch and says why."""
    state, url = portal
    state.set("/shared/districts", (502, b"", 0.0))
    result = crawl(client_for(url, max_attempts=2), START, END)
    assert (result.batch.facilities, result.batch.slots) == ((), ())
    assert kinds(result) == [("/shared/districts", FailureKind.HTTP_STATUS)]
    assert result.requests == 2


def test_hang_up_is_a_connection_failure(portal: tuple[Portal, str]) -> None:
    """A server that closes the connection without answering gives a retryable failure."""
    state, url = portal
    state.set("/schedule/lpu/44/specialties", (0, b"", 0.0))
    result = run(url, max_attempts=2)
    assert kinds(result) == [("/schedule/lpu/44/specialties", FailureKind.CONNECTION)]
    assert result.failures[0].retryable
    assert state.hits["/schedule/lpu/44/specialties"] == 2


def test_connection_refused_is_a_connection_failure() -> None:
    """A closed loopback port gives a retryable connection failure."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = crawl(client_for(f"http://127.0.0.1:{port}/api", max_attempts=2), START, END)
    assert kinds(result) == [("/shared/districts", FailureKind.CONNECTION)]
    assert result.failures[0].retryable


def test_bad_records_become_issues(portal: tuple[Portal, str]) -> None:
    """A bad appointment record is reported by id and field; the other slots are kept."""
    state, url = portal
    body = json.loads(load("DoctorAppointmentsResponse_example.json"))
    body["result"][0]["visitStart"] = "yesterday"
    state.set(APPOINTMENTS, ok(json.dumps(body).encode()))
    result = run(url)
    assert len(result.batch.slots) == 67
    assert {(i.record, i.field) for i in result.batch.issues} == {
        (f"appointment '17.02.2025;10:30;{DOCTOR}'", "visitStart")
    }


def test_paths_are_quoted(portal: tuple[Portal, str]) -> None:
    """Ids are sent percent-encoded, one path segment each."""
    state, url = portal
    state.set(
        "/schedule/lpu/44/doctor/a/b/timetable", ok(load("DoctorTimetableResponse_example.json"))
    )
    client = client_for(url)
    assert len(client.appointments("44", DOCTOR).records) == 68
    assert len(client.timetable("44", "a/b").records) == 22
    assert state.raw_paths == [
        f"{PREFIX}/schedule/lpu/44/doctor/%D0%BF100.136/appointments",
        f"{PREFIX}/schedule/lpu/44/doctor/a%2Fb/timetable",
    ]


# --------------------------------------------------------------------------- pieces


def test_backoff_is_deterministic_bounded_and_capped() -> None:
    """Backoff doubles up to the cap, jitter stays within bounds and repeats for a seed."""
    config = ClientConfig(backoff_initial_s=1.0, backoff_max_s=8.0, jitter=0.5, seed=7)
    waits = [config.backoff("/p", n) for n in range(6)]
    assert waits == [config.backoff("/p", n) for n in range(6)]
    for n, wait in enumerate(waits):
        base = min(8.0, 2.0**n)
        assert 0.5 * base <= wait <= 1.5 * base
    other = ClientConfig(backoff_initial_s=1.0, backoff_max_s=8.0, jitter=0.5, seed=8)
    assert waits != [other.backoff("/p", n) for n in range(6)]


def test_config_refuses_non_http_urls() -> None:
    """Only http(s) URLs with a host are accepted."""
    with pytest.raises(ValidationError, match="base_url"):
        ClientConfig(base_url="file:///etc/passwd")
    assert ClientConfig(base_url="http://127.0.0.1:1/api/").base_url == "http://127.0.0.1:1/api"


def test_token_bucket_spaces_requests() -> None:
    """Past the burst, each caller waits one more interval, in order."""
    waits: list[float] = []
    bucket = TokenBucket(10.0, 2, clock=lambda: 0.0, sleep=waits.append)
    assert [bucket.acquire() for _ in range(5)] == pytest.approx([0, 0, 0.1, 0.2, 0.3])
    assert waits == pytest.approx([0.1, 0.2, 0.3])


def test_token_bucket_refills_with_time() -> None:
    """Tokens come back at the rate, up to the capacity."""
    now = [0.0]
    bucket = TokenBucket(10.0, 2, clock=lambda: now[0], sleep=lambda _: None)
    bucket.acquire()
    bucket.acquire()
    now[0] = 10.0  # long enough to refill beyond capacity
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_rate_limit_applies_to_the_client(portal: tuple[Portal, str]) -> None:
    """A client with a low rate waits between requests beyond its burst."""
    _, url = portal
    slept: list[float] = []
    config = ClientConfig(base_url=url, rate_per_s=2.0, burst=1, use_system_proxy=False)
    client = GorzdravClient(config, sleep=slept.append)
    for _ in range(3):
        client.districts()
    assert len(slept) == 2
    assert 0 < slept[0] <= 0.5 < slept[1] <= 1.0  # each waits for its own token
