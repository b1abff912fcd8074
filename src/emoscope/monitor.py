"""Live monitoring: generate token by token while reading all emotions, firing alerts and steering on conditions.

Each generated token comes with the readings of the forward pass that chose it: the residual stream at the
position just before the token, after block ``layer``, scored on every emotion vector (``z`` by default). The
first generated token is therefore read at the start of the Assistant turn, the paper's read-out point. Reading
adds a hook that returns nothing, so monitoring never changes the generated tokens.

Rules (``desperate>2.0``, optionally ``@WINDOW``, see :mod:`emoscope.core.rules`) are checked on the mean
of the last ``window`` readings. An *alert* rule emits an :class:`Event` when it starts and stops holding. A
*conditional steering* rule (:class:`Condition`) adds its steering from the next token on, for as long as it
holds; steering is added after the reading at the same block, so readings show the model's own state.

Example:
    >>> for step in monitor(lm, bank, "The deploy failed again.", alerts=["desperate>2.0"],  # doctest: +SKIP
    ...                     when=[("desperate>1.5", "calm=+0.05")]):
    ...     print(step.token, step.top(3), [str(e) for e in step.events])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from emoscope.bank import EmotionBank
from emoscope.core.aggregate import top_emotions
from emoscope.core.rules import Rule, RuleWatch, parse_rule
from emoscope.model.chat import encode_chat
from emoscope.model.generate import stop_ids
from emoscope.model.hooks import HookFn, block_hooks
from emoscope.model.loading import LoadedModel
from emoscope.steering import SteeringError, parse_spec, steering_vector


@dataclass(frozen=True)
class Event:
    """A rule starting (``start``) or stopping (``stop``) to hold at generated token ``step``.

    ``action`` is ``alert`` for an alert rule and ``steer`` for a conditional steering rule.
    """

    action: str
    change: str
    rule: str
    step: int
    token: str
    value: float
    steer: dict[str, float] | None = None

    def __str__(self) -> str:
        what = "alert" if self.action == "alert" else f"steer {_fmt_spec(self.steer or {})}"
        verb = "started" if self.change == "start" else "stopped"
        return (f"{what} {verb}: {self.rule} at token {self.step} {self.token!r} (window mean "
                f"{self.value:+.2f})")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "event", "action": self.action, "change": self.change, "rule": self.rule,
                             "step": self.step, "token": self.token, "value": round(self.value, 4)}
        if self.steer is not None:
            d["steer"] = self.steer
        return d


@dataclass(frozen=True)
class Step:
    """One generated token with the readings of the pass that chose it (``scores[e]`` for ``emotions[e]``).

    ``token`` is the text the token adds to the reply (empty for a token that only starts a multi-byte
    character, which then appears with the token that completes it, and for the end-of-turn token).
    """

    index: int
    token_id: int
    token: str
    scores: NDArray[np.float64]
    emotions: list[str]
    events: list[Event] = field(default_factory=list)
    steering: dict[str, float] = field(default_factory=dict)

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` strongest emotions at this token."""
        return top_emotions(self.scores, self.emotions, k)

    def value(self, emotion: str) -> float:
        return float(self.scores[self.emotions.index(emotion)])

    def to_dict(self, watch: Sequence[str] = (), k: int = 5) -> dict[str, Any]:
        return {"type": "token", "step": self.index, "token_id": self.token_id, "token": self.token,
                "top": [[e, round(v, 4)] for e, v in self.top(k)],
                "watch": {w: round(self.value(w), 4) for w in watch}, "steering": self.steering}


@dataclass(frozen=True)
class Condition:
    """Steer by ``spec`` from the next token on while ``rule`` holds."""

    rule: Rule
    spec: dict[str, float]


def make_rules(bank: EmotionBank, alerts: Sequence[str | Rule] = (),
               when: Sequence[tuple[str | Rule, str | Mapping[str, float]] | Condition] = (),
               window: int | None = None) -> tuple[list[Rule], list[Condition]]:
    """Parse and check alert rules and conditional steerings against the bank's emotions."""
    rules = [r if isinstance(r, Rule) else parse_rule(r, window) for r in alerts]
    conds = []
    for c in when:
        if isinstance(c, Condition):
            conds.append(c)
        else:
            rule, spec = c
            conds.append(Condition(rule if isinstance(rule, Rule) else parse_rule(rule, window), parse_spec(spec)))
    for r in [*rules, *(c.rule for c in conds)]:
        bank.emotion_index(r.emotion)
    for c in conds:
        for name in c.spec:
            if name not in bank.emotions:
                raise SteeringError(f"unknown emotion {name!r}; `emoscope emotions` lists the "
                                    f"{len(bank.emotions)} names")
    return rules, conds


def monitor(lm: LoadedModel, bank: EmotionBank, prompt: str | Sequence[Mapping[str, str]] | Sequence[int],
            max_new_tokens: int = 128, layer: int | None = None, kind: str = "z",
            alerts: Sequence[str | Rule] = (),
            when: Sequence[tuple[str | Rule, str | Mapping[str, float]] | Condition] = (),
            steer: str | Mapping[str, float] | None = None, steer_layers: Sequence[int] | None = None,
            window: int | None = None, on_event: Callable[[Event], None] | None = None,
            do_sample: bool = False, temperature: float = 1.0, seed: int = 0, allow_mismatch: bool = False,
            ) -> Generator[Step, None, None]:
    """Generate a reply and yield each token with its readings (see the module docstring).

    ``prompt`` is a user message, OpenAI-style messages, or token ids. ``steer`` is steering applied
    throughout (prompt included); ``when`` holds ``(rule, steering)`` pairs applied while their rule holds.
    ``on_event`` is called with every :class:`Event` (they are also attached to the yielded steps).
    """
    bank.check_model(lm.fingerprint, lm.name, allow_mismatch)
    read_layer, s_layers = _layers(lm, bank, layer, steer_layers)
    row = Row(_prompt_ids(lm, prompt), max_new_tokens, alerts, when, steer, do_sample, temperature, seed)
    gen = _RowGeneration(lm, bank, row, s_layers, window)
    scores_of = _scorer(bank, read_layer, kind, lm.device)
    seen: list[Tensor] = []

    def hook_for(block: int) -> HookFn:
        def fn(h: Tensor) -> Tensor | None:
            if block == read_layer:
                seen.append(h[0, -1].detach())
            add = gen.addition(block)
            return None if add is None else h + add.to(h.dtype)
        return fn

    forward, cache_kw, first_kw = _forward(lm, {b: hook_for(b) for b in sorted({read_layer, *s_layers})})
    out = forward(input_ids=torch.tensor([row.ids], device=lm.device), **first_kw)
    for step in range(max_new_tokens):
        tok = gen.choose(out.logits[0, -1])
        scores = scores_of(seen[-1])
        seen.clear()
        result = gen.advance(step, tok, scores)
        if on_event is not None:
            for ev in result.events:
                on_event(ev)
        yield result
        if gen.done:
            break
        cache = getattr(out, "cache", None) or out.past_key_values
        out = forward(input_ids=torch.tensor([[tok]], device=lm.device), **{cache_kw: cache})


@dataclass(frozen=True)
class Row:
    """One request of a batched monitored generation (see :func:`monitor_batch`)."""

    ids: list[int]
    max_new_tokens: int = 128
    alerts: Sequence[str | Rule] = ()
    when: Sequence[tuple[str | Rule, str | Mapping[str, float]] | Condition] = ()
    steer: str | Mapping[str, float] | None = None
    do_sample: bool = False
    temperature: float = 1.0
    seed: int = 0


class _RowGeneration:
    """The state of one monitored generation: its sampler, steering, rule watches and decoded text.

    Shared by :func:`monitor` (one row) and :func:`monitor_batch` (many), so a row behaves the same in both.
    """

    def __init__(self, lm: LoadedModel, bank: EmotionBank, row: Row, steer_layers: Sequence[int],
                 window: int | None) -> None:
        self.lm, self.bank, self.row = lm, bank, row
        rules, self.conds = make_rules(bank, row.alerts, row.when, window)
        self.constant_spec = parse_spec(row.steer) if row.steer is not None else {}
        self.constant = _steer_vectors(bank, self.constant_spec, steer_layers, lm.device) if self.constant_spec \
            else {}
        self.cond_vecs = [_steer_vectors(bank, c.spec, steer_layers, lm.device) for c in self.conds]
        self.active = [False] * len(self.conds)
        self.alerts = [(RuleWatch(r), bank.emotion_index(r.emotion)) for r in rules]
        self.watches = [(RuleWatch(c.rule), bank.emotion_index(c.rule.emotion)) for c in self.conds]
        self.stops = set(stop_ids(lm))
        self.sampler = torch.Generator(device="cpu").manual_seed(row.seed)
        self.new: list[int] = []
        self.text = ""
        self.done = False

    def addition(self, block: int) -> Tensor | None:
        """What this row adds after ``block`` in the next forward pass (``None``: nothing)."""
        add = self.constant.get(block)
        for on, v in zip(self.active, self.cond_vecs, strict=True):
            if on and block in v:  # the reading layer need not be a steering layer
                add = v[block] if add is None else add + v[block]
        return add

    def choose(self, logits: Tensor) -> int:
        """The next token: greedy, or sampled with this row's generator."""
        if self.row.do_sample:
            probs = torch.softmax(logits.float() / max(self.row.temperature, 1e-6), -1).cpu()
            return int(torch.multinomial(probs, 1, generator=self.sampler))
        return int(torch.argmax(logits.float()))

    def advance(self, step: int, tok: int, scores: NDArray[np.float64]) -> Step:
        """Record token ``tok`` chosen with ``scores``: its text, the rules' events, the steering for the next
        pass; ``done`` turns true at a stop token or the token limit."""
        steering_now = _total(self.constant_spec, self.conds, self.active)
        if tok in self.stops:
            piece = ""
        else:
            self.new.append(tok)
            full = str(self.lm.tokenizer.decode(self.new, skip_special_tokens=True))
            if full.endswith("\ufffd") and step + 1 < self.row.max_new_tokens:
                piece = ""  # an incomplete UTF-8 character: shown with the token that completes it
            else:
                piece, self.text = full[len(self.text):], full
        events: list[Event] = []
        for w, e in self.alerts:
            change = w.update(scores[e])
            if change:
                events.append(Event("alert", change, str(w.rule), step, piece, w.mean))
        for k, ((w, e), c) in enumerate(zip(self.watches, self.conds, strict=True)):
            change = w.update(scores[e])
            if change:
                events.append(Event("steer", change, str(w.rule), step, piece, w.mean, c.spec))
            self.active[k] = w.active  # from the next forward pass on
        self.done = tok in self.stops or step + 1 >= self.row.max_new_tokens
        return Step(step, tok, piece, scores, self.bank.emotions, events, steering_now)


def _layers(lm: LoadedModel, bank: EmotionBank, layer: int | None, steer_layers: Sequence[int] | None
            ) -> tuple[int, list[int]]:
    """The reading layer (checked against the bank) and the steering layers (checked against the model)."""
    read_layer = bank.default_layer if layer is None else layer
    bank.layer_index(read_layer)  # an unknown layer fails here, with the bank's message
    s_layers = [bank.default_layer] if steer_layers is None else list(steer_layers)
    for sl in s_layers:
        if not 0 <= sl < lm.n_layers:
            raise SteeringError(f"layer {sl} does not exist; {lm.name} has blocks 0-{lm.n_layers - 1}")
    return read_layer, s_layers


def _forward(lm: LoadedModel, hooks: Mapping[int, HookFn]) -> tuple[Callable[..., Any], str, dict[str, Any]]:
    """A forward pass with ``hooks``, the name of the cache argument, and the prompt pass's extra arguments.

    Hooks and no-grad are installed around each forward pass, never across a yield: the caller's code between
    steps (another reading, another model call) sees neither this call's hooks nor its grad mode.
    """
    params = inspect.signature(lm.model.forward).parameters
    cache_kw = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.x
    first_kw = {"logits_to_keep": 1} if "logits_to_keep" in params else {}  # the prompt pass: last row only

    def forward(**kw: Any) -> Any:
        with torch.no_grad(), block_hooks(lm.blocks, hooks):
            return lm.model(use_cache=True, **kw)

    return forward, cache_kw, first_kw


def monitor_batch(lm: LoadedModel, bank: EmotionBank, rows: Sequence[Row], layer: int | None = None,
                  kind: str = "z", steer_layers: Sequence[int] | None = None, window: int | None = None,
                  allow_mismatch: bool = False) -> Generator[list[Step | None], None, None]:
    """Several monitored generations in one batch (left-padded): each step yields one :class:`Step` per row
    still generating (``None`` for rows that have finished).

    Each row has its own rules and steering, and its own sampling generator seeded like :func:`monitor`'s, so a
    row's tokens and readings are those of the same request run alone, up to floating-point differences between
    batch shapes: in float32 we measured none; in bfloat16 padding changed 2 of 8 greedy replies of the default
    model, which is why the server batches only in float32.
    """
    from emoscope.model.chat import pad_batch
    from emoscope.model.hooks import position_ids

    bank.check_model(lm.fingerprint, lm.name, allow_mismatch)
    if not rows:
        return
    read_layer, s_layers = _layers(lm, bank, layer, steer_layers)
    gens = [_RowGeneration(lm, bank, r, s_layers, window) for r in rows]
    scores_of = _scorer(bank, read_layer, kind, lm.device)
    dev, n = lm.device, len(rows)
    adds: dict[int, Tensor | None] = {}

    def build_adds() -> None:
        for sl in s_layers:
            total: Tensor | None = None
            for r, g in enumerate(gens):
                add = g.addition(sl)
                if add is not None:
                    if total is None:
                        total = torch.zeros(n, bank.d_model, dtype=torch.float32, device=dev)
                    total[r] = add
            adds[sl] = total

    seen: list[Tensor] = []

    def hook_for(block: int) -> HookFn:
        def fn(h: Tensor) -> Tensor | None:
            if block == read_layer:
                seen.append(h[:, -1].detach())
            add = adds.get(block)
            return None if add is None else h + add.to(h.dtype).unsqueeze(1)
        return fn

    pad = int(lm.tokenizer.pad_token_id)
    ids, mask = pad_batch([list(r.ids) for r in rows], pad, side="left")
    ids, mask = ids.to(dev), mask.to(dev)
    pos = position_ids(mask)
    forward, cache_kw, first_kw = _forward(lm, {b: hook_for(b) for b in sorted({read_layer, *s_layers})})
    build_adds()
    out = forward(input_ids=ids, attention_mask=mask, position_ids=pos, **first_kw)
    step = 0
    while True:
        scores = scores_of(seen[-1])
        seen.clear()
        toks: list[int] = []
        result: list[Step | None] = []
        for r, g in enumerate(gens):
            if g.done:
                toks.append(pad)
                result.append(None)
                continue
            tok = g.choose(out.logits[r, -1])
            result.append(g.advance(step, tok, scores[r]))
            toks.append(tok)
        yield result
        if all(g.done for g in gens):
            break
        step += 1
        build_adds()
        mask = torch.cat([mask, torch.ones(n, 1, dtype=mask.dtype, device=dev)], dim=1)
        pos = pos[:, -1:] + 1
        cache = getattr(out, "cache", None) or out.past_key_values
        out = forward(input_ids=torch.tensor(toks, device=dev).unsqueeze(1), attention_mask=mask, position_ids=pos,
                      **{cache_kw: cache})


def _scorer(bank: EmotionBank, layer: int, kind: str, device: Any) -> Callable[[Tensor], NDArray[np.float64]]:
    """Scores of residuals ``[..., D]`` on every vector of ``layer`` -> ``[..., E]``, computed on the device."""
    idx = bank.layer_index(layer)
    vecs = torch.tensor(bank.vectors[idx], dtype=torch.float32, device=device)  # [E, D]
    if kind == "z":
        mean = torch.tensor(bank.stat("neutral_mean", layer), dtype=torch.float32, device=device)
        std = torch.tensor(bank.stat("neutral_std", layer), dtype=torch.float32, device=device)
    elif kind not in ("projection", "cosine"):
        raise ValueError(f"unknown score kind {kind!r}; choose z, projection or cosine")

    def scores(h: Tensor) -> NDArray[np.float64]:
        x = h.to(torch.float32)
        proj = x @ vecs.T
        if kind == "z":
            proj = (proj - mean) / std
        elif kind == "cosine":
            proj = proj / x.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        out: NDArray[np.float64] = proj.double().cpu().numpy()
        return out

    return scores


def _steer_vectors(bank: EmotionBank, spec: Mapping[str, float], layers: Sequence[int], device: Any
                   ) -> dict[int, Tensor]:
    """The steering added after each block of ``layers`` (float32, on the device)."""
    return {sl: torch.tensor(steering_vector(bank, spec, sl), dtype=torch.float32, device=device) for sl in layers}


def _total(constant_spec: Mapping[str, float], conds: Sequence[Condition], active: Sequence[bool]
           ) -> dict[str, float]:
    """The steering in force for one forward pass, by emotion."""
    total = dict(constant_spec)
    for c, on in zip(conds, active, strict=True):
        if on:
            for k, v in c.spec.items():
                total[k] = round(total.get(k, 0.0) + v, 10)
    return total


def _prompt_ids(lm: LoadedModel, prompt: str | Sequence[Mapping[str, str]] | Sequence[int]) -> list[int]:
    if isinstance(prompt, str):
        return encode_chat(lm.tokenizer, [{"role": "user", "content": prompt}]).ids
    items = list(prompt)
    if not items:
        raise ValueError("empty prompt")
    if all(isinstance(x, int) for x in items):
        return [int(x) for x in items]  # type: ignore[call-overload]
    return encode_chat(lm.tokenizer, [dict(m) for m in items]).ids  # type: ignore[arg-type, call-overload]


def _fmt_spec(spec: Mapping[str, float]) -> str:
    return ",".join(f"{k}={v:+g}" for k, v in spec.items())
