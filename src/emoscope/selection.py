"""Turning a user's choices (comma lists, ``all``, a count, layer ranges) into the lists the library takes.

Errors are :class:`SelectionError` (a ``ValueError``) with a message saying what to write instead. Nothing here
imports torch.

Example:
    >>> split_names("desperate, calm")
    ['desperate', 'calm']
    >>> parse_strengths("-0.05,0,0.05")
    [-0.05, 0.0, 0.05]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emoscope.bank import EmotionBank


class SelectionError(ValueError):
    """A choice that cannot be read (unknown emotion, bad number list); the message shows the expected form."""


def split_names(text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]`` (blanks dropped); ``None`` stays ``None``.

    Example:
        >>> split_names(" calm,, afraid "), split_names(None)
        (['calm', 'afraid'], None)
    """
    if text is None:
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


def parse_strengths(text: str) -> list[float]:
    """Steering strengths from ``"-0.05,0,0.05"``; an empty or non-numeric list raises :class:`SelectionError`.

    Example:
        >>> parse_strengths("0, 0.1")
        [0.0, 0.1]
    """
    try:
        values = [float(x) for x in (split_names(text) or [])]
    except ValueError:
        raise SelectionError(f"--strengths must be numbers separated by commas, e.g. -0.05,0,0.05 (got {text!r})"
                             ) from None
    if not values:
        raise SelectionError("--strengths is empty; give e.g. 0,0.05")
    return values


def choose_emotions(spec: str, seed: int = 0) -> list[str]:
    """Emotions from ``"all"``, a count to sample reproducibly (``"12"``) or a comma list (``"calm,afraid"``).

    Names outside the 171 shipped emotion words raise :class:`SelectionError`.

    Example:
        >>> choose_emotions("calm, afraid")
        ['calm', 'afraid']
        >>> len(choose_emotions("all")), len(choose_emotions("5", seed=1))
        (171, 5)
    """
    from emoscope.catalogue import emotions
    from emoscope.corpus.generate import sample_emotions

    if spec == "all":
        return emotions()
    if spec.isdigit():
        return sample_emotions(int(spec), seed)
    chosen = split_names(spec) or []
    unknown = [e for e in chosen if e not in emotions()]
    if unknown:
        raise SelectionError(f"unknown emotions {unknown}; `emoscope emotions` lists the 171 names")
    return chosen


def count_or_names(spec: str) -> int | list[str]:
    """A number (``"35"``: that many emotions, chosen by the experiment) or a comma list of names.

    Example:
        >>> count_or_names("35"), count_or_names("calm,afraid")
        (35, ['calm', 'afraid'])
    """
    return int(spec) if spec.strip().isdigit() else split_names(spec) or []


def export_layers(bank: EmotionBank, spec: str | None) -> list[int] | None:
    """The bank's layers to write to a control-vector file: ``None`` (the default layer), ``"all"`` or a range.

    ``"all"`` keeps every stored block from 1 on (llama.cpp has no direction for block 0); a range such as
    ``"15-20"`` must name stored layers (a :class:`~emoscope.bank.BankError` otherwise).

    Example:
        >>> import numpy as np
        >>> from emoscope.bank import EmotionBank
        >>> bank = EmotionBank(np.zeros((3, 1, 4), np.float32), ["calm"], [0, 1, 2], 2, "m", "f", {}, "")
        >>> export_layers(bank, "all"), export_layers(bank, "1-2"), export_layers(bank, None)
        ([1, 2], [1, 2], None)
    """
    if spec is None:
        return None
    if spec == "all":
        return [x for x in bank.layers if x >= 1]
    from emoscope.model.layers import resolve_layers

    return [bank.layers[bank.layer_index(x)] for x in resolve_layers(max(bank.layers) + 1, spec)]
