"""Validation figures on synthetic banks whose answers are planted."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.bank import EmotionBank
from emoscope.core.recipe import NeutralStats, Recipe
from emoscope.validation import analysis as A

EMOTIONS = ["calm", "afraid", "happy", "sad", "angry", "proud"]


def synthetic_bank(d: int = 24, seed: int = 0) -> tuple[EmotionBank, np.ndarray]:
    """Layer 5: orthonormal vectors; layer 1: random ones. Returns the bank and the layer-5 basis."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, len(EMOTIONS))))
    good = q.T.astype(np.float32)
    bad = rng.normal(size=(len(EMOTIONS), d)).astype(np.float32)
    bad /= np.linalg.norm(bad, axis=1, keepdims=True)
    vectors = np.stack([bad, good])
    stats = {"story_mean": np.stack([rng.normal(size=d), rng.normal(size=d)]).astype(np.float32),
             "neutral_mean": np.zeros((2, len(EMOTIONS)), np.float32),
             "neutral_std": np.ones((2, len(EMOTIONS)), np.float32)}
    bank = EmotionBank(vectors=vectors, emotions=EMOTIONS, layers=[1, 5], default_layer=1, model="synthetic",
                       model_fingerprint="x", recipe=Recipe().to_dict(), corpus_sha256="", stats=stats,
                       split={"mode": "train"})
    return bank, good


def test_detection_finds_the_layer_where_emotions_were_planted() -> None:
    bank, good = synthetic_bank()
    rng = np.random.default_rng(1)
    truth = np.repeat(np.arange(len(EMOTIONS)), 5)
    held = np.zeros((len(truth), 2, bank.d_model))
    for k in range(2):
        held[:, k] = bank.stats["story_mean"][k] + 3 * good[truth] + rng.normal(size=(len(truth), bank.d_model)) * .3
    rows = A.heldout_by_layer(held, truth, bank)
    assert rows[1]["layer"] == 5 and rows[1]["top1"] == 1.0 and rows[1]["mean_rank"] == 1.0
    assert rows[0]["top1"] < 1.0
    choice = A.choose_default_layer(rows, n_layers=6)
    assert choice["chosen"] == 5 and choice["runner_up"] is None  # layer 1 is below a third of 6 blocks
    au = A.per_emotion_auroc(A.centred_scores(held[:, 1], bank, 5), truth, EMOTIONS)
    assert au["mean"] == 1.0 and au["chance"] == 0.5


def test_default_layer_rule_ignores_early_layers() -> None:
    rows = [{"layer": 0, "top5": 0.99, "top1": 0.9}, {"layer": 4, "top5": 0.5, "top1": 0.3},
            {"layer": 8, "top5": 0.6, "top1": 0.2}, {"layer": 11, "top5": 0.6, "top1": 0.25}]
    choice = A.choose_default_layer(rows, n_layers=12)
    assert choice["chosen"] == 11 and choice["runner_up"] == 8 and choice["considered_from_layer"] == 4


def test_learning_curve_improves_with_more_stories() -> None:
    rng = np.random.default_rng(2)
    d, n_e = 30, 6
    dirs = rng.normal(size=(n_e, d))
    per = 9
    labels = np.repeat(np.arange(n_e), per)
    train = dirs[labels] + rng.normal(size=(len(labels), d)) * 2.5
    truth = np.repeat(np.arange(n_e), 20)
    held = dirs[truth] + rng.normal(size=(len(truth), d)) * 2.5
    neutral = NeutralStats.from_samples([rng.normal(size=(400, d)) * 0.01])
    pts = A.learning_curve(train, labels, held, truth, neutral, Recipe(neutral_variance=0.0), n_e,
                           sizes=(1, 2, 4, 8), draws=6, seed=0)
    assert [p["k"] for p in pts] == [1, 2, 4, 8, 9] and pts[-1]["stories_per_emotion"] == "all"
    assert pts[-1]["draws"] == 1
    assert pts[-1]["top1"] > pts[0]["top1"] + 0.1


def test_geometry_correlates_planted_valence_and_arousal() -> None:
    rng = np.random.default_rng(3)
    names = [f"e{i}" for i in range(40)]
    val = rng.uniform(1, 7, size=40)
    aro = rng.uniform(1, 7, size=40)
    a, b = np.eye(16)[0], np.eye(16)[1]
    vecs = (4 * (val - 4))[:, None] * a + (2 * (aro - 4))[:, None] * b + rng.normal(size=(40, 16)) * 0.05
    bank = EmotionBank(vectors=vecs[None].astype(np.float32), emotions=names, layers=[3], default_layer=3,
                       model="s", model_fingerprint="x", recipe={}, corpus_sha256="")
    norms = {n: (float(v), float(r)) for n, v, r in zip(names, val, aro, strict=True)}
    g = A.geometry(bank, norms, "planted")
    row = g["per_layer"][0]
    assert g["n_rated"] == 40
    assert abs(row["pc1_valence_r"]) > 0.99 and abs(row["pc2_arousal_r"]) > 0.99
    assert abs(row["pc1_arousal_r"]) < 0.5


def test_structure_recovers_clusters() -> None:
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(3, 12))
    truth = np.repeat(np.arange(3), [5, 4, 3])
    vecs = centres[truth] + rng.normal(size=(12, 12)) * 0.05
    names = [f"e{i}" for i in range(12)]
    bank = EmotionBank(vectors=vecs[None].astype(np.float32), emotions=names, layers=[0], default_layer=0,
                       model="s", model_fingerprint="x", recipe={}, corpus_sha256="")
    s = A.structure(bank, 0, k=3)
    assert sorted(len(c) for c in s["clusters"]) == [3, 4, 5]
    assert set(s["clusters"][0]) == {f"e{i}" for i in range(5)}
    assert s["neighbours"]["e0"][0][0] in {f"e{i}" for i in range(1, 5)}


def test_logit_lens_counts_own_words() -> None:
    logits = np.zeros((3, 1000))
    logits[0, 10] = 5.0  # emotion 0's own token tops its list
    logits[1, :] = np.linspace(0, 1, 1000)  # emotion 1: its own token (12) ranks near the bottom
    logits[2, :] = np.linspace(0, 1, 1000)  # emotion 2's own token (id 5) ranks near the bottom
    res = A.logit_lens(logits, ["a", "b", "c"], [[10, 11], [12], [5]], decode=str, k=3, window=20)
    assert res["own_word_in_top"] == 1
    assert res["per_emotion"]["a"]["own_rank"] == 1 and res["per_emotion"]["a"]["top"][0] == "10"
    assert res["per_emotion"]["c"]["bottom"] == ["0", "1", "2"]
    assert res["per_emotion"]["c"]["own_rank"] == 995
    assert res["chance_expected"] == pytest.approx(1 - (1 - 0.02) ** 2 + 0.02 + 0.02, abs=1e-3)


def test_scenarios_and_numeric_trends_on_planted_readouts() -> None:
    bank, good = synthetic_bank()
    targets = ["calm", "afraid", "happy", "afraid", "sad", "calm"]
    acts = np.stack([2.0 * good[EMOTIONS.index(t)] for t in targets])
    for kind in ("z", "cosine"):
        r = A.scenario_matrix(acts, targets, bank, 5, kind)
        assert r["diagonal_hits"] == 6 and r["mean_rank_in_set"] == 1.0 and r["mean_rank_all"] == 1.0
        assert r["emotions"] == ["calm", "afraid", "happy", "sad"] and r["chance_hits"] == 6 / 4
    values = [1, 2, 4, 8, 16, 32]
    acts2 = np.stack([v * good[1] - v * good[0] for v in values])  # afraid rises, calm falls
    out = A.numeric_trends(acts2, ["t"] * 6, values, {"t": {"afraid": 1, "calm": -1, "happy": 1}}, bank, 5, "z")
    assert out["n_trends"] == 3 and out["sign_correct"] == 2 and out["strong_correct"] == 2
    happy = next(t for t in out["trends"] if t["emotion"] == "happy")
    assert np.isnan(happy["rho"]) or not happy["sign_correct"]


def test_layer_criterion_is_zero_at_chance_and_one_when_perfect() -> None:
    chance = {"top5": 5 / 171, "chance_top5": 5 / 171, "top1": 1 / 171, "chance_top1": 1 / 171}
    perfect = {"top5": 1.0, "chance_top5": 5 / 171, "top1": 1.0, "chance_top1": 1 / 171}
    assert A.layer_score(chance, 3, 36, 12, 16, 32) == pytest.approx(0.0)
    assert A.layer_score(perfect, 36, 36, 12, 32, 32) == pytest.approx(1.0)
    rows = [{"layer": 4, "top5": 0.9, "top1": 0.5, "score": 0.3}, {"layer": 8, "top5": 0.7, "top1": 0.4, "score": 0.5}]
    choice = A.choose_default_layer(rows, n_layers=12)
    assert choice["chosen"] == 8 and choice["runner_up"] == 4 and choice["chosen_score"] == 0.5
