from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emoscope.core.recipe import NeutralStats, Recipe, build_vectors, emotion_means, project_out, top_components


def _planted(seed: int, n_emotions: int = 5, per: int = 8, d: int = 24, noise_dims: int = 3):
    """Stories = shared offset + the emotion's planted direction + strong neutral-subspace noise + small noise."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    nuisance = q[:, :noise_dims]  # the subspace neutral text varies in
    planted = q[:, noise_dims : noise_dims + n_emotions].T  # orthogonal to it
    offset = rng.normal(size=d) * 5
    labels = np.repeat(np.arange(n_emotions), per)
    stories = (offset + 2.0 * planted[labels] + (rng.normal(size=(len(labels), noise_dims)) * 4) @ nuisance.T
               + rng.normal(size=(len(labels), d)) * 0.05)
    neutral = offset + (rng.normal(size=(400, noise_dims)) * 4) @ nuisance.T + rng.normal(size=(400, d)) * 0.05
    return stories[:, None, :], labels, NeutralStats.from_samples([neutral]), planted, nuisance


def test_recovers_planted_directions() -> None:
    stories, labels, neutral, planted, _ = _planted(0)
    out = build_vectors(stories, labels, 5, neutral, Recipe(neutral_variance=0.95))
    centred = planted - planted.mean(0)
    expected = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    cos = np.sum(out.vectors[0] * expected, axis=1)
    assert cos.min() > 0.99, cos
    np.testing.assert_allclose(out.story_mean[0], emotion_means(stories, labels, 5)[0].mean(0))


def test_denoising_removes_the_neutral_subspace() -> None:
    stories, labels, neutral, _, nuisance = _planted(1)
    raw = build_vectors(stories, labels, 5, neutral, Recipe(neutral_variance=0.0))
    den = build_vectors(stories, labels, 5, neutral, Recipe(neutral_variance=0.95))
    half = build_vectors(stories, labels, 5, neutral, Recipe())  # the paper's 50%: the largest ones only
    assert np.abs(raw.vectors[0] @ nuisance).max() > 0.1  # noise leaks into the raw mean difference
    assert np.abs(den.vectors[0] @ nuisance).max() < 0.05
    assert den.n_removed[0] == 3
    assert 1 <= half.n_removed[0] < 3


def test_neutral_baseline_statistics_match_samples() -> None:
    rng = np.random.default_rng(3)
    neutral_x = rng.normal(size=(300, 6)) * np.arange(1, 7) + 2
    stats = NeutralStats.from_samples([neutral_x])
    stories = rng.normal(size=(6, 1, 6))
    out = build_vectors(stories, np.array([0, 0, 1, 1, 2, 2]), 3, stats, Recipe(neutral_variance=0.0))
    proj = neutral_x @ out.vectors[0].T.astype(np.float64)
    np.testing.assert_allclose(out.neutral_mean[0], proj.mean(0), rtol=1e-5)
    np.testing.assert_allclose(out.neutral_std[0], proj.std(0), rtol=1e-4)


def test_top_components_reach_the_variance_share() -> None:
    cov = np.diag([5.0, 3.0, 1.0, 1.0])
    assert top_components(cov, 0.5).shape[1] == 1  # 5/10
    assert top_components(cov, 0.51).shape[1] == 2  # needs 8/10
    assert top_components(cov, 0.0).shape[1] == 0


def test_neutral_stats_add_like_concatenation() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(30, 3))
    both = NeutralStats.from_samples([a]) + NeutralStats.from_samples([b])
    ref = NeutralStats.from_samples([np.vstack([a, b])])
    np.testing.assert_allclose(both.covariance(), ref.covariance(), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), shift=st.floats(-100, 100), n_emotions=st.integers(2, 6))
def test_properties_unit_norm_orthogonal_and_shift_invariant(seed: int, shift: float, n_emotions: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_emotions), 3)
    stories = rng.normal(size=(len(labels), 2, 10))
    neutral = NeutralStats.from_samples([rng.normal(size=(50, 10)) * np.linspace(3, 0.1, 10)] * 2)
    out = build_vectors(stories, labels, n_emotions, neutral, Recipe())
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=-1), 1.0, rtol=1e-5)
    basis = top_components(neutral.covariance()[0], 0.5)
    assert np.abs(out.vectors[0].astype(np.float64) @ basis).max() < 1e-5
    shifted = build_vectors(stories + shift, labels, n_emotions, neutral, Recipe())
    np.testing.assert_allclose(shifted.vectors, out.vectors, atol=2e-4)


def test_emotion_means_and_project_out() -> None:
    x = np.array([[[1.0, 0.0]], [[3.0, 0.0]], [[0.0, 2.0]]])
    np.testing.assert_allclose(emotion_means(x, np.array([0, 0, 1]), 2)[0], [[2.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(project_out(np.array([[1.0, 1.0]]), np.array([[1.0], [0.0]])), [[0.0, 1.0]])


def test_topic_centering_removes_frame_offsets_and_is_a_no_op_when_balanced() -> None:
    """In a matched design every frame holds every emotion once, and subtracting each frame's mean changes each
    emotion's mean by the same amount, which the mean over emotions then removes: the vectors are unchanged. When
    some frames miss some emotions, frame offsets leak into the plain recipe, and topic centering removes them."""
    rng = np.random.default_rng(0)
    n_e, n_f, d = 5, 6, 16
    directions = rng.normal(size=(n_e, d))
    offsets = rng.normal(size=(n_f, d)) * 20
    rows = [(e, f) for f in range(n_f) for e in range(n_e)]
    x = np.array([[directions[e] + offsets[f] + rng.normal(size=d) * 0.01] for e, f in rows])
    labels = np.array([e for e, _ in rows])
    groups = [f"f{f}" for _, f in rows]
    neutral = NeutralStats.from_samples([rng.normal(size=(200, d)) * 0.01])
    recipe = Recipe(neutral_variance=0.0)
    plain = build_vectors(x, labels, n_e, neutral, recipe).vectors
    centred = build_vectors(x, labels, n_e, neutral, Recipe(neutral_variance=0.0, center="topic"), groups).vectors
    assert np.allclose(plain, centred, atol=1e-5)
    keep = [i for i, (e, f) in enumerate(rows) if not (f < 3 and e == 0)]  # emotion 0 missing from three frames
    truth = directions - directions.mean(0)
    truth /= np.linalg.norm(truth, axis=1, keepdims=True)
    plain = build_vectors(x[keep], labels[keep], n_e, neutral, recipe).vectors[0]
    centred = build_vectors(x[keep], labels[keep], n_e, neutral, Recipe(neutral_variance=0.0, center="topic"),
                            [groups[i] for i in keep]).vectors[0]
    assert (centred * truth).sum(1).min() > 0.99 > (plain * truth).sum(1).min()
    with pytest.raises(ValueError, match="needs each story's topic"):
        build_vectors(x, labels, n_e, neutral, Recipe(center="topic"))
