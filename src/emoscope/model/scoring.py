"""The one scorer: emotion scores of residual-stream states, projected on the states' own device.

The projection ``h @ V.T`` runs where ``h`` lives (a GPU, or the device of the block that produced it); only the
``[..., E]`` projections (and, for cosine, the norms) move to the CPU, where
:func:`emoscope.core.scores.finish` turns them into ``z``, ``projection`` or ``cosine`` scores.

Example:
    >>> scores_of = Scorer(bank, layer=20, kind="z")  # doctest: +SKIP
    >>> scores_of(hidden[:, -1])  # [batch, emotions], float64 NumPy  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from emoscope.bank import EmotionBank
from emoscope.core.scores import SCORE_KINDS, finish


class Scorer:
    """Scores of residuals ``[..., D]`` on every vector of one bank layer -> ``[..., E]`` (float64 NumPy)."""

    def __init__(self, bank: EmotionBank, layer: int | None, kind: str = "z") -> None:
        if kind not in SCORE_KINDS:
            raise ValueError(f"unknown score kind {kind!r}; choose one of {', '.join(SCORE_KINDS)}")
        idx = bank.layer_index(layer)
        self.layer = bank.layers[idx]
        self.kind = kind
        self._vectors = torch.tensor(bank.vectors[idx], dtype=torch.float32)  # [E, D]
        self._placed: dict[Any, Tensor] = {}
        self._mean = self._std = None
        if kind == "z":
            self._mean = bank.stat("neutral_mean", self.layer)
            self._std = bank.stat("neutral_std", self.layer)

    def __call__(self, h: Tensor) -> NDArray[np.float64]:
        x = h.detach().to(torch.float32)
        vecs = self._placed.get(x.device)
        if vecs is None:
            vecs = self._placed[x.device] = self._vectors.to(x.device)
        proj = (x @ vecs.T).double().cpu().numpy()
        norms = x.norm(dim=-1).double().cpu().numpy() if self.kind == "cosine" else None
        return finish(proj, norms, self.kind, self._mean, self._std)
