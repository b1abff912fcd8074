"""The style audit finds a planted style confound and finds none in a matched corpus (synthetic corpora, NumPy)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emoscope.cli import app
from emoscope.validation.style_audit import audit, eta_squared, family, story_style

FILLER = "garden table morning street window paper kitchen road train coat shop market bridge station".split()
SPEECH = ['"We should go now," she said.', '"Tell him I asked," he told her.', '"Write it down," she said.']
BODY = ["Her chest rose and her hands were cold.", "His legs shook and his breath came fast.",
        "Her throat was tight and her fingers numb."]


def _corpus(matched: bool, n_emotions: int = 40, per: int = 12, seed: int = 0
            ) -> tuple[list[tuple[str, str]], list[str], dict[str, tuple[float, float]]]:
    rng = np.random.default_rng(seed)
    emotions = [f"emo{i:02d}" for i in range(n_emotions)]
    ratings = {e: (6.0 if i % 2 == 0 else 2.0, 6.0 if (i // 2) % 2 == 0 else 2.0) for i, e in enumerate(emotions)}
    stories = []
    for i, e in enumerate(emotions):
        markers = [f"mark{i}a", f"mark{i}b", f"mark{i}c"]
        for _ in range(per):
            positive = ratings[e][0] > 4
            speech = rng.random() < 0.5 if matched else positive  # planted: positive told in speech
            style = [str(rng.choice(SPEECH if speech else BODY)) for _ in range(3)]
            words = [str(w) for w in rng.choice(FILLER, 12)] + markers
            stories.append((e, " ".join(words[:6]) + ". " + " ".join(style) + " " + " ".join(words[6:]) + "."))
    return stories, emotions, ratings


def test_a_planted_style_confound_is_found() -> None:
    stories, emotions, ratings = _corpus(matched=False)
    a = audit(stories, emotions, ratings, permutations=300)
    assert {"dialogue_share", "body_share", "telling_share"} <= set(a["flagged"])
    pc1 = a["lexical"]["components"][0]
    assert abs(pc1["r_valence"]) > 0.9  # the words alone line up with valence
    assert {"breath", "chest"} & set(pc1["positive_words"] + pc1["negative_words"])


def test_a_matched_corpus_shows_none() -> None:
    stories, emotions, ratings = _corpus(matched=True)
    a = audit(stories, emotions, ratings, permutations=300)
    assert a["flagged"] == []
    assert all(row["p"] > 0.01 for row in a["style"].values() if "p" in row)


def test_against_a_bank_the_words_explain_a_style_axis_and_not_a_valence_axis() -> None:
    """Vectors built from the style (as ours were) align with the lexical axis; vectors built from valence in a
    matched corpus do not, and keep their valence correlation beyond the words."""
    rng = np.random.default_rng(1)
    stories, emotions, ratings = _corpus(matched=False)
    style = np.array([np.mean([story_style(t)["dialogue_share"] for e2, t in stories if e2 == e]) for e in emotions])
    d = 64
    axis = rng.normal(size=d)
    styled = {3: np.outer(style - style.mean(), axis) * 5 + rng.normal(size=(len(emotions), d)) * 0.05}
    row = audit(stories, emotions, ratings, styled, emotions, permutations=100)["layers"][0]
    assert abs(row["pc1_r_lexical_pc1"]) > 0.9 and row["pc1_words_r2"] > 0.8 > 4 * row["chance_r2"]
    m_stories, _, _ = _corpus(matched=True)
    val = np.array([ratings[e][0] for e in emotions])
    valenced = {3: np.outer(val - val.mean(), axis) + rng.normal(size=(len(emotions), d)) * 0.3}
    row = audit(m_stories, emotions, ratings, valenced, emotions, permutations=100)["layers"][0]
    assert abs(row["pc1_r_valence"]) > 0.9 and abs(row["pc1_r_valence_beyond_words"]) > 0.8


def test_statistics_helpers() -> None:
    assert family(6, 2) == "positive-low" and family(2, 6) == "negative-high"
    assert eta_squared(np.array([0.0, 0, 1, 1]), ["a", "a", "b", "b"]) == pytest.approx(1.0)
    assert story_style("I said that my hands shook.")["first_person"] == 1.0


def test_cli_audit_on_the_shipped_corpus(tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    r = CliRunner().invoke(app, ["corpus", "audit", "--permutations", "100", "--components", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "lexical components" in r.output and "PC1" in r.output
    data = json.loads(out.read_text())
    assert data["stories"] == 1710 and data["emotions"] == 171 and data["split"] == "train"
    r = CliRunner().invoke(app, ["corpus", "audit", "--split", "some"])
    assert r.exit_code == 2 and "--split must be" in r.output
