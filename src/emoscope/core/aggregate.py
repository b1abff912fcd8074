"""Summaries of per-token scores: per turn, top emotions, and the colour scale of the reading views.

Example:
    >>> import numpy as np
    >>> s = np.array([[1.0, -2.0], [3.0, 0.0], [5.0, 1.0]])
    >>> turn_summary(s, turns=[0, 1, 1], how="mean")[1].tolist()
    [4.0, 0.5]
    >>> top_emotions(np.array([0.1, 0.9, -0.4]), ["calm", "afraid", "happy"], k=2)
    [('afraid', 0.9), ('calm', 0.1)]
    >>> colour_scale(np.array([0.5, -2.0, 1.0]))
    1.985
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

AGGREGATIONS = ("mean", "max")


def turn_summary(scores: NDArray[Any], turns: Sequence[int], how: str = "mean",
                 keep: Sequence[bool] | NDArray[np.bool_] | None = None) -> dict[int, NDArray[np.float64]]:
    """Per turn (message index), the mean or max over its tokens of every emotion's score.

    ``scores`` is ``[T, E]``, ``turns[t]`` the turn of token ``t``; ``keep`` (per token) leaves tokens out.
    Turns with no kept token are absent from the result.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(turns)
    if len(t) != len(s):
        raise ValueError(f"{len(t)} turn labels for {len(s)} tokens")
    k = np.ones(len(s), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    out: dict[int, NDArray[np.float64]] = {}
    for turn in sorted(set(t[k].tolist())):
        rows = s[(t == turn) & k]
        out[int(turn)] = rows.mean(0) if how == "mean" else rows.max(0)
    return out


def top_emotions(row: NDArray[Any], names: Sequence[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` highest scores of one row, as ``(emotion, score)`` pairs, highest first."""
    r = np.asarray(row, dtype=np.float64)
    order = np.argsort(-r, kind="stable")[:k]
    return [(names[i], round(float(r[i]), 6)) for i in order]


def colour_scale(values: NDArray[Any], q: float = 99.0) -> float:
    """The ``q``-th percentile of ``|values|`` (full colour in the reading views, as in the paper's figures).

    Never zero, so dividing by it is safe.
    """
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 1.0
    return max(float(np.percentile(v, q)), 1e-9)
