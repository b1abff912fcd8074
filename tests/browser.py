"""Headless Chromium for the tests of the HTML views (Playwright driving the system's Chromium).

``bash scripts/setup.sh`` installs Chromium where it can (Debian's package, as root). Without Chromium or Playwright
the browser tests skip, except when EMOSCOPE_REQUIRE_BROWSER=1 (exported by .ci/run): then they fail, and
tests/conftest.py turns any other skip of a browser test (one that calls :func:`page`) into a failure too.
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


REQUIRE = "EMOSCOPE_REQUIRE_BROWSER"


def required() -> bool:
    """Whether browser tests must run (EMOSCOPE_REQUIRE_BROWSER=1) rather than skip."""
    return os.environ.get(REQUIRE) == "1"


def chromium() -> str | None:
    """The path of a Chromium executable ($EMOSCOPE_CHROMIUM, or chromium/chromium-browser/google-chrome on PATH)."""
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
    missing = [] if exe else ["Chromium (no $EMOSCOPE_CHROMIUM, chromium, chromium-browser or google-chrome on PATH)"]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("Playwright (the Python package playwright is not importable)")
    if missing:
        what = " and ".join(missing)
        if required():
            pytest.fail(f"{REQUIRE}=1 requires the browser tests to run, but {what} is missing; "
                        "bash scripts/setup.sh installs them (Debian's chromium, as root)", pytrace=False)
        pytest.skip(f"no {what}: bash scripts/setup.sh installs them (Debian's chromium, as root)")
    assert exe is not None
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
