"""Reading: per-token emotion scores on text or a conversation.

Scores are ``z`` (the default: the projection on the vector, minus its mean over the bank's neutral dialogues,
divided by their spread, so that 2.0 means the same for every emotion), ``projection`` or ``cosine``.

Example:
    >>> r = read_text(lm, bank, "The house was silent after they left.")  # doctest: +SKIP
    >>> r.scores.shape  # [tokens, emotions]  # doctest: +SKIP
    >>> r = read_chat(lm, bank, [{"role": "user", "content": "Rent is due and I have $40."}])  # doctest: +SKIP
    >>> r.top(-1)  # what the Assistant is about to express  # doctest: +SKIP
    >>> r.per_turn("max", roles=["assistant"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from emoscope.bank import EmotionBank
from emoscope.core.aggregate import top_emotions, turn_summary
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
    turns: list[int] | None = None

    def to_dict(self, decimals: int = 5) -> dict[str, Any]:
        d: dict[str, Any] = {"tokens": self.tokens, "offsets": [list(o) for o in self.offsets]}
        if self.roles is not None:
            d["roles"] = self.roles
        if self.turns is not None:
            d["turns"] = self.turns
        d["scores"] = np.round(self.scores, decimals).tolist()
        return d

    def top(self, token: int = -1, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` highest-scoring emotions at one token (default: the last)."""
        return top_emotions(self.scores[token], self.emotions, k)

    def keep(self, roles: Sequence[str] | None = None) -> NDArray[np.bool_]:
        """Per token, whether it counts: all tokens, or those of the given roles (plain text has none).

        The first token never counts when there are others: it attends only to itself, so its residual carries
        no context, and its norm is tens of times larger than elsewhere (an attention sink), which would
        dominate any scale or summary.
        """
        if roles is None or self.roles is None:
            out = np.ones(len(self.tokens), dtype=bool)
        else:
            out = np.array([r in roles for r in self.roles], dtype=bool)
        if len(out) > 1:
            out[0] = False
        return out

    def series(self, emotion: str) -> NDArray[np.float64]:
        """One emotion's score along the text."""
        out: NDArray[np.float64] = self.scores[:, self.emotions.index(emotion)]
        return out

    def per_turn(self, how: str = "mean", roles: Sequence[str] | None = None, k: int = 5) -> list[dict[str, Any]]:
        """Per turn (message) of a conversation, the mean or max of every emotion over its counted tokens.

        Returns ``[{"turn", "role", "tokens", "scores" ([E]), "top" ([(emotion, score)] * k)}]``; plain text
        is one turn.
        """
        turns = self.turns if self.turns is not None else [0] * len(self.tokens)
        keep = self.keep(roles)
        out = []
        for turn, row in turn_summary(self.scores, turns, how, keep).items():
            first = turns.index(turn)
            out.append({"turn": turn, "role": self.roles[first] if self.roles else "text",
                        "tokens": int(sum(1 for t, k_ in zip(turns, keep, strict=True) if t == turn and k_)),
                        "scores": row, "top": top_emotions(row, self.emotions, k)})
        return out


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
                               scores=bank.score(h, block, kind), roles=e.roles, turns=e.turns))
    return out


def read_text(lm: LoadedModel, bank: EmotionBank, text: str, layer: int | None = None, kind: str = "z",
              allow_mismatch: bool = False) -> Reading:
    """Per-token scores of plain text."""
    return read_encoded(lm, bank, [encode_text(lm.tokenizer, text)], layer, kind, allow_mismatch=allow_mismatch)[0]


def read_texts(lm: LoadedModel, bank: EmotionBank, texts: Sequence[str], layer: int | None = None,
               kind: str = "z", batch_size: int = 8, allow_mismatch: bool = False) -> list[Reading]:
    """Per-token scores of several plain texts (batched)."""
    items = [encode_text(lm.tokenizer, t) for t in texts]
    return read_encoded(lm, bank, items, layer, kind, batch_size, allow_mismatch)


def read_chat(lm: LoadedModel, bank: EmotionBank, messages: list[dict[str, str]], layer: int | None = None,
              kind: str = "z", allow_mismatch: bool = False) -> Reading:
    """Per-token scores of a conversation rendered with the model's chat template.

    A conversation ending with a user message gets the generation prompt, so the last token is the start of the
    Assistant turn (``reading.top(-1)`` is what the Assistant is about to express).
    """
    items = [encode_chat(lm.tokenizer, messages)]
    return read_encoded(lm, bank, items, layer, kind, allow_mismatch=allow_mismatch)[0]
