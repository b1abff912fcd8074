"""The scorer projects on the residual's device and defines nothing of its own: it equals the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoscope.bank import EmotionBank
from emoscope.core.scores import score
from emoscope.model.scoring import Scorer


def _bank(rng: np.random.Generator, layers: int = 3, e: int = 5, d: int = 16) -> EmotionBank:
    v = rng.normal(size=(layers, e, d)).astype(np.float32)
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    stats = {"neutral_mean": rng.normal(size=(layers, e)).astype(np.float32),
             "neutral_std": (0.5 + rng.random((layers, e))).astype(np.float32)}
    return EmotionBank(vectors=v, emotions=[f"e{i}" for i in range(e)], layers=[2, 5, 7], default_layer=5,
                       model="m", model_fingerprint="f", recipe={}, corpus_sha256="", stats=stats)


@pytest.mark.parametrize("kind", ["z", "projection", "cosine"])
def test_scorer_equals_the_numpy_scores(kind: str) -> None:
    rng = np.random.default_rng(1)
    bank = _bank(rng)
    h = rng.normal(size=(4, 6, 16)).astype(np.float32) * 3
    got = Scorer(bank, 5, kind)(torch.tensor(h))
    want = np.stack([bank.score(x, 5, kind) for x in h])
    assert got.shape == (4, 6, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(score(h[0], bank.vectors[1], "projection"), bank.score(h[0], 5, "projection"))


def test_scorer_refuses_unknown_kinds_and_layers() -> None:
    bank = _bank(np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown score kind"):
        Scorer(bank, 5, "zz")
    with pytest.raises(Exception, match="layer"):
        Scorer(bank, 3, "z")
