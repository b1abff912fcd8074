"""Every command that loads a model passes --device, --device-map, --max-memory, --offload-folder, --allow-pickle and
--dtype to the loader (the loader itself is tested on dispatched tiny models in tests/model/test_devices.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emoscope.cli import app
from helpers import make_model, make_tokenizer, random_bank, write_tiny_corpus

PLACE = ["--device", "cpu", "--device-map", "map.json", "--max-memory", "cpu=2GiB", "--offload-folder", "off",
         "--allow-pickle", "--dtype", "float32"]


class _Loaded(Exception):
    """Raised by the fake loader once it has recorded its arguments."""


@pytest.fixture()
def seen(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(spec: str, **kw: Any) -> Any:
        calls.append({"spec": spec, **kw})
        raise _Loaded

    monkeypatch.setattr("emoscope.model.loading.load_model", fake)
    return calls


@pytest.fixture()
def bank_dir(tmp_path: Path) -> Path:
    from emoscope.model.loading import wrap_model

    lm = wrap_model(make_model("llama"), make_tokenizer(), "tiny-llama")
    out = tmp_path / "bank"
    random_bank(lm).save(out)
    return out


def _commands(bank: Path, tmp: Path) -> dict[str, list[str]]:
    texts = tmp / "t.jsonl"
    texts.write_text(json.dumps({"text": "the quiet harbour"}) + "\n")
    corpus = write_tiny_corpus(tmp / "corpus")
    b = ["--bank", str(bank)]
    return {
        "extract": ["extract", "--model", "some-model", "--corpus", str(corpus), "--out", str(tmp / "x")],
        "read": ["read", *b, "--text", "the quiet harbour"],
        "scan": ["scan", *b, "--file", str(texts), "--out", str(tmp / "scan")],
        "steer": ["steer", *b, "--steer", "calm=0.1", "--prompt", "hello"],
        "generate": ["generate", *b, "--prompt", "hello"],
        "serve": ["serve", *b],
        "steering-check": ["experiment", "steering-check", *b],
        "behaviour": ["experiment", "behaviour", *b, "--scenario", "leverage", "--emotions", "calm",
                      "--out", str(tmp / "beh")],
        "preferences": ["experiment", "preferences", *b, "--out", str(tmp / "pref")],
    }


@pytest.mark.parametrize("name", ["extract", "read", "scan", "steer", "generate", "serve", "steering-check",
                                  "behaviour", "preferences"])
def test_placement_options_reach_the_loader(name: str, seen: list[dict[str, Any]], bank_dir: Path,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = _commands(bank_dir, tmp_path)[name]
    res = CliRunner().invoke(app, [*args, *PLACE])
    assert isinstance(res.exception, _Loaded), (res.output, res.exception)
    kw = seen[-1]
    assert (kw["device"], kw["device_map"], kw["max_memory"], str(kw["offload_folder"]), kw["allow_pickle"],
            kw["dtype"]) == ("cpu", "map.json", "cpu=2GiB", "off", True, "float32")


def test_defaults_pick_the_device_and_dtype_automatically(seen: list[dict[str, Any]], bank_dir: Path) -> None:
    res = CliRunner().invoke(app, ["read", "--bank", str(bank_dir), "--text", "hi"])
    assert isinstance(res.exception, _Loaded)
    assert (seen[-1]["device"], seen[-1]["dtype"], seen[-1]["device_map"]) == ("auto", "auto", None)
