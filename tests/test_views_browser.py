"""The patient's and the doctor's pages in a real browser: headless Chromium through Playwright.

The system's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it when missing) is launched
headless. These tests never skip: a missing browser or Playwright fails them. Each page's
screenshot is kept as a test artefact in ``$ROUTING_TEST_ARTIFACTS`` (default
``test-artifacts/`` at the repository root).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from icalendar import Calendar
from playwright.sync_api import Browser, Page, sync_playwright

from browser_helpers import keep_screenshot
from routing.cli import EXIT_OK, main
from routing.problem import dump_problem
from view_helpers import choice_problem

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is missing: apt-get install chromium (.ci/run does it)"
    return found


def _artifacts() -> Path:
    default = Path(__file__).resolve().parent.parent / "test-artifacts"
    directory = Path(os.environ.get("ROUTING_TEST_ARTIFACTS", default))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless system Chromium."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page that accepts downloads."""
    context = browser.new_context(accept_downloads=True, locale="ru-RU")
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CLI's timeline and proposal of the example's first request, in Russian."""
    out = tmp_path_factory.mktemp("views")
    assert main(["-q", "timeline", "--example", "--request", "R-0001", "-o", str(out)]) == EXIT_OK
    assert main(["-q", "propose", "--example", "--request", "R-0001", "-o", str(out)]) == EXIT_OK
    choice = out / "choice"
    problem = out / "choice.json"
    problem.write_text(dump_problem(choice_problem()), encoding="utf-8")
    assert main(["-q", "propose", str(problem), "--lang", "en", "-o", str(choice)]) == EXIT_OK
    return out


def test_patient_page_renders_every_stage_in_russian(page: Page, rendered: Path) -> None:
    """The timeline page loads, shows all five stages in order and its Russian text as text."""
    page.goto((rendered / "timeline.html").as_uri())
    assert page.title() == "Ваши записи"
    assert page.locator("h1").inner_text() == "Ваши записи"
    steps = page.locator("li.item[data-step]")
    assert steps.count() == 5
    assert [steps.nth(n).get_attribute("data-step") for n in range(5)] == list("12345")
    first = steps.nth(0)
    assert "понедельник, 2 марта 2026" in first.inner_text()
    assert "Консультация специалиста" in first.locator(".label").inner_text()
    assert first.locator(".address").inner_text() == (
        "193079, Санкт-Петербург, пр. Дальневосточный, д. 63"
    )
    remote = page.locator("li.item.remote")
    assert remote.count() == 1
    assert "Дистанционно" in remote.inner_text()
    assert remote.locator(".address").count() == 0
    # The full facility name is laid out, not cut: its text equals the source's.
    name = 'СПб ГБУЗ "Госпиталь для ветеранов войн" Центр амбулаторной онкологической помощи'
    assert first.locator(".facility").inner_text() == name
    box = first.locator(".facility").bounding_box()
    assert box is not None
    assert box["width"] > 0
    assert box["height"] > 0
    keep_screenshot(page, _artifacts() / "patient-timeline.png")
    assert (_artifacts() / "patient-timeline.png").stat().st_size > 1000


def test_patient_page_ics_link_downloads_a_calendar(page: Page, rendered: Path) -> None:
    """Clicking the calendar link downloads route.ics, which parses with one event per stage."""
    page.goto((rendered / "timeline.html").as_uri())
    with page.expect_download() as info:
        page.locator("#ics-link").click()
    download = info.value
    assert download.suggested_filename == "route.ics"
    saved = _artifacts() / "route.ics"
    download.save_as(str(saved))
    calendar = Calendar.from_ical(saved.read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 5
    assert saved.read_bytes() == (rendered / "route.ics").read_bytes()
    assert "Консультация специалиста" in str(events[0]["SUMMARY"])


def test_doctor_page_renders_the_options(page: Page, rendered: Path) -> None:
    """The proposal page loads with the fastest route, all its stages and deadlines, in Russian."""
    page.goto((rendered / "proposal.html").as_uri())
    assert page.locator("h1").inner_text() == "Предлагаемые маршруты"
    fastest = page.locator('section[data-kind="fastest"]')
    assert fastest.count() == 1
    assert fastest.locator("tr[data-stage]").count() == 5
    assert "Самый быстрый маршрут" in fastest.locator("h2").inner_text()
    assert fastest.locator("ul.deadlines li").count() == 5
    assert page.locator("section.option").count() >= 1
    keep_screenshot(page, _artifacts() / "doctor-proposal.png")
    assert (_artifacts() / "doctor-proposal.png").stat().st_size > 1000


def test_doctor_page_shows_alternatives_that_differ(page: Page, rendered: Path) -> None:
    """With real alternatives, the page shows all four options with their reasons, in English."""
    page.goto((rendered / "choice" / "proposal.html").as_uri())
    kinds = page.locator("section.option").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds == ["fastest", "fewer_visit_days", "closer", "preferred"]
    why = page.locator('section[data-kind="fewer_visit_days"] .why').inner_text()
    assert "1 fewer visit day(s)" in why
    assert "later" in why
    for n in range(4):
        assert page.locator("section.option").nth(n).locator("tr[data-stage]").count() == 3
    keep_screenshot(page, _artifacts() / "doctor-alternatives.png")
