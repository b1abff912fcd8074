"""Steering by emotion name, in the paper's units.

A strength ``s`` for emotion ``e`` at layer ``l`` adds ``s x mean_residual_norm[l] x v_e[l]`` to the residual
stream after block ``l`` (the mean residual norm over the corpus is stored in the bank). Several emotions add up;
each row of a batch may have its own strengths; positions select where it applies: ``all``, ``prompt`` (the
first forward pass of a generation, i.e. the prompt tokens), ``generated`` (every later pass, i.e. the tokens the
model produced), or a ``[B, T]`` mask over the prompt (a token span). Hooks live only inside the context and
only for the calling thread or task; the model is never changed.

Example:
    >>> with steer(lm, bank, "calm=+0.1,desperate=-0.05"):  # doctest: +SKIP
    ...     text = generate_text(lm, "Tell me about your day.")
    >>> parse_spec("calm=+0.1, desperate=-0.05")
    {'calm': 0.1, 'desperate': -0.05}
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from emoscope.bank import BankError, EmotionBank

if TYPE_CHECKING:
    from emoscope.model.loading import LoadedModel

POSITIONS = ("all", "prompt", "generated")
_ITEM = re.compile(r"^\s*([^=]+?)\s*=\s*([+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[+-]?\.\d+)\s*$")


class SteeringError(ValueError):
    """A steering request that cannot be carried out (unknown emotion, bad strength, bad layer or span)."""


def parse_spec(spec: str | Mapping[str, float]) -> dict[str, float]:
    """``"calm=+0.1,desperate=-0.05"`` (or a mapping) -> ``{"calm": 0.1, "desperate": -0.05}``."""
    if isinstance(spec, Mapping):
        return {str(k): float(v) for k, v in spec.items()}
    out: dict[str, float] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        m = _ITEM.match(part)
        if m is None:
            raise SteeringError(f"cannot read steering item {part.strip()!r}; write emotion=strength, e.g. "
                                "'calm=+0.1,desperate=-0.05'")
        name, value = m.group(1), float(m.group(2))
        out[name] = out.get(name, 0.0) + value
    if not out:
        raise SteeringError("no steering given; write emotion=strength, e.g. 'calm=+0.1'")
    return out


def steering_vector(bank: EmotionBank, spec: str | Mapping[str, float], layer: int) -> np.ndarray:
    """The vector added after block ``layer``: the sum of strength x mean residual norm x unit vector."""
    strengths = parse_spec(spec)
    idx = bank.layer_index(layer)
    if "mean_residual_norm" not in bank.stats:
        raise BankError("this bank has no mean_residual_norm statistic; re-extract it to steer in paper units")
    unit = float(bank.stats["mean_residual_norm"][idx])
    total = np.zeros(bank.d_model, dtype=np.float64)
    for name, s in strengths.items():
        if name not in bank.emotions:
            raise SteeringError(f"unknown emotion {name!r}; `emoscope emotions` lists the {len(bank.emotions)} names")
        if not np.isfinite(s):
            raise SteeringError(f"strength of {name!r} is not a finite number")
        total += s * unit * bank.vectors[idx, bank.emotion_index(name)].astype(np.float64)
    return total


@dataclass
class Steering:
    """What a :func:`steer` context applies: ``vectors[layer]`` is ``[B, D]`` (one row per batch row)."""

    layers: list[int]
    vectors: dict[int, NDArray[np.float32]]
    positions: str
    passes: dict[int, int] = field(default_factory=dict)  # forward passes seen per layer


@contextmanager
def steer(lm: LoadedModel, bank: EmotionBank, spec: str | Mapping[str, float] | Sequence[Mapping[str, float]],
          layers: Sequence[int] | None = None, positions: str | Any = "all", allow_mismatch: bool = False
          ) -> Iterator[Steering]:
    """Steer every forward pass inside the context (see the module docstring for units and positions).

    ``spec`` is one steering for every row, or a sequence with one mapping per batch row (per-row strengths).
    ``positions`` may be a ``[B, T]`` 0/1 array over the prompt's columns (as padded, see :func:`span_mask`):
    steering then applies to those prompt positions only, in the first forward pass.
    """
    from emoscope.model.hooks import AdditionError, add_vectors

    bank.check_model(lm.fingerprint, lm.name, allow_mismatch)
    chosen = [bank.default_layer] if layers is None else list(layers)
    if not chosen:
        raise SteeringError("no layers to steer at")
    for layer in chosen:
        if not 0 <= layer < lm.n_layers:
            raise SteeringError(f"layer {layer} does not exist; {lm.name} has blocks 0-{lm.n_layers - 1}")
    rows = list(spec) if isinstance(spec, Sequence) and not isinstance(spec, str) else [spec]
    vectors = {layer: np.stack([steering_vector(bank, r, layer) for r in rows]).astype(np.float32)
               for layer in chosen}
    mask: NDArray[np.float32] | None = None
    if isinstance(positions, str):
        if positions not in POSITIONS:
            raise SteeringError(f"positions must be one of {', '.join(POSITIONS)} or a token mask, not "
                                f"{positions!r}")
        mode = positions
    else:
        mask = np.asarray(positions, dtype=np.float32)
        mode = "span"
    state = Steering(layers=chosen, vectors=vectors, positions=mode)
    try:
        with add_vectors(lm, vectors, mode, mask) as passes:
            state.passes = passes.seen
            yield state
    except AdditionError as exc:  # a batch or mask that does not fit this steering
        raise SteeringError(str(exc)) from None


def span_mask(attention_mask: Any, spans: Sequence[tuple[int, int] | None]) -> NDArray[np.float32]:
    """A ``[B, T]`` mask marking token ``spans[r] = (start, end)`` of each row, counted over real tokens.

    Indices count from the row's first real token, so the mask is right under left or right padding.

    Example:
        >>> span_mask(np.array([[0, 1, 1, 1], [1, 1, 1, 0]]), [(1, 3), (0, 1)]).tolist()
        [[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]]
    """
    att = np.asarray(attention_mask).astype(np.int64)
    pos = np.clip(att.cumsum(-1) - 1, 0, None)
    out = np.zeros(att.shape, dtype=np.float32)
    for r, sp in enumerate(spans):
        if sp is None:
            continue
        a, b = sp
        n = int(att[r].sum())
        if not 0 <= a < b <= n:
            raise SteeringError(f"span {a}:{b} is outside the {n} tokens of row {r}")
        out[r] = ((pos[r] >= a) & (pos[r] < b) & (att[r] > 0)).astype(np.float32)
    return out


def parse_span(text: str) -> tuple[int, int]:
    """``"5:12"`` -> ``(5, 12)`` (token indices, end exclusive)."""
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if m is None or int(m.group(1)) >= int(m.group(2)):
        raise SteeringError(f"cannot read span {text!r}; write START:END with START < END, e.g. 5:12")
    return int(m.group(1)), int(m.group(2))
