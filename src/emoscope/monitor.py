"""Live monitoring: generate token by token while reading all emotions, firing alerts and steering on conditions.

Each generated token comes with the readings of the forward pass that chose it: the residual stream at the
position just before the token, after block ``layer``, scored on every emotion vector (``z`` by default). The
first generated token is therefore read at the start of the Assistant turn, the paper's read-out point. Reading
adds a hook that returns nothing, so monitoring never changes the generated tokens.

Rules (``desperate>2.0``, optionally ``@WINDOW``, see :mod:`emoscope.core.rules`) are checked on the mean
of the last ``window`` readings. An *alert* rule emits an :class:`Event` when it starts and stops holding. A
*conditional steering* rule (:class:`Condition`) adds its steering from the next token on, for as long as it
holds; steering is added after the reading at the same block, so readings show the model's own state. Both
run on the one decode loop (:mod:`emoscope.model.decode`), as plain generation does, so monitoring cannot change
the tokens.

Example:
    >>> for step in monitor(lm, bank, "The deploy failed again.", alerts=["desperate>2.0"],  # doctest: +SKIP
    ...                     when=[("desperate>1.5", "calm=+0.05")]):
    ...     print(step.token, step.top(3), [str(e) for e in step.events])
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from emoscope.bank import EmotionBank
from emoscope.core.rules import Rule, RuleWatch, parse_rule
from emoscope.model.chat import encode_chat
from emoscope.model.decode import Sampling, decode, stop_ids
from emoscope.model.loading import LoadedModel
from emoscope.model.scoring import Scorer
from emoscope.readings import Event, Step
from emoscope.steering import SteeringError, parse_spec, steering_vector

__all__ = ["Condition", "Event", "Row", "Step", "make_rules", "monitor", "monitor_batch"]


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
    row = Row(_prompt_ids(lm, prompt), max_new_tokens, alerts, when, steer, do_sample, temperature, seed)
    gen = monitor_batch(lm, bank, [row], layer, kind, steer_layers, window, allow_mismatch)
    try:
        for steps in gen:
            step = steps[0]
            if step is None:
                break
            if on_event is not None:
                for ev in step.events:
                    on_event(ev)
            yield step
    finally:
        gen.close()


def monitor_batch(lm: LoadedModel, bank: EmotionBank, rows: Sequence[Row], layer: int | None = None,
                  kind: str = "z", steer_layers: Sequence[int] | None = None, window: int | None = None,
                  allow_mismatch: bool = False) -> Generator[list[Step | None], None, None]:
    """Several monitored generations in one batch (left-padded): each step yields one :class:`Step` per row
    still generating (``None`` for rows that have finished).

    Each row has its own rules and steering, and its own sampling generator seeded by its ``seed``, so a row's
    tokens and readings are those of the same request run alone, up to floating-point differences between
    batch shapes: in float32 we measured none; in bfloat16 padding changed 2 of 8 greedy replies of the default
    model, which is why the server batches only in float32. :func:`monitor` is this with one row.
    """
    bank.check_model(lm.fingerprint, lm.name, allow_mismatch)
    if not rows:
        return
    read_layer, s_layers = _layers(lm, bank, layer, steer_layers)
    gens = [_RowGeneration(lm, bank, r, s_layers, window) for r in rows]
    n, d = len(rows), bank.d_model

    def additions() -> dict[int, NDArray[np.float32] | None]:
        """Each steering layer's ``[rows, D]`` addition for the next pass (``None`` where no row steers)."""
        out: dict[int, NDArray[np.float32] | None] = {}
        for sl in s_layers:
            total: NDArray[np.float32] | None = None
            for r, g in enumerate(gens):
                add = None if g.done else g.addition(sl)
                if add is not None:
                    if total is None:
                        total = np.zeros((n, d), dtype=np.float32)
                    total[r] = add
            out[sl] = total
        return out

    steps = decode(lm, [r.ids for r in rows], [r.max_new_tokens for r in rows], [g.sampling for g in gens],
                   Scorer(bank, read_layer, kind), additions, stops=gens[0].stops)
    try:
        for st in steps:
            assert st.scores is not None
            yield [None if tok is None else g.advance(st.index, tok, st.scores[r])
                   for r, (g, tok) in enumerate(zip(gens, st.tokens, strict=True))]
    finally:
        steps.close()


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
        self.constant = _steer_vectors(bank, self.constant_spec, steer_layers) if self.constant_spec else {}
        self.cond_vecs = [_steer_vectors(bank, c.spec, steer_layers) for c in self.conds]
        self.active = [False] * len(self.conds)
        self.alerts = [(RuleWatch(r), bank.emotion_index(r.emotion)) for r in rules]
        self.watches = [(RuleWatch(c.rule), bank.emotion_index(c.rule.emotion)) for c in self.conds]
        self.stops = set(stop_ids(lm))
        self.sampling = Sampling(row.do_sample, row.temperature, 1.0, row.seed)
        self.new: list[int] = []
        self.text = ""
        self.done = False

    def addition(self, block: int) -> NDArray[np.float64] | None:
        """What this row adds after ``block`` in the next forward pass (``None``: nothing)."""
        add = self.constant.get(block)
        for on, v in zip(self.active, self.cond_vecs, strict=True):
            if on and block in v:  # the reading layer need not be a steering layer
                add = v[block] if add is None else add + v[block]
        return add

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


def _steer_vectors(bank: EmotionBank, spec: Mapping[str, float], layers: Sequence[int]
                   ) -> dict[int, NDArray[np.float64]]:
    """The steering added after each block of ``layers``."""
    return {sl: steering_vector(bank, spec, sl) for sl in layers}


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
