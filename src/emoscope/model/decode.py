"""The one decode loop: prefill, then one token at a time with the key/value cache.

Every generation in emoscope runs here: plain generation (:func:`emoscope.model.generate.generate`), the live
monitor and its batched form, steered generation, the behaviour experiments, the corpus generator's local
backend and the server. A batch is left-padded; each row has its own sampler (greedy, or seeded sampling), its
own stop and its own token limit. Optionally each pass reads the residual stream after one block at the last
position (scored by a :class:`~emoscope.model.scoring.Scorer` on its device) and adds per-row vectors chosen
just before the pass (see :func:`emoscope.model.hooks.add_vectors`). Hooks and no-grad are installed around
each forward pass, never across a ``yield``: code between steps sees neither.

Example:
    >>> for step in decode(lm, [ids], max_new_tokens=20):  # doctest: +SKIP
    ...     print(step.tokens[0])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from emoscope.model.chat import pad_batch
from emoscope.model.hooks import add_vectors, block_hooks, position_ids
from emoscope.model.loading import LoadedModel
from emoscope.model.scoring import Scorer

Additions = Callable[[], Mapping[int, NDArray[np.float32] | None]]
"""Called before every forward pass: per block, a ``[B, D]`` array added to every row (or ``None``)."""


@dataclass(frozen=True)
class Sampling:
    """How one row chooses its tokens: greedy, or sampled at ``temperature`` (nucleus ``top_p``) with its own
    generator seeded by ``seed``."""

    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0

    def generator(self) -> torch.Generator:
        return torch.Generator(device="cpu").manual_seed(int(self.seed))

    def choose(self, logits: Tensor, gen: torch.Generator) -> int:
        """The next token from one row's last logits."""
        if not self.do_sample:
            return int(torch.argmax(logits.float()))
        probs = torch.softmax(logits.float() / max(self.temperature, 1e-6), -1).cpu()
        if self.top_p < 1.0:
            order = torch.argsort(probs, descending=True)
            sorted_p = probs[order]
            keep = torch.cumsum(sorted_p, 0) - sorted_p < self.top_p  # the smallest set reaching top_p
            probs = torch.zeros_like(probs).index_fill_(0, order[keep], 1.0) * probs
        return int(torch.multinomial(probs, 1, generator=gen))


def row_seed(seed: int, row: int) -> int:
    """The seed of batch row ``row`` of a call seeded ``seed``: ``seed`` itself for row 0 (so one prompt samples
    the same alone or first in a batch), and a well-mixed seed derived from ``(seed, row)`` for the others."""
    if row == 0:
        return seed
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, row]).generate_state(1)[0])


@dataclass(frozen=True)
class DecodeStep:
    """Step ``index`` of a batch: ``tokens[r]`` chosen for row ``r`` (``None`` for a row that had finished),
    ``scores[r]`` the readings of the pass that chose it (when a scorer was given), and ``done[r]`` whether row
    ``r`` has finished with this token (a stop token or its token limit)."""

    index: int
    tokens: list[int | None]
    scores: NDArray[np.float64] | None
    done: list[bool]


def stop_ids(lm: LoadedModel) -> list[int]:
    """Token ids that end a reply: end-of-sequence and the end-of-turn markers of common chat templates."""
    tok = lm.tokenizer
    ids = {int(tok.eos_token_id)} if tok.eos_token_id is not None else set()
    for name in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>"):
        t = tok.convert_tokens_to_ids(name)
        if isinstance(t, int) and t != tok.unk_token_id and t >= 0:
            ids.add(t)
    return sorted(ids)


def decode(lm: LoadedModel, prompts: Sequence[Sequence[int]], max_new_tokens: int | Sequence[int] = 64,
           sampling: Sampling | Sequence[Sampling] = Sampling(), scorer: Scorer | None = None,
           additions: Additions | None = None, stops: Collection[int] | None = None,
           ) -> Generator[DecodeStep, None, None]:
    """Generate for a batch of prompts (token ids), yielding every step (see the module docstring).

    ``max_new_tokens`` and ``sampling`` are one for all rows or one per row. ``stops`` are the ids that end a
    row (default: :func:`stop_ids`). The loop ends when every row is done; close the generator to stop early.
    """
    n = len(prompts)
    if n == 0:
        return
    if any(len(p) == 0 for p in prompts):
        raise ValueError("empty prompt")
    limits = [max_new_tokens] * n if isinstance(max_new_tokens, int) else list(max_new_tokens)
    samplers = [sampling] * n if isinstance(sampling, Sampling) else list(sampling)
    if len(limits) != n or len(samplers) != n:
        raise ValueError(f"{n} prompts need {n} token limits and samplings")
    gens = [s.generator() for s in samplers]
    stop = set(stop_ids(lm) if stops is None else stops)
    dev = lm.device
    pad = int(lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0)
    ids, mask = pad_batch([list(p) for p in prompts], pad, side="left")
    ids, mask = ids.to(dev), mask.to(dev)
    pos = position_ids(mask)
    forward, cache_kw, first_kw = _forward(lm, scorer)
    done = [lim <= 0 for lim in limits]
    if all(done):
        return
    out, seen = forward(additions, input_ids=ids, attention_mask=mask, position_ids=pos, **first_kw)
    step = 0
    while True:
        scores = scorer(seen) if scorer is not None and seen is not None else None
        last = out.logits[:, -1]
        tokens: list[int | None] = []
        for r in range(n):
            if done[r]:
                tokens.append(None)
                continue
            tok = samplers[r].choose(last[r], gens[r])
            tokens.append(tok)
            done[r] = tok in stop or step + 1 >= limits[r]
        yield DecodeStep(step, tokens, scores, list(done))
        if all(done):
            return
        step += 1
        feed = torch.tensor([[pad if t is None else t] for t in tokens], device=dev)
        mask = torch.cat([mask, torch.ones(n, 1, dtype=mask.dtype, device=dev)], dim=1)
        pos = pos[:, -1:] + 1
        cache = getattr(out, "cache", None) or out.past_key_values
        out, seen = forward(additions, input_ids=feed, attention_mask=mask, position_ids=pos, **{cache_kw: cache})


def _forward(lm: LoadedModel, scorer: Scorer | None
             ) -> tuple[Callable[..., tuple[Any, Tensor | None]], str, dict[str, Any]]:
    """One forward pass with the reading hook and this pass's additions; the cache keyword; the prefill's extras."""
    cache_kw = lm.cache_argument
    params = inspect.signature(lm.model.forward).parameters
    first_kw = {"logits_to_keep": 1} if "logits_to_keep" in params else {}  # the prompt pass: last row only

    def forward(additions: Additions | None, **kw: Any) -> tuple[Any, Tensor | None]:
        seen: list[Tensor] = []
        reads = {} if scorer is None else {scorer.layer: lambda h: seen.append(h[:, -1].detach())}
        adds = {} if additions is None else {b: v for b, v in additions().items() if v is not None}
        with torch.no_grad(), block_hooks(lm.blocks, reads), add_vectors(lm, adds):  # read, then add
            out = lm.model(use_cache=True, **kw)
        return out, (seen[-1] if seen else None)

    return forward, cache_kw, first_kw
