"""The HTTP service over a real uvicorn server: endpoints, roles, problem documents, races."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from http_servers import closed_port
from routing.examples import load_example
from routing.exceptions import InvalidInputError
from routing.lifecycle import RouteState, Service
from routing.result import RouteResult
from routing.service.auth import link_token
from routing.service.settings import TOKENS_ENV, ServiceSettings, read_tokens
from routing.views.proposals import Proposal
from routing.views.timeline import Timeline
from service_helpers import CLINICIAN, SECRET, clinician_headers, running_service

PROBLEM = load_example()
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def _request(index: int, **update: Any) -> dict[str, Any]:
    data: dict[str, Any] = PROBLEM.requests[index].model_dump(mode="json")
    data.update(update)
    return data


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One service for the module; R-0001 is planned in it by the first test that needs it."""
    with running_service(tmp_path_factory.mktemp("service")) as base:
        with httpx.Client(base_url=base, headers=clinician_headers(), timeout=120) as client:
            reply = client.post("/routes/plan", json=_request(0))
            assert reply.status_code == 200, reply.text
        yield base


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    """A clinician's client."""
    with httpx.Client(base_url=url, headers=clinician_headers(), timeout=120) as c:
        yield c


@pytest.fixture
def anonymous(url: str) -> Iterator[httpx.Client]:
    """A client without credentials."""
    with httpx.Client(base_url=url, timeout=120) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_problem(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    return body


def test_plan_returns_the_library_result_and_enters_the_route(client: httpx.Client) -> None:
    """POST /routes/plan answers a RouteResult; the route is then readable, every stage proposed."""
    reply = client.post("/routes/plan", json=_request(1))
    assert reply.status_code == 200, reply.text
    result = RouteResult.model_validate(reply.json())
    assert result.request_id == "R-0002"
    assert result.has_route
    route = RouteState.model_validate(client.get("/routes/R-0002").json())
    assert [s.slot_id for s in route.stages] == [b.slot_id for b in result.bookings]
    assert {s.status.value for s in route.stages} == {"proposed"}


def test_propose_gives_the_fastest_and_alternatives(client: httpx.Client) -> None:
    """POST /routes/propose answers a Proposal whose fastest route is a route of the request."""
    reply = client.post("/routes/propose", json=_request(2))
    assert reply.status_code == 200, reply.text
    proposal = Proposal.model_validate(reply.json())
    assert proposal.request_id == "R-0003"
    assert proposal.fastest.has_route
    _assert_problem(client.get("/routes/R-0003"), 404)


def test_timeline_and_calendar_of_a_planned_route(client: httpx.Client) -> None:
    """The timeline comes in the language asked for; the .ics has one event per stage."""
    route = RouteState.model_validate(client.get("/routes/R-0001").json())
    en = Timeline.model_validate(client.get("/routes/R-0001/timeline?lang=en").json())
    ru = Timeline.model_validate(client.get("/routes/R-0001/timeline?lang=ru").json())
    assert en.language == "en"
    assert ru.language == "ru"
    assert len(en.stages) == len(route.stages)
    assert en.items[0].label != ru.items[0].label
    ics = client.get("/routes/R-0001/route.ics")
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    assert ics.text.count("BEGIN:VEVENT") == len(route.stages)
    _assert_problem(client.get("/routes/R-0001/timeline?lang=de"), 422)


def test_book_books_every_stage_once(client: httpx.Client) -> None:
    """Booking books every stage; again is a conflict; proposals then avoid the full slots."""
    reply = client.post("/routes/plan", json=_request(2, id="R-BOOK"))
    assert reply.status_code == 200, reply.text
    booked = client.post("/routes/R-BOOK/book")
    assert booked.status_code == 200, booked.text
    route = RouteState.model_validate(booked.json())
    assert {s.status.value for s in route.stages} == {"booked"}
    _assert_problem(client.post("/routes/R-BOOK/book"), 409)
    full = {s.slot_id for s in route.stages if PROBLEM.slot(s.slot_id).capacity == 1}  # type: ignore[arg-type]
    assert full
    proposal = Proposal.model_validate(
        client.post("/routes/propose", json=_request(2, id="R-AFTER")).json()
    )
    for option in (proposal.fastest, *(o.result for o in proposal.options)):
        assert not full & {b.slot_id for b in option.bookings}
    _assert_problem(client.post("/routes/R-NONE/book"), 404)


def test_catalogue_and_code_resolution(client: httpx.Client) -> None:
    """The pathway list holds the lung pathway; C34.1 resolves to it; a bad code is a 422."""
    ids = [p["id"] for p in client.get("/pathways").json()]
    assert "zno_lung" in ids
    assert ids == sorted(ids)
    assert client.get("/pathways/zno_lung").json()["id"] == "zno_lung"
    _assert_problem(client.get("/pathways/no_such_pathway"), 404)
    assert client.get("/codes/C34.1/resolve").json()["pathway_id"] == "zno_lung"
    body = _assert_problem(client.get("/codes/Q99.97/resolve"), 422)
    assert "Q99" not in json.dumps(body)


def test_events_endpoint_applies_and_refuses(client: httpx.Client) -> None:
    """POST /events holds a stage of R-0001; an event on an unknown route is a 404 problem."""
    route = RouteState.model_validate(client.get("/routes/R-0001").json())
    stage = route.stages[-1].stage_id
    event = {
        "type": "stage_held",
        "event_id": "R-0001:hold-last",
        "at": "2026-03-02T08:00:00+03:00",
        "route_id": "R-0001",
        "stage_id": stage,
    }
    reply = client.post("/events", json=event)
    assert reply.status_code == 200, reply.text
    assert RouteState.model_validate(reply.json()).stage(stage).status.value == "held"  # type: ignore[union-attr]
    _assert_problem(client.post("/events", json=event), 409)  # the same id twice
    _assert_problem(client.post("/events", json={**event, "event_id": "x", "route_id": "R-?"}), 404)


def test_without_or_with_an_unknown_token_is_401(anonymous: httpx.Client) -> None:
    """No bearer token, or one the service does not know, is refused with 401 everywhere."""
    for path in ("/routes/R-0001", "/pathways", "/routes/R-0001/route.ics"):
        _assert_problem(anonymous.get(path), 401)
        _assert_problem(anonymous.get(path, headers=_bearer("not-a-token")), 401)
    _assert_problem(anonymous.post("/routes/plan", json=_request(0)), 401)


def test_patient_link_reads_its_own_route_only(
    client: httpx.Client, anonymous: httpx.Client
) -> None:
    """A patient link reads its route, timeline and .ics; other routes are 403, changes 403."""
    client.post("/routes/plan", json=_request(1, id="R-OTHER"))
    link = client.get("/routes/R-0001/link").json()
    assert link["token"] == link_token(SECRET, "R-0001")
    patient = _bearer(link["token"])
    assert anonymous.get("/routes/R-0001", headers=patient).status_code == 200
    assert anonymous.get("/routes/R-0001/timeline", headers=patient).status_code == 200
    assert anonymous.get("/routes/R-0001/route.ics", headers=patient).status_code == 200
    _assert_problem(anonymous.get("/routes/R-OTHER", headers=patient), 403)
    _assert_problem(anonymous.get("/routes/R-OTHER/timeline", headers=patient), 403)
    _assert_problem(anonymous.post("/routes/R-0001/book", headers=patient), 403)
    _assert_problem(anonymous.get("/routes/R-0001/link", headers=patient), 403)
    _assert_problem(anonymous.post("/routes/plan", json=_request(0), headers=patient), 403)
    _assert_problem(anonymous.get("/pathways", headers=patient), 403)


def test_bad_request_problem_carries_no_personal_data(client: httpx.Client) -> None:
    """A request with a naive referral and a bad code: a 422 problem naming fields, not values."""
    bad = _request(0, id="R-BAD", referral="2026-03-02T09:00:00", diagnoses=["C34.1", "ZZ9"])
    body = _assert_problem(client.post("/routes/plan", json=bad), 422)
    text = json.dumps(body, ensure_ascii=False)
    assert "referral" in body["detail"]
    for value in ("C34.1", "ZZ9", "2026-03-02", "09:00", "P-7F3A21", "Невский"):
        assert value not in text


def test_openapi_uses_the_library_models(anonymous: httpx.Client) -> None:
    """The OpenAPI document's schemas are the library's pydantic models, field for field."""
    document = anonymous.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("RouteRequest", "RouteResult", "RouteState", "Proposal", "Timeline", "Pathway"):
        assert name in schemas
    assert set(schemas["RouteResult"]["properties"]) == set(RouteResult.model_fields)
    plan = document["paths"]["/routes/plan"]["post"]
    body = plan["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RouteRequest"}
    answer = plan["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/RouteResult"}
    for status in ("401", "403", "422"):
        content = plan["responses"][status]["content"]
        assert content == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }


def test_concurrent_bookings_of_the_last_place_give_one_success(tmp_path: Path) -> None:
    """Eight routes over the same single places, booked at once: one 200, seven 409."""
    with running_service(tmp_path) as base:
        with httpx.Client(base_url=base, headers=clinician_headers(), timeout=120) as client:
            result = RouteResult.model_validate(
                client.post("/routes/plan", json=_request(0)).json()
            )
            stages = [{"stage_id": b.stage_id, "slot_id": b.slot_id} for b in result.bookings]
            routes = ["R-0001"]
            for n in range(7):
                event = {
                    "type": "route_proposed",
                    "event_id": f"race-{n}",
                    "at": "2026-03-02T09:00:00+03:00",
                    "route_id": f"RACE-{n}",
                    "request_id": f"RACE-{n}",
                    "patient_id": f"P-RACE-{n}",
                    "stages": stages,
                }
                assert client.post("/events", json=event).status_code == 200
                routes.append(f"RACE-{n}")
        barrier = threading.Barrier(len(routes))
        statuses: dict[str, int] = {}

        def book(route_id: str) -> None:
            with httpx.Client(base_url=base, headers=clinician_headers(), timeout=120) as c:
                barrier.wait()
                statuses[route_id] = c.post(f"/routes/{route_id}/book").status_code

        threads = [threading.Thread(target=book, args=(r,)) for r in routes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses.values()) == [200] + [409] * 7
        with httpx.Client(base_url=base, headers=clinician_headers(), timeout=120) as client:
            booked = [
                r
                for r in routes
                if {s["status"] for s in client.get(f"/routes/{r}").json()["stages"]} == {"booked"}
            ]
        assert booked == [r for r, s in statuses.items() if s == 200]


def test_settings_need_a_clinician_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without any token configured the settings are refused; tokens come from file and env."""
    monkeypatch.delenv(TOKENS_ENV, raising=False)
    with pytest.raises(InvalidInputError, match="clinician_tokens"):
        ServiceSettings.from_sources()
    tokens = tmp_path / "tokens"
    tokens.write_text("# clinicians\nalpha\nbeta, gamma\n", encoding="utf-8")
    monkeypatch.setenv(TOKENS_ENV, "delta")
    settings = ServiceSettings.from_sources(token_file=tokens)
    assert {t.get_secret_value() for t in settings.clinician_tokens} == {
        "alpha",
        "beta",
        "gamma",
        "delta",
    }
    assert read_tokens(" a ,b # c") == ["a", "b"]


def test_cli_serve_starts_the_service(tmp_path: Path) -> None:
    """``routing serve`` listens on the port asked for, answers a clinician, logs no code."""
    free_port = closed_port()
    problem = tmp_path / "p.json"
    problem.write_text(load_example().model_dump_json(), encoding="utf-8")
    tokens = tmp_path / "tokens"
    tokens.write_text(CLINICIAN + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [
        sys.executable,
        "-m",
        "routing",
        "serve",
        "--db",
        f"sqlite:///{tmp_path / 'j.db'}",
        "--problem",
        str(problem),
        "--port",
        str(free_port),
        "--token-file",
        str(tokens),
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{free_port}/pathways/zno_lung"
        for _ in range(600):
            try:
                reply = httpx.get(url, headers=clinician_headers(), timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, "routing serve exited"
                time.sleep(0.1)
        else:
            pytest.fail("routing serve did not answer")
        assert reply.status_code == 200
        assert reply.json()["id"] == "zno_lung"
        resolved = httpx.get(
            f"http://127.0.0.1:{free_port}/codes/C34.1/resolve",
            headers=clinician_headers(),
            timeout=30,
        )
        assert resolved.json()["pathway_id"] == "zno_lung"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert b"C34" not in stderr  # no access log line with the code


def test_a_restarted_service_serves_the_same_route_and_timeline(tmp_path: Path) -> None:
    """Over the same journal, a new process publishes nothing again and shows the same items."""
    with (
        running_service(tmp_path) as base,
        httpx.Client(base_url=base, headers=clinician_headers(), timeout=120) as client,
    ):
        assert client.post("/routes/plan", json=_request(0)).status_code == 200
        before = Timeline.model_validate(client.get("/routes/R-0001/timeline").json())
        route = client.get("/routes/R-0001").json()
    with (
        running_service(tmp_path) as base,
        httpx.Client(base_url=base, headers=clinician_headers(), timeout=120) as client,
    ):
        assert client.get("/routes/R-0001").json() == route
        after = Timeline.model_validate(client.get("/routes/R-0001/timeline").json())
        link = client.get("/routes/R-0001/link").json()["token"]
        assert httpx.get(f"{base}/routes/R-0001", headers=_bearer(link)).status_code == 200
    assert after.items == before.items
    with Service.open(f"sqlite:///{tmp_path / 'journal.db'}") as service:
        assert len(service.journal) == 2  # published once, proposed once


def test_timeline_follows_a_revised_route(client: httpx.Client) -> None:
    """A route entered by an event and then revised shows its current slot on the timeline."""
    planned = RouteResult.model_validate(
        client.post("/routes/plan", json=_request(1, id="R-REV")).json()
    )
    first = planned.bookings[0]
    other = next(
        s
        for s in PROBLEM.slots
        if s.service == first.service and s.id != first.slot_id and s.start > first.start
    )
    stages = [{"stage_id": b.stage_id, "slot_id": b.slot_id} for b in planned.bookings]
    stages[0]["slot_id"] = other.id
    event = {
        "type": "route_revised",
        "event_id": "R-REV:revised",
        "at": "2026-03-03T12:00:00+03:00",
        "route_id": "R-REV",
        "stages": stages,
    }
    reply = client.post("/events", json=event)
    assert reply.status_code == 200, reply.text
    timeline = Timeline.model_validate(client.get("/routes/R-REV/timeline?lang=en").json())
    assert other.start in [item.start for item in timeline.stages]
    assert first.start not in [item.start for item in timeline.stages]


def test_service_docstring_examples_run() -> None:
    """The examples in the service modules' docstrings hold."""
    import doctest

    from routing.service import app, auth, settings

    for module in (app, auth, settings):
        result = doctest.testmod(module)
        assert result.failed == 0
        assert result.attempted > 0
