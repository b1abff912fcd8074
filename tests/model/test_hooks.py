from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from emoscope.model.chat import pad_batch
from emoscope.model.hooks import add_vectors, block_hooks, record


def _ids(tok: Any, texts: list[str]) -> list[list[int]]:
    return [tok(t)["input_ids"] for t in texts]


TEXTS = ["the quiet harbour light fell across the water", "he laughed", "nothing moved in the kitchen except"]


def test_hook_output_equals_hidden_states(tiny_lm: Any) -> None:
    ids, mask = pad_batch(_ids(tiny_lm.tokenizer, TEXTS), 0)
    layers = list(range(tiny_lm.n_layers))
    got = record(tiny_lm, ids, mask, layers)
    with torch.no_grad():
        ref = tiny_lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    for i in layers[:-1]:  # the last hidden state has the final norm applied; our layer does not
        real = mask.bool()
        torch.testing.assert_close(got[i][real], ref[i + 1].float()[real], rtol=1e-4, atol=1e-4)


def test_left_and_right_padding_agree(tiny_lm: Any) -> None:
    items = _ids(tiny_lm.tokenizer, TEXTS)
    layers = [0, tiny_lm.n_layers - 1]
    ri, rm = pad_batch(items, 0, "right")
    li, lm_ = pad_batch(items, 0, "left")
    right = record(tiny_lm, ri, rm, layers)
    left = record(tiny_lm, li, lm_, layers)
    for layer in layers:
        for r, x in enumerate(items):
            n, w = len(x), ri.shape[1]
            torch.testing.assert_close(right[layer][r, :n], left[layer][r, w - n :], rtol=1e-4, atol=1e-4)


def test_batched_equals_single(tiny_lm: Any) -> None:
    items = _ids(tiny_lm.tokenizer, TEXTS)
    ids, mask = pad_batch(items, 0)
    batched = record(tiny_lm, ids, mask, [1], token_weights=mask)[1]
    for r, x in enumerate(items):
        one = record(tiny_lm, torch.tensor([x]), torch.ones(1, len(x), dtype=torch.long), [1],
                     token_weights=torch.ones(1, len(x)))[1]
        torch.testing.assert_close(batched[r], one[0], rtol=1e-4, atol=1e-4)


def _hook_count(lm: Any) -> int:
    return sum(len(b._forward_hooks) for b in lm.blocks)


def test_hooks_removed_and_model_unchanged_even_on_error(llama_lm: Any) -> None:
    before = {k: v.clone() for k, v in llama_lm.model.state_dict().items()}
    with pytest.raises(RuntimeError), add_vectors(llama_lm, {1: torch.ones(32)}):
        assert _hook_count(llama_lm) == 1
        raise RuntimeError("boom")
    assert _hook_count(llama_lm) == 0
    ids, mask = pad_batch(_ids(llama_lm.tokenizer, TEXTS), 0)
    record(llama_lm, ids, mask, [0, 2])
    assert _hook_count(llama_lm) == 0
    after = llama_lm.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_steering_changes_later_layers_only_where_masked(llama_lm: Any) -> None:
    ids, mask = pad_batch(_ids(llama_lm.tokenizer, TEXTS[:1]), 0)
    base = record(llama_lm, ids, mask, [0, 1, 3])
    pos = torch.zeros_like(mask)
    pos[0, 4:] = 1
    with add_vectors(llama_lm, {1: torch.full((32,), 3.0)}, "span", pos):
        steered = record(llama_lm, ids, mask, [0, 1, 3])
    torch.testing.assert_close(steered[0], base[0])
    torch.testing.assert_close(steered[1][0, :4], base[1][0, :4])
    torch.testing.assert_close(steered[1][0, 4:], base[1][0, 4:] + 3.0, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(steered[3][0, 4:], base[3][0, 4:])


def test_hooks_are_invisible_to_other_threads(llama_lm: Any) -> None:
    ids, mask = pad_batch(_ids(llama_lm.tokenizer, TEXTS[:1]), 0)
    base = record(llama_lm, ids, mask, [2])[2]
    seen: dict[str, torch.Tensor] = {}
    inside = threading.Event()
    done = threading.Event()

    def other() -> None:
        inside.wait()
        seen["other"] = record(llama_lm, ids, mask, [2])[2]
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with add_vectors(llama_lm, {0: torch.full((32,), 5.0)}):
        inside.set()
        done.wait(timeout=60)
        mine = record(llama_lm, ids, mask, [2])[2]
    t.join()
    torch.testing.assert_close(seen["other"], base)
    assert not torch.allclose(mine, base)


def test_block_hooks_nest() -> None:
    lin = torch.nn.ModuleList([torch.nn.Identity()])
    calls: list[str] = []
    with block_hooks(lin, {0: lambda _h: calls.append("outer")}), block_hooks(lin, {0: lambda _h: calls.append("in")}):
        lin[0](torch.zeros(1))
    assert calls == ["outer", "in"]
