"""What the browser tests share: keeping a page's screenshot as an artefact.

Headless Chromium now and then answers "Unable to capture screenshot" when no frame is ready yet
(a known Chromium flake, seen under load). The tests assert a page's content before they keep its
screenshot; the screenshot is tried again a quarter of a second later, and the third failure is
raised.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Error, Page

SCREENSHOT_TRIES = 3
"""Tries of a screenshot before its failure is raised."""


def keep_screenshot(page: Page, path: Path) -> None:
    """Save a full-page screenshot of ``page`` at ``path``, trying again after a quarter of a
    second when Chromium cannot capture one yet."""
    for attempt in range(1, SCREENSHOT_TRIES + 1):
        try:
            page.screenshot(path=str(path), full_page=True)
            return
        except Error as failure:
            if "Unable to capture screenshot" not in str(failure) or attempt == SCREENSHOT_TRIES:
                raise
            page.wait_for_timeout(250)
