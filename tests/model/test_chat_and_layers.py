from __future__ import annotations

from typing import Any

import pytest

from emoscope.model.chat import ChatError, encode_chat, render_chat, validate_messages
from emoscope.model.layers import LayerError, decoder_blocks, default_layer, resolve_layers


def test_plain_format_for_models_without_a_template() -> None:
    from helpers import make_tokenizer

    tok = make_tokenizer(chat_template=None)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "the water"}]
    assert render_chat(tok, msgs, add_generation_prompt=True) == "Be brief.\n\nHuman: the water\n\nAssistant:"
    enc = encode_chat(tok, msgs)  # a chat ending with the user's message gets the generation prompt
    assert enc.text.endswith("\n\nAssistant:") and enc.roles is not None
    assert enc.roles[0] == "system" and enc.roles[-1] == "assistant" and "user" in enc.roles
    done = encode_chat(tok, [*msgs, {"role": "assistant", "content": "he laughed"}])
    assert done.text.endswith("Assistant: he laughed") and done.roles is not None and done.roles[-1] == "assistant"


def test_template_roles(tokenizer: Any) -> None:
    enc = encode_chat(tokenizer, [{"role": "user", "content": "the water"}])
    assert enc.text == "<|user|>the water<|end|><|assistant|>"
    assert enc.roles == ["user"] * (len(enc.ids) - 1) + ["assistant"]


@pytest.mark.parametrize("bad", [[], "hi", [{"role": "robot", "content": "x"}], [{"role": "user"}],
                                 [{"role": "user", "content": 3}]])
def test_malformed_messages(bad: Any) -> None:
    with pytest.raises(ChatError):
        validate_messages(bad)


def test_layer_selection_and_override(llama_lm: Any) -> None:
    assert resolve_layers(4, "all") == [0, 1, 2, 3] and resolve_layers(4, "1-2,-1") == [1, 2, 3]
    assert default_layer(30) == 20 and default_layer(18) == 12
    with pytest.raises(LayerError, match="bad layer selection"):
        resolve_layers(4, "one")
    assert decoder_blocks(llama_lm.model, "model.layers") is llama_lm.blocks
    with pytest.raises(LayerError, match="no nn.ModuleList at"):
        decoder_blocks(llama_lm.model, "model.nothing")
