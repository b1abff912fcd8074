"""Reading on tiny random models: turns and roles, per-turn summaries, the terminal and HTML views (the HTML
rendered in headless Chromium)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from browser import page
from emoscope.core.aggregate import colour_scale
from emoscope.model.chat import encode_chat
from emoscope.read import Reading, read_chat, read_texts
from emoscope.views.reading_html import reading_html
from emoscope.views.terminal import sparkline, tinted_text, token_table, turn_table
from helpers import random_bank

CHAT = [{"role": "system", "content": "the clock"}, {"role": "user", "content": "she counted boats"},
        {"role": "assistant", "content": "he laughed at the window"}, {"role": "user", "content": "nothing moved"}]


def test_turns_follow_messages(tokenizer: Any) -> None:
    enc = encode_chat(tokenizer, CHAT)
    assert enc.turns is not None and enc.roles is not None
    assert enc.turns == sorted(enc.turns) and set(enc.turns) == {0, 1, 2, 3, 4}  # 4 = the generation prompt
    for t, role in zip(enc.turns, enc.roles, strict=True):
        assert role == (CHAT[t]["role"] if t < 4 else "assistant")


def test_a_default_system_prompt_of_the_template_is_the_system_s() -> None:
    from helpers import CHAT_TEMPLATE, make_tokenizer

    with_default = ("{% if messages[0]['role'] != 'system' %}<|system|>the clock<|end|>{% endif %}" + CHAT_TEMPLATE)
    tok = make_tokenizer(with_default)
    enc = encode_chat(tok, CHAT[1:])
    assert enc.roles is not None and enc.turns is not None
    system = "".join(t for t, r in zip(enc.tokens, enc.roles, strict=True) if r == "system")
    assert system == "<|system|>the clock<|end|>" and set(enc.turns[: len(enc.tokens) - 1]) >= {-1, 0, 1, 2}
    # a conversation with its own system message, and a template without a default, get none
    assert encode_chat(tok, CHAT).turns[0] == 0  # type: ignore[index]
    assert -1 not in (encode_chat(make_tokenizer(), CHAT[1:]).turns or [])


def test_per_turn_is_the_mean_or_max_of_counted_tokens(llama_lm: Any) -> None:
    bank = random_bank(llama_lm)
    r = read_chat(llama_lm, bank, CHAT)
    assert r.turns is not None and r.roles is not None
    keep = r.keep(["user"])
    assert not keep[0] and all(r.roles[t] == "user" for t in np.flatnonzero(keep))
    rows = r.per_turn("max", roles=["user"], k=2)
    assert [x["turn"] for x in rows] == [1, 3] and all(x["role"] == "user" for x in rows)
    for x in rows:
        sel = [t for t in range(len(r.tokens)) if r.turns[t] == x["turn"]]
        assert x["tokens"] == len(sel)
        np.testing.assert_allclose(x["scores"], r.scores[sel].max(0))
        assert x["top"][0][0] == r.emotions[int(np.argmax(r.scores[sel].max(0)))]
    whole = r.per_turn("mean")
    assert whole[0]["tokens"] == sum(1 for t in r.turns if t == 0) - 1  # the first token never counts


def test_read_texts_matches_one_by_one(llama_lm: Any) -> None:
    from emoscope.read import read_text

    bank = random_bank(llama_lm)
    many = read_texts(llama_lm, bank, ["the quiet harbour", "he laughed at the window then slammed the door"])
    one = read_text(llama_lm, bank, "he laughed at the window then slammed the door")
    np.testing.assert_allclose(many[1].scores, one.scores, atol=1e-4)


def _reading() -> Reading:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(9, 4))
    scores[0] = 100.0  # an attention sink: never counted
    return Reading(emotions=["calm", "afraid", "happy", "desperate"], layer=2, kind="z",
                   tokens=["<s>", "Hi", " there", "<a>", "I", " am", " <fine>", " &", " ok"],
                   offsets=[(0, 0)] * 9, scores=scores, roles=["user"] * 3 + ["assistant"] * 6,
                   turns=[0, 0, 0, 1, 1, 1, 1, 1, 1])


def test_terminal_views() -> None:
    r = _reading()
    console = Console(record=True, width=200, color_system="truecolor", force_terminal=True)
    text, scale = tinted_text(r, "afraid", roles=["assistant"])
    assert scale == pytest.approx(colour_scale(r.series("afraid")[3:]))
    console.print(text)
    console.print(token_table(r, 2, roles=["assistant"], watch=["calm"]))
    console.print(turn_table(r, "max"))
    out = console.export_text()
    assert "Hi there<a>I am <fine> & ok" in out
    assert "' <fine>'" in out and "'Hi'" not in out.split("Hi there")[1]  # user tokens left out of the table
    assert sparkline([-9, 0, 9]) == "▁▅█"


def test_html_is_self_contained_and_escapes() -> None:
    html = reading_html([_reading()], title="a <b> title", model="m", tint="afraid", plot=["calm"])
    assert "<script src" not in html and "http" not in html.split("<script id=\"data\"")[0].lower()
    assert "a &lt;b&gt; title" in html
    blob = html.split('type="application/json">')[1].split("</script>")[0]
    data = json.loads(blob)
    assert data["tint"] == 1 and data["plot"] == [0] and data["items"][0]["tokens"][6] == " <fine>"
    with pytest.raises(ValueError, match="unknown emotion"):
        reading_html([_reading()], tint="serene-ish")


def test_html_renders_in_chromium(tmp_path: Path) -> None:
    r = _reading()
    other = Reading(emotions=r.emotions, layer=2, kind="z", tokens=["x", "y"], offsets=[(0, 0)] * 2,
                    scores=np.array([[0.0, 1.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0]]))
    path = tmp_path / "view.html"
    path.write_text(reading_html([r, other], model="tiny", tint="afraid", plot=["calm", "happy"],
                                 roles=["assistant"], titles=["chat", "plain"]), encoding="utf-8")
    with page(path) as pg:
        toks = pg.query_selector_all("#text .tok")
        assert [t.inner_text() for t in toks] == r.tokens
        # counted tokens are tinted; the user's and the first are grey
        assert "off" in (toks[0].get_attribute("class") or "") and "off" in (toks[1].get_attribute("class") or "")
        afraid = r.series("afraid")
        scale = colour_scale(afraid[3:])
        t_max = 3 + int(np.argmax(np.abs(afraid[3:])))
        bg = toks[t_max].evaluate("e => getComputedStyle(e).backgroundColor")
        full = "rgb(255, 38, 38)" if afraid[t_max] > 0 else "rgb(38, 38, 255)"
        assert abs(afraid[t_max]) >= scale and bg == full
        # hover shows the token's top 5 (here all 4) emotions, highest first
        toks[5].hover()
        rows = pg.query_selector_all("#tip tr")
        names = [row.query_selector("td").inner_text() for row in rows]
        assert names == [r.emotions[i] for i in np.argsort(-r.scores[5])][:5]
        assert pg.is_visible("#tip")
        # the line plot draws the chosen emotions; the picker re-tints
        assert [p.get_attribute("data-emotion") for p in pg.query_selector_all("#plot path.line")] == ["calm", "happy"]
        pg.select_option("#emotion", label="happy")
        t_h = 3 + int(np.argmax(np.abs(r.series("happy")[3:])))
        assert pg.query_selector_all("#text .tok")[t_h].evaluate(
            "e => getComputedStyle(e).backgroundColor") in ("rgb(255, 38, 38)", "rgb(38, 38, 255)")
        # the text picker switches to the second text
        pg.select_option("#item", label="plain")
        assert [t.inner_text() for t in pg.query_selector_all("#text .tok")] == ["x", "y"]
        pg.screenshot(path=str(tmp_path / "view.png"))
