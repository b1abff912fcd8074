"""Devices, dtypes and device maps: selection with the hardware mocked, and a dispatched model (half the blocks
offloaded to disk by accelerate) giving the same bank, readings and steered tokens as the model loaded whole."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from emoscope.model import devices
from emoscope.model.devices import (
    execution_device,
    parse_device_map,
    parse_max_memory,
    resolve_device,
    resolve_dtype,
)
from emoscope.model.errors import ModelError
from emoscope.model.loading import load_model

SRC = Path(__file__).resolve().parents[2] / "src" / "emoscope"


@pytest.fixture()
def hardware(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Set what torch and /proc/cpuinfo report: hardware(cuda=..., capability=..., mps=..., flags=...)."""

    def set_(cuda: bool = False, capability: tuple[int, int] = (8, 0), mps: bool = False, flags: str = "fpu sse",
             count: int = 1) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count if cuda else 0)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda _index=0: capability)
        monkeypatch.setattr(devices, "mps_available", lambda: mps)
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
        monkeypatch.setattr(devices, "CPUINFO", info)

    return set_


def test_auto_device_prefers_cuda_then_mps_then_cpu(hardware: Any) -> None:
    hardware(cuda=True, mps=True)
    assert resolve_device("auto") == "cuda"
    hardware(cuda=False, mps=True)
    assert resolve_device("auto") == "mps"
    hardware(cuda=False, mps=False)
    assert resolve_device("auto") == "cpu" and resolve_device("CPU") == "cpu"


def test_explicit_devices_are_checked(hardware: Any) -> None:
    hardware(cuda=True, count=2)
    assert resolve_device("cuda") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ModelError, match="torch sees 2 CUDA GPU"):
        resolve_device("cuda:2")
    hardware(cuda=False)
    with pytest.raises(ModelError, match="sees no CUDA GPU.*--device cpu"):
        resolve_device("cuda:0")
    with pytest.raises(ModelError, match="'mps' is not available"):
        resolve_device("mps")
    with pytest.raises(ModelError, match="unknown device 'tpu'"):
        resolve_device("tpu")


@pytest.mark.parametrize(("capability", "want"), [((8, 0), "bfloat16"), ((9, 0), "bfloat16"), ((7, 5), "float16"),
                                                  ((6, 1), "float16")])
def test_auto_dtype_on_cuda_follows_compute_capability(hardware: Any, capability: tuple[int, int], want: str) -> None:
    hardware(cuda=True, capability=capability)
    assert resolve_dtype("auto", "cuda") == want and resolve_dtype("auto", "cuda:0") == want


@pytest.mark.parametrize(("flags", "want"), [("fpu avx2 avx512f avx512_bf16", "bfloat16"),
                                             ("fpu avx2 amx_bf16 amx_tile", "bfloat16"),
                                             ("fpu avx2 avx512f", "float32"), ("", "float32")])
def test_auto_dtype_on_cpu_reads_the_cpu_flags(hardware: Any, flags: str, want: str) -> None:
    hardware(flags=flags)
    assert resolve_dtype("auto", "cpu") == want


def test_auto_dtype_on_mps_and_explicit_dtypes(hardware: Any) -> None:
    hardware(mps=True)
    assert resolve_dtype("auto", "mps") == "float16"
    assert resolve_dtype("float32", "cuda") == "float32" and resolve_dtype("BFloat16", "cpu") == "bfloat16"
    with pytest.raises(ModelError, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8", "cpu")


def test_auto_dtype_of_a_dispatched_model_follows_its_first_gpu(hardware: Any) -> None:
    from emoscope.model.devices import map_device

    hardware(cuda=True, capability=(7, 0), count=2, flags="amx_bf16")
    assert map_device({"model.embed_tokens": 1, "lm_head": 0}, "cpu") == "cuda:1"
    assert resolve_dtype("auto", map_device("auto", "cpu")) == "float16"
    assert resolve_dtype("auto", map_device({"model": "cpu", "lm_head": "disk"}, "cuda")) == "bfloat16"
    hardware(cuda=False, mps=True)
    assert map_device("balanced", "auto") == "mps" and map_device("balanced", "cpu") == "cpu"


def test_device_maps_and_memory_limits(tmp_path: Path) -> None:
    assert parse_device_map("auto") == "auto" and parse_device_map("balanced") == "balanced"
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"model.embed_tokens": "cpu", "model.layers.0": 0, "model.layers.1": "1",
                             "model.layers.2": "cuda:1", "lm_head": "disk"}))
    got = parse_device_map(f)
    assert got == {"model.embed_tokens": "cpu", "model.layers.0": 0, "model.layers.1": 1, "model.layers.2": "cuda:1",
                   "lm_head": "disk"}
    assert parse_device_map(str(f)) == got
    assert execution_device(got) == torch.device("cuda", 0)
    assert execution_device({"a": "cpu", "b": "disk"}) == torch.device("cpu")
    for bad in ("nowhere.json", {"x": "gpu"}, {}):
        with pytest.raises(ModelError):
            parse_device_map(bad)  # type: ignore[arg-type]
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ModelError, match="not valid JSON"):
        parse_device_map(tmp_path / "bad.json")
    assert parse_max_memory("0=20GiB, cuda:1=20GiB,cpu=64GiB") == {0: "20GiB", 1: "20GiB", "cpu": "64GiB"}
    assert parse_max_memory(None) is None
    for bad_mem in ("0:20GiB", "gpu=3GiB", "0=lots"):
        with pytest.raises(ModelError):
            parse_max_memory(bad_mem)


def test_load_model_checks_its_arguments_before_loading(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelError, match="max_memory only applies with a device map"):
        load_model(str(tiny_model_dir), max_memory="0=1GiB")
    with pytest.raises(ModelError, match="unknown dtype"):
        load_model(str(tiny_model_dir), dtype="int8")
    lm = load_model(str(tiny_model_dir), dtype="auto", device="auto")
    assert lm.dtype_name in ("bfloat16", "float32") and lm.device.type == "cpu"


# --- one model, dispatched by an explicit device map, behaves as the model loaded whole ---------------------------

def _half_on_disk(n_layers: int) -> dict[str, str]:
    dmap = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.norm": "cpu", "lm_head": "cpu"}
    dmap |= {f"model.layers.{i}": "cpu" if i < n_layers // 2 else "disk" for i in range(n_layers)}
    return dmap


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from helpers import save_tiny_model

    root = tmp_path_factory.mktemp("dispatch")
    model_dir = save_tiny_model(root / "tiny-llama")
    whole = load_model(str(model_dir), dtype="float32")
    map_file = root / "map.json"
    map_file.write_text(json.dumps(_half_on_disk(whole.n_layers)))
    split = load_model(str(model_dir), dtype="float32", device_map=map_file, offload_folder=root / "offload")
    return whole, split


def test_the_map_is_applied_by_accelerate(pair: tuple[Any, Any]) -> None:
    whole, split = pair
    assert split.model.hf_device_map == _half_on_disk(4)
    assert {p.device.type for p in split.blocks[3].parameters()} == {"meta"}  # on disk, brought in per forward
    assert {p.device.type for p in split.blocks[0].parameters()} == {"cpu"}
    assert split.device == torch.device("cpu") and split.dtype_name == "float32"
    assert split.fingerprint == whole.fingerprint  # offloaded weights are read for the fingerprint
    assert not hasattr(whole.model, "hf_device_map") or len(set(whole.model.hf_device_map.values())) == 1


def test_same_bank_readings_and_steered_tokens(pair: tuple[Any, Any], tiny_corpus: Path) -> None:
    from emoscope.corpus import Corpus
    from emoscope.extraction import extract
    from emoscope.model.chat import encode_chat
    from emoscope.model.generate import generate
    from emoscope.read import read_text
    from emoscope.steering import steer

    whole, split = pair
    corpus = Corpus.load(tiny_corpus)
    banks = [extract(lm, corpus, layers="all", batch_size=4) for lm in (whole, split)]
    np.testing.assert_allclose(banks[1].vectors, banks[0].vectors, rtol=1e-4, atol=1e-5)
    for key, value in banks[0].stats.items():
        np.testing.assert_allclose(banks[1].stats[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
    assert banks[1].model_fingerprint == banks[0].model_fingerprint
    text = "the quiet harbour light fell across the water while she counted boats"
    for layer in (1, 3):
        got = [read_text(lm, banks[0], text, layer=layer) for lm in (whole, split)]
        assert got[0].tokens == got[1].tokens
        np.testing.assert_allclose(got[1].scores, got[0].scores, rtol=1e-4, atol=1e-5)
    prompts = [encode_chat(whole.tokenizer, [{"role": "user", "content": p}]).ids
               for p in ("he laughed at the window", "nothing moved in the kitchen")]
    tokens = []
    for lm in (whole, split):
        with steer(lm, banks[0], {"calm": 2.0, "afraid": -1.0}, layers=[1, 3]):
            tokens.append(generate(lm, prompts, max_new_tokens=8))
    assert tokens[0] == tokens[1]
    assert generate(split, prompts, max_new_tokens=8) == generate(whole, prompts, max_new_tokens=8)


# --- no code path moves a whole model, except the one non-dispatched load -----------------------------------------

_WHOLE_MOVE = re.compile(r"\.cuda\(|\bmodel\)?\s*\.\s*(to|cpu|cuda|half|float|bfloat16|double)\s*\(")


def test_no_whole_model_is_moved_outside_the_single_load_path() -> None:
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0] if "#" in line and not line.strip().startswith("#") else line
            if _WHOLE_MOVE.search(code) and not line.strip().startswith(("#", ">>>")):
                hits.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert len(hits) == 1, hits
    assert hits[0].startswith("model/loading.py:") and hits[0].endswith(": model.to(target)  # the one place a whole "
                                                                         "model is moved: never a dispatched one")
    load = (SRC / "model" / "loading.py").read_text(encoding="utf-8")
    assert "    if dmap is None:\n        model.to(target)" in load


def test_the_grep_sees_an_offender() -> None:
    for bad in ("lm.model.cuda()", "model.to('cuda')", "self.model.half()", "x.cuda()", "(lm.model).to(dev)"):
        assert _WHOLE_MOVE.search(bad), bad
    for fine in ("ids.to(lm.device)", "h.to(torch.float32)", "logits.float()", "p.cpu().numpy()"):
        assert not _WHOLE_MOVE.search(fine), fine


def test_logit_lens_with_the_head_offloaded(pair: tuple[Any, Any], tmp_path: Path) -> None:
    """The unembedding reads offloaded head weights (disk) and moves directions to where the weights are."""
    from emoscope.model.unembed import unembed

    whole, _ = pair
    dmap = {**_half_on_disk(4), "model.norm": "disk", "lm_head": "disk"}
    model_dir = tmp_path / "tiny"
    whole.model.save_pretrained(str(model_dir))
    whole.tokenizer.save_pretrained(str(model_dir))
    head_on_disk = load_model(str(model_dir), dtype="float32", device_map=dmap, offload_folder=tmp_path / "off")
    assert head_on_disk.model.lm_head.weight.device.type == "meta"
    dirs = np.random.default_rng(0).standard_normal((3, whole.d_model)).astype(np.float32)
    np.testing.assert_allclose(unembed(head_on_disk, dirs), unembed(whole, dirs), rtol=1e-5, atol=1e-5)
