"""Reading activations with emotion vectors: projections, cosines and z-scores.

Example:
    >>> import numpy as np
    >>> h = np.array([[3.0, 4.0]]); v = np.array([[1.0, 0.0]])
    >>> score(h, v, "projection").tolist(), score(h, v, "cosine").tolist()
    ([[3.0]], [[0.6]])
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

ScoreKind = Literal["projection", "cosine", "z"]
SCORE_KINDS: tuple[str, ...] = ("z", "projection", "cosine")


def score(h: NDArray[Any], vectors: NDArray[Any], kind: str = "projection",
          neutral_mean: NDArray[Any] | None = None, neutral_std: NDArray[Any] | None = None) -> NDArray[np.float64]:
    """Scores of activations ``h`` (``[T, D]``) on unit ``vectors`` (``[E, D]``) -> ``[T, E]``.

    ``projection`` is ``h . v``; ``cosine`` divides by ``|h|``; ``z`` is ``(h . v - mean) / std`` against the
    neutral baseline stored in the bank.
    """
    h64 = np.asarray(h, dtype=np.float64)
    proj: NDArray[np.float64] = h64 @ np.asarray(vectors, dtype=np.float64).T
    if kind == "projection":
        return proj
    if kind == "cosine":
        out: NDArray[np.float64] = proj / np.clip(np.linalg.norm(h64, axis=-1, keepdims=True), 1e-12, None)
        return out
    if kind == "z":
        if neutral_mean is None or neutral_std is None:
            raise ValueError("z-scores need the neutral mean and spread stored in the bank")
        z: NDArray[np.float64] = (proj - neutral_mean) / neutral_std
        return z
    raise ValueError(f"unknown score kind {kind!r}; choose one of {', '.join(SCORE_KINDS)}")
