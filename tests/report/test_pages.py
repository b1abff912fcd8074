"""Every page, rendered from small recorded data: self-contained (nothing fetched from the internet), hostile
names and texts escaped (no injected element; checked by parsing, and in Chromium for the interactive pages)."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from browser import page
from report.pages import EVIL, IMAGES, PAGES, reading_input

# The <script> elements each page has of its own: the JSON data and the code.
SCRIPTS = {"validation": 0, "behaviour": 0, "preferences": 0, "scan": 2, "reading": 2, "dashboard": 2}
URL_ATTRS = {"src", "href", "action", "formaction", "poster", "data", "srcset", "background", "xlink:href"}
REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of the <style> and <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, list[str]] = {"style": [], "script": []}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.raw:
            self._in = tag
            self.raw[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.raw[self._in][-1] += data


def parse(html: str) -> Elements:
    p = Elements()
    p.feed(html)
    p.close()
    return p


@pytest.mark.parametrize("evil", [False, True], ids=["plain", "hostile"])
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_is_self_contained(name: str, evil: bool) -> None:
    html = PAGES[name](evil)
    assert html.startswith("<!doctype html>") and "http://" not in html and "https://" not in html
    el = parse(html)
    tags = [t for t, _ in el.tags]
    assert not {"link", "iframe", "object", "embed", "base"} & set(tags)
    for tag, attrs in el.tags:
        for key, value in attrs.items():
            if key in URL_ATTRS and value is not None:
                assert not REMOTE.match(value), (tag, key, value)
        if tag == "script":
            assert "src" not in attrs
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/png;base64,")
    for css in el.raw["style"]:
        assert "@import" not in css and not re.search(r"url\(\s*['\"]?(?!data:)", css)
    assert tags.count("img") == IMAGES[name] and tags.count("style") == 1


@pytest.mark.parametrize("name", list(PAGES))
def test_hostile_names_and_texts_are_escaped(name: str) -> None:
    html = PAGES[name](True)
    el = parse(html)
    tags = [t for t, _ in el.tags]
    # no element came out of the data: as many scripts and images as the page has of its own, no handlers
    assert tags.count("script") == SCRIPTS[name] and tags.count("img") == IMAGES[name]
    assert not [(t, k) for t, a in el.tags for k in a if k.lower().startswith("on")]
    assert html.lower().count("</script") == SCRIPTS[name]
    if SCRIPTS[name]:  # the data reach the script intact, as JSON
        blob = next(a for t, a in el.tags if t == "script" and a.get("type") == "application/json")
        assert blob is not None
        assert EVIL in _strings(json.loads(el.raw["script"][0]))
    else:  # shown as text
        assert "&lt;/script&gt;&lt;script&gt;" in html


def _strings(x: Any) -> set[str]:
    """Every string in decoded JSON, keys included."""
    if isinstance(x, dict):
        return set(x) | {s for v in x.values() for s in _strings(v)}
    if isinstance(x, list):
        return {s for v in x for s in _strings(v)}
    return {x} if isinstance(x, str) else set()


def _no_injection(pg: Any, scripts: int = 2) -> None:
    assert pg.evaluate("document.body.dataset.pwned") is None
    assert pg.evaluate("document.scripts.length") == scripts
    assert pg.evaluate("document.images.length") == 0


def test_hostile_reading_page_in_chromium(tmp_path: Path) -> None:
    path = tmp_path / "reading.html"
    path.write_text(PAGES["reading"](True), encoding="utf-8")
    r = reading_input(True)
    with page(path) as pg:
        _no_injection(pg)
        assert pg.inner_text("h1") == EVIL and EVIL in pg.inner_text("#meta")
        assert EVIL in pg.eval_on_selector_all("#emotion option", "os => os.map(o => o.textContent)")
        assert pg.eval_on_selector("#emotion", "s => s.selectedOptions[0].textContent") == EVIL
        assert EVIL in pg.inner_text("#plotlegend")
        assert EVIL in pg.eval_on_selector_all("#plot path.line", "ps => ps.map(p => p.dataset.emotion)")
        toks = pg.query_selector_all("#text .tok")
        assert [t.inner_text() for t in toks] == r.tokens
        toks[3].hover()
        assert EVIL in pg.inner_text("#tip .head")  # the token and its role, shown as text
        pg.select_option("#item", label="b")
        toks = pg.query_selector_all("#text .tok")
        toks[4].hover()
        assert EVIL in [row.inner_text() for row in pg.query_selector_all("#tip td:first-child")]
        _no_injection(pg)


def test_hostile_scan_page_in_chromium(tmp_path: Path) -> None:
    path = tmp_path / "scan.html"
    path.write_text(PAGES["scan"](True), encoding="utf-8")
    with page(path) as pg:
        _no_injection(pg)
        assert pg.inner_text("h1") == EVIL and pg.inner_text("#name") == EVIL
        marks = pg.query_selector_all("#snips mark")
        assert marks and all(m.inner_text() == EVIL for m in marks)
        assert EVIL in [td.inner_text() for td in pg.query_selector_all("#rows td:first-child")]
        pg.click("#rows tr[data-i='0']")
        _no_injection(pg)


def test_hostile_dashboard_in_chromium() -> None:
    """The dashboard against a stand-in API (Playwright answers its requests; nothing leaves the browser)."""
    from browser import FLAGS, chromium

    exe = chromium()
    if exe is None:
        if os.environ.get("EMOSCOPE_REQUIRE_BROWSER") == "1":
            pytest.fail("headless Chromium is required (EMOSCOPE_REQUIRE_BROWSER=1)")
        pytest.skip("no Chromium: bash scripts/setup.sh installs it")
    playwright = pytest.importorskip("playwright.sync_api")

    emotions = ["happy", EVIL]
    api = {"/": ("text/html", PAGES["dashboard"](True)),
           "/v1/emotions": ("application/json", json.dumps({"emotions": [{"emotion": e} for e in emotions]})),
           "/v1/bank/map": ("application/json", json.dumps({"emotions": emotions, "xy": [[0, 0], [1, 1]],
                                                             "layer": 3, "explained": [0.5, 0.2],
                                                             "nearest": [[EVIL], ["happy"]]}))}

    def answer(route: Any) -> None:
        path = "/" + route.request.url.split("/", 3)[3]
        kind, body = api[path]
        route.fulfill(status=200, content_type=kind, body=body)

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=FLAGS)
        try:
            pg = browser.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.route("http://emoscope.test/**", answer)
            pg.goto("http://emoscope.test/")
            pg.wait_for_selector("body[data-ready='1']", timeout=10_000)
            _no_injection(pg)
            assert EVIL in pg.inner_text("header .meta")
            assert pg.eval_on_selector_all(".gauge", "gs => gs.map(g => g.dataset.emotion)") == ["happy", EVIL]
            assert EVIL in pg.eval_on_selector_all("#emotion option", "os => os.map(o => o.textContent)")
            pg.click("nav button[data-tab='chat']")
            slider = pg.query_selector_all(".slider")[1]
            slider.fill("0.1")
            assert pg.eval_on_selector_all(".sv", "ss => ss.map(s => s.textContent)") == ["0.00", "0.10"]
            pg.click("nav button[data-tab='explore']")
            pg.wait_for_selector("#map circle")
            assert EVIL in pg.eval_on_selector_all("#map text", "ts => ts.map(t => t.textContent)")
            pg.click("#map circle[data-i='1']")
            assert pg.inner_text("#near").startswith(EVIL)
            _no_injection(pg)
            assert not errors, errors
        finally:
            browser.close()
