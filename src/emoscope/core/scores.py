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
    return finish(proj, np.linalg.norm(h64, axis=-1) if kind == "cosine" else None, kind, neutral_mean, neutral_std)


def finish(proj: NDArray[Any], norms: NDArray[Any] | None, kind: str, neutral_mean: NDArray[Any] | None = None,
           neutral_std: NDArray[Any] | None = None) -> NDArray[np.float64]:
    """Scores of kind ``kind`` from projections ``proj`` (``[..., E]``) and residual ``norms`` (``[...]``, needed
    for ``cosine`` only): the one place the score kinds are defined. The projection itself may be computed
    anywhere (the model room computes it on the residual's device).

    Example:
        >>> finish(np.array([[3.0, 1.0]]), None, "z", np.array([1.0, 1.0]), np.array([2.0, 0.5])).tolist()
        [[1.0, 0.0]]
    """
    p = np.asarray(proj, dtype=np.float64)
    if kind == "projection":
        return p
    if kind == "cosine":
        if norms is None:
            raise ValueError("cosine scores need the residual norms")
        out: NDArray[np.float64] = p / np.clip(np.asarray(norms, dtype=np.float64), 1e-12, None)[..., None]
        return out
    if kind == "z":
        if neutral_mean is None or neutral_std is None:
            raise ValueError("z-scores need the neutral mean and spread stored in the bank")
        z: NDArray[np.float64] = (p - neutral_mean) / neutral_std
        return z
    raise ValueError(f"unknown score kind {kind!r}; choose one of {', '.join(SCORE_KINDS)}")
