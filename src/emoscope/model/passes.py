"""Forward passes that reduce activations inside the hooks and hand back NumPy: the torch side of reading,
extraction and validation.

Each function takes token-id lists (padded here, positions counted over real tokens, so padding side never
matters), runs the model only up to the deepest block needed, reduces on the block's own device and moves only
the reduced result to the CPU.

Example:
    >>> scores = score_tokens(lm, bank, [ids], layer=20)  # [[tokens, emotions]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from emoscope.bank import EmotionBank
from emoscope.model.chat import pad_batch
from emoscope.model.hooks import forward_through, position_ids, record
from emoscope.model.loading import LoadedModel
from emoscope.model.scoring import Scorer

Arrays = dict[str, NDArray[Any]]


def _pad(lm: LoadedModel, items: Sequence[Sequence[int]], side: str = "right") -> tuple[Tensor, Tensor]:
    pad = lm.tokenizer.pad_token_id
    return pad_batch([list(x) for x in items], int(pad if pad is not None else 0), side=side)


def score_tokens(lm: LoadedModel, bank: EmotionBank, items: Sequence[Sequence[int]], layer: int, kind: str = "z",
                 batch_size: int = 8) -> list[NDArray[np.float64]]:
    """Per-token scores ``[T_i, E]`` of each token-id list at one bank layer (the one scorer, on the device)."""
    scorer = Scorer(bank, layer, kind)
    out: list[NDArray[np.float64]] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        ids, mask = _pad(lm, chunk)
        acts = record(lm, ids, mask, [scorer.layer])[scorer.layer]
        out.extend(scorer(acts[r, : len(x)]) for r, x in enumerate(chunk))
    return out


def last_token_states(lm: LoadedModel, items: Sequence[Sequence[int]], layers: Sequence[int], batch_size: int = 16
                      ) -> NDArray[np.float32]:
    """Residual stream after each block of ``layers`` at each item's last token, ``[N, L, D]`` float32."""
    out = np.zeros((len(items), len(layers), lm.d_model), dtype=np.float32)
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        ids, mask = _pad(lm, chunk)
        got = _gather_last(lm, ids, mask, layers)
        for k in range(len(layers)):
            out[start : start + len(chunk), k] = got[k].numpy()
    return out


def _gather_last(lm: LoadedModel, ids: Tensor, mask: Tensor, layers: Sequence[int]) -> dict[int, Tensor]:
    """The residual at each row's last real token (right padding), per layer index, on the CPU."""
    last = mask.sum(-1) - 1
    rows = torch.arange(ids.shape[0])
    got: dict[int, Tensor] = {}

    def keep(k: int) -> Callable[[Tensor], None]:
        def fn(h: Tensor) -> None:
            got[k] = h[rows.to(h.device), last.to(h.device)].to(torch.float32).cpu()
        return fn

    forward_through(lm, ids, mask, {layer: keep(k) for k, layer in enumerate(layers)})
    return got


def story_means(lm: LoadedModel, items: Sequence[Sequence[int]], layers: Sequence[int], skip: int) -> Arrays:
    """One batch of the story pass: per-story means from token ``skip`` on, ``[B, L, D]``, and residual-norm sums.

    Returns ``means``, ``n_avg`` (tokens averaged per story), ``norm_sum`` (``[L]``, over tokens from 1 on) and
    ``norm_count`` (their number), all NumPy.
    """
    ids, mask = _pad(lm, items)
    pos = position_ids(mask)
    avg_w = ((pos >= skip) & (mask > 0)).to(torch.float32)
    norm_w = ((pos >= 1) & (mask > 0)).to(torch.float32)
    n_avg = avg_w.sum(-1, keepdim=True).clamp(min=1.0)
    means = torch.zeros(ids.shape[0], len(layers), lm.d_model, dtype=torch.float32)
    norm_sum = torch.zeros(len(layers), dtype=torch.float64)

    def make(k: int) -> Callable[[Tensor], None]:
        def fn(h: Tensor) -> None:
            x = h.to(torch.float32)
            w, nw = avg_w.to(x.device), norm_w.to(x.device)
            means[:, k] = ((x * w.unsqueeze(-1)).sum(1) / n_avg.to(x.device)).cpu()
            norm_sum[k] = (x.norm(dim=-1) * nw).sum().double().cpu()
        return fn

    forward_through(lm, ids, mask, {layer: make(k) for k, layer in enumerate(layers)})
    return {"means": means.numpy(), "norm_sum": norm_sum.numpy(),
            "norm_count": np.array([float(norm_w.sum())]), "n_avg": avg_w.sum(-1).numpy()}


def neutral_moments(lm: LoadedModel, items: Sequence[Sequence[int]], layers: Sequence[int]) -> Arrays:
    """One batch of the neutral pass: over tokens from 1 on, per layer the count, sum, second-moment (Gram)
    matrix and norm sum of the residuals (``count``, ``total``, ``gram``, ``norm_sum``, ``norm_count``)."""
    ids, mask = _pad(lm, items)
    pos = position_ids(mask)
    keep = (pos >= 1) & (mask > 0)
    d = lm.d_model
    total = torch.zeros(len(layers), d, dtype=torch.float64)
    gram = torch.zeros(len(layers), d, d, dtype=torch.float64)
    norm_sum = torch.zeros(len(layers), dtype=torch.float64)

    def make(k: int) -> Callable[[Tensor], None]:
        def fn(h: Tensor) -> None:
            # Second moments about the batch mean in float32 (fast), shifted back in float64 (exact enough):
            # sum x x^T = sum (x - m)(x - m)^T + n m m^T.
            x = h[keep.to(h.device)].to(torch.float32)
            m = x.double().mean(0)
            xc = x - m.to(torch.float32)
            scatter = (xc.T @ xc).double()
            total[k] = (m * x.shape[0]).cpu()
            gram[k] = (scatter + x.shape[0] * torch.outer(m, m)).cpu()
            norm_sum[k] = x.double().norm(dim=-1).sum().cpu()
        return fn

    forward_through(lm, ids, mask, {layer: make(k) for k, layer in enumerate(layers)})
    n = float(keep.sum())
    return {"count": np.full(len(layers), n), "total": total.numpy(), "gram": gram.numpy(),
            "norm_sum": norm_sum.numpy(), "norm_count": np.array([n])}
