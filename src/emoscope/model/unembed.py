"""The logit lens: emotion directions read through the model's final norm and unembedding.

Example:
    >>> logits = unembed(lm, bank.matrix())  # [n_emotions, vocab]  # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from emoscope.model.loading import LoadedModel

_FINAL_NORMS = ("norm", "final_layernorm", "final_layer_norm", "ln_f", "final_norm")


def final_norm(lm: LoadedModel) -> nn.Module | None:
    """The normalisation applied before the unembedding (``None`` if the model has none we recognise)."""
    base = getattr(lm.model, "base_model", lm.model)
    for holder in (base, getattr(base, "model", None), getattr(base, "language_model", None)):
        if holder is None:
            continue
        for name in _FINAL_NORMS:
            mod = getattr(holder, name, None)
            if isinstance(mod, nn.Module):
                return mod
    return None


def unembed(lm: LoadedModel, vectors: NDArray[Any], chunk: int = 32768) -> NDArray[np.float32]:
    """Logits of each direction (rows of ``vectors``) through the final norm and the unembedding, ``[E, V]``.

    The directions pass through the model's own final-norm module (so Gemma's ``1 + w`` gain and GPT-2's LayerNorm
    are handled as the model handles them), then each vocabulary chunk of the output embedding is applied in
    float32. The model is not changed.
    """
    out_emb = lm.model.get_output_embeddings()  # type: ignore[operator]
    if out_emb is None:
        raise ValueError(f"{lm.name} has no output embedding; the logit lens needs one")
    v = torch.as_tensor(np.asarray(vectors, dtype=np.float32)).to(lm.device)
    norm = final_norm(lm)
    with torch.no_grad(), _onloaded(out_emb, lm.device):  # weights a device map offloaded are brought in
        if norm is not None:
            v = norm(v.to(lm.dtype).unsqueeze(0))[0].to(torch.float32)
        weight = out_emb.weight
        v = v.to(weight.device)  # with a device map the head may sit on another device than the inputs
        parts = [v @ weight[i : i + chunk].to(torch.float32).T for i in range(0, weight.shape[0], chunk)]
    return torch.cat(parts, dim=1).cpu().numpy()


def _onloaded(module: nn.Module, device: torch.device) -> AbstractContextManager[None]:
    """A context with ``module``'s offloaded (meta) weights on ``device``; a no-op for ordinary modules."""
    if all(p.device.type != "meta" for p in module.parameters()):
        return nullcontext()
    from accelerate.utils import align_module_device

    return align_module_device(module, device)  # type: ignore[no-any-return]


def first_token_ids(tokenizer: Any, word: str) -> list[int]:
    """First sub-token of ``word`` without and with a leading space (duplicates removed)."""
    ids: list[int] = []
    for form in (word, " " + word):
        enc = tokenizer.encode(form, add_special_tokens=False)
        if enc and enc[0] not in ids:
            ids.append(int(enc[0]))
    return ids
