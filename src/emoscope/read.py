"""Reading: per-token emotion scores on text or a conversation.

Example:
    >>> r = read_text(lm, bank, "The house was silent after they left.")  # doctest: +SKIP
    >>> r.scores.shape  # [tokens, emotions]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from emoscope.bank import EmotionBank
from emoscope.model.chat import Encoded, encode_chat, encode_text, pad_batch
from emoscope.model.hooks import record
from emoscope.model.loading import LoadedModel


@dataclass(frozen=True)
class Reading:
    """Scores of one text: ``scores[t, e]`` for token ``t`` and emotion ``e`` of ``emotions``."""

    emotions: list[str]
    layer: int
    kind: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    scores: NDArray[np.float64]
    roles: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"tokens": self.tokens, "offsets": [list(o) for o in self.offsets]}
        if self.roles is not None:
            d["roles"] = self.roles
        d["scores"] = np.round(self.scores, 5).tolist()
        return d

    def top(self, token: int = -1, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` highest-scoring emotions at one token (default: the last)."""
        row = self.scores[token]
        return [(self.emotions[i], float(row[i])) for i in np.argsort(-row)[:k]]


def check_bank(lm: LoadedModel, bank: EmotionBank, allow_mismatch: bool = False) -> None:
    """Refuse a bank made from another model (a clear :class:`~emoscope.bank.BankError`)."""
    bank.check_model(lm.fingerprint, lm.name, allow_mismatch)


def read_encoded(lm: LoadedModel, bank: EmotionBank, items: list[Encoded], layer: int | None = None,
                 kind: str = "z", batch_size: int = 8, allow_mismatch: bool = False) -> list[Reading]:
    """Score already tokenized items at one layer of the bank (refusing a bank made from another model)."""
    check_bank(lm, bank, allow_mismatch)
    block = bank.layers[bank.layer_index(layer)]
    out: list[Reading] = []
    pad = int(lm.tokenizer.pad_token_id)
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        ids, mask = pad_batch([e.ids for e in chunk], pad, side="right")
        acts = record(lm, ids, mask, [block])[block]
        for r, e in enumerate(chunk):
            h = acts[r, : len(e.ids)].to(torch.float32).cpu().numpy()
            out.append(Reading(emotions=bank.emotions, layer=block, kind=kind, tokens=e.tokens, offsets=e.offsets,
                               scores=bank.score(h, block, kind), roles=e.roles))
    return out


def read_text(lm: LoadedModel, bank: EmotionBank, text: str, layer: int | None = None, kind: str = "z",
              allow_mismatch: bool = False) -> Reading:
    """Per-token scores of plain text."""
    return read_encoded(lm, bank, [encode_text(lm.tokenizer, text)], layer, kind, allow_mismatch=allow_mismatch)[0]


def read_chat(lm: LoadedModel, bank: EmotionBank, messages: list[dict[str, str]], layer: int | None = None,
              kind: str = "z", allow_mismatch: bool = False) -> Reading:
    """Per-token scores of a conversation rendered with the model's chat template.

    A conversation ending with a user message gets the generation prompt, so the last token is the start of the
    Assistant turn (``reading.top(-1)`` is what the Assistant is about to express).
    """
    items = [encode_chat(lm.tokenizer, messages)]
    return read_encoded(lm, bank, items, layer, kind, allow_mismatch=allow_mismatch)[0]
