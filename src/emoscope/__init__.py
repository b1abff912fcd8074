"""emoscope: find, validate, read, monitor and steer emotion-concept representations in open-weight LMs.

Example:
    >>> import emoscope
    >>> lm = emoscope.load_model("smollm2-135m-instruct")  # doctest: +SKIP
    >>> bank = emoscope.EmotionBank.load("banks/smollm2")  # doctest: +SKIP
    >>> emoscope.read_chat(lm, bank, [{"role": "user", "content": "My dog died today."}]).top()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["EmotionBank", "LoadedModel", "Progress", "Reading", "Recipe", "__version__", "extract", "generate_text",
           "load_model", "monitor", "read_chat", "read_text", "read_texts", "scan", "steer", "validate"]

if TYPE_CHECKING:
    from emoscope.bank import EmotionBank
    from emoscope.core.recipe import Recipe
    from emoscope.extraction import extract
    from emoscope.model.generate import generate_text
    from emoscope.model.loading import LoadedModel, load_model
    from emoscope.monitor import monitor
    from emoscope.progress import Progress
    from emoscope.read import read_chat, read_text, read_texts
    from emoscope.readings import Reading
    from emoscope.scan import scan
    from emoscope.steering import steer
    from emoscope.validation.run import validate

_LAZY = {
    "EmotionBank": "emoscope.bank",
    "Recipe": "emoscope.core.recipe",
    "Progress": "emoscope.progress",
    "Reading": "emoscope.readings",
    "extract": "emoscope.extraction",
    "LoadedModel": "emoscope.model.loading",
    "load_model": "emoscope.model.loading",
    "read_chat": "emoscope.read",
    "read_text": "emoscope.read",
    "read_texts": "emoscope.read",
    "monitor": "emoscope.monitor",
    "scan": "emoscope.scan",
    "steer": "emoscope.steering",
    "generate_text": "emoscope.model.generate",
    "validate": "emoscope.validation.run",
}


def __getattr__(name: str) -> Any:
    """Import heavy modules (torch, transformers) only when their names are used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emoscope' has no attribute {name!r}")
