"""The Ray engine on a local cluster: banks bit-identical to the single-process run, scans equal, a killed
worker recovered without a lost or duplicated job, a stopped run resumed from its shards, foreign weights refused."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emoscope.bank import EmotionBank
from emoscope.corpus import Corpus
from emoscope.extraction import extract, iter_extract, length_batches
from emoscope.model.chat import encode_text
from emoscope.model.loading import LoadedModel, load_model
from emoscope.progress import Progress
from emoscope.runners import LocalRunner, ModelSpec, RayRunner, RunnerError
from emoscope.scan import scan

if os.environ.get("EMOSCOPE_REQUIRE_RAY") == "1":  # CI: a missing Ray fails the run instead of skipping
    import ray
else:
    ray = pytest.importorskip("ray", reason="the Ray engine's tests need the 'ray' extra (setup.sh installs it)")

pytestmark = pytest.mark.usefixtures("cluster")


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local Ray instance for the module. Its CPUs are logical slots: eight, so the shared pair of workers and
    the runners a test starts (one slot per worker) fit at once; the machine's two cores are shared."""
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def lm(tiny_model_dir: Path) -> LoadedModel:
    return load_model(str(tiny_model_dir), dtype="float32")


def _spec(tiny_model_dir: Path) -> ModelSpec:
    return ModelSpec(str(tiny_model_dir), dtype="float32")


@pytest.fixture(scope="module")
def workers(lm: LoadedModel, tiny_model_dir: Path) -> Iterator[RayRunner]:
    """Two workers shared by the tests that leave them alone (starting actors is the slow part)."""
    with RayRunner(_spec(tiny_model_dir), lm.fingerprint, workers=2, in_flight=1) as runner:
        yield runner


def _same_bank(a: EmotionBank, b: EmotionBank) -> None:
    assert a.vectors.tobytes() == b.vectors.tobytes()
    assert a.stats.keys() == b.stats.keys()
    for k in a.stats:
        assert a.stats[k].tobytes() == b.stats[k].tobytes(), k


def test_ray_bank_is_bit_identical_to_the_local_one(lm: LoadedModel, workers: RayRunner, tiny_corpus: Path,
                                                    tmp_path: Path) -> None:
    corpus = Corpus.load(tiny_corpus)
    local = extract(lm, corpus, batch_size=2, shard_dir=tmp_path / "local")
    assert len(set(workers.worker_pids())) == 2
    remote = extract(lm, corpus, batch_size=2, shard_dir=tmp_path / "ray", runner=workers)
    _same_bank(local, remote)
    local_shards = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.safetensors"))
    ray_shards = sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.safetensors"))
    assert local_shards == ray_shards and len(local_shards) > 3
    for rel in local_shards:
        assert (tmp_path / "local" / rel).read_bytes() == (tmp_path / "ray" / rel).read_bytes(), rel


def test_a_killed_worker_is_replaced_and_no_job_is_lost_or_repeated(lm: LoadedModel,
                                                                    tiny_model_dir: Path, tiny_corpus: Path) -> None:
    texts = [encode_text(lm.tokenizer, s.text).ids for s in Corpus.load(tiny_corpus).stories]
    batches = length_batches([len(t) for t in texts], 1)
    jobs = [(b, {"items": [texts[i] for i in batch], "layers": [0, 2], "skip": 1}) for b, batch in enumerate(batches)]
    expected = dict(LocalRunner(lm).map("story_means", jobs))
    got: list[tuple[int, Any]] = []
    with RayRunner(_spec(tiny_model_dir), lm.fingerprint, workers=2, in_flight=3) as runner:
        victim = runner.worker_pids()[0]
        for index, result in runner.map("story_means", jobs):
            if not got:
                os.kill(victim, signal.SIGKILL)
            got.append((index, result))
        assert victim not in runner.worker_pids()  # restarted in a new process
    assert sorted(i for i, _ in got) == list(range(len(jobs)))
    for index, result in got:
        for key in expected[index]:
            assert np.array_equal(result[key], expected[index][key]), (index, key)


def test_a_stopped_ray_run_resumes_from_its_shards(lm: LoadedModel, workers: RayRunner, tiny_corpus: Path,
                                                   tmp_path: Path) -> None:
    corpus = Corpus.load(tiny_corpus)
    run = iter_extract(lm, corpus, batch_size=2, shard_dir=tmp_path / "s", runner=workers)
    first = [next(run), next(run)]
    run.close()  # the driver stops after two batches
    assert all(isinstance(e, Progress) and not e.cached for e in first)
    events = list(iter_extract(lm, corpus, batch_size=2, shard_dir=tmp_path / "s", runner=workers))
    stories = [e for e in events if isinstance(e, Progress) and e.stage == "stories"]
    assert sum(e.cached for e in stories) == 2 and not all(e.cached for e in stories)
    resumed = events[-1]
    assert isinstance(resumed, EmotionBank)
    _same_bank(extract(lm, corpus, batch_size=2, shard_dir=tmp_path / "fresh"), resumed)


def test_ray_scan_equals_the_local_scan(lm: LoadedModel, workers: RayRunner, tiny_corpus: Path,
                                        tmp_path: Path) -> None:
    corpus = Corpus.load(tiny_corpus)
    bank = extract(lm, corpus, layers=[1, 2], batch_size=4, shard_dir=tmp_path)
    texts = [(s.id, s.text) for s in corpus.stories] * 2  # repeats make ties: the earlier text must win
    for kind in ("z", "projection"):
        local = scan(lm, bank, iter(texts), kind=kind, k=3, batch_size=3).to_dict()
        remote = scan(lm, bank, iter(texts), kind=kind, k=3, batch_size=3, runner=workers).to_dict()
        assert remote == local
        assert local["texts"] == len(texts)


def test_workers_refuse_other_weights(lm: LoadedModel, tmp_path: Path) -> None:
    from helpers import save_tiny_model

    other = save_tiny_model(tmp_path / "other", seed=1)
    with pytest.raises(RunnerError, match="could not load"), RayRunner(ModelSpec(str(other), dtype="float32"),
                                                                        lm.fingerprint, workers=1):
        pass


def test_cli_engine_ray_matches_local(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    """`emoscope extract --engine ray` writes the same bank file as the local engine; `emoscope scan --engine ray`
    the same scan.json; a bad engine name is one line naming the choices."""
    import json

    from typer.testing import CliRunner

    from emoscope.cli import app

    cli = CliRunner()
    base = ["extract", "--model", str(tiny_model_dir), "--corpus", str(tiny_corpus), "--batch-size", "4",
            "--dtype", "float32", "--token-skip", "5", "--json"]
    for engine in ("local", "ray"):
        res = cli.invoke(app, [*base, "--out", str(tmp_path / engine), "--cache", str(tmp_path / f"c-{engine}"),
                               "--engine", engine, "--workers", "2"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["engine"] == engine
    assert (tmp_path / "local" / "bank.safetensors").read_bytes() == (tmp_path / "ray" / "bank.safetensors"
                                                                      ).read_bytes()
    data = tmp_path / "texts.jsonl"
    stories = Corpus.load(tiny_corpus).stories
    data.write_text("".join(json.dumps({"id": s.id, "text": s.text}) + "\n" for s in stories), encoding="utf-8")
    for engine in ("local", "ray"):
        res = cli.invoke(app, ["scan", "--bank", str(tmp_path / "local"), "--file", str(data), "--dtype", "float32",
                               "--out", str(tmp_path / f"scan-{engine}"), "--engine", engine, "--json"])
        assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "scan-local" / "scan.json").read_text()) == json.loads(
        (tmp_path / "scan-ray" / "scan.json").read_text())
    res = cli.invoke(app, [*base, "--out", str(tmp_path / "x"), "--engine", "spark"])
    assert res.exit_code == 2 and "--engine must be 'local' or 'ray'" in res.output
