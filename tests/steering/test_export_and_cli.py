"""The llama.cpp control-vector file, read back with the gguf package; the steer and export commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from emoscope.bank import EmotionBank
from emoscope.cli import app
from emoscope.corpus import Corpus
from emoscope.export import export_control_vector
from emoscope.extraction import extract
from emoscope.steering import SteeringError


@pytest.fixture()
def bank(llama_lm: Any, tiny_corpus: Path) -> EmotionBank:
    return extract(llama_lm, Corpus.load(tiny_corpus), layers="all", batch_size=4)


def test_gguf_layout_matches_llama_cpp(bank: EmotionBank, tmp_path: Path) -> None:
    import gguf

    path = export_control_vector(bank, "calm", tmp_path / "calm.gguf", strength=0.25, layers=[1, 2])
    r = gguf.GGUFReader(str(path))
    names = sorted(t.name for t in r.tensors)
    assert names == ["direction.1", "direction.2"]  # only direction tensors, N >= 1
    for t in r.tensors:
        layer = int(t.name.split(".")[1])
        assert t.tensor_type == gguf.GGMLQuantizationType.F32 and len(t.shape) == 1
        assert int(t.shape[0]) == bank.d_model
        want = 0.25 * float(bank.stat("mean_residual_norm", layer)) * bank.vector("calm", layer)
        np.testing.assert_allclose(np.asarray(t.data, dtype=np.float32), want, rtol=1e-6, atol=1e-7)

    def field(name: str) -> Any:
        f = r.fields[name]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]]

    assert field("general.architecture") == "controlvector"
    assert field("controlvector.model_hint") == "llama"
    assert int(field("controlvector.layer_count")) == 2
    assert r.fields["controlvector.layer_count"].types[0] == gguf.GGUFValueType.UINT32
    assert field("emoscope.emotion") == "calm" and field("emoscope.model_fingerprint") == bank.model_fingerprint
    assert not list(tmp_path.glob(".*tmp"))


def test_gguf_refuses_block_zero_and_unknown_emotions(bank: EmotionBank, tmp_path: Path) -> None:
    with pytest.raises(SteeringError, match="block 0"):
        export_control_vector(bank, "calm", tmp_path / "x.gguf", layers=[0])
    with pytest.raises(SteeringError, match="unknown emotion"):
        export_control_vector(bank, "serene-ish", tmp_path / "x.gguf")
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*tmp"))


def test_cli_steer_and_export(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    from helpers import cli_extract

    runner = CliRunner()
    out = tmp_path / "bank"
    cli_extract(tiny_model_dir, tiny_corpus, out)
    r = runner.invoke(app, ["steer", "--bank", str(out), "--steer", "calm=+4", "--prompt", "the lamp glows",
                            "--max-new-tokens", "6", "--compare", "--dtype", "float32", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output.strip().splitlines()[-1])
    assert res["steer"] == {"calm": 4.0} and "unsteered" in res and "steered" in res
    r = runner.invoke(app, ["steer", "--bank", str(out), "--steer", "calm=+0.1", "--prompt", "the lamp glows",
                            "--positions", "1:3", "--max-new-tokens", "3", "--dtype", "float32"])
    assert r.exit_code == 0, r.output
    for bad, msg in ((["--steer", "cosy=0.1"], "unknown emotion"), (["--steer", "calm"], "emotion=strength"),
                     (["--steer", "calm=0.1", "--positions", "9:2"], "START:END")):
        r = runner.invoke(app, ["steer", "--bank", str(out), "--prompt", "hi", "--dtype", "float32", *bad])
        assert r.exit_code == 2 and msg in r.output and len(r.output.strip().splitlines()) == 1, r.output
    r = runner.invoke(app, ["export", "gguf", "--bank", str(out), "--emotion", "afraid", "--out",
                            str(tmp_path / "afraid.gguf"), "--layers", "1-2"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "afraid.gguf").exists()


def test_steering_check_runs_per_row_and_reports_chance(llama_lm: Any, bank: EmotionBank) -> None:
    from emoscope.experiments.steering_check import steering_check

    res = steering_check(llama_lm, bank, strength=2.0, layer=1, batch_size=2)
    for key in ("third", "first"):
        p = res["prompts"][key]
        assert p["n"] == len(bank.emotions) and len(p["per_emotion"]) == p["n"]
        assert 0 < p["chance_share_own_rises_most"] <= 1 and p["steered_tokens"] > 0
    # one row per emotion in a batch gives the same answer as steering each emotion alone
    alone = steering_check(llama_lm, bank, strength=2.0, layer=1, emotions=["afraid"])
    row = next(r for r in res["prompts"]["third"]["per_emotion"] if r["emotion"] == "afraid")
    assert alone["prompts"]["third"]["per_emotion"][0]["own_change"] == pytest.approx(row["own_change"], abs=1e-3)
