"""The third registered model, for real: its six chunk packages assemble to the published file, and it chats."""

from __future__ import annotations

import pytest

from emoscope.model.parts import find_chunk
from emoscope.model.registry import QWEN_CODER_GGUF

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(any(find_chunk(c) is None for c in QWEN_CODER_GGUF.chunks),
                                 reason="the qwen extra is not installed (pip install 'emoscope[qwen]')")]


def test_qwen_coder_loads_and_answers() -> None:
    from emoscope.model.generate import generate_text
    from emoscope.model.loading import load_model

    lm = load_model("qwen2.5-coder-0.5b-instruct", dtype="bfloat16")
    assert (lm.name, lm.n_layers, lm.d_model) == ("Qwen/Qwen2.5-Coder-0.5B-Instruct", 24, 896)
    assert "<|im_start|>" in lm.tokenizer.chat_template
    reply = generate_text(lm, [{"role": "user", "content": "What is the capital of France? One word."}],
                          max_new_tokens=6)
    assert "Paris" in reply
