"""The portal client and the FHIR REST source on the shared HTTP layer, against local servers."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from http_servers import LocalServer, Reply, json_reply, redirect, serve
from routing.adapters.fhir_rest import FhirRestSource
from routing.adapters.gorzdrav_client import (
    ClientConfig,
    FailureKind,
    GorzdravClient,
    TransportError,
    crawl,
)
from routing.adapters.http import HttpFailureKind, HttpPolicy

DATA = Path(__file__).parent / "data" / "gorzdrav"
WINDOW = (datetime(2025, 2, 17, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))
EMPTY_BUNDLE = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []})
FAST = HttpPolicy(
    timeout_s=5.0,
    deadline_s=30.0,
    max_attempts=3,
    backoff_initial_s=0.001,
    backoff_max_s=0.005,
    use_system_proxy=False,
)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A local HTTP server."""
    with serve() as running:
        yield running


@pytest.fixture
def other() -> Iterator[LocalServer]:
    """A second local HTTP server: another origin."""
    with serve() as running:
        yield running


@pytest.fixture
def tls_server() -> Iterator[LocalServer]:
    """A local HTTPS server with a certificate of a CA nobody trusts."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    with serve(context) as running:
        yield running


def portal_client(base_url: str, **overrides: object) -> GorzdravClient:
    """A fast portal client (tiny backoff, loose rate limit, no proxy)."""
    settings = {**FAST.model_dump(), "base_url": base_url, "rate_per_s": 10_000.0, "burst": 100}
    settings.update(overrides)
    return GorzdravClient(ClientConfig.model_validate(settings))


# --------------------------------------------------------------------------- FHIR REST


def test_fhir_rest_does_not_forward_authorization_to_another_host(
    server: LocalServer, other: LocalServer
) -> None:
    """A 302 to another port: the search follows it without the Authorization header."""
    server.route("/fhir/Slot", redirect(other.url("/fhir/Slot")))
    other.route("/fhir/Slot", json_reply(EMPTY_BUNDLE))
    headers = {"Authorization": "Bearer s3cret"}
    with FhirRestSource(server.url("/fhir"), include_actors=False, headers=headers) as source:
        batch = source.fetch(*WINDOW)
    assert batch.issues == ()
    assert server.received[0].header("Authorization") == "Bearer s3cret"
    (landed,) = other.received
    assert landed.header("Authorization") is None


def test_fhir_rest_same_origin_redirect_keeps_authorization(server: LocalServer) -> None:
    """A redirect on the same server keeps the Authorization header."""
    server.route("/fhir/Slot", redirect("/fhir/v2/Slot", 308))
    server.route("/fhir/v2/Slot", json_reply(EMPTY_BUNDLE))
    headers = {"Authorization": "Bearer s3cret"}
    with FhirRestSource(server.url("/fhir"), include_actors=False, headers=headers) as source:
        assert source.fetch(*WINDOW).issues == ()
    assert server.received[1].header("Authorization") == "Bearer s3cret"


def test_fhir_rest_malformed_page_is_an_issue_not_retried(server: LocalServer) -> None:
    """A page that is not JSON is a non-retryable issue; the page is asked once."""
    server.route("/fhir/Slot", json_reply('{"resourceType": "Bund'))
    with FhirRestSource(server.url("/fhir"), include_actors=False, policy=FAST) as source:
        batch = source.fetch(*WINDOW)
    (issue,) = batch.issues
    assert (issue.record, issue.retryable) == ("page 1", False)
    assert issue.reason.startswith("malformed: not valid JSON")
    assert server.hits("/fhir/Slot") == 1


def test_fhir_rest_retries_a_503_then_reads(server: LocalServer) -> None:
    """A 503 with Retry-After 0 then the page: read after one retry, no issue."""
    server.route("/fhir/Slot", Reply(503, headers={"Retry-After": "0"}), json_reply(EMPTY_BUNDLE))
    with FhirRestSource(server.url("/fhir"), include_actors=False, policy=FAST) as source:
        assert source.fetch(*WINDOW).issues == ()
    assert server.hits("/fhir/Slot") == 2


def test_fhir_rest_untrusted_certificate_is_a_tls_issue(tls_server: LocalServer) -> None:
    """An untrusted certificate is a non-retryable TLS issue after one connection."""
    tls_server.route("/fhir/Slot", json_reply(EMPTY_BUNDLE))
    with FhirRestSource(tls_server.url("/fhir"), include_actors=False, policy=FAST) as source:
        batch = source.fetch(*WINDOW)
    (issue,) = batch.issues
    assert issue.reason.startswith("tls: TLS certificate verify failed")
    assert not issue.retryable
    assert tls_server.connections == 1


def test_fhir_rest_pages_share_one_connection(server: LocalServer) -> None:
    """The metadata and the search pages of one source go over one TCP connection."""
    page2 = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []})
    page1 = json.dumps(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [],
            "link": [{"relation": "next", "url": server.url("/fhir/Slot?page=2")}],
        }
    )
    server.route("/fhir/metadata", json_reply('{"resourceType": "CapabilityStatement"}'))
    server.route("/fhir/Slot", json_reply(page1), json_reply(page2))
    with FhirRestSource(server.url("/fhir"), policy=FAST) as source:
        assert source.fetch(*WINDOW).issues == ()
    assert [r.path.split("?")[0] for r in server.received] == [
        "/fhir/metadata",
        "/fhir/Slot",
        "/fhir/Slot",
    ]
    assert server.connections == 1


# --------------------------------------------------------------------------- portal


def test_portal_untrusted_certificate_fails_at_once(tls_server: LocalServer) -> None:
    """The portal client reports an untrusted certificate as a TLS failure, not retried."""
    with portal_client(tls_server.url("/api")) as client:
        result = crawl(client, *WINDOW)
    assert [(f.endpoint, f.kind, f.retryable) for f in result.failures] == [
        ("/shared/districts", FailureKind.TLS, False)
    ]
    assert result.requests == 1
    assert tls_server.connections == 1


def test_portal_trickle_is_cut_at_the_deadline(server: LocalServer) -> None:
    """A trickling portal answer fails as a deadline failure, the endpoint named."""
    server.route("/api/shared/districts", Reply(200, b"{" * 50, trickle=0.2))
    client = portal_client(server.url("/api"), deadline_s=0.5)
    with client, pytest.raises(TransportError) as caught:
        client.districts()
    error = caught.value
    assert (error.endpoint, error.kind, error.retryable) == (
        "/shared/districts",
        FailureKind.DEADLINE,
        True,
    )
    assert str(error).startswith("gorzdrav /shared/districts: deadline")


def test_portal_honours_retry_after(server: LocalServer) -> None:
    """A 429 with Retry-After 3 makes the portal client wait 3 s (injected sleep), then read."""
    districts = (DATA / "DistrictListResponse_example.json").read_bytes()
    server.route(
        "/api/shared/districts", Reply(429, headers={"Retry-After": "3"}), Reply(200, districts)
    )
    slept: list[float] = []
    config = ClientConfig.model_validate(
        {**FAST.model_dump(), "base_url": server.url("/api"), "rate_per_s": 1e4, "burst": 100}
    )
    with GorzdravClient(config, sleep=slept.append) as client:
        assert len(client.districts().records) == 18
        assert (client.requests, client.retries) == (2, 1)
    assert slept == [3.0]


def test_portal_redirect_to_another_host_is_followed_without_credentials(
    server: LocalServer, other: LocalServer
) -> None:
    """The portal moved: the client follows the redirect and reuses its pool on the new host."""
    districts = (DATA / "DistrictListResponse_example.json").read_bytes()
    server.route("/api/shared/districts", redirect(other.url("/v3/shared/districts"), 301))
    other.route("/v3/shared/districts", Reply(200, districts))
    with portal_client(server.url("/api")) as client:
        assert len(client.districts().records) == 18
        assert client.requests == 2
    assert other.received[0].header("Accept") == "application/json"


def test_every_http_failure_kind_is_a_portal_failure_kind() -> None:
    """Each kind of the HTTP layer has a portal FailureKind of the same value."""
    assert {kind.value for kind in HttpFailureKind} <= {kind.value for kind in FailureKind}
