"""Steering on tiny models: exact additions in paper units, positions, per-row strengths, spans, no mutation."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from emoscope.bank import EmotionBank
from emoscope.corpus import Corpus
from emoscope.extraction import extract
from emoscope.model.chat import pad_batch
from emoscope.model.generate import generate
from emoscope.model.hooks import block_hooks, record
from emoscope.steering import SteeringError, parse_span, parse_spec, span_mask, steer, steering_vector


@pytest.fixture()
def bank(llama_lm: Any, tiny_corpus: Path) -> EmotionBank:
    return extract(llama_lm, Corpus.load(tiny_corpus), layers="all", batch_size=4)


def _params(lm: Any) -> list[torch.Tensor]:
    return [p.detach().clone() for p in lm.model.parameters()]


def test_parse_spec_and_errors() -> None:
    assert parse_spec("calm=+0.1, afraid=-.05,calm=0.1") == {"calm": 0.2, "afraid": -0.05}
    for bad in ("calm", "calm=fast", "", "=0.1"):
        with pytest.raises(SteeringError):
            parse_spec(bad)
    assert parse_span("3:7") == (3, 7)
    with pytest.raises(SteeringError):
        parse_span("7:3")


def test_addition_is_strength_times_norm_times_vector(llama_lm: Any, bank: EmotionBank) -> None:
    ids, mask = pad_batch([llama_lm.tokenizer.encode("the river moves slowly past the mill")], 0)
    layer = 1
    before = record(llama_lm, ids, mask, [layer])[layer]
    with steer(llama_lm, bank, {"calm": 0.3, "afraid": -0.2}, layers=[layer]):
        after = record(llama_lm, ids, mask, [layer])[layer]
    want = (0.3 * bank.vector("calm", layer) - 0.2 * bank.vector("afraid", layer)) * float(
        bank.stat("mean_residual_norm", layer))
    diff = (after - before)[0].numpy()
    np.testing.assert_allclose(diff, np.broadcast_to(want, diff.shape), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(steering_vector(bank, "calm=0.3,afraid=-0.2", layer), want, rtol=1e-5, atol=1e-6)


def test_model_is_unchanged_and_hooks_removed_even_on_error(llama_lm: Any, bank: EmotionBank) -> None:
    before = _params(llama_lm)
    with pytest.raises(RuntimeError), steer(llama_lm, bank, "calm=1.0", layers=[0, 1]):
        raise RuntimeError("boom")
    assert all(not b._forward_hooks for b in llama_lm.blocks)
    assert all(torch.equal(a, b) for a, b in zip(before, _params(llama_lm), strict=True))


def test_prompt_and_generated_positions(llama_lm: Any, bank: EmotionBank) -> None:
    prompt = [llama_lm.tokenizer.encode("the lamp glows over the quiet table")]
    seen: list[tuple[int, float]] = []
    layer = 1

    def spy(h: torch.Tensor) -> None:
        seen.append((h.shape[1], float(h.float().abs().sum())))

    def run(positions: str | None) -> list[tuple[int, float]]:
        seen.clear()
        with block_hooks(llama_lm.blocks, {layer + 1: spy}):
            if positions is None:
                generate(llama_lm, prompt, max_new_tokens=4)
            else:
                with steer(llama_lm, bank, "calm=5.0", layers=[layer], positions=positions):
                    generate(llama_lm, prompt, max_new_tokens=4)
        return list(seen)

    plain, first_only, later_only = run(None), run("prompt"), run("generated")
    assert len(plain) >= 2 and plain[0][0] == len(prompt[0])
    assert first_only[0][1] != plain[0][1]  # the prompt pass is steered
    assert later_only[0][1] == plain[0][1]  # ... and untouched when only generated tokens are steered
    assert later_only[1][1] != first_only[1][1]


def test_per_row_strengths_match_single_runs(llama_lm: Any, bank: EmotionBank) -> None:
    tok = llama_lm.tokenizer
    rows = [tok.encode("the river moves slowly"), tok.encode("something moved in the dark hall behind me")]
    ids, mask = pad_batch(rows, 0, side="left")
    with steer(llama_lm, bank, [{"calm": 0.5}, {"afraid": -0.5}], layers=[1]):
        both = record(llama_lm, ids, mask, [2])[2]
    for r, spec in enumerate(({"calm": 0.5}, {"afraid": -0.5})):
        i1, m1 = pad_batch([rows[r]], 0)
        with steer(llama_lm, bank, spec, layers=[1]):
            one = record(llama_lm, i1, m1, [2])[2][0]
        got = both[r][mask[r] > 0]
        torch.testing.assert_close(got, one, rtol=1e-4, atol=1e-4)


def test_span_steering_touches_only_the_span_under_either_padding(llama_lm: Any, bank: EmotionBank) -> None:
    tok = llama_lm.tokenizer
    rows = [tok.encode("we won the match and the whole town came out"), tok.encode("the lamp glows")]
    outs = {}
    for side in ("left", "right"):
        ids, mask = pad_batch(rows, 0, side=side)
        m = span_mask(mask, [(2, 5), None])
        plain = record(llama_lm, ids, mask, [1])[1]
        with steer(llama_lm, bank, "happy=2.0", layers=[1], positions=m):
            steered = record(llama_lm, ids, mask, [1])[1]
        changed = ((steered - plain).abs().sum(-1) > 1e-6)
        assert changed.sum().item() == 3 and np.array_equal(changed.float().numpy(), m)
        outs[side] = steered[0][mask[0] > 0]
    torch.testing.assert_close(outs["left"], outs["right"], rtol=1e-4, atol=1e-4)


def test_steering_is_private_to_its_thread(llama_lm: Any, bank: EmotionBank) -> None:
    ids, mask = pad_batch([llama_lm.tokenizer.encode("the lamp glows")], 0)
    plain = record(llama_lm, ids, mask, [2])[2]
    other: dict[str, torch.Tensor] = {}
    inside = threading.Event()
    done = threading.Event()

    def worker() -> None:
        inside.wait()
        other["x"] = record(llama_lm, ids, mask, [2])[2]
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    with steer(llama_lm, bank, "calm=3.0", layers=[0]):
        inside.set()
        done.wait(30)
    t.join()
    torch.testing.assert_close(other["x"], plain)


def test_bad_requests_name_the_fix(llama_lm: Any, bank: EmotionBank) -> None:
    with pytest.raises(SteeringError, match="unknown emotion"), steer(llama_lm, bank, "joyous=0.1"):
        pass
    with pytest.raises(SteeringError, match="does not exist"), steer(llama_lm, bank, "calm=0.1", layers=[99]):
        pass
    with pytest.raises(SteeringError, match="positions"), steer(llama_lm, bank, "calm=0.1", positions="middle"):
        pass
