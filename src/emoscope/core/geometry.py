"""Geometry of a set of vectors, in NumPy: PCA, cosine similarity, k-means, a clustering order, neighbours.

Example:
    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0], [-0.9, -0.1]])
    >>> kmeans(x, 2, seed=0).labels.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class PCA:
    """Principal components of row vectors: ``scores[n, k]``, ``components[k, d]``, ``explained[k]`` (ratios)."""

    scores: F64
    components: F64
    explained: F64


def pca(x: NDArray[Any], k: int | None = None) -> PCA:
    """PCA of the rows of ``x`` (centred), by SVD; signs fixed so each component's largest loading is positive."""
    a = np.asarray(x, dtype=np.float64)
    a = a - a.mean(0)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    k = min(k or len(s), len(s))
    var = s**2
    explained = var / max(var.sum(), 1e-300)
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    signs[signs == 0] = 1.0
    comps = comps * signs[:, None]
    return PCA(scores=a @ comps.T, components=comps, explained=explained[:k])


def cosine_matrix(x: NDArray[Any]) -> F64:
    """Cosine similarity between all rows of ``x``."""
    a = np.asarray(x, dtype=np.float64)
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    out: F64 = a @ a.T
    return out


@dataclass(frozen=True)
class KMeans:
    labels: NDArray[np.int64]
    centres: F64
    inertia: float


def kmeans(x: NDArray[Any], k: int, seed: int = 0, restarts: int = 10, iters: int = 100) -> KMeans:
    """Lloyd's k-means with k-means++ seeding; the best of ``restarts`` runs; deterministic for a seed.

    Cluster ids are renumbered by decreasing size (ties by first member) so results read the same every run.
    """
    a = np.asarray(x, dtype=np.float64)
    if not 1 <= k <= len(a):
        raise ValueError(f"k must be between 1 and the number of rows ({len(a)}), not {k}")
    rng = np.random.default_rng(seed)
    best: KMeans | None = None
    for _ in range(restarts):
        centres = _plus_plus(a, k, rng)
        labels = np.zeros(len(a), dtype=np.int64)
        for it in range(iters):
            d = ((a[:, None, :] - centres[None]) ** 2).sum(-1)
            new = d.argmin(1)
            if it > 0 and np.array_equal(new, labels):
                break
            labels = new
            for c in range(k):
                members = a[labels == c]
                centres[c] = members.mean(0) if len(members) else a[rng.integers(len(a))]
        inertia = float(((a - centres[labels]) ** 2).sum())
        if best is None or inertia < best.inertia - 1e-12:
            best = KMeans(labels=labels.copy(), centres=centres.copy(), inertia=inertia)
    assert best is not None
    return _renumber(best)


def _plus_plus(a: F64, k: int, rng: np.random.Generator) -> F64:
    centres = [a[rng.integers(len(a))]]
    for _ in range(1, k):
        d = np.min(((a[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        total = d.sum()
        p = d / total if total > 0 else np.full(len(a), 1.0 / len(a))
        centres.append(a[rng.choice(len(a), p=p)])
    return np.array(centres)


def _renumber(km: KMeans) -> KMeans:
    ids = np.unique(km.labels)
    order = sorted(ids, key=lambda c: (-int((km.labels == c).sum()), int(np.argmax(km.labels == c))))
    remap = {int(old): new for new, old in enumerate(order)}
    labels = np.array([remap[int(c)] for c in km.labels], dtype=np.int64)
    return KMeans(labels=labels, centres=km.centres[order], inertia=km.inertia)


def cluster_order(sim: NDArray[Any]) -> list[int]:
    """Leaf order of average-linkage agglomerative clustering on a similarity matrix (similar items adjacent).

    Example:
        >>> import numpy as np
        >>> s = np.array([[1, 0, .9, 0], [0, 1, 0, .9], [.9, 0, 1, 0], [0, .9, 0, 1]], dtype=float)
        >>> order = cluster_order(s)
        >>> abs(order.index(0) - order.index(2)) == 1 and abs(order.index(1) - order.index(3)) == 1
        True
    """
    s = np.asarray(sim, dtype=np.float64)
    clusters: dict[int, list[int]] = {i: [i] for i in range(len(s))}
    link = s.copy()
    np.fill_diagonal(link, -np.inf)
    active = list(range(len(s)))
    sizes = {i: 1 for i in active}
    next_id = len(s)
    # grow a similarity table keyed by cluster ids
    table: dict[tuple[int, int], float] = {(i, j): link[i, j] for i in active for j in active if i < j}
    while len(active) > 1:
        (i, j), _ = max(table.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
        merged = clusters.pop(i) + clusters.pop(j)
        new = next_id
        next_id += 1
        for other in active:
            if other in (i, j):
                continue
            a = table.pop((min(i, other), max(i, other)))
            b = table.pop((min(j, other), max(j, other)))
            table[(other, new)] = (a * sizes[i] + b * sizes[j]) / (sizes[i] + sizes[j])
        table.pop((min(i, j), max(i, j)))
        active = [c for c in active if c not in (i, j)] + [new]
        sizes[new] = sizes[i] + sizes[j]
        clusters[new] = merged
    return clusters[active[0]]


def nearest(sim: NDArray[Any], i: int, k: int = 5) -> list[tuple[int, float]]:
    """The ``k`` rows most similar to row ``i`` (excluding itself), with their similarity."""
    row = np.asarray(sim[i], dtype=np.float64).copy()
    row[i] = -np.inf
    idx = np.argsort(-row, kind="stable")[:k]
    return [(int(j), float(row[j])) for j in idx]
