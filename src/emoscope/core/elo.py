"""Elo ratings from pairwise preferences, in NumPy.

The ratings are the maximum-likelihood Bradley-Terry fit of soft outcomes, reported on the Elo scale: the
probability that ``i`` beats ``j`` is ``1 / (1 + 10 ** ((R_j - R_i) / 400))`` and the mean rating is 1500. Unlike
sequential Elo updates, the result does not depend on the order of the games, and soft outcomes (a preference
probability instead of a win or a loss) are used as they are. A small L2 pull toward the mean keeps ratings finite
when an item wins or loses every game.

Example:
    >>> import numpy as np
    >>> games = [(0, 1, 0.9), (1, 0, 0.1), (1, 2, 0.8), (0, 2, 0.95)]
    >>> r = elo_ratings(3, games)
    >>> bool(r[0] > r[1] > r[2]), round(float(r.mean()))
    (True, 1500)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

SCALE = 400.0 / np.log(10.0)


def elo_ratings(n: int, games: Sequence[tuple[int, int, float]], l2: float = 1e-3, iters: int = 200
                ) -> NDArray[np.float64]:
    """Ratings of ``n`` items from ``games`` of ``(i, j, p)``: ``p`` is the share of the game won by ``i``."""
    if not games:
        return np.full(n, 1500.0)
    g = np.asarray(games, dtype=np.float64)
    i, j, p = g[:, 0].astype(int), g[:, 1].astype(int), np.clip(g[:, 2], 0.0, 1.0)
    theta = np.zeros(n)
    for _ in range(iters):  # Newton's method on the regularised log-likelihood
        q = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j])))
        r = p - q
        grad = np.bincount(i, r, n) - np.bincount(j, r, n) - l2 * theta
        w = q * (1 - q)
        hess = np.zeros((n, n))
        np.add.at(hess, (i, i), -w)
        np.add.at(hess, (j, j), -w)
        np.add.at(hess, (i, j), w)
        np.add.at(hess, (j, i), w)
        hess -= l2 * np.eye(n)
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]  # the mean is free without l2: least squares
        theta -= step
        theta -= theta.mean()
        if np.abs(step).max() < 1e-10:
            break
    out: NDArray[np.float64] = 1500.0 + SCALE * theta
    return out


def win_probability(r_i: float, r_j: float) -> float:
    """Expected share won by a player rated ``r_i`` against ``r_j`` (the Elo curve)."""
    return float(1.0 / (1.0 + 10 ** ((r_j - r_i) / 400.0)))
