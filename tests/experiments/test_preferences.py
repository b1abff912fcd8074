"""The preference experiment on a tiny model: padding-safe answers, span-only steering, a full small run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from emoscope.corpus import Corpus
from emoscope.experiments.preferences import (
    Activity,
    encode_question,
    load_activities,
    pair_list,
    preference_margins,
    run_preferences,
    spread_emotions,
    steered_half,
)
from emoscope.extraction import extract
from emoscope.model.hooks import block_hooks

ACTS = [Activity(f"x{k}", c, t) for k, (c, t) in enumerate([
    ("helpful", "fix the lamp by the river"), ("helpful", "write the match notes"),
    ("neutral", "sort the quiet table"), ("neutral", "move the dark hall chairs"),
    ("unsafe", "hide the town money"), ("unsafe", "break the mill door")])]


def test_shipped_activities_cover_the_paper_categories() -> None:
    acts = load_activities()
    assert len(acts) == 64 and len({a.id for a in acts}) == 64
    cats = [a.category for a in acts]
    assert sorted(set(cats)) == sorted(["helpful", "engaging", "social", "self-curiosity", "neutral", "aversive",
                                        "misaligned", "unsafe"]) and all(cats.count(c) == 8 for c in set(cats))
    assert sum(steered_half(acts)) == 32


def test_pairs_and_spans() -> None:
    assert len(pair_list(64)) == 4032
    sub = pair_list(10, limit=5, seed=1)
    assert len(sub) == 10 and all((j, i) in sub for i, j in sub)
    assert spread_emotions({"a": -0.5, "b": 0.1, "c": 0.7, "d": 0.2, "e": float("nan")}, 3) == ["a", "d", "c"]


def test_margins_are_the_same_under_left_and_right_padding(llama_lm: Any) -> None:
    items = [encode_question(llama_lm.tokenizer, a.text, b.text)[0] for a, b in ((ACTS[0], ACTS[5]),
                                                                                (ACTS[2], ACTS[1]),
                                                                                (ACTS[3], ACTS[4]))]
    assert len({len(e.ids) for e in items}) > 1  # rows of different lengths, so padding really happens
    left = preference_margins(llama_lm, items, side="left", batch_size=3)
    right = preference_margins(llama_lm, items, side="right", batch_size=3)
    single = np.array([preference_margins(llama_lm, [e], batch_size=1)[0] for e in items])
    np.testing.assert_allclose(left, right, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(left, single, rtol=1e-4, atol=1e-4)


def test_spans_cover_exactly_the_activities(llama_lm: Any) -> None:
    enc, sa, sb = encode_question(llama_lm.tokenizer, ACTS[0].text, ACTS[4].text)
    text_a = "".join(enc.text[s:e] for s, e in enc.offsets[sa[0]:sa[1]])
    text_b = "".join(enc.text[s:e] for s, e in enc.offsets[sb[0]:sb[1]])
    assert ACTS[0].text in text_a and ACTS[4].text in text_b and sa[1] <= sb[0]


def test_steering_touches_only_the_steered_span(llama_lm: Any, tiny_corpus: Path) -> None:
    bank = extract(llama_lm, Corpus.load(tiny_corpus), layers="all", batch_size=4)
    enc, sa, _ = encode_question(llama_lm.tokenizer, ACTS[0].text, ACTS[4].text)
    seen: list[torch.Tensor] = []

    def spy(h: torch.Tensor) -> None:
        seen.append(h.detach().clone())

    with block_hooks(llama_lm.blocks, {2: spy}):  # the block after the steered one
        preference_margins(llama_lm, [enc], batch_size=1)
        preference_margins(llama_lm, [enc], batch_size=1, bank=bank, steering=[{"calm": 3.0}], spans=[sa],
                           layers=[1])
    changed = ((seen[1] - seen[0]).abs().sum(-1)[0] > 1e-6).nonzero().flatten().tolist()
    # nothing before the activity changes; its own tokens do (later tokens see them through attention)
    assert changed[0] == sa[0] and set(range(sa[0], sa[1])) <= set(changed)


def test_small_run_end_to_end(llama_lm: Any, tiny_corpus: Path) -> None:
    bank = extract(llama_lm, Corpus.load(tiny_corpus), layers="all", batch_size=4)
    res = run_preferences(llama_lm, bank, ACTS, layer=1, emotions=2, batch_size=8)
    assert res["n_questions"] == 30 and len(res["elo"]) == 6
    assert abs(np.mean(list(res["elo"].values())) - 1500) < 1e-6
    assert set(res["category_elo"]) == {"helpful", "neutral", "unsafe"}
    assert res["causal"]["n"] == 2 and res["causal"]["questions_per_emotion"] == 30 - 3 * 2
    assert 0 <= res["order_consistency"] <= 1
    with pytest.raises(Exception, match="unknown emotion"):
        run_preferences(llama_lm, bank, ACTS, layer=1, emotions=["serenity"], pairs=2)


def test_report_page_is_self_contained(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    from emoscope.experiments.preferences_report import write_preferences_report

    bank = extract(llama_lm, Corpus.load(tiny_corpus), layers="all", batch_size=4)
    res = run_preferences(llama_lm, bank, ACTS, layer=1, emotions=3, pairs=6, batch_size=8)
    html_path, json_path = write_preferences_report(res, tmp_path / "prefs")
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 2 and "https://" not in page and "V10" in page
    assert json_path.exists()


@pytest.mark.parametrize("arch", ["llama", "gemma3", "qwen2"])
def test_shared_prefix_cache_equals_full_passes(arch: str, tokenizer: Any, tiny_corpus: Path) -> None:
    import helpers
    from emoscope.experiments.preferences import groups_by_first, shared_prefix_margins
    from emoscope.model.loading import wrap_model

    llama_lm = wrap_model(helpers.make_model(arch), tokenizer, f"tiny-{arch}")
    bank = extract(llama_lm, Corpus.load(tiny_corpus), layers="all", batch_size=4)
    plist = pair_list(len(ACTS))
    enc = [encode_question(llama_lm.tokenizer, ACTS[i].text, ACTS[j].text) for i, j in plist]
    items = [e for e, _, _ in enc]
    full = preference_margins(llama_lm, items, batch_size=7)
    cached = shared_prefix_margins(llama_lm, items, groups_by_first(plist), batch_size=4)
    np.testing.assert_allclose(cached, full, rtol=1e-4, atol=1e-4)
    # steering a span in the prefix (activity A) and in the suffix (activity B), per row
    steering = [{"calm": 2.0} if k % 3 else None for k in range(len(items))]
    spans = [enc[k][1] if k % 2 else enc[k][2] for k in range(len(items))]
    full_s = preference_margins(llama_lm, items, batch_size=5, bank=bank, steering=steering, spans=spans, layers=[1])
    cached_s = shared_prefix_margins(llama_lm, items, groups_by_first(plist), batch_size=3, bank=bank,
                                     steering=steering, spans=spans, layers=[1])
    np.testing.assert_allclose(cached_s, full_s, rtol=1e-4, atol=1e-4)
    assert not np.allclose(full_s, full)


def test_activities_in_the_papers_table_form_load_with_reference_elo(tmp_path: Path) -> None:
    from emoscope.experiments.preferences import ActivityError

    p = tmp_path / "acts.tsv"
    p.write_text("category\tactivity\telo_post\telo_base_hard\n"
                 "Helpful\tfix the lamp\t2000\t1900\nNeutral\tsort the table\t1400\t1500\n"
                 "Unsafe\tbreak the door\t600\t900\nSocial\tchat with the town\t1800\t1700\n")
    acts = load_activities(p)
    assert [a.category for a in acts] == ["helpful", "neutral", "unsafe", "social"]
    assert [a.reference_elo for a in acts] == [2000, 1400, 600, 1800] and acts[0].id == "a00"
    bad = tmp_path / "bad.tsv"
    bad.write_text("name\tthing\nx\ty\n")
    with pytest.raises(ActivityError, match="category and activity"):
        load_activities(bad)


def test_cli_preferences_writes_json_and_page(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from emoscope.cli import app
    from helpers import cli_extract

    out = tmp_path / "bank"
    cli_extract(tiny_model_dir, tiny_corpus, out)
    acts = tmp_path / "acts.tsv"
    acts.write_text("id\tcategory\tactivity\n" + "".join(f"{a.id}\t{a.category}\t{a.text}\n" for a in ACTS))
    r = CliRunner().invoke(app, ["experiment", "preferences", "--bank", str(out), "--activities", str(acts),
                                 "--emotions", "calm,afraid", "--pairs", "6", "--layer", "1"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "preferences" / "preferences.json").read_text())
    assert res["n_questions"] == 12 and res["causal"]["n"] == 2
    assert (out / "preferences" / "index.html").exists()
    r = CliRunner().invoke(app, ["experiment", "preferences", "--bank", str(out), "--emotions", "glee"])
    assert r.exit_code == 2 and "unknown emotion" in r.output
