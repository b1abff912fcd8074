"""Next-token logit margins ``logit(a) - logit(b)`` at each item's last token, optionally steered on a token span,
with a shared-prefix key/value cache: the torch side of the preference experiment.

Steering is given per item as ready vectors (``{block: [D] array}``, already in residual units) and a token
span ``(start, end)`` counted over the item's tokens; it is added with the one steering hook
(:func:`emoscope.model.hooks.add_vectors`) on that span only.

Example:
    >>> m = logit_margins(lm, [ids_1, ids_2], token_a, token_b)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from emoscope.model.chat import pad_batch
from emoscope.model.hooks import add_vectors, position_ids
from emoscope.model.loading import LoadedModel

Vectors = Mapping[int, NDArray[Any]]
"""Steering of one item: per block, the ``[D]`` vector to add."""


def span_rows(mask: Tensor, spans: Sequence[tuple[int, int] | None]) -> Tensor:
    """A ``[B, T]`` 0/1 mask of token ``spans[r]`` of each row, counted over the row's real tokens."""
    pos = position_ids(mask)
    out = torch.zeros(mask.shape, dtype=torch.float32)
    for r, sp in enumerate(spans):
        if sp is not None:
            out[r] = ((pos[r] >= sp[0]) & (pos[r] < sp[1]) & (mask[r] > 0)).float()
    return out


def _row_vectors(vectors: Sequence[Vectors | None], d_model: int) -> dict[int, NDArray[np.float32]]:
    """Per block, ``[B, D]`` additions (zero rows for items that are not steered)."""
    blocks = sorted({b for v in vectors if v for b in v})
    out = {b: np.zeros((len(vectors), d_model), dtype=np.float32) for b in blocks}
    for r, v in enumerate(vectors):
        for b, vec in (v or {}).items():
            out[b][r] = vec
    return out


def _run(lm: LoadedModel, kw: dict[str, Any], vectors: Sequence[Vectors | None] | None, span: Tensor | None) -> Any:
    """One forward pass, steered on ``span`` by per-row ``vectors`` when any row has some."""
    with torch.no_grad():
        if vectors is not None and span is not None and any(vectors):
            with add_vectors(lm, _row_vectors(vectors, lm.d_model), "span", span):
                return lm.model(**kw)
        return lm.model(**kw)


def logit_margins(lm: LoadedModel, items: Sequence[Sequence[int]], token_a: int, token_b: int, side: str = "left",
                  batch_size: int = 16, vectors: Sequence[Vectors | None] | None = None,
                  spans: Sequence[tuple[int, int] | None] | None = None) -> NDArray[np.float64]:
    """``logit(token_a) - logit(token_b)`` after each item, optionally steered: item ``k`` by ``vectors[k]`` on
    token span ``spans[k]`` (``None``: not steered). The result does not depend on the padding side."""
    pad = int(lm.tokenizer.pad_token_id)
    out = np.zeros(len(items))
    for start in range(0, len(items), batch_size):
        chunk = list(range(start, min(start + batch_size, len(items))))
        ids, mask = pad_batch([list(items[k]) for k in chunk], pad, side=side)
        kw: dict[str, Any] = {"input_ids": ids.to(lm.device), "attention_mask": mask.to(lm.device),
                              "position_ids": position_ids(mask).to(lm.device), "use_cache": False}
        last = mask.sum(-1) - 1 if side == "right" else torch.full((len(chunk),), ids.shape[1] - 1)
        rows_v = None if vectors is None else [vectors[k] for k in chunk]
        span = None
        if rows_v is not None and spans is not None:
            span = span_rows(mask, [spans[k] if rows_v[i] else None for i, k in enumerate(chunk)])
        logits = _run(lm, kw, rows_v, span).logits
        rows = logits[torch.arange(len(chunk)), last.to(logits.device)].float()
        out[chunk] = (rows[:, token_a] - rows[:, token_b]).cpu().numpy()
    return out


def shared_prefix_margins(lm: LoadedModel, items: Sequence[Sequence[int]], groups: Sequence[Sequence[int]],
                          token_a: int, token_b: int, batch_size: int = 16,
                          vectors: Sequence[Vectors | None] | None = None,
                          spans: Sequence[tuple[int, int] | None] | None = None) -> NDArray[np.float64]:
    """Like :func:`logit_margins`, computing once the key/value cache of the prefix a group shares.

    Items of one group (e.g. the questions that start with the same activity) are split at their longest
    common token prefix: the prefix runs once, its cache is repeated over a batch of suffixes. A span that lies
    in the prefix is steered during the prefix pass (one group then shares one steering); a span in the suffix
    during the suffix pass. Equal to the full forward pass within float tolerance (a test checks it).
    """
    pad = int(lm.tokenizer.pad_token_id)
    cache_kw = lm.cache_argument
    out = np.zeros(len(items))
    steered = [bool(vectors is not None and vectors[k] and spans is not None and spans[k] is not None)
               for k in range(len(items))]
    for group in groups:
        ids_list = [list(items[k]) for k in group]
        plen = min(_common_prefix(ids_list), min(len(x) for x in ids_list) - 1)  # each row keeps a suffix token
        for k in group:  # a steered span is either all prefix or all suffix
            sp = spans[k] if spans is not None else None
            if steered[k] and sp is not None and sp[1] > plen:
                plen = min(plen, sp[0])
        prefix = torch.tensor([ids_list[0][:plen]], device=lm.device)
        variants: dict[Any, list[int]] = {}  # rows whose span lies in the prefix need their own prefix pass
        for k in group:
            sp = spans[k] if spans is not None else None
            key = (_key(vectors[k]), sp) if steered[k] and vectors is not None and sp is not None and sp[1] <= plen \
                else None
            variants.setdefault(key, []).append(k)
        for key, members in variants.items():
            pv = None if key is None or vectors is None else [vectors[members[0]]]
            pspan = None
            if key is not None:
                pspan = torch.zeros(1, plen)
                pspan[0, key[1][0] : key[1][1]] = 1.0
            cache = _cache_of(_run(lm, {"input_ids": prefix, "use_cache": True}, pv, pspan))
            for start in range(0, len(members), batch_size):
                chunk = members[start : start + batch_size]
                sids, smask = pad_batch([list(items[k])[plen:] for k in chunk], pad, side="right")
                mask = torch.cat([torch.ones(len(chunk), plen, dtype=smask.dtype), smask], dim=1)
                pos = (plen + torch.arange(sids.shape[1])).unsqueeze(0).expand(len(chunk), -1)
                kw: dict[str, Any] = {"input_ids": sids.to(lm.device), "attention_mask": mask.to(lm.device),
                                      "position_ids": pos.to(lm.device), cache_kw: _repeat(cache, len(chunk)),
                                      "use_cache": True}
                in_suffix = [key is None and steered[k] for k in chunk]
                sv = None
                sspan = None
                if any(in_suffix) and vectors is not None and spans is not None:
                    sv = [vectors[k] if s else None for k, s in zip(chunk, in_suffix, strict=True)]
                    rows_sp = [(spans[k][0] - plen, spans[k][1] - plen) if s else None  # type: ignore[index]
                               for k, s in zip(chunk, in_suffix, strict=True)]
                    sspan = span_rows(smask, rows_sp)
                logits = _run(lm, kw, sv, sspan).logits
                last = smask.sum(-1) - 1
                rows_l = logits[torch.arange(len(chunk)), last.to(logits.device)].float()
                out[chunk] = (rows_l[:, token_a] - rows_l[:, token_b]).cpu().numpy()
    return out


def next_token_logprobs(lm: LoadedModel, ids: Sequence[int], cols: Sequence[int],
                        vectors: Sequence[Vectors] | None = None, span: Sequence[float] | None = None
                        ) -> NDArray[np.float64]:
    """Log-probabilities of tokens ``cols`` after ``ids``: one row unsteered, or one row per entry of ``vectors``
    (each steered on the positions where ``span``, one 0/1 value per token of ``ids``, is 1)."""
    n = 1 if vectors is None else len(vectors)
    batch = torch.tensor([list(ids)], device=lm.device).expand(n, -1)
    kw = {"input_ids": batch}
    mask = None if span is None else torch.tensor([list(span)], dtype=torch.float32).expand(n, -1)
    logits = _run(lm, kw, vectors, mask).logits[:, -1]
    lp = torch.log_softmax(logits.float(), dim=-1)
    out: NDArray[np.float64] = lp[:, list(cols)].double().cpu().numpy()
    return out


def _key(v: Vectors | None) -> Any:
    """A hashable identity of one item's steering."""
    return None if not v else tuple((b, np.asarray(x, dtype=np.float32).tobytes()) for b, x in sorted(v.items()))


def _common_prefix(ids_list: Sequence[Sequence[int]]) -> int:
    first = ids_list[0]
    n = min(len(x) for x in ids_list)
    k = 0
    while k < n and all(x[k] == first[k] for x in ids_list):
        k += 1
    return k


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _repeat(cache: Any, n: int) -> Any:
    c = copy.deepcopy(cache)
    c.batch_repeat_interleave(n)
    return c
