"""The validation report's figures, computed from plain arrays and a bank (no torch here).

Each function returns JSON-ready dicts; every score sits next to its chance level. Tests run them on synthetic
banks whose answers are known.

Example:
    >>> import numpy as np
    >>> choose_default_layer([{"layer": 0, "top5": 0.9, "top1": 0.5}, {"layer": 1, "top5": 0.8, "top1": 0.6},
    ...                       {"layer": 2, "top5": 0.85, "top1": 0.4}], n_layers=3)["chosen"]
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from emoscope.bank import EmotionBank
from emoscope.core.geometry import cluster_order, cosine_matrix, kmeans, nearest, pca
from emoscope.core.recipe import NeutralStats, Recipe, build_vectors
from emoscope.core.stats import auroc, detection_summary, pearson, ranks_of_truth, spearman

F64 = NDArray[np.float64]

DEFAULT_LAYER_RULE = (
    "among layers from one third of the depth on (middle and late layers), the highest mean of three rates, each "
    "rescaled so that chance is 0 and perfect is 1: held-out top-5 detection of stories, implicit scenarios on the "
    "diagonal (z-scores, at the Assistant-turn start) and numeric-intensity trends with the expected sign; ties go "
    "to higher held-out top-5, then to the deeper layer")

# Figures published by the paper and by the Llama 3.1 8B reproduction (criteria V1-V6), shown beside ours.
ANCHORS: dict[str, dict[str, Any]] = {
    "pc1_valence_r_human": {"value": 0.81, "source": "paper, 45 words with human ratings"},
    "pc2_arousal_r_human": {"value": 0.66, "source": "paper, 45 words with human ratings"},
    "pc1_valence_r_judged": {"value": 0.92, "source": "paper's model-judged ratings vs human (valence)"},
    "pc2_arousal_r_judged": {"value": 0.90, "source": "paper's model-judged ratings vs human (arousal)"},
    "V1_own_word_top20": {"value": 20, "unit": "emotions", "source": "reproduction criterion V1 (>= 20)"},
    "V3_scenario_diagonal": {"value": 8, "of": 12, "source": "reproduction criterion V3 (>= 8 of 12)"},
    "V4_scenario_mean_rank": {"value": 3.0, "source": "reproduction criterion V4 (<= 3 among 12)"},
    "V5_numeric_sign": {"value": 17, "of": 24, "source": "reproduction criterion V5 (>= 17 of 24)"},
    "V6_numeric_strong": {"value": 12, "of": 24, "source": "reproduction criterion V6 (>= 12 of 24 abs(rho) > 0.7)"},
}


def centred_scores(means: NDArray[Any], bank: EmotionBank, layer: int) -> F64:
    """Scores of story means ``[N, D]`` at ``layer``: projection after subtracting the bank's story mean.

    The vectors are differences from the mean over emotions, so a story is read relative to that same mean.
    """
    idx = bank.layer_index(layer)
    centre = bank.stats["story_mean"][idx] if "story_mean" in bank.stats else 0.0
    out: F64 = (np.asarray(means, dtype=np.float64) - centre) @ bank.vectors[idx].astype(np.float64).T
    return out


def heldout_by_layer(held_means: NDArray[Any], truth: NDArray[Any], bank: EmotionBank) -> list[dict[str, Any]]:
    """171-way detection of held-out stories at every stored layer (``held_means`` is ``[N, L, D]``)."""
    n = len(bank.emotions)
    out = []
    for k, layer in enumerate(bank.layers):
        ranks = ranks_of_truth(centred_scores(held_means[:, k], bank, layer), truth)
        out.append({"layer": layer, **detection_summary(ranks, n)})
    return out


def per_emotion_auroc(scores: NDArray[Any], truth: NDArray[Any], emotions: Sequence[str]) -> dict[str, Any]:
    """One-vs-rest AUROC of each emotion's own score column; mean and the worst 10 (chance 0.5)."""
    t = np.asarray(truth)
    values = {e: auroc(scores[:, i], t == i) for i, e in enumerate(emotions)}
    finite = {e: v for e, v in values.items() if np.isfinite(v)}
    worst = sorted(finite.items(), key=lambda kv: kv[1])[:10]
    return {"mean": float(np.mean(list(finite.values()))) if finite else float("nan"), "chance": 0.5,
            "worst10": [[e, round(v, 4)] for e, v in worst], "n_emotions": len(finite),
            "per_emotion": {e: round(v, 4) for e, v in values.items()}}


def layer_score(heldout: dict[str, Any], scenario_hits: float | None = None, scenario_n: int = 0,
                scenario_k: int = 0, numeric_sign: float | None = None, numeric_n: int = 0) -> float:
    """The default-layer criterion of one layer: mean of the chance-rescaled rates that are available."""
    if heldout["chance_top5"] < 1:
        rates = [(heldout["top5"] - heldout["chance_top5"]) / (1 - heldout["chance_top5"])]
    else:  # five or fewer emotions: top-5 is always right, so top-1 stands in
        rates = [(heldout["top1"] - heldout["chance_top1"]) / (1 - heldout["chance_top1"])]
    if scenario_hits is not None and scenario_n and scenario_k > 1:
        rates.append((scenario_hits / scenario_n - 1 / scenario_k) / (1 - 1 / scenario_k))
    if numeric_sign is not None and numeric_n:
        rates.append((numeric_sign / numeric_n - 0.5) / 0.5)
    return float(np.mean(rates))


def choose_default_layer(per_layer: Sequence[dict[str, Any]], n_layers: int) -> dict[str, Any]:
    """Apply :data:`DEFAULT_LAYER_RULE`; rows hold ``layer``, ``score`` (see :func:`layer_score`), ``top5``, ``top1``.

    Rows without ``score`` are ranked on ``top5`` alone.
    """
    floor = n_layers // 3
    pool = [r for r in per_layer if r["layer"] >= floor] or list(per_layer)
    ranked = sorted(pool, key=lambda r: (r.get("score", r["top5"]), r["top5"], r["layer"]), reverse=True)
    best = ranked[0]
    runner = ranked[1] if len(ranked) > 1 else None

    def pick(r: dict[str, Any] | None, key: str) -> Any:
        return None if r is None else r.get(key)

    return {"rule": DEFAULT_LAYER_RULE, "chosen": int(best["layer"]), "chosen_score": pick(best, "score"),
            "chosen_top5": best["top5"], "chosen_top1": best["top1"],
            "runner_up": None if runner is None else int(runner["layer"]), "runner_up_score": pick(runner, "score"),
            "runner_up_top5": pick(runner, "top5"), "runner_up_top1": pick(runner, "top1"),
            "considered_from_layer": floor}


def learning_curve(train_means: NDArray[Any], train_labels: NDArray[Any], held_means: NDArray[Any],
                   held_truth: NDArray[Any], neutral: NeutralStats, recipe: Recipe, n_emotions: int,
                   sizes: Sequence[int] = (1, 2, 4, 8), draws: int = 5, seed: int = 0) -> list[dict[str, Any]]:
    """Held-out detection with vectors built from ``k`` training stories per emotion (``draws`` random draws).

    ``train_means``/``held_means`` are ``[N, D]`` at one layer and ``neutral`` holds that layer's moments. The
    last point uses every training story (one draw).
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(train_labels)
    by_emotion = [np.flatnonzero(labels == e) for e in range(n_emotions)]
    most = max(len(x) for x in by_emotion)
    fewest = min(len(x) for x in by_emotion)
    points: list[dict[str, Any]] = []
    for k in [s for s in sizes if s < fewest] + [most]:
        full = k == most
        results = []
        for _ in range(1 if full else draws):
            pick = np.concatenate(by_emotion) if full else np.concatenate(
                [rng.choice(ix, size=k, replace=False) for ix in by_emotion])
            built = build_vectors(np.asarray(train_means)[pick][:, None, :], labels[pick], n_emotions, neutral,
                                  recipe)
            s = (np.asarray(held_means, dtype=np.float64) - built.story_mean[0]) @ built.vectors[0].T.astype(
                np.float64)
            results.append(detection_summary(ranks_of_truth(s, held_truth), n_emotions))
        top1 = [r["top1"] for r in results]
        top5 = [r["top5"] for r in results]
        points.append({"stories_per_emotion": "all" if full else k, "k": int(k), "draws": len(results),
                       "top1": float(np.mean(top1)), "top1_sd": float(np.std(top1)),
                       "top5": float(np.mean(top5)), "top5_sd": float(np.std(top5))})
    return points


def geometry(bank: EmotionBank, norms: dict[str, tuple[float, float]], source: str, n_pcs: int = 3,
             n_search: int = 10) -> dict[str, Any]:
    """PCA of the vectors at every layer and Pearson r of PC1-3 with valence and arousal (words in ``norms``).

    Also, per layer, which of the top ``n_search`` components correlates best with each rating, and how well a
    linear read-out of those components predicts it for words it was not fitted on (leave-one-out Pearson r).
    """
    rated = [i for i, e in enumerate(bank.emotions) if e in norms]
    val = np.array([norms[bank.emotions[i]][0] for i in rated])
    aro = np.array([norms[bank.emotions[i]][1] for i in rated])
    per_layer = []
    for layer in bank.layers:
        p = pca(bank.matrix(layer), k=max(n_pcs, n_search))
        row: dict[str, Any] = {"layer": layer, "explained": [round(float(x), 4) for x in p.explained[:n_pcs]]}
        ok = len(rated) > 2
        for c in range(min(n_pcs, p.scores.shape[1])):
            row[f"pc{c + 1}_valence_r"] = pearson(p.scores[rated, c], val) if ok else float("nan")
            row[f"pc{c + 1}_arousal_r"] = pearson(p.scores[rated, c], aro) if ok else float("nan")
        n_s = min(n_search, p.scores.shape[1])
        for name, target in (("valence", val), ("arousal", aro)):
            rs = [pearson(p.scores[rated, c], target) if ok else float("nan") for c in range(n_s)]
            best = int(np.nanargmax(np.abs(rs))) if ok and np.isfinite(rs).any() else 0
            row[f"best_pc_{name}"] = {"pc": best + 1, "r": rs[best] if rs else float("nan")}
            row[f"loo_{name}_r"] = loo_linear_r(p.scores[rated, :n_s], target) if len(rated) > n_s + 2 else (
                float("nan"))
        per_layer.append(row)
    return {"source": source, "n_rated": len(rated), "valence_arousal_r": pearson(val, aro) if len(rated) > 2
            else float("nan"), "per_layer": per_layer}


def loo_linear_r(x: NDArray[Any], y: NDArray[Any]) -> float:
    """Pearson r between ``y`` and its leave-one-out least-squares prediction from the columns of ``x``.

    Example:
        >>> rng = np.random.default_rng(0); x = rng.normal(size=(30, 2))
        >>> loo_linear_r(x, x @ [1.0, -2.0]) > 0.99
        True
    """
    a = np.c_[np.asarray(x, dtype=np.float64), np.ones(len(x))]
    t = np.asarray(y, dtype=np.float64)
    # hat-matrix identity: the leave-one-out residual is e_i / (1 - h_ii)
    w, *_ = np.linalg.lstsq(a, t, rcond=None)
    resid = t - a @ w
    h = np.einsum("ij,ji->i", a, np.linalg.pinv(a))
    pred = t - resid / np.clip(1 - h, 1e-12, None)
    return pearson(pred, t)


def structure(bank: EmotionBank, layer: int, k: int = 10, n_neighbours: int = 5, seed: int = 0
              ) -> dict[str, Any]:
    """Cosine similarities (clustering order), k-means clusters and nearest neighbours at one layer."""
    m = bank.matrix(layer)
    sim = cosine_matrix(m)
    order = cluster_order(sim)
    km = kmeans(m, min(k, len(m)), seed=seed)
    clusters = [[bank.emotions[i] for i in np.flatnonzero(km.labels == c)] for c in range(int(km.labels.max()) + 1)]
    neighbours = {e: [[bank.emotions[j], round(s, 4)] for j, s in nearest(sim, i, n_neighbours)]
                  for i, e in enumerate(bank.emotions)}
    return {"layer": layer, "order": [bank.emotions[i] for i in order], "clusters": clusters,
            "neighbours": neighbours, "_sim": sim, "_order_idx": order}


def logit_lens(logits: NDArray[Any], emotions: Sequence[str], own_ids: Sequence[Sequence[int]],
               decode: Any, k: int = 10, window: int = 20) -> dict[str, Any]:
    """Top and bottom ``k`` tokens per emotion and whether its own word's first token is in the top ``window``.

    ``own_ids[e]`` lists the candidate token ids of emotion ``e`` (first sub-token without/with a leading space);
    ``decode(id)`` renders a token. Chance: ``1 - (1 - window / V) ** len(ids)`` per emotion.
    """
    lg = np.asarray(logits)
    vocab = lg.shape[1]
    per: dict[str, Any] = {}
    hits = 0
    expected = 0.0
    for i, e in enumerate(emotions):
        order = np.argsort(-lg[i], kind="stable")
        top = order[:window]
        ids = list(own_ids[i])
        rank = min((int(np.flatnonzero(order == t)[0]) + 1 for t in ids), default=None)
        hit = rank is not None and rank <= window
        hits += int(hit)
        expected += 1 - (1 - window / vocab) ** len(ids)
        per[e] = {"top": [decode(int(t)) for t in top[:k]], "bottom": [decode(int(t)) for t in order[::-1][:k]],
                  "own_rank": rank, "own_in_top": hit}
    return {"window": window, "own_word_in_top": hits, "n": len(emotions), "chance_expected": round(expected, 3),
            "vocab": vocab, "per_emotion": per}


def scenario_matrix(acts: NDArray[Any], targets: Sequence[str], bank: EmotionBank, layer: int, kind: str
                    ) -> dict[str, Any]:
    """Implicit scenarios read at one point each (``acts`` ``[S, D]``): diagonal hits and ranks of the target.

    Among the scenario emotions (the distinct targets) and among all emotions of the bank.
    """
    s = bank.score(acts, layer, kind)
    set_emotions = sorted(set(targets), key=lambda e: bank.emotions.index(e))
    cols = [bank.emotions.index(e) for e in set_emotions]
    sub = s[:, cols]
    truth_sub = np.array([set_emotions.index(t) for t in targets])
    truth_all = np.array([bank.emotions.index(t) for t in targets])
    r_sub = ranks_of_truth(sub, truth_sub)
    r_all = ranks_of_truth(s, truth_all)
    n_set = len(set_emotions)
    return {"kind": kind, "layer": layer, "n": len(targets), "emotions": set_emotions,
            "diagonal_hits": int((r_sub == 1).sum()), "chance_hits": len(targets) / n_set,
            "mean_rank_in_set": float(r_sub.mean()), "chance_rank_in_set": (n_set + 1) / 2,
            "mean_rank_all": float(r_all.mean()), "chance_rank_all": (len(bank.emotions) + 1) / 2,
            "top5_all": int((r_all <= 5).sum()), "ranks_in_set": r_sub.tolist(), "ranks_all": r_all.tolist(),
            "matrix": np.round(sub, 5).tolist()}


def numeric_trends(acts: NDArray[Any], template_ids: Sequence[str], values: Sequence[float],
                   expected: dict[str, dict[str, int]], bank: EmotionBank, layer: int, kind: str,
                   strong: float = 0.7) -> dict[str, Any]:
    """Spearman rho of each watched emotion along each template's number; sign-correct and strong counts.

    ``acts[i]`` is the read-out of template ``template_ids[i]`` at value ``values[i]``; ``expected[t][e]`` is the
    expected sign of emotion ``e`` on template ``t``.
    """
    s = bank.score(acts, layer, kind)
    tids = np.asarray(template_ids)
    vals = np.asarray(values, dtype=np.float64)
    trends = []
    for t, signs in expected.items():
        rows = np.flatnonzero(tids == t)
        for e, sign in signs.items():
            rho = spearman(vals[rows], s[rows, bank.emotions.index(e)])
            trends.append({"template": t, "emotion": e, "expected": int(sign), "rho": round(rho, 4),
                           "sign_correct": bool(np.sign(rho) == sign), "strong": bool(abs(rho) > strong),
                           "curve": np.round(s[rows, bank.emotions.index(e)], 5).tolist()})
    n = len(trends)
    n_values = int(np.median([int((tids == t).sum()) for t in expected])) if expected else 0
    return {"kind": kind, "layer": layer, "n_trends": n,
            "sign_correct": sum(t["sign_correct"] for t in trends),
            "strong_correct": sum(t["sign_correct"] and t["strong"] for t in trends),
            "strong_any": sum(t["strong"] for t in trends), "chance_sign_correct": n / 2,
            "chance_strong_any": round(n * null_strong_rate(n_values, strong), 3), "trends": trends}


def null_strong_rate(n_values: int, threshold: float = 0.7, samples: int = 20000, seed: int = 0) -> float:
    """Probability that abs(Spearman rho) exceeds ``threshold`` for a random order of ``n_values`` points."""
    if n_values < 3:
        return float("nan")
    rng = np.random.default_rng(seed)
    base = np.arange(n_values, dtype=np.float64)
    perms = np.argsort(rng.random((samples, n_values)), axis=1).astype(np.float64)
    b = base - base.mean()
    p = perms - perms.mean(1, keepdims=True)
    rho = (p @ b) / np.sqrt((p * p).sum(1) * (b * b).sum())
    return float(np.mean(np.abs(rho) > threshold))
