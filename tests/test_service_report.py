"""``GET /report``: the manager's report served over a real uvicorn server, roles and a browser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright
from pydantic import SecretStr

from browser_helpers import keep_screenshot
from manager_helpers import BROWSER_ARGS
from routing.examples import BATCH_EXAMPLE, example_text
from routing.exceptions import InvalidInputError
from routing.lifecycle.journal import Journal
from routing.manager.journal import journal_report
from routing.problem import load_problem
from routing.service import ServiceSettings, create_app
from routing.service.auth import link_token
from routing.service.routers.report import CONTENT_SECURITY_POLICY
from routing.service.server import serving
from routing.service.settings import MANAGER_TOKENS_ENV, TOKENS_ENV
from service_helpers import (
    CLINICIAN,
    MANAGER,
    SECRET,
    clinician_headers,
    example_settings,
    manager_headers,
)

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
PROBLEM = load_problem(example_text(BATCH_EXAMPLE))
PLANNED = [r.id for r in PROBLEM.requests[:4]]
BOOKED = PLANNED[:2]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A service over the contended example: four requests planned, two booked.

    Yields the base URL and the journal's URL.
    """
    directory = tmp_path_factory.mktemp("report-service")
    settings = example_settings(directory, BATCH_EXAMPLE)
    with serving(create_app(settings)) as base:
        with httpx.Client(base_url=base, headers=clinician_headers(), timeout=120) as client:
            for request in PROBLEM.requests[:4]:
                reply = client.post("/routes/plan", json=request.model_dump(mode="json"))
                assert reply.status_code == 200, reply.text
                assert reply.json()["status"] in ("OPTIMAL", "FEASIBLE")
            for route_id in BOOKED:
                assert client.post(f"/routes/{route_id}/book").status_code == 200
        assert settings.db_url is not None
        yield base, settings.db_url


def _get(base: str, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=120) as client:
        return client.get("/report", headers=headers or {}, params=params)


def test_manager_gets_the_html_page(served: tuple[str, str]) -> None:
    """A manager gets the self-contained page, with a policy that forbids loading anything."""
    reply = _get(served[0], manager_headers())
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert reply.headers["cache-control"] == "no-store"
    page = reply.text
    assert "Journal report: the live routes" in page
    assert page.count("<svg") >= 5
    assert 'data-chart="trend"' in page
    assert "<script" not in page


def test_json_figures_are_those_of_the_journal(served: tuple[str, str]) -> None:
    """``format=json``: the figures of the service's journal, each route measured from its
    request's referral (the service planned them), the same as computed from the journal."""
    base, db_url = served
    reply = _get(base, manager_headers(), format="json")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    figures = reply.json()
    assert figures["source"] == "journal"
    assert figures["requests"] == figures["planned"] == len(PLANNED)
    journal = figures["journal"]
    assert (journal["routes"], journal["from_referral"], journal["from_proposal"]) == (4, 4, 0)
    with Journal.open(db_url) as opened:
        events = list(opened.events())
    with Journal.open(db_url) as opened:
        state = opened.state()
    booked = sum(len(state.routes[r].stages) for r in BOOKED)
    # The publication, one proposal per planned route, one booking per stage of the booked.
    assert journal["events"] == len(events) == 1 + len(PLANNED) + booked
    assert sum(e.type == "stage_booked" for e in events) == booked
    expected = journal_report(
        events,
        requests=[r for r in PROBLEM.requests if r.id in PLANNED],
        pathways={p.id: p for p in PROBLEM.pathways},
    )
    assert figures == json.loads(expected.figures.to_json())
    rows = {r["key"] for r in figures["by_district"]}
    assert rows == {r.patient.district for r in PROBLEM.requests[:4]}


def test_choices_pick_the_gantts_and_bad_ones_are_422(served: tuple[str, str]) -> None:
    """``patient`` picks the route Gantt; an unknown one, or a bad format, is 422 naming it."""
    base = served[0]
    figures = _get(base, manager_headers(), format="json", patient=BOOKED[1]).json()
    assert figures["patient_gantt"]["request_id"] == BOOKED[1]
    for params, field in (
        ({"patient": "NOBODY"}, "'patient'"),
        ({"format": "xml"}, "format"),
        ({"day": "yesterday"}, "day"),
    ):
        reply = _get(base, manager_headers(), **params)
        assert reply.status_code == 422
        assert reply.headers["content-type"] == "application/problem+json"
        assert field in reply.json()["detail"]
        assert "NOBODY" not in reply.text
        assert "yesterday" not in reply.text


def test_only_managers_read_the_report(served: tuple[str, str]) -> None:
    """Clinicians and patient links get 403, no or an unknown token 401."""
    base = served[0]
    link = link_token(SECRET, BOOKED[0])
    for headers, status in (
        (clinician_headers(), 403),
        ({"Authorization": f"Bearer {link}"}, 403),
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
    ):
        reply = _get(base, headers)
        assert reply.status_code == status, headers
        assert reply.headers["content-type"] == "application/problem+json"
        assert "Journal report" not in reply.text


def test_a_manager_token_reads_nothing_else(served: tuple[str, str]) -> None:
    """A manager token is refused (403) by the clinicians' and patients' endpoints."""
    base = served[0]
    with httpx.Client(base_url=base, headers=manager_headers(), timeout=120) as client:
        assert client.get(f"/routes/{BOOKED[0]}").status_code == 403
        assert client.get(f"/routes/{BOOKED[0]}/timeline").status_code == 403
        assert client.get("/pathways").status_code == 403
        reply = client.post("/routes/plan", json=PROBLEM.requests[5].model_dump(mode="json"))
        assert reply.status_code == 403
        assert reply.json()["detail"] == "a manager token may only read the report"


def test_an_empty_journal_gives_an_empty_report(tmp_path: Path) -> None:
    """A service with no problem file and no event: an empty, correct report, not an error."""
    settings = ServiceSettings(
        db_url=f"sqlite:///{tmp_path / 'journal.db'}",
        clinician_tokens=frozenset({SecretStr(CLINICIAN)}),
        manager_tokens=frozenset({SecretStr(MANAGER)}),
    )
    with serving(create_app(settings)) as base:
        figures = _get(base, manager_headers(), format="json").json()
        page = _get(base, manager_headers())
    assert (figures["requests"], figures["journal"]["events"], figures["trend"]) == (0, 0, [])
    assert page.status_code == 200
    assert "<svg" not in page.text
    assert "no data: the journal has no route event yet" in page.text


def test_manager_tokens_from_a_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Manager tokens come from a file and the environment; one that is also a clinician's is
    refused naming the field."""
    monkeypatch.setenv(TOKENS_ENV, "c1")
    monkeypatch.setenv(MANAGER_TOKENS_ENV, "m1")
    managers = tmp_path / "managers.txt"
    managers.write_text("m2 # the second\n", encoding="utf-8")
    settings = ServiceSettings.from_sources(manager_token_file=managers)
    assert {t.get_secret_value() for t in settings.manager_tokens} == {"m1", "m2"}
    monkeypatch.setenv(MANAGER_TOKENS_ENV, "c1")
    with pytest.raises(InvalidInputError, match="manager_tokens"):
        ServiceSettings.from_sources()


def test_served_report_renders_in_chromium(served: tuple[str, str]) -> None:
    """The page as served renders in headless Chromium: every chart, no console error (a
    blocked load under the page's policy would be one), nothing else requested."""
    base = served[0]
    url = f"{base}/report"
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            context = browser.new_context(extra_http_headers=manager_headers())
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            reply = page.goto(url, wait_until="load")
            assert reply is not None
            assert reply.status == 200
            charts = page.locator("figure.chart")
            ids = [charts.nth(i).get_attribute("data-chart") for i in range(charts.count())]
            drawn = page.locator("figure.chart svg").count()
            notes = page.locator("figure.chart .no-data").count()
            text = page.inner_text("body")
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "manager_report_served.png"
            keep_screenshot(page, shot)
        finally:
            browser.close()
    assert errors == []
    assert requests == [url]
    assert {"compliance-pathway", "completion", "trend", "gantt-patient"} <= set(ids)
    assert drawn + notes == len(ids)
    assert drawn >= 5
    assert "Journal report: the live routes" in text
    assert shot.stat().st_size > 10_000


def test_the_report_follows_the_journal(tmp_path: Path) -> None:
    """The report is made again when the journal grows (a route planned in between)."""
    app = create_app(example_settings(tmp_path, BATCH_EXAMPLE))
    with (
        serving(app) as base,
        httpx.Client(base_url=base, headers=clinician_headers(), timeout=120) as client,
    ):
        first = PROBLEM.requests[10].model_dump(mode="json")
        assert client.post("/routes/plan", json=first).status_code == 200
        before = _get(base, manager_headers(), format="json").json()
        again = _get(base, manager_headers(), format="json").json()
        second = PROBLEM.requests[11].model_dump(mode="json")
        assert client.post("/routes/plan", json=second).status_code == 200
        after = _get(base, manager_headers(), format="json").json()
    assert before == again
    assert (before["requests"], after["requests"]) == (1, 2)
    assert after["journal"]["events"] == before["journal"]["events"] + 1
