"""`validate` end to end on a tiny random model and corpus: files written, bank guarded, errors one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emoscope.bank import BankError, EmotionBank
from emoscope.corpus import Corpus
from emoscope.extraction import extract
from emoscope.validation.report import write_report
from emoscope.validation.run import validate


def _stimuli(tmp_path: Path) -> tuple[Path, Path]:
    sc = tmp_path / "scen.tsv"
    sc.write_text("label\ttarget_emotion\tuser_text\n"
                  "a\tcalm\tthe river moves slowly past the mill\n"
                  "b\tafraid\tsomething moved in the dark hall behind me\n"
                  "c\thappy\twe won the match and the whole town came out\n"
                  "d\tcalm\tthe lamp glows over the quiet table\n")
    tp = tmp_path / "num.jsonl"
    tp.write_text(json.dumps({"id": "t", "template": "the dog is {x} days away", "values": [1, 2, 3, 4],
                              "expected": {"afraid": 1, "calm": -1}}) + "\n")
    return sc, tp


def test_validate_writes_a_self_contained_report(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    corpus = Corpus.load(tiny_corpus)
    bank = extract(llama_lm, corpus, layers="all", batch_size=4)
    sc, tp = _stimuli(tmp_path)
    v = validate(llama_lm, bank, corpus, scenarios_path=str(sc), templates_path=str(tp), draws=2)
    m = v.metrics
    assert [r["layer"] for r in m["heldout"]["per_layer"]] == bank.layers
    assert m["heldout"]["n_stories"] == len(corpus.heldout_stories()) == 3
    assert m["default_layer"]["chosen"] in bank.layers
    assert m["implicit_scenarios"]["kinds"]["z"]["n"] == 4
    assert m["numeric_intensity"]["kinds"]["z"]["n_trends"] == 2
    assert m["logit_lens"]["n"] == 3 and m["logit_lens"]["vocab"] > 100
    assert m["learning_curve"]["points"][-1]["stories_per_emotion"] == "all"
    assert [r["layer"] for r in m["style_audit"]["layers"]] == bank.layers  # what the words alone explain
    html_path, json_path = write_report(v, tmp_path / "report", "emoscope validate ...")
    page = html_path.read_text()
    assert "What the words alone explain" in page
    assert page.startswith("<!doctype html>") and page.count("data:image/png;base64,") >= 7
    assert "http://" not in page and "https://" not in page  # opens offline
    assert json.loads(json_path.read_text())["model"] == bank.model
    assert not list((tmp_path / "report").glob(".*tmp"))


def test_validate_refuses_a_bank_that_saw_the_heldout_stories(llama_lm: Any, tiny_corpus: Path) -> None:
    from emoscope.core.recipe import Recipe

    corpus = Corpus.load(tiny_corpus)
    bank = extract(llama_lm, corpus, layers="1", batch_size=4, recipe=Recipe(split="all"))
    with pytest.raises(BankError, match="held-out"):
        validate(llama_lm, bank, corpus)


def test_cli_validate_records_the_default_layer(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from emoscope.cli import app
    from helpers import cli_extract

    runner = CliRunner()
    out = tmp_path / "bank"
    cli_extract(tiny_model_dir, tiny_corpus, out)
    sc, tp = _stimuli(tmp_path)
    r = runner.invoke(app, ["validate", "--bank", str(out), "--corpus", str(tiny_corpus), "--scenarios", str(sc),
                            "--templates", str(tp), "--draws", "1", "--json"])
    assert r.exit_code == 0, r.output
    head = json.loads(r.output.strip().splitlines()[-1])
    assert Path(head["report"]).exists() and Path(head["metrics"]).exists()
    b = EmotionBank.load(out)
    assert b.default_layer == head["default_layer"] and b.default_layer_rule["chosen"] == head["default_layer"]
    # bad input: one line, exit 2, nothing written
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\ttarget_emotion\tuser_text\nx\tnot-an-emotion\thello there\n")
    before = sorted(p.name for p in (out / "validation").iterdir())
    r = runner.invoke(app, ["validate", "--bank", str(out), "--corpus", str(tiny_corpus), "--scenarios", str(bad)])
    assert r.exit_code == 2 and r.output.strip().startswith("error:") and len(r.output.strip().splitlines()) == 1
    assert sorted(p.name for p in (out / "validation").iterdir()) == before


@pytest.mark.parametrize("arch", ["llama", "gemma3", "gpt2"])
def test_unembed_matches_the_models_own_logits(arch: str, tokenizer: Any) -> None:
    import torch

    import helpers
    from emoscope.model.loading import wrap_model
    from emoscope.model.unembed import unembed

    lm = wrap_model(helpers.make_model(arch), tokenizer, f"tiny-{arch}")
    ids = torch.tensor([tokenizer.encode("the river moves slowly past the mill")])
    with torch.no_grad():
        out = lm.model(input_ids=ids, output_hidden_states=True)
    # The last hidden state of HF models is already normed; recover the pre-norm residual from a hook instead.
    from emoscope.model.hooks import record

    h = record(lm, ids, torch.ones_like(ids), [lm.n_layers - 1])[lm.n_layers - 1][0].to(torch.float32).numpy()
    got = unembed(lm, h)
    want = out.logits[0].to(torch.float32).numpy()
    if arch == "gemma3":  # final logit soft-capping is monotone; compare orderings instead of values
        assert (np.argsort(-got, axis=1)[:, :5] == np.argsort(-want, axis=1)[:, :5]).all()
    else:
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_user_norms_are_correlated_too(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    corpus = Corpus.load(tiny_corpus)
    bank = extract(llama_lm, corpus, layers="1,2", batch_size=4)
    sc, tp = _stimuli(tmp_path)
    norms = tmp_path / "norms.csv"
    norms.write_text("word,valence,arousal\ncalm,6,2\nafraid,2,6\nhappy,7,5\n")
    v = validate(llama_lm, bank, corpus, norms_path=str(norms), scenarios_path=str(sc), templates_path=str(tp),
                 draws=1)
    user = v.metrics["geometry"]["user"]
    assert user["n_rated"] == 3 and str(norms) in user["source"]
    assert [r["layer"] for r in user["per_layer"]] == [1, 2]


def test_the_layer_is_chosen_on_topics_used_for_nothing_else(llama_lm: Any, tiny_corpus: Path,
                                                             tmp_path: Path) -> None:
    """With layer-choice topics in split.json the rule sees only their stories; held-out figures are then
    measured on stories that chose nothing."""
    split = json.loads((tiny_corpus / "split.json").read_text())
    split["layer_topics"] = ["t000"]
    (tiny_corpus / "split.json").write_text(json.dumps(split))
    corpus = Corpus.load(tiny_corpus)
    bank = extract(llama_lm, corpus, layers="all", batch_size=4)
    assert bank.split["n_stories"] == len(corpus.train_stories()) == len(corpus.stories) - 6
    sc, tp = _stimuli(tmp_path)
    m = validate(llama_lm, bank, corpus, scenarios_path=str(sc), templates_path=str(tp), draws=2).metrics
    assert "3 stories on 1 topics kept for the layer choice" in m["default_layer"]["chosen_on"]
    assert m["heldout"]["n_stories"] == 3


def test_held_out_stories_from_another_story_set(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    """--heldout takes the held-out stories of another corpus (unmatched stories for a matched-design bank), and
    refuses one whose held-out topics built the bank."""
    import shutil

    from emoscope.bank import BankError

    corpus = Corpus.load(tiny_corpus)
    bank = extract(llama_lm, corpus, layers="all", batch_size=4)
    other = tmp_path / "other"
    shutil.copytree(tiny_corpus, other)
    for name in ("stories.jsonl", "topics.jsonl", "split.json"):
        (other / name).write_text((other / name).read_text().replace('"t0', '"u0'))
    sc, tp = _stimuli(tmp_path)
    m = validate(llama_lm, bank, corpus, scenarios_path=str(sc), templates_path=str(tp), draws=2,
                 heldout=Corpus.load(other)).metrics
    assert m["heldout"]["heldout_corpus"] == [str(other)] and m["heldout"]["n_stories"] == 3
    split = json.loads((other / "split.json").read_text())
    (other / "split.json").write_text(json.dumps({"heldout_topics": ["u000"]}))
    (other / "stories.jsonl").write_text((other / "stories.jsonl").read_text().replace('"u000"', '"t000"'))
    (other / "split.json").write_text(json.dumps({**split, "heldout_topics": ["t000"]}))
    with pytest.raises(BankError, match="also built the bank"):
        validate(llama_lm, bank, corpus, scenarios_path=str(sc), templates_path=str(tp), draws=2,
                 heldout=Corpus.load(other))
