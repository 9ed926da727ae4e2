"""The shared HTTP layer against real local servers: redirects, retries, deadline, TLS, pooling."""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from http_servers import (
    LocalServer,
    Received,
    Reply,
    closed_port,
    json_reply,
    redirect,
    serve,
)
from routing.adapters.http import (
    HttpClient,
    HttpError,
    HttpFailureKind,
    HttpPolicy,
    parse_retry_after,
)

FAST = HttpPolicy(
    timeout_s=5.0,
    deadline_s=30.0,
    max_attempts=3,
    backoff_initial_s=0.001,
    backoff_max_s=0.005,
    use_system_proxy=False,
)
SECRET = {"Authorization": "Bearer s3cret", "Cookie": "session=abc"}


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A local HTTP server."""
    with serve() as running:
        yield running


@pytest.fixture
def other() -> Iterator[LocalServer]:
    """A second local HTTP server on another port: another origin."""
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A certificate authority no system trusts."""
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[LocalServer]:
    """A local HTTPS server whose certificate ``ca`` signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with serve(context) as running:
        yield running


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    """The CA's certificate as a PEM file."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def client(policy: HttpPolicy = FAST, **kwargs: Any) -> HttpClient:
    """A client named "test" with ``policy``."""
    kwargs.setdefault("name", "test")
    return HttpClient(policy, **kwargs)


def failure(call: Any) -> HttpError:
    """The HttpError that ``call()`` raises."""
    with pytest.raises(HttpError) as caught:
        call()
    return caught.value


# --------------------------------------------------------------------------- redirects


def test_redirect_to_another_port_drops_credentials(
    server: LocalServer, other: LocalServer
) -> None:
    """A redirect to another origin sends no Authorization, Cookie or client credential there."""
    server.route("/start", redirect(other.url("/land")))
    other.route("/land", json_reply('{"ok": true}'))
    with client(credentials={"X-Api-Key": "k3y"}) as http:
        answer = http.get_json(
            server.url("/start"), endpoint="/start", headers={**SECRET, "X-Trace": "t1"}
        )
    assert answer == {"ok": True}
    (first,) = server.received
    assert (first.header("Authorization"), first.header("Cookie")) == (
        "Bearer s3cret",
        "session=abc",
    )
    assert first.header("X-Api-Key") == "k3y"
    (second,) = other.received
    assert second.header("Authorization") is None
    assert second.header("Cookie") is None
    assert second.header("X-Api-Key") is None
    assert second.header("X-Trace") == "t1"  # not a credential: kept


def test_same_origin_redirect_keeps_credentials(server: LocalServer) -> None:
    """A redirect within the same origin keeps the credentials."""
    server.route("/start", redirect("/land", 307))
    server.route("/land", json_reply("[1, 2]"))
    with client(credentials={"Authorization": "Bearer s3cret"}) as http:
        assert http.get_json(server.url("/start"), endpoint="/start") == [1, 2]
    assert [r.path for r in server.received] == ["/start", "/land"]
    assert server.received[1].header("Authorization") == "Bearer s3cret"


def test_cookies_set_by_one_server_are_never_sent(server: LocalServer, other: LocalServer) -> None:
    """The client keeps no cookie jar: a Set-Cookie is not replayed to any server."""
    server.route("/a", json_reply("1", **{"Set-Cookie": "track=1; Path=/"}))
    other.route("/b", json_reply("2"))
    with client() as http:
        http.get_json(server.url("/a"), endpoint="/a")
        http.get_json(server.url("/a"), endpoint="/a")
        http.get_json(other.url("/b"), endpoint="/b")
    assert all(r.header("Cookie") is None for r in server.received + other.received)


def test_https_to_http_redirect_is_refused(
    tls_server: LocalServer, server: LocalServer, ca_file: str
) -> None:
    """A redirect from https to http fails as a redirect error; the http server is not asked."""
    tls_server.route("/start", redirect(server.url("/land")))
    with client(FAST.model_copy(update={"ca_file": ca_file})) as http:
        error = failure(lambda: http.get_json(tls_server.url("/start"), endpoint="/start"))
    assert (error.kind, error.retryable) == (HttpFailureKind.REDIRECT, False)
    assert "https to http" in error.detail
    assert server.received == []
    assert tls_server.hits("/start") == 1


def test_redirect_loop_stops_at_the_limit(server: LocalServer) -> None:
    """A loop of redirects fails after max_redirects hops, without retries."""
    server.route("/loop", redirect("/loop"))
    policy = FAST.model_copy(update={"max_redirects": 3})
    with client(policy) as http:
        error = failure(lambda: http.get_json(server.url("/loop"), endpoint="/loop"))
    assert error.kind is HttpFailureKind.REDIRECT
    assert error.detail == "more than 3 redirects"
    assert server.hits("/loop") == 4
    assert str(error).startswith("/loop: redirect")


def test_redirect_to_a_non_http_url_is_refused(server: LocalServer) -> None:
    """A Location that is not http(s) is a redirect error."""
    server.route("/start", redirect("file:///etc/passwd"))
    with client() as http:
        error = failure(lambda: http.get_json(server.url("/start"), endpoint="/start"))
    assert error.kind is HttpFailureKind.REDIRECT


def test_redirect_without_location_is_a_redirect_error(server: LocalServer) -> None:
    """A 302 with no Location is not handed to the reader: a redirect error, not retried."""
    server.route("/x", Reply(302, b"{}"))
    with client() as http:
        error = failure(lambda: http.get_json(server.url("/x"), endpoint="/x"))
    assert (error.kind, error.retryable) == (HttpFailureKind.REDIRECT, False)
    assert server.hits("/x") == 1


def test_post_redirected_by_303_becomes_get_without_body(server: LocalServer) -> None:
    """POST then 303: the next request is a GET with no body; the JSON body was sent once."""
    server.route("/create", redirect("/result", 303))
    server.route("/result", json_reply('{"id": "A1"}'))
    with client() as http:
        answer = http.request(
            "POST",
            server.url("/create"),
            endpoint="/create",
            json_body={"slot": "S1"},
            read=lambda r: r.json("/create"),
        )
    assert answer == {"id": "A1"}
    post, get = server.received
    assert (post.method, post.body, post.header("Content-Type")) == (
        "POST",
        b'{"slot": "S1"}',
        "application/json",
    )
    assert (get.method, get.body, get.header("Content-Type")) == ("GET", b"", None)


# --------------------------------------------------------------------------- retries


def test_5xx_then_success_is_retried(server: LocalServer) -> None:
    """A 502 then a good answer: one retry, the answer returned."""
    server.route("/x", Reply(502, b"bad gateway"), json_reply('{"n": 1}'))
    slept: list[float] = []
    with client(sleep=slept.append) as http:
        assert http.get_json(server.url("/x"), endpoint="/x") == {"n": 1}
        assert (http.requests, http.retries) == (2, 1)
    assert len(slept) == 1


def test_429_then_success_is_retried(server: LocalServer) -> None:
    """A 429 without Retry-After then a good answer: retried after the backoff."""
    server.route("/x", Reply(429), json_reply("true"))
    slept: list[float] = []
    with client(sleep=slept.append) as http:
        assert http.get_json(server.url("/x"), endpoint="/x") is True
    assert slept == [FAST.backoff("/x", 0, "test")]


def test_persistent_5xx_fails_after_max_attempts(server: LocalServer) -> None:
    """A 500 every time fails as a retryable http_status error after max_attempts."""
    server.route("/x", Reply(500))
    with client(sleep=lambda _: None) as http:
        error = failure(lambda: http.get_json(server.url("/x"), endpoint="/x"))
    assert (error.kind, error.status, error.retryable) == (HttpFailureKind.HTTP_STATUS, 500, True)
    assert server.hits("/x") == 3


def test_client_error_is_not_retried(server: LocalServer) -> None:
    """A 404 fails at once and is not retryable."""
    with client() as http:
        error = failure(lambda: http.get_json(server.url("/missing"), endpoint="/missing"))
    assert (error.status, error.retryable) == (404, False)
    assert server.hits("/missing") == 1


def test_retry_after_seconds_is_honoured(server: LocalServer) -> None:
    """A 503 with Retry-After: 7 makes the client wait at least 7 s before trying again."""
    server.route("/x", Reply(503, headers={"Retry-After": "7"}), json_reply("1"))
    slept: list[float] = []
    with client(sleep=slept.append) as http:
        assert http.get_json(server.url("/x"), endpoint="/x") == 1
    assert slept == [7.0]


def test_retry_after_http_date_is_honoured(server: LocalServer) -> None:
    """A 429 with Retry-After as an HTTP date 20 s ahead makes the client wait about 20 s."""
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    server.route("/x", Reply(429, headers={"Retry-After": when}), json_reply("1"))
    slept: list[float] = []
    with client(sleep=slept.append) as http:
        assert http.get_json(server.url("/x"), endpoint="/x") == 1
    (wait,) = slept
    assert 15.0 <= wait <= 20.0


def test_retry_after_past_the_deadline_fails_at_once(server: LocalServer) -> None:
    """A Retry-After beyond the call's deadline is not waited: the error is raised at once."""
    server.route("/x", Reply(503, headers={"Retry-After": "120"}), json_reply("1"))
    slept: list[float] = []
    with client(sleep=slept.append) as http:
        error = failure(lambda: http.get_json(server.url("/x"), endpoint="/x"))
    assert slept == []
    assert (error.status, error.retry_after, error.retryable) == (503, 120.0, True)
    assert server.hits("/x") == 1


def test_post_is_not_retried_on_5xx_but_on_429(server: LocalServer) -> None:
    """A POST that may have been processed (500) is not repeated; one refused with 429 is."""
    server.route("/book", Reply(500), json_reply("1"))
    with client(sleep=lambda _: None) as http:
        error = failure(
            lambda: http.request(
                "POST", server.url("/book"), endpoint="/book", json_body={}, read=lambda r: r
            )
        )
        assert (error.status, error.retryable) == (500, False)
        assert server.hits("/book") == 1
        server.route("/book", Reply(429), json_reply("2"))
        answer = http.request(
            "POST", server.url("/book"), endpoint="/book", json_body={}, read=lambda r: r.body
        )
    assert answer == b"2"
    assert server.hits("/book") == 3


def test_hang_up_is_a_retryable_connection_failure(server: LocalServer) -> None:
    """A server that closes without answering gives a connection failure after the retries."""
    server.route("/x", Reply(0))
    with client(sleep=lambda _: None) as http:
        error = failure(lambda: http.get_json(server.url("/x"), endpoint="/x"))
    assert (error.kind, error.retryable) == (HttpFailureKind.CONNECTION, True)
    assert server.hits("/x") == 3


def test_connection_refused_is_retried_then_reported() -> None:
    """A closed port: every attempt fails to connect; a retryable connection failure."""
    slept: list[float] = []
    with client(sleep=slept.append) as http:
        url = f"http://127.0.0.1:{closed_port()}/x"
        error = failure(lambda: http.get_json(url, endpoint="/x"))
        assert http.requests == 3
    assert (error.kind, error.detail, error.retryable) == (
        HttpFailureKind.CONNECTION,
        "could not connect",
        True,
    )
    assert len(slept) == 2


def test_errors_of_the_reader_are_retried_when_they_say_so(server: LocalServer) -> None:
    """An error type in retry_on with retryable true is retried; the error status hook runs."""

    class BusyError(Exception):
        retryable = True

    server.route("/x", json_reply('{"busy": true}'), Reply(500, b"busy"), json_reply("{}"))
    statuses: list[tuple[int, bytes]] = []

    def read(response: Any) -> Any:
        data = response.json("/x")
        if data.get("busy"):
            raise BusyError
        return data

    def on_status(status: int, body: bytes) -> None:
        statuses.append((status, body))
        raise BusyError

    with client(sleep=lambda _: None) as http:
        answer = http.request(
            "GET",
            server.url("/x"),
            endpoint="/x",
            read=read,
            on_error_status=on_status,
            retry_on=(BusyError,),
        )
    assert answer == {}
    assert statuses == [(500, b"busy")]
    assert server.hits("/x") == 3


# --------------------------------------------------------------------------- answers


def test_malformed_json_is_a_malformed_error_not_retried(server: LocalServer) -> None:
    """Truncated JSON fails as malformed, tried once, the message naming the endpoint only."""
    server.route("/x", json_reply('{"patient": "Ivanov'))
    with client() as http:
        error = failure(lambda: http.get_json(server.url("/x?name=Ivanov"), endpoint="/x"))
    assert (error.kind, error.retryable) == (HttpFailureKind.MALFORMED, False)
    assert "Ivanov" not in str(error)
    assert str(error).startswith("/x: malformed: not valid JSON")
    assert server.hits("/x") == 1


def test_answer_larger_than_the_limit_is_refused(server: LocalServer) -> None:
    """A body beyond max_body_bytes fails as malformed."""
    server.route("/x", json_reply("[" + "1," * 100 + "1]"))
    policy = FAST.model_copy(update={"max_body_bytes": 50})
    with client(policy) as http:
        error = failure(lambda: http.get_json(server.url("/x"), endpoint="/x"))
    assert error.kind is HttpFailureKind.MALFORMED
    assert "larger than 50 bytes" in error.detail


def test_trickling_server_is_cut_at_the_deadline(server: LocalServer) -> None:
    """A server sending a byte every 0.2 s for 10 s fails the call at its 0.5 s deadline."""
    server.route("/x", Reply(200, b"0" * 50, trickle=0.2))
    policy = FAST.model_copy(update={"deadline_s": 0.5})
    started = time.monotonic()
    with client(policy) as http:
        error = failure(lambda: http.get_json(server.url("/x"), endpoint="/x"))
    assert time.monotonic() - started < 5.0  # a bound on behaviour: the server needs 10 s
    assert (error.kind, error.retryable) == (HttpFailureKind.DEADLINE, True)
    assert server.hits("/x") == 1  # no time left to retry


def test_trickling_headers_are_cut_at_the_deadline(server: LocalServer) -> None:
    """A server trickling its status line and headers a byte every 0.2 s is cut at the deadline."""
    server.route("/x", Reply(200, b"1", {"X-Padding": "p" * 40}, trickle=0.2, trickle_head=True))
    policy = FAST.model_copy(update={"deadline_s": 0.5})
    started = time.monotonic()
    with client(policy) as http:
        error = failure(lambda: http.get_json(server.url("/x"), endpoint="/x"))
    assert time.monotonic() - started < 5.0  # a bound on behaviour: the server needs 16 s
    assert (error.kind, error.retryable) == (HttpFailureKind.DEADLINE, True)
    assert server.hits("/x") == 1


def test_deadline_holds_for_hosts_exempt_from_the_system_proxy(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With system proxies and NO_PROXY naming the host, the direct connection keeps the bound."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server.route("/x", Reply(200, b"1", {"X-Padding": "p" * 40}, trickle=0.2, trickle_head=True))
    policy = FAST.model_copy(update={"deadline_s": 0.5, "use_system_proxy": True})
    with client(policy) as http:
        error = failure(lambda: http.get_json(server.url("/x"), endpoint="/x"))
    assert error.kind is HttpFailureKind.DEADLINE


def test_system_proxy_is_used_when_allowed(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is honoured with use_system_proxy and ignored without it."""
    monkeypatch.setenv("HTTP_PROXY", server.origin)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.route("http://portal.invalid/x", json_reply('"via proxy"'))
    proxied = FAST.model_copy(update={"use_system_proxy": True})
    with client(proxied) as http:
        assert http.get_json("http://portal.invalid/x", endpoint="/x") == "via proxy"
    with client() as http:
        error = failure(lambda: http.get_json("http://portal.invalid/x", endpoint="/x"))
    assert error.kind is HttpFailureKind.CONNECTION
    assert server.hits("http://portal.invalid/x") == 1


def test_trickled_answer_within_the_deadline_is_read(server: LocalServer) -> None:
    """A slow answer that completes before the deadline is read whole."""
    server.route("/x", Reply(200, b"[1, 2]", trickle=0.01, trickle_head=True))
    with client() as http:
        assert http.get_json(server.url("/x"), endpoint="/x") == [1, 2]


# --------------------------------------------------------------------------- TLS


def test_untrusted_certificate_fails_at_once(tls_server: LocalServer) -> None:
    """A certificate no trusted CA signed: a TLS error after one connection, no retry."""
    tls_server.route("/x", json_reply("1"))
    slept: list[float] = []
    with client(sleep=slept.append) as http:
        error = failure(lambda: http.get_json(tls_server.url("/x"), endpoint="/x"))
    assert (error.kind, error.retryable) == (HttpFailureKind.TLS, False)
    assert "certificate verify failed" in error.detail
    assert tls_server.connections == 1
    assert tls_server.received == []
    assert slept == []


def test_certificate_of_a_trusted_ca_file_is_accepted(
    tls_server: LocalServer, ca_file: str
) -> None:
    """With the CA's PEM as ca_file the HTTPS server is trusted."""
    tls_server.route("/x", json_reply('{"tls": true}'))
    with client(FAST.model_copy(update={"ca_file": ca_file})) as http:
        assert http.get_json(tls_server.url("/x"), endpoint="/x") == {"tls": True}


# --------------------------------------------------------------------------- pool and jitter


def test_one_connection_pool_per_client(server: LocalServer) -> None:
    """Several calls of one client reuse one TCP connection; a second client opens its own."""
    server.route("/x", json_reply("1"))
    with client() as first, client() as second:
        for _ in range(4):
            first.get_json(server.url("/x"), endpoint="/x")
        assert server.connections == 1
        second.get_json(server.url("/x"), endpoint="/x")
    assert server.connections == 2
    assert server.hits("/x") == 5


def test_two_clients_draw_different_jitter(server: LocalServer) -> None:
    """Clients with other seeds (or names) wait differently; the same seed and name repeat."""
    policy = FAST.model_copy(update={"backoff_initial_s": 1.0, "jitter": 0.5})
    waits: dict[tuple[int, str], list[float]] = {}
    for seed, name in [(1, "a"), (2, "a"), (1, "b"), (1, "a")]:
        server.route("/x", Reply(503), Reply(503), json_reply("1"))
        slept: list[float] = []
        seeded = policy.model_copy(update={"seed": seed})
        with HttpClient(seeded, name=name, sleep=slept.append) as http:
            http.get_json(server.url("/x"), endpoint="/x")
        assert len(slept) == 2
        assert slept == [seeded.backoff("/x", n, name) for n in range(2)]
        if (seed, name) in waits:
            assert waits[seed, name] == slept
        waits[seed, name] = slept
    assert len({tuple(w) for w in waits.values()}) == 3


def test_backoff_doubles_to_the_cap_within_the_jitter() -> None:
    """Each wait lies within jitter of min(cap, initial * 2**n)."""
    policy = HttpPolicy(backoff_initial_s=1.0, backoff_max_s=8.0, jitter=0.5, seed=3)
    for n in range(6):
        base = min(8.0, 2.0**n)
        assert 0.5 * base <= policy.backoff("/p", n, "c") <= 1.5 * base


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_seconds_parse(seconds: int) -> None:
    """Retry-After as delta-seconds reads as that many seconds."""
    assert parse_retry_after(str(seconds)) == float(seconds)


def test_retry_after_unusable_values() -> None:
    """Absent, negative or garbage Retry-After is None; a past date is 0."""
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") is None
    assert parse_retry_after("later") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_error_pickles_with_its_fields() -> None:
    """An HttpError survives pickling (crawl workers may hand it across processes)."""
    import pickle

    error = HttpError(
        "/x", HttpFailureKind.HTTP_STATUS, "HTTP 503", retryable=True, status=503, retry_after=2.0
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.endpoint, copy.kind, copy.status, copy.retry_after, str(copy)) == (
        "/x",
        HttpFailureKind.HTTP_STATUS,
        503,
        2.0,
        str(error),
    )


def test_received_header_lookup_ignores_case() -> None:
    """The test server's record finds headers in any case."""
    assert Received("GET", "/", {"X-A": "1"}, b"").header("x-a") == "1"
