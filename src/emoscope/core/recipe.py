"""The paper's emotion-vector recipe, in NumPy.

Per story, the residual stream is averaged from token ``token_skip`` on (done during extraction); per emotion
the story means are averaged; the mean over emotions is subtracted; per layer, the top principal components of
neutral-dialogue activations that explain ``neutral_variance`` of their variance are projected out; the result
is unit-normalised.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stories = rng.normal(size=(6, 1, 8)); labels = np.array([0, 0, 1, 1, 2, 2])
    >>> neutral = NeutralStats.from_samples([rng.normal(size=(50, 8))])
    >>> out = build_vectors(stories, labels, 3, neutral, Recipe())
    >>> out.vectors.shape, bool(np.allclose(np.linalg.norm(out.vectors, axis=-1), 1))
    ((1, 3, 8), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Recipe:
    """Every parameter of the recipe; recorded in each bank."""

    token_skip: int = 50
    neutral_variance: float = 0.5
    neutral_unit: str = "token"  # PCA over every neutral token (first token of each dialogue excluded)
    normalise: bool = True
    split: str = "train"  # "train": held-out stories never build vectors; "all": every story does
    center: str = "none"  # "topic": subtract each topic's (a matched corpus's frame's) mean story before averaging

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True)
class NeutralStats:
    """Running first and second moments of neutral activations per layer (``[L, D]``, ``[L, D, D]``)."""

    count: F64
    total: F64
    gram: F64

    @classmethod
    def from_samples(cls, per_layer: Sequence[NDArray[Any]]) -> NeutralStats:
        """Moments from raw samples, one ``[N, D]`` array per layer."""
        xs = [np.asarray(x, dtype=np.float64) for x in per_layer]
        return cls(count=np.array([len(x) for x in xs], dtype=np.float64),
                   total=np.stack([x.sum(0) for x in xs]), gram=np.stack([x.T @ x for x in xs]))

    def __add__(self, other: NeutralStats) -> NeutralStats:
        return NeutralStats(self.count + other.count, self.total + other.total, self.gram + other.gram)

    def mean(self) -> F64:
        return self.total / self.count[:, None]

    def covariance(self) -> F64:
        m = self.mean()
        cov: F64 = self.gram / self.count[:, None, None] - m[:, :, None] * m[:, None, :]
        return cov


@dataclass(frozen=True)
class RecipeResult:
    vectors: NDArray[np.float32]  # [L, E, D], unit norm when recipe.normalise
    raw_norms: F64  # [L, E] norm of (emotion mean - mean over emotions), before denoising
    denoised_norms: F64  # [L, E] norm after projecting out neutral components, before normalising
    n_removed: NDArray[np.int64]  # [L] neutral components projected out
    story_mean: F64  # [L, D] mean over emotions of the emotion means: the baseline the vectors are relative to
    neutral_mean: F64  # [L, E] mean projection of neutral tokens on each vector
    neutral_std: F64  # [L, E] standard deviation of those projections


CENTERINGS = ("none", "topic")


def center_by_group(story_means: NDArray[Any], labels: NDArray[Any], groups: Sequence[str]) -> F64:
    """Subtract from each story mean ``[N, L, D]`` its group's mean over emotions: the mean, over the emotions
    told in that group, of their stories' means there. In a matched corpus (each frame told once per emotion) this
    removes everything the frame's versions share, so that only what differs between emotions is averaged.

    Example:
        >>> x = np.array([[[1.0]], [[3.0]], [[11.0]], [[13.0]]]); lab = np.array([0, 1, 0, 1])
        >>> center_by_group(x, lab, ["f0", "f0", "f1", "f1"])[:, 0, 0].tolist()
        [-1.0, 1.0, -1.0, 1.0]
    """
    x = np.asarray(story_means, dtype=np.float64)
    lab = np.asarray(labels)
    g = np.asarray(list(groups))
    if len(g) != len(x):
        raise ValueError(f"{len(g)} group labels for {len(x)} stories")
    out = x.copy()
    for name in dict.fromkeys(g.tolist()):
        rows = g == name
        per_emotion = [x[rows & (lab == e)].mean(0) for e in np.unique(lab[rows])]
        out[rows] -= np.mean(per_emotion, axis=0)
    return out


def emotion_means(story_means: NDArray[Any], labels: NDArray[Any], n_emotions: int) -> F64:
    """Average story means per emotion: ``[N, L, D]`` and labels ``[N]`` -> ``[L, E, D]``."""
    x = np.asarray(story_means, dtype=np.float64)
    lab = np.asarray(labels)
    counts = np.bincount(lab, minlength=n_emotions)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"no stories for emotion indices {missing}")
    sums = np.zeros((x.shape[1], n_emotions, x.shape[2]))
    for e in range(n_emotions):
        sums[:, e] = x[lab == e].sum(0)
    out: F64 = sums / counts[None, :, None]
    return out


def top_components(cov: F64, variance: float) -> F64:
    """Leading eigenvectors (columns) of ``cov`` that together explain at least ``variance`` of its trace.

    Example:
        >>> top_components(np.diag([4.0, 1.0, 1.0]), 0.5).shape
        (3, 1)
    """
    if variance <= 0:
        return np.zeros((cov.shape[0], 0))
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.clip(vals[order], 0, None), vecs[:, order]
    cum = np.cumsum(vals) / max(vals.sum(), 1e-300)
    k = int(np.searchsorted(cum, variance - 1e-12) + 1)
    out: F64 = vecs[:, :k]
    return out


def project_out(v: F64, basis: F64) -> F64:
    """Remove from each row of ``v`` (``[E, D]``) its component in the span of orthonormal ``basis`` (``[D, k]``)."""
    out: F64 = v - (v @ basis) @ basis.T
    return out


def build_vectors(story_means: NDArray[Any], labels: NDArray[Any], n_emotions: int, neutral: NeutralStats,
                  recipe: Recipe, groups: Sequence[str] | None = None) -> RecipeResult:
    """Emotion vectors for every layer from story means ``[N, L, D]`` and neutral moments (``groups``: each
    story's topic, needed when ``recipe.center == "topic"``)."""
    if recipe.center not in CENTERINGS:
        raise ValueError(f"center must be one of {', '.join(CENTERINGS)}, not {recipe.center!r}")
    if recipe.center == "topic":
        if groups is None:
            raise ValueError("center='topic' needs each story's topic")
        story_means = center_by_group(story_means, labels, groups)
    means = emotion_means(story_means, labels, n_emotions)
    grand = means.mean(axis=1)
    centred = means - grand[:, None, :]
    raw = np.linalg.norm(centred, axis=-1)
    cov = neutral.covariance()
    nmean = neutral.mean()
    n_layers = centred.shape[0]
    vecs = np.empty_like(centred)
    removed = np.zeros(n_layers, dtype=np.int64)
    for layer in range(n_layers):
        basis = top_components(cov[layer], recipe.neutral_variance)
        removed[layer] = basis.shape[1]
        vecs[layer] = project_out(centred[layer], basis)
    denoised = np.linalg.norm(vecs, axis=-1)
    if recipe.normalise:
        vecs = vecs / np.clip(denoised[..., None], 1e-12, None)
    proj_mean = np.einsum("led,ld->le", vecs, nmean)
    proj_var = np.einsum("led,ldf,lef->le", vecs, cov, vecs)
    return RecipeResult(vectors=vecs.astype(np.float32), raw_norms=raw, denoised_norms=denoised,
                        n_removed=removed, story_mean=grand, neutral_mean=proj_mean,
                        neutral_std=np.sqrt(np.clip(proj_var, 1e-12, None)))
