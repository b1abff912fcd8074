"""Steering check: does steering toward an emotion make the model name that emotion?

For each emotion, the model completes "In one word, how is he feeling right now?" -> "He feels" (and the first-
person "how are you feeling" -> "I feel"), steered toward that emotion at one layer on the Assistant-turn tokens
(strength 0.5 in the paper's unit by default). The log-probability of every emotion word's first token (with a
leading space) is compared with the unsteered run: the matching word should rise and the others fall. One batch
row per emotion, each with its own steering (per-row strengths), so the whole check is a few forward passes.

Example:
    >>> result = steering_check(lm, bank)  # doctest: +SKIP
    >>> result["prompts"]["third"]["share_own_rises_most"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emoscope.bank import EmotionBank
from emoscope.model.chat import encode_prefilled
from emoscope.model.loading import LoadedModel
from emoscope.model.margins import next_token_logprobs
from emoscope.progress import Progress, ProgressFn
from emoscope.steering import steering_vector

PROMPTS: dict[str, tuple[str, str]] = {
    "third": ("In one word, how is he feeling right now?", "He feels"),
    "first": ("In one word, how are you feeling right now?", "I feel"),
}


def word_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """First token of each word as it would follow ``"He feels"`` (with a leading space)."""
    return [int(tokenizer.encode(" " + w, add_special_tokens=False)[0]) for w in words]


def summarise(delta: np.ndarray, own_ids: Sequence[int], emotions: Sequence[str]) -> dict[str, Any]:
    """Per-emotion changes from ``delta[e, t]`` (change of token ``t``'s log-prob when steering toward ``e``).

    Emotions whose first token is shared with another emotion are compared only with tokens of other words.

    Example:
        >>> d = np.array([[2.0, -1.0, -1.0], [-1.0, 0.5, 1.0], [0.0, 0.0, 3.0]])
        >>> s = summarise(d, [0, 1, 2], ["a", "b", "c"])
        >>> s["n_own_rises_most"], s["n_own_rises"]
        (2, 3)
    """
    own = np.asarray(own_ids)
    uniq = sorted(set(own.tolist()))
    rows: list[dict[str, Any]] = []
    for e, name in enumerate(emotions):
        others = [t for t in uniq if t != own[e]]
        d_own = float(delta[e, own[e]])
        d_others = delta[e, others]
        rank = int((d_others > d_own).sum()) + 1
        rows.append({"emotion": name, "own_change": round(d_own, 4), "others_mean_change": round(float(
            d_others.mean()), 4) if len(others) else None, "own_rank_among_words": rank})
    n = len(rows)
    return {"n": n, "n_words": len(uniq), "n_own_rises": sum(r["own_change"] > 0 for r in rows),
            "n_own_rises_most": sum(r["own_rank_among_words"] == 1 for r in rows),
            "share_own_rises_most": sum(r["own_rank_among_words"] == 1 for r in rows) / max(n, 1),
            "chance_share_own_rises_most": 1 / max(len(uniq), 1),
            "mean_own_change": float(np.mean([r["own_change"] for r in rows])),
            "mean_others_change": _mean([r["others_mean_change"] for r in rows]),
            "mean_own_rank": float(np.mean([r["own_rank_among_words"] for r in rows])),
            "chance_mean_own_rank": (len(uniq) + 1) / 2, "per_emotion": rows}


def steering_check(lm: LoadedModel, bank: EmotionBank, strength: float = 0.5, layer: int | None = None,
                   emotions: Sequence[str] | None = None, batch_size: int = 32,
                   progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run the check for both prompts; returns JSON-ready results (see :func:`summarise`)."""
    bank.check_model(lm.fingerprint, lm.name)
    layer = bank.default_layer if layer is None else layer
    bank.layer_index(layer)
    chosen = list(emotions) if emotions is not None else list(bank.emotions)
    for e in chosen:
        bank.emotion_index(e)
    word_ids = word_token_ids(lm.tokenizer, bank.emotions)
    own_ids = [word_ids[bank.emotion_index(e)] for e in chosen]
    out: dict[str, Any] = {"model": bank.model, "layer": layer, "strength": strength, "prompts": {}}
    total = len(PROMPTS) * (1 + -(-len(chosen) // batch_size))
    done = 0
    for key, (question, prefix) in PROMPTS.items():
        enc, reply = encode_prefilled(lm.tokenizer, [{"role": "user", "content": question}], prefix)
        span = [float(x) for x in reply]
        cols = sorted(set(word_ids))
        base = next_token_logprobs(lm, enc.ids, cols)[0]
        done += 1
        if progress:
            progress(Progress("steering-check", done, total))
        steered = np.zeros((len(chosen), len(cols)))
        for start in range(0, len(chosen), batch_size):
            part = chosen[start : start + batch_size]
            vectors = [{layer: steering_vector(bank, {e: strength}, layer)} for e in part]
            steered[start : start + len(part)] = next_token_logprobs(lm, enc.ids, cols, vectors, span)
            done += 1
            if progress:
                progress(Progress("steering-check", done, total))
        delta_cols = steered - base[None]
        # re-index to token ids for summarise
        col_of = {t: i for i, t in enumerate(cols)}
        delta = np.full((len(chosen), max(cols) + 1), np.nan)
        for t, i in col_of.items():
            delta[:, t] = delta_cols[:, i]
        res = summarise(delta, own_ids, chosen)
        res.update({"question": question, "prefix": prefix, "steered_tokens": int(sum(reply)),
                    "top_unsteered": [[lm.tokenizer.decode([cols[i]]).strip(), round(float(base[i]), 3)]
                                      for i in np.argsort(-base)[:5]]})
        out["prompts"][key] = res
    return out


def _mean(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(vals)) if vals else None
