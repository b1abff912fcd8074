"""Weights are read from safetensors only: a directory of pickle checkpoints is refused unless allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from emoscope.model.errors import ModelError
from emoscope.model.loading import load_model
from helpers import make_model, make_tokenizer


@pytest.fixture(scope="module")
def pickle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pickled") / "tiny"
    d.mkdir()
    model = make_model("llama")
    model.config.save_pretrained(str(d))
    torch.save(model.state_dict(), d / "pytorch_model.bin")
    make_tokenizer().save_pretrained(str(d))
    return d


def test_pickle_only_directory_is_refused_with_the_fix(pickle_dir: Path) -> None:
    with pytest.raises(ModelError) as exc:
        load_model(str(pickle_dir), dtype="float32")
    msg = str(exc.value)
    assert "pytorch_model.bin" in msg and "convert them to safetensors" in msg and "allow_pickle=True" in msg
    assert "\n" not in msg


def test_allow_pickle_loads_it(pickle_dir: Path) -> None:
    lm = load_model(str(pickle_dir), dtype="float32", allow_pickle=True)
    with torch.no_grad():
        assert torch.equal(lm.model.lm_head.weight, make_model("llama").lm_head.weight)


def test_every_load_asks_for_safetensors(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM

    seen: list[dict[str, Any]] = []
    real = AutoModelForCausalLM.from_pretrained

    def spy(*args: Any, **kw: Any) -> Any:
        seen.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    load_model(str(tiny_model_dir), dtype="float32")
    load_model(str(tiny_model_dir), dtype="float32", device_map={"": "cpu"})
    assert [kw["use_safetensors"] for kw in seen] == [True, True]


def test_a_cached_hub_id_without_safetensors_names_the_fix(pickle_dir: Path, tmp_path: Path) -> None:
    """The same refusal for a Hugging Face id whose local cache holds only a pickle checkpoint."""
    import os
    import shutil
    import subprocess
    import sys

    repo = tmp_path / "hub" / "models--org--tiny"
    shutil.copytree(pickle_dir, repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    code = ("from emoscope.model.loading import load_model, ModelError\n"
            "try:\n    load_model('org/tiny')\nexcept ModelError as e:\n    print('refused:', e)\n"
            "print('layers:', load_model('org/tiny', allow_pickle=True).n_layers)\n")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "refused: 'org/tiny' has no safetensors weights" in out.stdout and "allow_pickle=True" in out.stdout, out
    assert "layers: 4" in out.stdout
