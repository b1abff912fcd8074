"""The one decode loop against Hugging Face's own ``generate``, its samplers, additions and hook hygiene."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from emoscope.model.chat import encode_chat, pad_batch
from emoscope.model.decode import Sampling, decode, row_seed, stop_ids
from emoscope.model.generate import generate

PROMPTS = ["the quiet harbour light fell across the water", "he laughed", "nothing moved in the kitchen except"]


def _prompts(lm: Any) -> list[list[int]]:
    return [encode_chat(lm.tokenizer, [{"role": "user", "content": p}]).ids for p in PROMPTS]


def _hf_greedy(lm: Any, prompts: list[list[int]], n: int) -> list[list[int]]:
    """Greedy replies by transformers' generate (left padding), cut at the first stop token."""
    pad = int(lm.tokenizer.pad_token_id)
    ids, mask = pad_batch(prompts, pad, side="left")
    stops = stop_ids(lm)
    with torch.no_grad():
        out = lm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, do_sample=False,
                                pad_token_id=pad, eos_token_id=stops, temperature=None, top_p=None, top_k=None)
    rows = out[:, ids.shape[1]:].tolist()
    return [row[: next((i for i, t in enumerate(row) if t in stops), len(row))] for row in rows]


def _hook_count(lm: Any) -> int:
    return sum(len(b._forward_hooks) for b in lm.blocks)


def test_greedy_equals_transformers_generate(tiny_lm: Any) -> None:
    """The decode loop is an independent implementation: it must pick the tokens transformers picks."""
    prompts = _prompts(tiny_lm)
    assert generate(tiny_lm, prompts, max_new_tokens=10) == _hf_greedy(tiny_lm, prompts, 10)
    for p in prompts:  # and each prompt alone
        assert generate(tiny_lm, [p], max_new_tokens=10) == _hf_greedy(tiny_lm, [p], 10)


def test_sampling_is_seeded_per_row_and_independent_of_the_batch(llama_lm: Any) -> None:
    prompts = _prompts(llama_lm)
    kw = {"max_new_tokens": 12, "do_sample": True, "temperature": 1.5, "seed": 7}
    batch = generate(llama_lm, prompts, **kw)  # type: ignore[arg-type]
    assert generate(llama_lm, [prompts[0]], **kw)[0] == batch[0]  # type: ignore[arg-type]
    assert generate(llama_lm, prompts, **kw) == batch  # type: ignore[arg-type]
    assert generate(llama_lm, prompts, **{**kw, "seed": 8}) != batch  # type: ignore[arg-type]
    assert len({row_seed(7, r) for r in range(50)}) == 50


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    s = Sampling(do_sample=True, temperature=1.0, top_p=0.7, seed=0)
    gen = s.generator()
    seen = {s.choose(logits, gen) for _ in range(300)}
    assert seen == {0, 1}  # 0.5 alone is short of 0.7; 0.5 + 0.3 reaches it
    assert Sampling().choose(logits, gen) == 0


def test_additions_steer_only_their_row_and_only_from_their_pass(llama_lm: Any) -> None:
    prompts = _prompts(llama_lm)[:2]
    plain = [list(s.tokens) for s in decode(llama_lm, prompts, 6)]
    big = np.zeros((2, llama_lm.d_model), dtype=np.float32)
    big[1] = 50.0
    steered = [list(s.tokens) for s in decode(llama_lm, prompts, 6, additions=lambda: {1: big})]
    assert [t[0] for t in steered] == [t[0] for t in plain]  # row 0 never steered
    assert [t[1] for t in steered] != [t[1] for t in plain]


def test_hooks_are_gone_between_steps_and_after_an_early_close(llama_lm: Any) -> None:
    from emoscope.bank import EmotionBank
    from emoscope.model.scoring import Scorer

    d, n_layers = llama_lm.d_model, llama_lm.n_layers
    bank = EmotionBank(vectors=np.eye(d, dtype=np.float32)[None, :3].repeat(n_layers, 0), emotions=["a", "b", "c"],
                       layers=list(range(n_layers)), default_layer=1, model=llama_lm.name,
                       model_fingerprint=llama_lm.fingerprint, recipe={}, corpus_sha256="", stats={})
    steps = decode(llama_lm, _prompts(llama_lm), 8, scorer=Scorer(bank, 1, "projection"),
                   additions=lambda: {2: np.ones((3, d), dtype=np.float32)})
    first = next(steps)
    assert first.scores is not None and first.scores.shape == (3, 3)
    assert _hook_count(llama_lm) == 0 and torch.is_grad_enabled()
    next(steps)
    steps.close()
    assert _hook_count(llama_lm) == 0


def test_rows_stop_on_their_own(llama_lm: Any) -> None:
    prompts = _prompts(llama_lm)
    steps = list(decode(llama_lm, prompts, [1, 3, 5], stops=()))
    assert len(steps) == 5
    assert [s.tokens[0] is None for s in steps] == [False, True, True, True, True]
    assert steps[0].done[0] and not steps[0].done[2] and steps[-1].done == [True, True, True]
    with pytest.raises(ValueError, match="empty prompt"):
        list(decode(llama_lm, [[]], 3))
