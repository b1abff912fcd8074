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


def power_two_rates(p0: float, p1: float, n: int, alpha: float = 0.05) -> float:
    """Power of a two-sided two-proportion z-test at level ``alpha`` to tell rates ``p0`` and ``p1`` apart with
    ``n`` rollouts in each condition (normal approximation).

    Example:
        >>> round(power_two_rates(0.2, 0.5, 40), 2)
        0.82
    """
    from statistics import NormalDist

    if n <= 0 or p0 == p1:
        return float(alpha) if p0 == p1 else 0.0
    z = NormalDist().inv_cdf(1 - alpha / 2)
    pbar = (p0 + p1) / 2
    spread = (p0 * (1 - p0) + p1 * (1 - p1)) ** 0.5
    if spread == 0:
        return 1.0
    return float(NormalDist().cdf((abs(p1 - p0) * n ** 0.5 - z * (2 * pbar * (1 - pbar)) ** 0.5) / spread))


def detectable_difference(p0: float, n: int, alpha: float = 0.05, power: float = 0.8) -> dict[str, float]:
    """The smallest rises and falls from a baseline rate ``p0`` that ``n`` rollouts per condition detect with the
    given ``power`` (two-sided two-proportion test at ``alpha``); ``nan`` when no change within [0, 1] is.

    Example:
        >>> d = detectable_difference(0.2, 40)
        >>> round(d["up"], 2), round(d["down"], 2)
        (0.29, 0.19)
        >>> detectable_difference(0.0, 40)["down"]  # nothing falls below zero
        nan
    """
    out = {}
    for name, sign in (("up", 1), ("down", -1)):
        lo, hi = 0.0, (1 - p0) if sign > 0 else p0
        if hi <= 0 or power_two_rates(p0, p0 + sign * hi, n, alpha) < power:
            out[name] = float("nan")
            continue
        for _ in range(60):
            mid = (lo + hi) / 2
            if power_two_rates(p0, p0 + sign * mid, n, alpha) >= power:
                hi = mid
            else:
                lo = mid
        out[name] = hi
    return out
