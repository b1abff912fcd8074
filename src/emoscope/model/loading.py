"""Loading models by registered name, local GGUF file, directory or Hugging Face id (offline), on any device.

Registered names (see :mod:`emoscope.model.registry`): ``smollm2-135m-instruct`` (default), ``gemma3-270m`` and
``qwen2.5-coder-0.5b-instruct``. Any local ``.gguf`` file of an architecture transformers can dequantize loads
too (see :mod:`emoscope.model.gguf`).

GGUF weights are dequantized once and cached as a float32 Hugging Face directory under the user cache
(``$EMOSCOPE_CACHE`` or the platform's cache dir), written through a temporary directory and a rename.
Devices, dtypes and device maps are chosen by :mod:`emoscope.model.devices`; weights are read from safetensors only.

Example:
    >>> lm = load_model("smollm2-135m-instruct", dtype="bfloat16")  # doctest: +SKIP
    >>> lm.n_layers, lm.d_model  # doctest: +SKIP
    (30, 576)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emoscope.model.devices import (
    DTYPES,
    DeviceMap,
    execution_device,
    map_device,
    parse_device_map,
    parse_max_memory,
    resolve_device,
    resolve_dtype,
    uses_disk,
)
from emoscope.model.errors import ModelError
from emoscope.model.gguf import atomic_save_dir, dequantize_to, float_cache_dir, is_gguf, local_gguf_cache
from emoscope.model.layers import decoder_blocks
from emoscope.model.parts import file_sha256
from emoscope.model.registry import REGISTRY, GGUFSource

__all__ = ["DEFAULT_MODEL", "DTYPES", "REGISTRY", "LoadedModel", "ModelError", "cache_root", "load_model",
           "load_tokenizer", "model_fingerprint", "wrap_model"]

DEFAULT_MODEL = "smollm2-135m-instruct"
_GGUFSource = GGUFSource  # the old private name


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
        """Where inputs go: the parameters' device, or for a model dispatched by a device map its main device."""
        dmap = getattr(self.model, "hf_device_map", None)
        if isinstance(dmap, dict) and len(set(dmap.values())) > 1:
            return execution_device(dmap)
        return next(self.model.parameters()).device

    @property
    def fingerprint(self) -> str:
        """A hash of the config and weights that tells two models apart (independent of float dtype)."""
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model)
        return self._fingerprint


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 (16 hex digits) of the architecture config and a sample of every weight, rounded to bf16.

    Rounding to bfloat16 first makes a model loaded in float32 and in bfloat16 share one fingerprint; weights that
    a device map offloaded (to disk or the CPU) are brought in module by module, so a dispatched model has the
    fingerprint of the same model loaded whole.
    """
    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if cfg is not None:
        keys = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size",
                "num_attention_heads", "n_embd", "n_layer")
        d = cfg.to_dict()
        h.update(json.dumps({k: d.get(k) for k in keys}, sort_keys=True).encode())
    with torch.no_grad():
        for name, shape, sample in _weight_samples(model):
            h.update(name.encode())
            h.update(str(shape).encode())
            h.update(sample.numpy().tobytes())
    return h.hexdigest()[:16]


def _sample(p: torch.Tensor) -> torch.Tensor:
    flat = p.detach().reshape(-1)
    return flat[:: max(1, flat.numel() // 4096)][:4096].to(torch.bfloat16).to(torch.float32).cpu()


def _weight_samples(model: nn.Module) -> Iterator[tuple[str, tuple[int, ...], torch.Tensor]]:
    """(name, shape, bf16-rounded sample) of every state-dict entry, in name order, offloaded ones included."""
    modules = dict(model.named_modules())
    for name, p in sorted(model.state_dict().items()):
        if p.device.type != "meta":
            yield name, tuple(p.shape), _sample(p)
            continue
        from accelerate.utils import align_module_device

        owner, _, attr = name.rpartition(".")
        module = modules[owner]
        with align_module_device(module, torch.device("cpu")):
            yield name, tuple(p.shape), _sample(getattr(module, attr))


def _registered_cache_dir(src: GGUFSource, gguf: Path) -> Path:
    if src.sha256 is not None:
        return float_cache_dir(cache_root() / "models", src.name, src.sha256)
    import transformers

    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.name}|{st.st_size}|{int(st.st_mtime)}|{transformers.__version__}".encode())
    return cache_root() / "models" / f"{src.name}-{key.hexdigest()[:12]}"


def _ensure_gguf_cache(src: GGUFSource) -> Path:
    gguf = src.locate()
    cached = _registered_cache_dir(src, gguf)
    if src.sha256 is not None and not (cached / "config.json").exists() and file_sha256(gguf) != src.sha256:
        gguf.unlink(missing_ok=True)  # the bytes are checked again right before their one use
        raise ModelError(f"{gguf.name} no longer matches the SHA-256 of {src.name} and was removed; run again to "
                         f"reassemble it from the installed parts ({src.install})")
    return dequantize_to(gguf, cached)


_atomic_save_dir: Callable[[Callable[[Path], None], Path], None] = atomic_save_dir  # the old private name


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def _weights_path(spec: str) -> tuple[str, str]:
    """The directory (or id) to load weights from, and the name the model goes by."""
    if spec in REGISTRY:
        return str(_ensure_gguf_cache(REGISTRY[spec])), REGISTRY[spec].hf_id
    if is_gguf(spec):
        path = Path(spec).expanduser()
        return str(local_gguf_cache(path, cache_root())), str(path)
    return spec, spec


_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _check_safe(path: str, allow_pickle: bool) -> None:
    """A local directory with only pickle checkpoints is refused (pickle files can run code when loaded)."""
    d = Path(path)
    if allow_pickle or not d.is_dir():
        return
    if any(d.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in d.iterdir() if p.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise ModelError(f"{d} holds only pickle checkpoints ({pickles[0]}), which can run code when loaded; convert "
                         "them to safetensors (model.save_pretrained(dir, safe_serialization=True)) or pass "
                         "allow_pickle=True if you trust the files")


def load_tokenizer(spec: str = DEFAULT_MODEL) -> Any:
    """The tokenizer of a model, without loading its weights (for registered names and GGUF files: the cache)."""
    from transformers import AutoTokenizer

    _quiet_transformers()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path, _ = _weights_path(spec)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError):
        raise ModelError(f"cannot load the tokenizer of {spec!r}; give a registered name, a .gguf file or a local "
                         "directory") from None


def load_model(spec: str = DEFAULT_MODEL, dtype: str = "bfloat16", device: str = "cpu",
               layer_path: str | None = None, *, device_map: DeviceMap | Path | None = None,
               max_memory: dict[Any, Any] | str | None = None, offload_folder: str | Path | None = None,
               allow_pickle: bool = False) -> LoadedModel:
    """Load a causal LM by registered name, local ``.gguf`` file, local directory or Hugging Face id (offline).

    ``dtype``: ``auto``, ``float32``, ``bfloat16`` or ``float16`` (``auto``: what the device computes natively).
    ``device``: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (``auto``: CUDA, else MPS, else CPU).
    ``device_map``: ``auto``, ``balanced``, a ``{module: device}`` dict or a JSON file of one; the model is then
    loaded and dispatched by accelerate (``max_memory`` caps each device, e.g. ``"0=20GiB,cpu=64GiB"``; modules
    mapped to ``disk`` go to ``offload_folder``, by default under the cache); ``dtype='auto'`` then follows the map's
    first GPU.
    Weights are read from safetensors only; a directory of pickle checkpoints needs ``allow_pickle=True``.

    Example:
        >>> lm = load_model("smollm2-135m-instruct")  # doctest: +SKIP
        >>> lm = load_model("Qwen3-0.6B-Q8_0.gguf", dtype="auto", device="auto")  # doctest: +SKIP
        >>> lm = load_model("/models/llama-70b", dtype="bfloat16", device_map="auto",
        ...                 max_memory="0=70GiB,1=70GiB,cpu=200GiB")  # doctest: +SKIP
    """
    dmap = None if device_map is None else parse_device_map(device_map)
    limits = parse_max_memory(max_memory)
    if limits is not None and dmap is None:
        raise ModelError("max_memory only applies with a device map; pass device_map='auto' as well")
    target = resolve_device(device) if dmap is None else map_device(dmap, device)
    torch_dtype = DTYPES[resolve_dtype(dtype, target)]
    _quiet_transformers()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, name = _weights_path(spec)
    _check_safe(path, allow_pickle)
    kw: dict[str, Any] = {"dtype": torch_dtype, "use_safetensors": None if allow_pickle else True}
    if dmap is not None:
        kw["device_map"] = dmap
        if limits is not None:
            kw["max_memory"] = limits
        if uses_disk(dmap) or dmap in ("auto", "balanced", "balanced_low_0", "sequential"):
            folder = Path(offload_folder) if offload_folder else cache_root() / "offload" / Path(path).name
            kw["offload_folder"] = str(folder)
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model: nn.Module = AutoModelForCausalLM.from_pretrained(path, **kw)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not allow_pickle and "safetensors" in str(exc) and not Path(path).is_dir():
            raise ModelError(f"{spec!r} has no safetensors weights in the local Hugging Face cache; download its "
                             "safetensors files, convert its checkpoints, or pass allow_pickle=True if you trust "
                             "them") from None
        raise ModelError(f"cannot load model {spec!r}: not a registered name ({', '.join(REGISTRY)}), a .gguf file, "
                         f"nor a local model directory or cached Hugging Face id ({first[:160]})") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    if dmap is None:
        model.to(target)  # the one place a whole model is moved: never a dispatched one
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
