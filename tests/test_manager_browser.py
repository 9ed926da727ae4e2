"""The manager's HTML report in headless Chromium: it renders, every chart is there, no errors.

Runs (never skips) wherever Chromium is installed at /usr/bin/chromium (CI installs it: .ci/run).
Screenshots are kept in ``tests/artifacts/`` (ignored by git) as test artefacts.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

from browser_helpers import keep_screenshot
from manager_helpers import BROWSER_ARGS, batch
from routing.batch import plan_batch
from routing.manager.charts import build_charts
from routing.manager.figures import build_figures
from routing.manager.html import render_html
from routing.manager.tables import build_tables
from routing.slot_index import SlotIndex

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"


def _open(page_file: Path, screenshot: Path) -> dict[str, object]:
    """Open ``page_file`` offline; what the page shows, its console errors, and a screenshot."""
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            figures = page.locator("figure.chart")
            seen = {
                "charts": [
                    figures.nth(i).get_attribute("data-chart") for i in range(figures.count())
                ],
                "svg": [
                    figures.nth(i).get_attribute("data-chart")
                    for i in range(figures.count())
                    if figures.nth(i).locator("svg").count() == 1
                ],
                "no_data": page.locator("figure.chart .no-data").count(),
                "sizes": page.eval_on_selector_all(
                    "figure.chart svg",
                    "els => els.map(e => [e.getBoundingClientRect().width, "
                    "e.getBoundingClientRect().height])",
                ),
                "text": page.inner_text("body"),
                "errors": errors,
                "requests": requests,
            }
            ARTIFACTS.mkdir(exist_ok=True)
            keep_screenshot(page, screenshot)
        finally:
            browser.close()
    print(f"screenshot: {screenshot}")
    return seen


def _page(tmp_path: Path, name: str, html: str) -> Path:
    path = tmp_path / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_report_renders_in_chromium_with_every_chart(tmp_path: Path) -> None:
    """Every chart of the list is drawn as SVG with a size, Cyrillic text shows, no errors."""
    result, index, requests = batch()
    tables = build_tables(result, index, districts={r.id: r.patient.district for r in requests})
    figures = build_figures(result, tables)
    charts = build_charts(figures)
    page = _page(tmp_path, "report", render_html(figures, charts))
    shot = ARTIFACTS / "manager_report.png"
    seen = _open(page, shot)
    assert seen["errors"] == []
    assert seen["charts"] == [c.id for c in charts]
    assert seen["svg"] == [c.id for c in charts if c.svg]
    assert seen["no_data"] == sum(c.svg is None for c in charts)
    sizes = seen["sizes"]
    assert isinstance(sizes, list)
    assert len(sizes) == len(seen["svg"])  # type: ignore[arg-type]
    assert all(w > 100 and h > 50 for w, h in sizes)
    text = str(seen["text"])
    districts = [r.key for r in figures.by_district if r.key != "—"]
    assert any(ord(ch) >= 0x400 for key in districts for ch in key)
    assert all(key in text for key in districts)
    assert seen["requests"] == [page.as_uri()]  # the page loads nothing else
    assert shot.stat().st_size > 10_000


def test_empty_report_renders_no_data_notes(tmp_path: Path) -> None:
    """An empty cohort's page renders with a no-data note for each chart and no errors."""
    index = SlotIndex.build([], [])
    result = plan_batch(([], index), time_limit=5.0)
    figures = build_figures(result, build_tables(result, index))
    charts = build_charts(figures)
    page = _page(tmp_path, "empty", render_html(figures, charts))
    seen = _open(page, ARTIFACTS / "manager_report_empty.png")
    assert seen["errors"] == []
    assert seen["svg"] == []
    assert seen["no_data"] == len(charts) == len(seen["charts"])  # type: ignore[arg-type]
    assert "no data" in str(seen["text"])


def test_journal_report_renders_with_its_trend(tmp_path: Path) -> None:
    """The report over the route journal renders, with the trend drawn, and no errors."""
    from journal_report_helpers import journal_events, problem
    from routing.manager.journal import journal_report

    p = problem()
    report = journal_report(
        journal_events(), requests=p.requests, pathways={x.id: x for x in p.pathways}
    )
    charts = build_charts(report.figures)
    page = _page(tmp_path, "journal", render_html(report.figures, charts))
    shot = ARTIFACTS / "manager_report_journal.png"
    seen = _open(page, shot)
    assert seen["errors"] == []
    assert seen["charts"] == [c.id for c in charts]
    assert "trend" in seen["svg"]  # type: ignore[operator]
    assert seen["svg"] == [c.id for c in charts if c.svg]
    text = str(seen["text"])
    assert "Journal report: the live routes" in text
    assert "waiting for a slot (re-plan)" in text
    assert seen["requests"] == [page.as_uri()]
