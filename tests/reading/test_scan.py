"""The dataset scan against a direct read of every text: same peaks, same snippets, same statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from browser import page
from emoscope.cli import app
from emoscope.read import read_texts
from emoscope.scan import scan
from helpers import WORDS, random_bank

runner = CliRunner()


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 30)))) for _ in range(n)]


@pytest.mark.parametrize("kind", ["z", "projection"])
def test_scan_matches_direct_reading(llama_lm: Any, kind: str) -> None:
    bank = random_bank(llama_lm)
    texts = _texts(23)
    res = scan(llama_lm, bank, ((f"t{i}", t) for i, t in enumerate(texts)), layer=2, kind=kind, k=3, context=2,
               batch_size=5)
    readings = read_texts(llama_lm, bank, texts, layer=2, kind=kind)
    per_token = np.concatenate([r.scores[1:] for r in readings])
    assert res.texts == 23 and res.tokens == len(per_token)
    assert res.histogram is not None
    np.testing.assert_allclose(res.histogram.mean(), per_token.mean(0), atol=1e-4)
    assert res.histogram.counts.sum(0).tolist() == [len(per_token)] * len(bank.emotions)
    for e, name in enumerate(bank.emotions):
        peaks = sorted(((r.scores[1:, e].max(), i) for i, r in enumerate(readings)), reverse=True)[:3]
        got = res.top[name]
        np.testing.assert_allclose([s.score for s in got], [v for v, _i in peaks], atol=1e-4)
        for sn in got:  # each kept snippet is its text's peak (ids may swap between near-ties)
            assert sn.score == pytest.approx(readings[int(sn.text_id[1:])].scores[1:, e].max(), abs=1e-4)
        best = got[0]
        r = readings[int(best.text_id[1:])]
        assert best.token == 1 + int(np.argmax(r.scores[1:, e]))
        a, b = r.offsets[best.token]
        assert best.peak == texts[int(best.text_id[1:])][a:b] and best.marked().count("[[") == 1


def test_scan_cuts_long_texts(llama_lm: Any) -> None:
    bank = random_bank(llama_lm)
    long_text = " ".join(WORDS * 3)
    res = scan(llama_lm, bank, [("a", long_text), ("b", "the quiet harbour")], max_tokens=20)
    assert res.truncated == 1 and res.tokens == 19 + len(read_texts(llama_lm, bank, ["the quiet harbour"])[0]
                                                         .tokens) - 1


def test_scan_cli_writes_json_and_html(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    res = runner.invoke(app, ["extract", "--model", str(tiny_model_dir), "--corpus", str(tiny_corpus), "--out",
                              str(bank), "--token-skip", "5", "--batch-size", "4", "--dtype", "float32", "--json"])
    assert res.exit_code == 0, res.output
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"id": f"x{i}", "body": t}) + "\n" for i, t in enumerate(_texts(12))),
                    encoding="utf-8")
    base = ["scan", "--bank", str(bank), "--file", str(data), "--dtype", "float32"]
    res = runner.invoke(app, base)
    assert res.exit_code == 2 and 'needs a non-empty "text" string (or choose --field)' in res.output
    res = runner.invoke(app, [*base, "--field", "body", "--emotions", "calm", "--top", "2"])
    assert res.exit_code == 0, res.output
    assert res.output.count("\ncalm") == 1 and "wrote" in res.output
    out = tmp_path / "texts-scan"
    saved = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    assert saved["texts"] == 12 and all(len(e["top"]) == 2 for e in saved["emotions"])
    res = runner.invoke(app, [*base, "--field", "body", "--json", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0 and json.loads(res.output)["texts"] == 12
    with page(out / "index.html") as pg:
        assert pg.inner_text("#name") == "calm"
        assert len(pg.query_selector_all("#snips .snip")) == 2 and pg.query_selector("#snips mark")
        assert len(pg.query_selector_all("#hist rect")) == 80
        pg.click("#rows tr[data-i='1']")
        assert pg.inner_text("#name") == saved["emotions"][1]["emotion"]
