"""Finding the decoder blocks of a causal LM.

Layer ``i`` always means *the residual stream after decoder block i (0-based)*; the output of block ``i``
equals ``hidden_states[i + 1]`` of a Hugging Face forward with ``output_hidden_states=True`` (the last block's
output is taken before the model's final norm).

Example:
    >>> from transformers import LlamaConfig, AutoModelForCausalLM
    >>> m = AutoModelForCausalLM.from_config(LlamaConfig(num_hidden_layers=2, hidden_size=16,
    ...     intermediate_size=32, num_attention_heads=2, num_key_value_heads=1, vocab_size=64))
    >>> len(decoder_blocks(m))
    2
"""

from __future__ import annotations

import re

from torch import nn

# Dotted paths of the block list, per family (tried in order before the generic search).
KNOWN_BLOCK_PATHS: tuple[str, ...] = (
    "model.layers",  # Llama, Mistral, Qwen2/3, Gemma 2/3 (text), Phi-3
    "model.language_model.layers",  # Gemma 3 multimodal wrappers
    "transformer.h",  # GPT-2, GPT-J
    "gpt_neox.layers",  # GPT-NeoX, Pythia
    "model.decoder.layers",  # OPT
    "transformer.blocks",
)


class LayerError(ValueError):
    """The decoder blocks could not be found, or a requested layer does not exist."""


def _get(root: nn.Module, path: str) -> nn.Module | None:
    obj: object = root
    for part in path.split("."):
        if not hasattr(obj, part):
            return None
        obj = getattr(obj, part)
    return obj if isinstance(obj, nn.Module) else None


def decoder_blocks(model: nn.Module, path: str | None = None) -> nn.ModuleList:
    """The model's decoder blocks, in order; ``path`` (e.g. ``"model.layers"``) overrides discovery."""
    if path is not None:
        found = _get(model, path)
        if not isinstance(found, nn.ModuleList):
            raise LayerError(f"no nn.ModuleList at {path!r} in {type(model).__name__}; check the --layer-path")
        return found
    for p in KNOWN_BLOCK_PATHS:
        found = _get(model, p)
        if isinstance(found, nn.ModuleList) and len(found) > 0:
            return found
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    candidates = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if n is not None:
        candidates = [m for m in candidates if len(m) == n]
    if not candidates:
        raise LayerError(f"cannot find decoder blocks in {type(model).__name__}; pass the block path explicitly")
    return max(candidates, key=len)


def resolve_layers(n_layers: int, layers: str | list[int] | None) -> list[int]:
    """Parse a layer selection (``None``/``"all"``, ``"10,12"``, ``"4-8"``, ``[-1]``) into sorted block indices.

    Example:
        >>> resolve_layers(30, "0-2,29")
        [0, 1, 2, 29]
        >>> resolve_layers(30, [-1])
        [29]
    """
    if layers is None or layers == "all":
        return list(range(n_layers))
    items: list[int] = []
    if isinstance(layers, str):
        for part in layers.replace(" ", "").split(","):
            if not part:
                continue
            m = re.fullmatch(r"(\d+)-(\d+)", part)
            try:
                items.extend(range(int(m.group(1)), int(m.group(2)) + 1) if m else [int(part)])
            except ValueError:
                raise LayerError(f"bad layer selection {part!r}; use e.g. 'all', '12', '4-8,20' or '-1'") from None
    else:
        items = list(layers)
    out = set()
    for i in items:
        j = i + n_layers if i < 0 else i
        if not 0 <= j < n_layers:
            raise LayerError(f"layer {i} does not exist; this model has layers 0 to {n_layers - 1}")
        out.add(j)
    if not out:
        raise LayerError("no layers selected")
    return sorted(out)


def default_layer(n_layers: int) -> int:
    """The paper's read-out layer: about two-thirds of the way through the model."""
    return min(n_layers - 1, round(2 * n_layers / 3))
