"""Statistics for validation, in NumPy: ranks, top-k accuracy, AUROC, Pearson and Spearman correlation.

Example:
    >>> import numpy as np
    >>> ranks_of_truth(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])).tolist()
    [1, 2]
    >>> round(pearson([1, 2, 3], [2, 4, 7]), 3), spearman([1, 2, 3], [2, 4, 7])
    (0.993, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

ArrayLike = NDArray[Any] | Sequence[float]


def ranks_of_truth(scores: NDArray[Any], truth: NDArray[Any]) -> NDArray[np.int64]:
    """1-based rank of the true class in each row of ``scores`` (``[N, C]``); ties count against the truth.

    Rank 1 means the true class scored strictly highest.
    """
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, dtype=np.int64)
    own = s[np.arange(len(s)), t][:, None]
    others = np.ones_like(s, dtype=bool)
    others[np.arange(len(s)), t] = False
    out: NDArray[np.int64] = ((s >= own) & others).sum(1).astype(np.int64) + 1
    return out


def detection_summary(ranks: NDArray[Any], n_classes: int) -> dict[str, float]:
    """Top-1, top-5 accuracy and mean rank, with their chance levels for ``n_classes`` classes."""
    r = np.asarray(ranks, dtype=np.float64)
    return {"top1": float(np.mean(r == 1)), "top5": float(np.mean(r <= 5)), "mean_rank": float(r.mean()),
            "chance_top1": 1.0 / n_classes, "chance_top5": min(5.0, n_classes) / n_classes,
            "chance_mean_rank": (n_classes + 1) / 2.0, "n": int(len(r))}


def auroc(scores: ArrayLike, positive: NDArray[Any] | Sequence[bool]) -> float:
    """Area under the ROC curve of ``scores`` for the ``positive`` items (ties count one half); NaN if one class.

    Example:
        >>> auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
        0.75
    """
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(p.sum()), int((~p).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _average_ranks(s)
    return float((r[p].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson correlation; NaN when either side is constant."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    return pearson(_average_ranks(np.asarray(x, dtype=np.float64)), _average_ranks(np.asarray(y, dtype=np.float64)))


def _average_ranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks
