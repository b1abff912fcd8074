"""The live monitor on tiny random models: same tokens as plain generation, readings equal to a full read,
alerts that follow the window mean, conditional steering from the next token on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from emoscope.corpus import Corpus
from emoscope.extraction import extract
from emoscope.model.chat import Encoded, encode_chat
from emoscope.model.generate import generate
from emoscope.monitor import Event, monitor
from emoscope.read import read_encoded
from emoscope.steering import SteeringError, steer
from helpers import random_bank

MSGS = [{"role": "user", "content": "the quiet harbour light fell across the water"}]


def test_monitoring_never_changes_greedy_tokens(tiny_lm: Any) -> None:
    bank = random_bank(tiny_lm)
    ids = encode_chat(tiny_lm.tokenizer, MSGS).ids
    plain = generate(tiny_lm, [ids], max_new_tokens=12)[0]
    steps = list(monitor(tiny_lm, bank, ids, max_new_tokens=12, alerts=["calm>0@2"]))
    produced = [s.token_id for s in steps]
    assert produced[: len(plain)] == plain
    assert len(produced) == len(plain) or produced[len(plain)] in (tiny_lm.tokenizer.eos_token_id,
                                                                   tiny_lm.tokenizer.convert_tokens_to_ids("<|end|>"))


@pytest.mark.parametrize("kind", ["z", "projection", "cosine"])
def test_step_readings_equal_a_full_read_at_the_choosing_position(llama_lm: Any, kind: str) -> None:
    bank = random_bank(llama_lm)
    ids = encode_chat(llama_lm.tokenizer, MSGS).ids
    steps = list(monitor(llama_lm, bank, ids, max_new_tokens=8, layer=1, kind=kind))
    full = ids + [s.token_id for s in steps]
    enc = Encoded(text="", ids=full, tokens=[str(i) for i in full], offsets=[(0, 0)] * len(full))
    reading = read_encoded(llama_lm, bank, [enc], layer=1, kind=kind)[0]
    for s in steps:
        want = reading.scores[len(ids) - 1 + s.index]
        np.testing.assert_allclose(s.scores, want, rtol=1e-3, atol=1e-3)


def test_alert_events_follow_the_window_mean(llama_lm: Any) -> None:
    bank = random_bank(llama_lm)
    seen: list[Event] = []
    steps = list(monitor(llama_lm, bank, MSGS, max_new_tokens=16, alerts=["afraid>0.0@3"], on_event=seen.append))
    values = np.array([s.value("afraid") for s in steps])
    means = np.array([values[max(0, i - 2): i + 1].mean() for i in range(len(values))])
    holds = means > 0.0
    want = [(i, "start" if holds[i] else "stop") for i in range(len(holds))
            if holds[i] != (holds[i - 1] if i else False)]
    assert [(e.step, e.change) for e in seen] == want
    assert [(e.step, e.change) for s in steps for e in s.events] == want
    for e in seen:
        assert e.action == "alert" and e.rule == "afraid>0@3" and e.value == pytest.approx(means[e.step])


def test_conditional_steering_starts_with_the_next_token(llama_lm: Any) -> None:
    bank = random_bank(llama_lm)
    ids = encode_chat(llama_lm.tokenizer, MSGS).ids
    spec = {"happy": 6.0}
    steps = list(monitor(llama_lm, bank, ids, max_new_tokens=10, when=[("calm>-1e9@1", spec)]))
    assert steps[0].steering == {} and all(s.steering == spec for s in steps[1:])
    assert steps[0].events[0].action == "steer" and steps[0].events[0].change == "start"
    # a rule that holds from the first token on = steering every pass after the prompt
    with steer(llama_lm, bank, spec, positions="generated"):
        want = generate(llama_lm, [ids], max_new_tokens=10)[0]
    plain = generate(llama_lm, [ids], max_new_tokens=10)[0]
    got = [s.token_id for s in steps][: len(want)]
    assert got == want and want != plain


def test_constant_steering_matches_the_steer_context(llama_lm: Any) -> None:
    bank = random_bank(llama_lm)
    ids = encode_chat(llama_lm.tokenizer, MSGS).ids
    with steer(llama_lm, bank, "afraid=+5", layers=[1, 2]):
        want = generate(llama_lm, [ids], max_new_tokens=8)[0]
    steps = list(monitor(llama_lm, bank, ids, max_new_tokens=8, steer="afraid=+5", steer_layers=[1, 2]))
    assert [s.token_id for s in steps][: len(want)] == want
    assert all(s.steering == {"afraid": 5.0} for s in steps)


def test_rule_and_model_errors_are_clear(llama_lm: Any, tokenizer: Any) -> None:
    from emoscope.bank import BankError
    from emoscope.core.rules import RuleError
    from emoscope.model.loading import wrap_model
    from helpers import make_model

    bank = random_bank(llama_lm)
    with pytest.raises(RuleError, match="EMOTION>VALUE"):
        next(monitor(llama_lm, bank, MSGS, alerts=["afraid"]))
    with pytest.raises(BankError, match="unknown emotion"):
        next(monitor(llama_lm, bank, MSGS, alerts=["serene-ish>1"]))
    with pytest.raises(SteeringError, match="unknown emotion"):
        next(monitor(llama_lm, bank, MSGS, when=[("calm>1", "serene-ish=+1")]))
    other = wrap_model(make_model("llama", seed=5), tokenizer, "other")
    with pytest.raises(BankError):
        next(monitor(other, bank, MSGS))
    assert torch.is_grad_enabled()  # the monitor's no_grad does not leak


def test_monitor_on_an_extracted_bank_with_sampling(llama_lm: Any, tiny_corpus: Path) -> None:
    bank = extract(llama_lm, Corpus.load(tiny_corpus), layers="all", batch_size=4)
    a = [s.token_id for s in monitor(llama_lm, bank, "the lamp", 8, do_sample=True, temperature=1.0, seed=3)]
    b = [s.token_id for s in monitor(llama_lm, bank, "the lamp", 8, do_sample=True, temperature=1.0, seed=3)]
    assert a == b and len(a) >= 1


def test_code_between_steps_sees_neither_hooks_nor_no_grad(llama_lm: Any) -> None:
    from emoscope.read import read_text

    bank = random_bank(llama_lm)
    alone = read_text(llama_lm, bank, "the quiet harbour").scores
    plain = [s.token_id for s in monitor(llama_lm, bank, MSGS, 6, steer="happy=+6")]
    got = []
    for s in monitor(llama_lm, bank, MSGS, 6, steer="happy=+6"):
        assert torch.is_grad_enabled()
        np.testing.assert_allclose(read_text(llama_lm, bank, "the quiet harbour").scores, alone, atol=1e-5)
        got.append(s.token_id)
    assert got == plain
    assert all(not m._forward_hooks for m in llama_lm.blocks)


def test_a_batch_gives_each_row_what_it_gives_alone(tiny_lm: Any) -> None:
    from emoscope.monitor import Row, monitor_batch

    bank = random_bank(tiny_lm)
    tok = tiny_lm.tokenizer
    prompts = [encode_chat(tok, [{"role": "user", "content": t}]).ids for t in
               ("the quiet harbour light fell across the water", "he laughed", "nothing moved in the kitchen",
                "the clock")]
    rows = [Row(prompts[0], 10), Row(prompts[1], 6, steer={"happy": 4.0}),
            Row(prompts[2], 12, alerts=["calm>0@2"], when=[("afraid>-1e9@1", {"sad": 5.0})]),
            Row(prompts[3], 8, do_sample=True, temperature=1.0, seed=11)]
    got: list[list[Any]] = [[] for _ in rows]
    for step in monitor_batch(tiny_lm, bank, rows, layer=1):
        for r, s in enumerate(step):
            if s is not None:
                got[r].append(s)
    for r, row in enumerate(rows):
        alone = list(monitor(tiny_lm, bank, row.ids, row.max_new_tokens, layer=1, alerts=row.alerts, when=row.when,
                             steer=row.steer, do_sample=row.do_sample, temperature=row.temperature, seed=row.seed))
        assert [s.token_id for s in got[r]] == [s.token_id for s in alone], (tiny_lm.name, r)
        assert [s.steering for s in got[r]] == [s.steering for s in alone]
        assert [[str(e) for e in s.events] for s in got[r]] == [[str(e) for e in s.events] for s in alone]
        np.testing.assert_allclose(np.array([s.scores for s in got[r]]), np.array([s.scores for s in alone]),
                                   rtol=1e-4, atol=1e-4)
