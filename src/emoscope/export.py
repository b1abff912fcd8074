"""Export an emotion vector as a llama.cpp control vector (GGUF), one emotion per file.

llama.cpp adds tensor ``direction.N`` (N >= 1) to the output of decoder block N at every token, multiplied by the
scale given on its command line; emoscope's layer i is that same residual stream, so ``direction.i`` is our
layer ``i``. Each tensor is ``strength x mean_residual_norm[i] x v[i]`` in float32: with scale 1.0, llama.cpp
steers exactly as ``emoscope steer --steer emotion=strength`` does. Block 0 cannot be steered by llama.cpp.

Example:
    >>> export_control_vector(bank, "calm", "calm.gguf", strength=0.1)  # doctest: +SKIP
    # llama-cli -m model.gguf --control-vector calm.gguf -p "..."
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emoscope.bank import EmotionBank
from emoscope.steering import SteeringError, steering_vector

# GGUF architecture names of Hugging Face model types where they differ (advisory: llama.cpp ignores the hint).
_ARCH_HINTS = {"mistral": "llama", "gemma3_text": "gemma3", "gpt_neox": "gptneox", "phi3": "phi3"}


def model_hint(bank: EmotionBank) -> str:
    """The ``controlvector.model_hint`` value: the model's architecture name as llama.cpp spells it."""
    model_type = bank.model_type or _guess_type(bank.model)
    return _ARCH_HINTS.get(model_type, model_type)


def _guess_type(model: str) -> str:
    low = model.lower()
    for key, arch in (("smollm", "llama"), ("llama", "llama"), ("gemma-3", "gemma3"), ("gemma", "gemma"),
                      ("qwen", "qwen2"), ("mistral", "llama"), ("phi-3", "phi3"), ("gpt2", "gpt2")):
        if key in low:
            return arch
    return "unknown"


def export_control_vector(bank: EmotionBank, emotion: str, path: str | Path, strength: float = 0.1,
                          layers: Sequence[int] | None = None) -> Path:
    """Write ``emotion`` as a llama.cpp control vector at ``layers`` (default: the bank's default layer).

    Written to a temporary file, then renamed: the target is never half-written.
    """
    import gguf

    chosen = [bank.default_layer] if layers is None else sorted(set(layers))
    bad = [layer for layer in chosen if layer < 1]
    if bad:
        raise SteeringError("llama.cpp cannot steer the output of block 0; choose layers from 1")
    if emotion not in bank.emotions:
        raise SteeringError(f"unknown emotion {emotion!r}; `emoscope emotions` lists the names")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        w = gguf.GGUFWriter(str(tmp), arch="controlvector")
        w.add_string("controlvector.model_hint", model_hint(bank))
        w.add_uint32("controlvector.layer_count", len(chosen))
        w.add_string("emoscope.emotion", emotion)
        w.add_float32("emoscope.strength", float(strength))
        w.add_string("emoscope.strength_unit", "fraction of the mean residual norm at each layer")
        w.add_string("emoscope.model", bank.model)
        w.add_string("emoscope.model_fingerprint", bank.model_fingerprint)
        w.add_string("emoscope.layers", json.dumps(chosen))
        w.add_string("emoscope.layer_semantics", "direction.N is added to the output of decoder block N (0-based)")
        w.add_string("emoscope.corpus_sha256", bank.corpus_sha256)
        w.add_string("emoscope.emoscope_version", bank.emoscope_version)
        for layer in chosen:
            vec = steering_vector(bank, {emotion: strength}, layer).astype(np.float32)
            w.add_tensor(f"direction.{layer}", vec)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
