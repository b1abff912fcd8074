"""The server on a real loopback port: the official openai client, and the dashboard in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from browser import page
from helpers import SERVER_MSGS as MSGS
from helpers import reference_reply as _reference


def test_official_openai_client_streams_a_steered_reply_with_readings(live_url: str,
                                                                        served: tuple[Any, Any]) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{live_url}/v1", api_key="unused")
    spec = {"happy": 0.9}
    extra = {"emoscope": {"steer": spec, "monitor": ["calm"], "top_k": 2}}
    whole = client.chat.completions.create(model="tiny", messages=MSGS, max_tokens=12,  # type: ignore[arg-type]
                                           extra_body=extra)
    assert whole.choices[0].message.content == _reference(*served, spec)
    assert whole.model_extra is not None and whole.model_extra["emoscope"]["steer"] == spec
    stream = client.chat.completions.create(model="tiny", messages=MSGS, max_tokens=12,  # type: ignore[arg-type]
                                            stream=True, extra_body=extra)
    text, readings = "", []
    for chunk in stream:
        text += chunk.choices[0].delta.content or ""
        if chunk.model_extra and "emoscope" in chunk.model_extra:
            readings.append(chunk.model_extra["emoscope"]["token"]["watch"]["calm"])
    assert text == whole.choices[0].message.content and len(readings) >= 1


def test_dashboard_in_chromium(live_url: str, tmp_path: Path) -> None:
    with page(live_url + "/", width=1200) as pg:
        sent: list[dict[str, Any]] = []
        pg.on("request", lambda r: sent.append(json.loads(r.post_data or "{}"))
              if r.url.endswith("/v1/chat/completions") else None)
        # read: type a text, find the heatmap, hover a token
        pg.fill("#read-text", "the quiet harbour light fell across the water")
        pg.click("#read-go")
        pg.wait_for_selector("#read-out .tok")
        toks = pg.query_selector_all("#read-out .tok")
        assert len(toks) > 3 and toks[2].evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        toks[2].hover()
        assert pg.is_visible("#tip") and len(pg.query_selector_all("#tip div")) == 1 + 5
        # chat: move a slider, send a turn, see tokens stream and gauges move
        pg.click("nav button[data-tab='chat']")
        slider = pg.query_selector(".slider[data-emotion='happy']")
        assert slider is not None
        slider.fill("0.15")
        pg.fill("#chat-input", "the lamp glows")
        pg.click("#chat-send")
        pg.wait_for_function("document.querySelector('.msg.assistant') && "
                             "document.querySelector('.msg.assistant').textContent.length > 0")
        pg.wait_for_function("[...document.querySelectorAll('.gauge')].some(g => g.dataset.value !== undefined)")
        assert sent and sent[-1]["emoscope"]["steer"] == {"happy": 0.15} and sent[-1]["stream"] is True
        # explore: the map of the bank
        pg.click("nav button[data-tab='explore']")
        pg.wait_for_selector("#map circle")
        pg.click("#map circle")
        assert "nearest" in pg.inner_text("#near")
        pg.screenshot(path=str(tmp_path / "dashboard.png"))
