"""Headless Chromium for the tests of the HTML views (Playwright driving the system's Chromium).

``bash scripts/setup.sh`` installs Chromium where it can (Debian's package, as root). Without it the browser
tests skip, except when EMOSCOPE_REQUIRE_BROWSER=1 (set by .ci/run), where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    for name in (os.environ.get("EMOSCOPE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


@contextmanager
def page(path: Path | str, width: int = 1100, height: int = 900) -> Iterator[Any]:
    """A Playwright page with ``path`` (a file, or a URL) loaded and its script run (``body[data-ready]``).

    Page errors fail the test when the page is closed.
    """
    exe = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe = None
    if exe is None:
        if os.environ.get("EMOSCOPE_REQUIRE_BROWSER") == "1":
            pytest.fail("headless Chromium and Playwright are required (EMOSCOPE_REQUIRE_BROWSER=1)")
        pytest.skip("no Chromium/Playwright: bash scripts/setup.sh installs them (Debian's chromium, as root)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=FLAGS)
        try:
            pg = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(path if isinstance(path, str) else path.resolve().as_uri())
            pg.wait_for_selector("body[data-ready='1']", timeout=10_000)
            pg.errors = errors
            yield pg
            assert not errors, errors
        finally:
            browser.close()
