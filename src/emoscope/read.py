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

from emoscope.bank import EmotionBank
from emoscope.model.chat import Encoded, encode_chat, encode_text
from emoscope.model.loading import LoadedModel
from emoscope.model.passes import score_tokens
from emoscope.readings import Reading

__all__ = ["Reading", "check_bank", "read_chat", "read_encoded", "read_text", "read_texts"]


def check_bank(lm: LoadedModel, bank: EmotionBank, allow_mismatch: bool = False) -> None:
    """Refuse a bank made from another model (a clear :class:`~emoscope.bank.BankError`)."""
    bank.check_model(lm.fingerprint, lm.name, allow_mismatch)


def read_encoded(lm: LoadedModel, bank: EmotionBank, items: list[Encoded], layer: int | None = None,
                 kind: str = "z", batch_size: int = 8, allow_mismatch: bool = False) -> list[Reading]:
    """Score already tokenized items at one layer of the bank (refusing a bank made from another model)."""
    check_bank(lm, bank, allow_mismatch)
    block = bank.layers[bank.layer_index(layer)]
    scores = score_tokens(lm, bank, [e.ids for e in items], block, kind, batch_size)
    return [Reading(emotions=bank.emotions, layer=block, kind=kind, tokens=e.tokens, offsets=e.offsets, scores=sc,
                    roles=e.roles, turns=e.turns) for e, sc in zip(items, scores, strict=True)]


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
