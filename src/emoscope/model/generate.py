"""Plain generation of a batch of prompts (greedy by default), on the one decode loop.

Example:
    >>> out = generate(lm, [encode_chat(lm.tokenizer, msgs).ids], max_new_tokens=40)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

from emoscope.model.chat import encode_chat
from emoscope.model.decode import Sampling, decode, row_seed, stop_ids
from emoscope.model.loading import LoadedModel

__all__ = ["generate", "generate_text", "stop_ids"]


def generate(lm: LoadedModel, prompts: Sequence[Sequence[int]], max_new_tokens: int = 64, do_sample: bool = False,
             temperature: float = 1.0, seed: int = 0, top_p: float = 1.0) -> list[list[int]]:
    """New tokens for each prompt, as id lists without the stop token (end of sequence or end of turn).

    Sampling is seeded per row (see :func:`emoscope.model.decode.row_seed`), so a reply does not depend on
    what else is in the batch's random stream. Steering installed by :func:`emoscope.steer` around the call
    applies (its ``prompt``/``generated`` positions see the prefill and the steps).
    """
    rows = [Sampling(do_sample, temperature, top_p, row_seed(seed, r)) for r in range(len(prompts))]
    stops = set(stop_ids(lm))
    out: list[list[int]] = [[] for _ in prompts]
    for step in decode(lm, prompts, max_new_tokens, rows, stops=stops):
        for r, tok in enumerate(step.tokens):
            if tok is not None and tok not in stops:
                out[r].append(tok)
    return out


def generate_text(lm: LoadedModel, prompt: str | list[dict[str, str]], max_new_tokens: int = 64,
                  do_sample: bool = False, temperature: float = 1.0, seed: int = 0, top_p: float = 1.0) -> str:
    """The model's reply to a user message (or a conversation), through its chat template; greedy by default.

    Example:
        >>> with emoscope.steer(lm, bank, "calm=+0.1"):  # doctest: +SKIP
        ...     print(generate_text(lm, "The deploy failed twice. What now?"))
    """
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    ids = encode_chat(lm.tokenizer, messages).ids
    out = generate(lm, [ids], max_new_tokens, do_sample, temperature, seed, top_p)[0]
    return str(lm.tokenizer.decode(out, skip_special_tokens=True))
