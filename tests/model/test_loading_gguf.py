"""Any local GGUF file: a tiny llama written here loads like the model it came from, cached once by content."""

from __future__ import annotations

import doctest
import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from emoscope.model import gguf as gguf_mod
from emoscope.model.errors import ModelError
from emoscope.model.loading import load_model, load_tokenizer, model_fingerprint
from helpers import make_model, make_tokenizer

TEXT = "the quiet harbour light fell across the water"
_LAYER = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
_TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight"}


def _interleave(w: np.ndarray[Any, Any], heads: int) -> np.ndarray[Any, Any]:
    """llama.cpp stores q/k rows with each head's rotary halves interleaved; transformers undoes this on load."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_gguf(path: Path, seed: int = 0, arch: str = "llama") -> Any:
    """A float32 GGUF of the tiny random llama (tokenizer and chat template included); returns the model."""
    import gguf

    model, tok = make_model("llama", seed=seed), make_tokenizer()
    cfg = model.config
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny {seed}")
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(cfg.vocab_size)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab] + [f"<unused{i}>" for i in range(cfg.vocab_size - len(vocab))]
    merges = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([1] * len(tokens))
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    w.add_bos_token_id(1)
    w.add_eos_token_id(1)
    w.add_pad_token_id(0)
    w.add_chat_template(tok.chat_template)
    for name, t in model.state_dict().items():
        v = t.detach().float().numpy()
        if name in _TOP:
            key = _TOP[name]
        else:
            _, _, i, *rest = name.split(".")
            module = ".".join(rest[:-1])
            key = f"blk.{i}.{_LAYER[module]}.weight"
            if module == "self_attn.q_proj":
                v = _interleave(v, cfg.num_attention_heads)
            elif module == "self_attn.k_proj":
                v = _interleave(v, cfg.num_key_value_heads)
        w.add_tensor(key, np.ascontiguousarray(v))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama-f32.gguf"
    return path, write_tiny_gguf(path)


def _models(cache: Path) -> list[str]:
    root = cache / "models"
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def test_a_local_gguf_loads_as_the_model_it_was_written_from(tiny_gguf: tuple[Path, Any], tmp_path: Path) -> None:
    path, original = tiny_gguf
    lm = load_model(str(path), dtype="float32")
    assert lm.name == str(path) and lm.n_layers == 4 and lm.dtype_name == "float32"
    ids = lm.tokenizer(TEXT, return_tensors="pt").input_ids
    assert ids.tolist() == make_tokenizer()(TEXT, return_tensors="pt").input_ids.tolist()
    with torch.no_grad():
        assert torch.allclose(lm.model(ids).logits, original(ids).logits, atol=1e-5)
    assert lm.fingerprint == model_fingerprint(original)
    assert lm.tokenizer.chat_template == make_tokenizer().chat_template
    assert load_tokenizer(str(path)).get_vocab() == lm.tokenizer.get_vocab()
    (cached,) = _models(tmp_path / "cache")
    assert cached.startswith("gguf-llama-") and list((tmp_path / "cache" / "models" / cached).glob("*.safetensors"))


def test_the_cache_is_keyed_by_content(tiny_gguf: tuple[Path, Any], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = tiny_gguf
    cache = tmp_path / "cache"
    first = gguf_mod.local_gguf_cache(path, cache)
    calls: list[Path] = []
    real = gguf_mod.dequantize_to
    monkeypatch.setattr(gguf_mod, "dequantize_to", lambda g, c: calls.append(c) or real(g, c))
    renamed = tmp_path / "elsewhere" / "another-name.gguf"
    renamed.parent.mkdir()
    shutil.copy(path, renamed)
    assert gguf_mod.local_gguf_cache(renamed, cache) == first  # same bytes, other path and name: one cache
    assert gguf_mod.local_gguf_cache(path, cache) == first
    other = tmp_path / "other.gguf"
    write_tiny_gguf(other, seed=1)
    second = gguf_mod.local_gguf_cache(other, cache)
    assert second != first and _models(cache) == sorted([first.name, second.name])
    digest = gguf_mod.file_sha256(other)
    assert digest[:12] in second.name and digest in json.loads((cache / "gguf" / "digests.json").read_text()).values()
    assert (first / "config.json").exists() and len(calls) == 3  # asked three times, dequantized only the new one


def test_an_unsupported_architecture_is_one_line_naming_it(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "rwkv.gguf"
    w = gguf.GGUFWriter(str(path), "rwkv6")
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ModelError) as exc:
        load_model(str(path), dtype="float32")
    msg = str(exc.value)
    assert "'rwkv6'" in msg and "cannot be dequantized" in msg and "safetensors" in msg and "\n" not in msg
    assert not (tmp_path / "cache" / "models").exists()


def test_a_missing_or_broken_gguf_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no GGUF file at"):
        load_model(str(tmp_path / "absent.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all")
    with pytest.raises(ModelError, match="not a readable GGUF file"):
        load_model(str(bad))


@pytest.mark.parametrize("name", ["emoscope.model.gguf", "emoscope.model.parts", "emoscope.model.devices",
                                  "emoscope.model.registry"])
def test_docstring_examples(name: str) -> None:
    assert doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS).failed == 0
