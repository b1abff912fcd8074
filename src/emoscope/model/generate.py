"""Generation of a batch of prompts (left-padded, greedy by default), returning the new token ids.

Example:
    >>> out = generate(lm, [encode_chat(lm.tokenizer, msgs).ids], max_new_tokens=40)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emoscope.model.chat import encode_chat, pad_batch
from emoscope.model.loading import LoadedModel


def generate(lm: LoadedModel, prompts: Sequence[Sequence[int]], max_new_tokens: int = 64, do_sample: bool = False,
             temperature: float = 1.0, seed: int = 0) -> list[list[int]]:
    """New tokens for each prompt (stopping at the tokenizer's end-of-sequence token), as id lists."""
    pad = int(lm.tokenizer.pad_token_id)
    ids, mask = pad_batch([list(p) for p in prompts], pad, side="left")
    eos = lm.tokenizer.eos_token_id
    stops = stop_ids(lm)
    kwargs = {"do_sample": do_sample, "max_new_tokens": max_new_tokens, "pad_token_id": pad,
              "eos_token_id": stops or eos}
    if do_sample:
        kwargs["temperature"] = temperature
        torch.manual_seed(seed)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    with torch.no_grad():
        out = lm.model.generate(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),  # type: ignore
                                **kwargs)
    new = out[:, ids.shape[1]:].tolist()
    result = []
    for row in new:
        cut = next((i for i, t in enumerate(row) if t in stops or t == pad), len(row))
        result.append(row[:cut])
    return result


def stop_ids(lm: LoadedModel) -> list[int]:
    """Token ids that end a reply: end-of-sequence and the end-of-turn markers of common chat templates."""
    tok = lm.tokenizer
    ids = {int(tok.eos_token_id)} if tok.eos_token_id is not None else set()
    for name in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>"):
        t = tok.convert_tokens_to_ids(name)
        if isinstance(t, int) and t != tok.unk_token_id and t >= 0:
            ids.add(t)
    return sorted(ids)


def generate_text(lm: LoadedModel, prompt: str | list[dict[str, str]], max_new_tokens: int = 64,
                  do_sample: bool = False, temperature: float = 1.0, seed: int = 0) -> str:
    """The model's reply to a user message (or a conversation), through its chat template; greedy by default.

    Example:
        >>> with emoscope.steer(lm, bank, "calm=+0.1"):  # doctest: +SKIP
        ...     print(generate_text(lm, "The deploy failed twice. What now?"))
    """
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    ids = encode_chat(lm.tokenizer, messages).ids
    out = generate(lm, [ids], max_new_tokens, do_sample, temperature, seed)[0]
    return str(lm.tokenizer.decode(out, skip_special_tokens=True))
