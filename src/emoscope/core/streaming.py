"""Bounded-memory summaries of a stream of scores: top snippets per emotion and histograms.

Example:
    >>> import numpy as np
    >>> top = TopK(k=2, n_emotions=1)
    >>> for i, v in enumerate([0.3, 0.9, 0.1, 0.7]):
    ...     top.offer(np.array([v]), i)
    >>> [(round(v, 1), key) for v, key in top.best(0)]
    [(0.9, 1), (0.7, 3)]
    >>> h = Histogram(-1.0, 1.0, bins=4)
    >>> h.add(np.array([[-0.9], [0.1], [0.2], [5.0]]))
    >>> h.counts[:, 0].tolist(), h.n
    ([1, 0, 2, 1], 4)
"""

from __future__ import annotations

import heapq
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

K = TypeVar("K")


class TopK(Generic[K]):
    """The ``k`` highest values seen per emotion, each with a key (e.g. where it came from). Memory O(k x E)."""

    def __init__(self, k: int, n_emotions: int) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self._heaps: list[list[tuple[float, int, K]]] = [[] for _ in range(n_emotions)]
        self._seq = 0

    def offer(self, values: NDArray[Any], key: K) -> None:
        """Offer one value per emotion (``[E]``), all under the same key."""
        for e, v in enumerate(np.asarray(values, dtype=np.float64).tolist()):
            self.offer_one(e, v, key)

    def offer_one(self, emotion: int, value: float, key: K, order: int | None = None) -> None:
        """Offer one value for one emotion. Ties go to the lower ``order`` (default: the earlier offer); with
        explicit orders (say, a text's index in a dataset) merging partial tops gives the top of the whole."""
        self._seq += 1
        heap = self._heaps[emotion]
        item = (float(value), -(self._seq if order is None else order), key)  # ties: the earlier item wins
        if len(heap) < self.k:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)

    def threshold(self) -> NDArray[np.float64]:
        """Per emotion, the value a new item must beat to enter (``-inf`` while not full)."""
        return np.array([h[0][0] if len(h) == self.k else -np.inf for h in self._heaps])

    def best(self, emotion: int) -> list[tuple[float, K]]:
        """The kept items of one emotion, highest first."""
        return [(v, key) for v, _s, key in sorted(self._heaps[emotion], key=lambda x: (-x[0], -x[1]))]

    def items(self, emotion: int) -> list[tuple[float, int, K]]:
        """The kept ``(value, order, key)`` items of one emotion, highest first (to merge into another TopK)."""
        return [(v, -s, key) for v, s, key in sorted(self._heaps[emotion], key=lambda x: (-x[0], -x[1]))]


class Histogram:
    """Counts per emotion over fixed bins on ``[lo, hi]``; values outside fall into the end bins."""

    def __init__(self, lo: float, hi: float, bins: int = 60) -> None:
        if not hi > lo or bins < 1:
            raise ValueError("need lo < hi and at least one bin")
        self.edges = np.linspace(lo, hi, bins + 1)
        self.counts: NDArray[np.int64] = np.zeros((bins, 0), dtype=np.int64)
        self.n = 0
        self.sum: NDArray[np.float64] = np.zeros(0)
        self.sumsq: NDArray[np.float64] = np.zeros(0)

    def add(self, scores: NDArray[Any]) -> None:
        """Add ``[T, E]`` scores."""
        s = np.asarray(scores, dtype=np.float64)
        if self.counts.shape[1] == 0:
            self.counts = np.zeros((len(self.edges) - 1, s.shape[1]), dtype=np.int64)
            self.sum = np.zeros(s.shape[1])
            self.sumsq = np.zeros(s.shape[1])
        idx = np.clip(np.searchsorted(self.edges, s, side="right") - 1, 0, len(self.edges) - 2)
        for e in range(s.shape[1]):
            self.counts[:, e] += np.bincount(idx[:, e], minlength=len(self.edges) - 1)
        self.n += len(s)
        self.sum += s.sum(0)
        self.sumsq += (s * s).sum(0)

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts and moments (same bins); merging in a fixed order gives fixed sums."""
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("histograms with different bins cannot be merged")
        if other.counts.shape[1] == 0:
            return
        if self.counts.shape[1] == 0:
            self.counts = np.zeros_like(other.counts)
            self.sum = np.zeros_like(other.sum)
            self.sumsq = np.zeros_like(other.sumsq)
        self.counts += other.counts
        self.n += other.n
        self.sum += other.sum
        self.sumsq += other.sumsq

    def mean(self) -> NDArray[np.float64]:
        return self.sum / max(self.n, 1)

    def std(self) -> NDArray[np.float64]:
        m = self.mean()
        out: NDArray[np.float64] = np.sqrt(np.maximum(self.sumsq / max(self.n, 1) - m * m, 0.0))
        return out

    def quantile(self, q: float) -> NDArray[np.float64]:
        """Approximate per-emotion quantile (``q`` in [0, 1]) from the bins (bin centre)."""
        centres = (self.edges[:-1] + self.edges[1:]) / 2
        cum = np.cumsum(self.counts, axis=0)
        target = q * max(self.n, 1)
        idx = np.argmax(cum >= target, axis=0)
        out: NDArray[np.float64] = centres[idx]
        return out
