"""The emotion-vector bank: a safetensors file users keep and share.

``bank.safetensors`` holds float32 tensors

- ``vectors`` ``[n_layers_stored, n_emotions, d_model]``: unit emotion directions;
- ``raw_norms``, ``denoised_norms`` ``[L, E]``: norms before denoising and before normalising;
- ``neutral_mean``, ``neutral_std`` ``[L, E]``: projections of neutral tokens (the z-score baseline);
- ``mean_residual_norm`` ``[L]``: mean residual norm per layer over the corpus (the steering unit);
- ``neutral_components_removed`` ``[L]``;
- ``story_mean`` ``[L, D]``: mean over emotions of the per-emotion story means (what the vectors are relative to);

and string metadata: ``emotions`` (JSON list), ``layers`` (JSON list of block indices), ``default_layer``,
``layer_semantics``, ``model``, ``model_fingerprint``, ``recipe`` (JSON), ``split`` (JSON), ``corpus_sha256``,
``emoscope_version``, ``format_version``, and, once ``emoscope validate`` has chosen the default layer,
``default_layer_rule`` (JSON: the rule, the measured figures and the runner-up). See ``docs/formats.md``.

Example:
    >>> bank = EmotionBank.load("banks/smollm2")  # doctest: +SKIP
    >>> bank.vector("calm").shape  # doctest: +SKIP
    (576,)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

BANK_FILE = "bank.safetensors"
FORMAT_VERSION = "1"
LAYER_SEMANTICS = "layer i = residual stream after decoder block i (0-based); hidden_states[i + 1]"
_STAT_TENSORS = ("raw_norms", "denoised_norms", "neutral_mean", "neutral_std", "mean_residual_norm",
                 "neutral_components_removed", "story_mean")


class BankError(ValueError):
    """A bank is missing, malformed, or does not belong to the model it is used with."""


@dataclass
class EmotionBank:
    """Emotion vectors for a set of layers of one model, with their provenance and statistics."""

    vectors: NDArray[np.float32]
    emotions: list[str]
    layers: list[int]
    default_layer: int
    model: str
    model_fingerprint: str
    recipe: dict[str, Any]
    corpus_sha256: str
    stats: dict[str, NDArray[np.float32]] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    emoscope_version: str = ""
    default_layer_rule: dict[str, Any] = field(default_factory=dict)
    model_type: str = ""

    def __post_init__(self) -> None:
        if self.vectors.ndim != 3 or self.vectors.shape[:2] != (len(self.layers), len(self.emotions)):
            raise BankError(f"vectors shape {self.vectors.shape} does not match "
                            f"{len(self.layers)} layers x {len(self.emotions)} emotions")
        if self.default_layer not in self.layers:
            raise BankError(f"default layer {self.default_layer} is not among the stored layers")
        if not self.emoscope_version:
            from emoscope import __version__

            self.emoscope_version = __version__

    @property
    def d_model(self) -> int:
        return int(self.vectors.shape[2])

    def layer_index(self, layer: int | None = None) -> int:
        """Position of block ``layer`` (default: the bank's default layer) among the stored layers."""
        layer = self.default_layer if layer is None else layer
        try:
            return self.layers.index(layer)
        except ValueError:
            raise BankError(f"layer {layer} is not in this bank; stored layers: "
                            f"{_ranges(self.layers)}") from None

    def emotion_index(self, name: str) -> int:
        try:
            return self.emotions.index(name)
        except ValueError:
            raise BankError(f"unknown emotion {name!r}; `emoscope emotions` lists the {len(self.emotions)} names"
                            ) from None

    def matrix(self, layer: int | None = None) -> NDArray[np.float32]:
        """All emotion vectors at one layer, ``[n_emotions, d_model]``."""
        out: NDArray[np.float32] = self.vectors[self.layer_index(layer)]
        return out

    def vector(self, name: str, layer: int | None = None) -> NDArray[np.float32]:
        """One emotion's vector at one layer, ``[d_model]``."""
        out: NDArray[np.float32] = self.vectors[self.layer_index(layer), self.emotion_index(name)]
        return out

    def stat(self, name: str, layer: int | None = None) -> NDArray[np.float32]:
        """A per-layer statistic (``neutral_mean``, ``mean_residual_norm`` ...) at one layer."""
        if name not in self.stats:
            raise BankError(f"this bank has no {name!r} statistic")
        out: NDArray[np.float32] = self.stats[name][self.layer_index(layer)]
        return out

    def score(self, h: NDArray[Any], layer: int | None = None, kind: str = "z") -> NDArray[np.float64]:
        """Scores of activations ``h`` (``[T, D]``) on every vector at ``layer``: ``z`` against the neutral
        baseline stored in the bank, ``projection`` or ``cosine`` (see :func:`emoscope.core.scores.score`)."""
        from emoscope.core.scores import score

        idx = self.layer_index(layer)
        mean = self.stats.get("neutral_mean")
        std = self.stats.get("neutral_std")
        return score(h, self.vectors[idx], kind, None if mean is None else mean[idx],
                     None if std is None else std[idx])

    def check_model(self, fingerprint: str, name: str = "", allow_mismatch: bool = False) -> None:
        """Refuse to be used with a model other than the one that made it (unless ``allow_mismatch``)."""
        if fingerprint != self.model_fingerprint and not allow_mismatch:
            raise BankError(f"this bank was made from {self.model} (fingerprint {self.model_fingerprint}), "
                            f"not {name or 'this model'} (fingerprint {fingerprint}); extract a bank for this "
                            "model, or pass --allow-model-mismatch if you know they share a residual space")

    def digest(self) -> str:
        """SHA-256 of the bank's content (vectors, statistics and metadata): two banks with the same digest read,
        steer and resume alike; a re-extracted bank gets a new one.

        Example:
            >>> len(bank.digest())  # doctest: +SKIP
            64
        """
        import hashlib

        h = hashlib.sha256(json.dumps({k: v for k, v in self.metadata().items() if k != "emoscope_version"},
                                      sort_keys=True).encode())
        for name, arr in [("vectors", self.vectors), *sorted(self.stats.items())]:
            a = np.ascontiguousarray(arr, dtype=np.float32)
            h.update(f"{name}{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def metadata(self) -> dict[str, str]:
        return {
            "format_version": FORMAT_VERSION,
            "emotions": json.dumps(self.emotions),
            "layers": json.dumps(self.layers),
            "default_layer": str(self.default_layer),
            "layer_semantics": LAYER_SEMANTICS,
            "model": self.model,
            "model_fingerprint": self.model_fingerprint,
            "recipe": json.dumps(self.recipe, sort_keys=True),
            "split": json.dumps(self.split, sort_keys=True),
            "corpus_sha256": self.corpus_sha256,
            "emoscope_version": self.emoscope_version,
            **({"default_layer_rule": json.dumps(self.default_layer_rule, sort_keys=True)}
               if self.default_layer_rule else {}),
            **({"model_type": self.model_type} if self.model_type else {}),
        }

    def save(self, path: str | Path) -> Path:
        """Write ``bank.safetensors`` (into ``path`` if it is a directory) atomically; returns the file path."""
        from emoscope.safetensors_io import write_safetensors

        target = _bank_path(Path(path), for_writing=True)
        tensors = {"vectors": np.asarray(self.vectors, dtype=np.float32)}
        tensors.update({k: np.asarray(v, dtype=np.float32) for k, v in self.stats.items()})
        write_safetensors(target, tensors, self.metadata())
        return target

    @classmethod
    def load(cls, path: str | Path) -> EmotionBank:
        """Read a bank from a ``bank.safetensors`` file or a directory holding one."""
        from safetensors import safe_open

        file = _bank_path(Path(path), for_writing=False)
        try:
            with safe_open(str(file), framework="numpy") as fh:
                meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        except Exception as exc:  # safetensors raises several types for a damaged file
            raise BankError(f"{file} is not a readable bank ({type(exc).__name__}); re-run emoscope extract"
                            ) from None
        try:
            return cls(
                vectors=tensors.pop("vectors"),
                emotions=json.loads(meta["emotions"]),
                layers=[int(x) for x in json.loads(meta["layers"])],
                default_layer=int(meta["default_layer"]),
                model=meta["model"],
                model_fingerprint=meta["model_fingerprint"],
                recipe=json.loads(meta["recipe"]),
                corpus_sha256=meta.get("corpus_sha256", ""),
                stats={k: v for k, v in tensors.items() if k in _STAT_TENSORS},
                split=json.loads(meta.get("split", "{}")),
                emoscope_version=meta.get("emoscope_version", "unknown"),
                default_layer_rule=json.loads(meta.get("default_layer_rule", "{}")),
                model_type=meta.get("model_type", ""),
            )
        except (KeyError, ValueError) as exc:
            raise BankError(f"{file} lacks bank metadata ({exc}); it was not written by emoscope") from None


def _bank_path(path: Path, for_writing: bool) -> Path:
    if path.suffix == ".safetensors":
        file = path
    else:
        file = path / BANK_FILE
    if not for_writing and not file.exists():
        raise BankError(f"no bank at {path}: expected {file}; create one with `emoscope extract --out {path}`")
    return file


def _ranges(xs: list[int]) -> str:
    if not xs:
        return "none"
    parts, start, prev = [], xs[0], xs[0]
    for x in [*xs[1:], None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    return ",".join(parts)


DEFAULT_LAYER_RULE_KEYS = ("rule", "chosen", "chosen_score", "chosen_top5", "chosen_top1", "runner_up",
                           "runner_up_score", "runner_up_top5", "runner_up_top1", "chosen_on")
"""The figures of a validated default-layer choice that a bank keeps in ``default_layer_rule``."""


def record_default_layer(bank: EmotionBank, choice: dict[str, Any]) -> bool:
    """Make a validation's default-layer ``choice`` the bank's default layer; ``True`` if the bank changed.

    ``choice`` is ``metrics["default_layer"]`` of :func:`emoscope.validate`: the layer under ``"chosen"``, with the
    rule and the figures behind it (:data:`DEFAULT_LAYER_RULE_KEYS`), which are kept as ``default_layer_rule``.
    Nothing changes when the bank already records this layer with a rule. The bank is not saved: call
    :meth:`EmotionBank.save` when this returns ``True``.

    Example:
        >>> bank = EmotionBank(np.zeros((2, 1, 4), np.float32), ["calm"], [3, 4], 3, "m", "f", {}, "")
        >>> record_default_layer(bank, {"rule": "best top-5", "chosen": 4, "runner_up": 3})
        True
        >>> bank.default_layer, bank.default_layer_rule["runner_up"]
        (4, 3)
        >>> record_default_layer(bank, {"rule": "best top-5", "chosen": 4, "runner_up": 3})
        False
    """
    chosen = int(choice["chosen"])
    if chosen == bank.default_layer and bank.default_layer_rule:
        return False
    bank.layer_index(chosen)
    bank.default_layer = chosen
    bank.default_layer_rule = {k: choice.get(k) for k in DEFAULT_LAYER_RULE_KEYS}
    return True


def bank_dir(path: str | Path) -> Path:
    """The directory of a bank given as its directory or its ``bank.safetensors`` file (reports go beside it).

    Example:
        >>> bank_dir("banks/smol/bank.safetensors"), bank_dir("banks/smol")
        (PosixPath('banks/smol'), PosixPath('banks/smol'))
    """
    p = Path(path)
    return p.parent if p.suffix == ".safetensors" else p
