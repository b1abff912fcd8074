"""The validation math on data whose answers are known (no torch)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from emoscope.core.geometry import cluster_order, cosine_matrix, kmeans, nearest, pca
from emoscope.core.lexical import TfidfCentroid
from emoscope.core.stats import auroc, detection_summary, pearson, ranks_of_truth, spearman
from emoscope.validation.analysis import null_strong_rate


def test_ranks_of_truth_counts_ties_against_the_truth() -> None:
    s = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    assert ranks_of_truth(s, np.array([0, 0, 0])).tolist() == [1, 2, 3]


def test_detection_summary_chance_levels() -> None:
    d = detection_summary(np.array([1, 2, 6, 10]), 171)
    assert d["top1"] == 0.25 and d["top5"] == 0.5 and d["mean_rank"] == 4.75
    assert abs(d["chance_top1"] - 1 / 171) < 1e-12 and d["chance_mean_rank"] == 86.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.booleans()), min_size=2, max_size=30))
def test_auroc_equals_pairwise_win_rate(rows: list[tuple[int, bool]]) -> None:
    scores = [float(s) for s, _ in rows]
    pos = [p for _, p in rows]
    p_idx = [i for i, p in enumerate(pos) if p]
    n_idx = [i for i, p in enumerate(pos) if not p]
    got = auroc(scores, pos)
    if not p_idx or not n_idx:
        assert np.isnan(got)
        return
    wins = sum(1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
               for i in p_idx for j in n_idx)
    assert abs(got - wins / (len(p_idx) * len(n_idx))) < 1e-12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=3, max_size=20, unique=True))
def test_spearman_is_invariant_to_monotone_maps(xs: list[int]) -> None:
    x = np.array(xs, dtype=float)
    y = np.sin(np.arange(len(xs)))
    assert abs(spearman(x, y) - spearman(x**3 + x, y)) < 1e-9
    assert abs(spearman(x, x**3) - 1.0) < 1e-12


def test_pearson_of_constant_is_nan() -> None:
    assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_null_strong_rate_matches_exhaustive_enumeration() -> None:
    n = 6
    base = np.arange(n, dtype=float)
    count = 0
    total = 0
    for perm in itertools.permutations(range(n)):
        rho = np.corrcoef(base, np.array(perm, dtype=float))[0, 1]
        count += abs(rho) > 0.7
        total += 1
    assert abs(null_strong_rate(n, 0.7, samples=40000) - count / total) < 0.01


def test_pca_recovers_a_planted_axis() -> None:
    rng = np.random.default_rng(1)
    axis = rng.normal(size=20)
    axis /= np.linalg.norm(axis)
    t = rng.normal(size=100) * 5
    x = t[:, None] * axis + rng.normal(size=(100, 20)) * 0.1
    p = pca(x, k=3)
    assert abs(abs(p.components[0] @ axis) - 1) < 1e-3
    assert p.explained[0] > 0.9
    assert abs(abs(pearson(p.scores[:, 0], t)) - 1) < 1e-3


def test_kmeans_recovers_planted_groups_and_is_deterministic() -> None:
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 10)) * 10
    truth = np.repeat(np.arange(4), [12, 9, 7, 5])
    x = centres[truth] + rng.normal(size=(len(truth), 10)) * 0.1
    km = kmeans(x, 4, seed=3)
    assert km.labels.tolist() == truth.tolist()  # renumbered by size, largest first
    assert kmeans(x, 4, seed=3).labels.tolist() == km.labels.tolist()


def test_cluster_order_keeps_groups_together_and_neighbours() -> None:
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(3, 8)) * 5
    truth = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    x = centres[truth] + rng.normal(size=(9, 8)) * 0.05
    order = cluster_order(cosine_matrix(x))
    assert sorted(order) == list(range(9))
    groups = [truth[i] for i in order]
    assert sum(a != b for a, b in itertools.pairwise(groups)) == 2  # three contiguous blocks
    sim = cosine_matrix(x)
    assert {j for j, _ in nearest(sim, 0, 2)} == {3, 6}


def test_lexical_baseline_scores_by_words() -> None:
    texts = ["rain storm thunder wet", "storm rain cloud", "sun beach sand warm", "sand sun heat"]
    clf = TfidfCentroid.fit(texts, [0, 0, 1, 1], n_classes=2)
    s = clf.scores(["thunder and rain tonight", "warm sand"])
    assert s.argmax(1).tolist() == [0, 1]
