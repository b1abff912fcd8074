"""Local GGUF files: check the architecture, dequantize once into a float cache directory keyed by content.

Any GGUF whose architecture transformers can dequantize (llama, mistral, qwen2, qwen3, gemma2/3, phi3, ...)
becomes a float32 Hugging Face directory under ``cache_root()/models``, written through a temporary directory and
a rename, and named after the file's SHA-256 (and the transformers version that dequantized it): the same bytes
under another path or name reuse one cache, other bytes never do. The hash of a file is remembered per
(path, size, mtime) in ``cache_root()/gguf/digests.json`` so a large file is read once.

Example:
    >>> is_gguf("model.gguf"), is_gguf("HuggingFaceTB/SmolLM2-135M-Instruct")
    (True, False)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from emoscope.atomic import atomic_file
from emoscope.model.errors import ModelError
from emoscope.model.parts import file_sha256

# llama.cpp's architecture names that transformers files under another name.
_ALIASES = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe", "gpt-oss": "gpt_oss", "minimax-m2": "minimax_m2"}
# Supported by transformers' GGUF reader, but not causal language models.
_NOT_CAUSAL = {"t5", "umt5", "t5encoder", "general", "tokenizer"}


def is_gguf(spec: str) -> bool:
    """Whether a model spec names a GGUF file (by its suffix)."""
    return spec.lower().endswith(".gguf")


def supported_architectures() -> set[str]:
    """The GGUF architectures the installed transformers can dequantize into a causal LM.

    Example:
        >>> {"llama", "qwen2", "gemma3"} <= supported_architectures()
        True
    """
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return set(GGUF_SUPPORTED_ARCHITECTURES) - _NOT_CAUSAL


def gguf_architecture(path: Path) -> str:
    """The ``general.architecture`` of a GGUF file (reads the header only)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable GGUF file ({str(exc)[:120]}); check the file") from None
    field = reader.get_field("general.architecture")
    if field is None:
        raise ModelError(f"{path} has no general.architecture; it is not a model GGUF file")
    return str(field.contents())


def check_supported(path: Path) -> str:
    """The file's architecture, or a one-line ModelError naming an architecture transformers cannot dequantize."""
    arch = gguf_architecture(path)
    supported = supported_architectures()
    if arch not in supported and _ALIASES.get(arch, arch) not in supported:
        import transformers

        raise ModelError(f"{path.name}: GGUF architecture {arch!r} cannot be dequantized by transformers "
                         f"{transformers.__version__} (supported: {', '.join(sorted(supported))}); convert the "
                         "model to a safetensors directory and pass that instead")
    return arch


def gguf_digest(path: Path, root: Path) -> str:
    """The file's SHA-256, remembered in ``root/digests.json`` per (resolved path, size, mtime)."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    index = root / "digests.json"
    known: dict[str, str] = {}
    if index.is_file():
        try:
            known = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
    if key in known:
        return known[key]
    digest = file_sha256(path)
    known[key] = digest
    root.mkdir(parents=True, exist_ok=True)
    with atomic_file(index) as fh:
        fh.write(json.dumps(known, indent=1, sort_keys=True))
    return digest


def float_cache_dir(models_root: Path, label: str, digest: str) -> Path:
    """The float cache directory of a GGUF file with this SHA-256 (keyed by content and transformers version).

    Example:
        >>> float_cache_dir(Path("/c"), "My Model", "ab" * 32).name  # doctest: +ELLIPSIS
        'my-model-abababababab-tf...'
    """
    import transformers

    slug = re.sub(r"[^a-z0-9.]+", "-", label.lower()).strip("-") or "gguf"
    return models_root / f"{slug[:48]}-{digest[:12]}-tf{transformers.__version__}"


def atomic_save_dir(write: Callable[[Path], None], final: Path) -> None:
    """Run ``write(tmp)`` on a fresh temporary directory beside ``final``, then rename it to ``final``."""
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


def dequantize_to(gguf: Path, cached: Path) -> Path:
    """Dequantize ``gguf`` to a float32 safetensors directory at ``cached`` (once; atomic). Returns ``cached``."""
    if (cached / "config.json").exists():
        return cached
    check_supported(gguf)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def write(tmp: Path) -> None:
        kw = {"gguf_file": gguf.name}
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kw)
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))

    atomic_save_dir(write, cached)
    return cached


def local_gguf_cache(path: Path, cache: Path) -> Path:
    """The float cache directory of a local GGUF file (dequantized on first use), under ``cache``.

    Example:
        >>> local_gguf_cache(Path("Qwen3-0.6B-Q8_0.gguf"), cache_root())  # doctest: +SKIP
    """
    if not path.is_file():
        raise ModelError(f"no GGUF file at {path}; give the path of an existing .gguf file")
    arch = check_supported(path)
    digest = gguf_digest(path, cache / "gguf")
    return dequantize_to(path, float_cache_dir(cache / "models", f"gguf-{arch}", digest))

