from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emoscope.bank import BankError, EmotionBank
from emoscope.core.recipe import Recipe
from emoscope.corpus import Corpus, CorpusError
from emoscope.extraction import StoryMeans, extract, iter_extract
from emoscope.model.layers import LayerError
from emoscope.model.loading import load_model
from emoscope.progress import Progress
from emoscope.read import read_chat, read_text

HERE = Path(__file__).parent


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_extract_builds_a_bank_that_round_trips(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    events: list[Progress] = []
    bank = extract(llama_lm, Corpus.load(tiny_corpus), recipe=Recipe(token_skip=5), batch_size=4,
                   shard_dir=tmp_path / "shards", progress=events.append)
    assert bank.vectors.shape == (4, 3, 32)
    assert bank.emotions == ["afraid", "calm", "happy"]  # catalogue order
    np.testing.assert_allclose(np.linalg.norm(bank.vectors, axis=-1), 1.0, rtol=1e-5)
    assert bank.split["n_stories"] == 9 and bank.split["heldout_topics"] == ["t003"]
    assert {e.stage for e in events} == {"stories", "neutral"} and events[-1].done == events[-1].total
    assert (bank.stats["mean_residual_norm"] > 0).all()
    path = bank.save(tmp_path / "bank")
    again = EmotionBank.load(tmp_path / "bank")
    np.testing.assert_array_equal(again.vectors, bank.vectors)
    assert again.metadata() == bank.metadata()
    assert again.vector("calm", 2).shape == (32,)
    assert again.matrix().shape == (3, 32)
    assert path.name == "bank.safetensors"


def test_heldout_stories_never_reach_the_vectors(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    c = Corpus.load(tiny_corpus)
    base = extract(llama_lm, c, layers=[1], recipe=Recipe(token_skip=5), shard_dir=tmp_path / "a")
    # Rewrite only the held-out stories: a train-split bank must not change at all.
    lines = (tiny_corpus / "stories.jsonl").read_text().splitlines()
    changed = [ln.replace('"text": "', '"text": "water water ') if '"t003"' in ln else ln for ln in lines]
    (tiny_corpus / "stories.jsonl").write_text("\n".join(changed) + "\n")
    other = extract(llama_lm, Corpus.load(tiny_corpus), layers=[1], recipe=Recipe(token_skip=5),
                    shard_dir=tmp_path / "b")
    np.testing.assert_array_equal(base.vectors, other.vectors)
    both = extract(llama_lm, Corpus.load(tiny_corpus), layers=[1], recipe=Recipe(token_skip=5, split="all"),
                   shard_dir=tmp_path / "c")
    assert not np.array_equal(base.vectors, both.vectors)


def test_bank_refuses_another_model(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    from emoscope.model.loading import wrap_model
    from helpers import make_model

    bank = extract(llama_lm, Corpus.load(tiny_corpus), layers=[1], recipe=Recipe(token_skip=5),
                   shard_dir=tmp_path / "s")
    other = wrap_model(make_model("llama", seed=1), llama_lm.tokenizer, "other")
    with pytest.raises(BankError, match="not other"):
        read_text(other, bank, "the water")
    from emoscope.read import check_bank

    check_bank(other, bank, allow_mismatch=True)  # the explicit override
    with pytest.raises(BankError, match="layer 3 is not in this bank"):
        bank.matrix(3)


def test_read_text_and_chat(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    bank = extract(llama_lm, Corpus.load(tiny_corpus), recipe=Recipe(token_skip=5), shard_dir=tmp_path / "s")
    r = read_text(llama_lm, bank, "the quiet harbour")
    assert r.scores.shape == (len(r.tokens), 3) and r.layer == bank.default_layer
    assert "".join(r.tokens) == "the quiet harbour"
    c = read_chat(llama_lm, bank, [{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": "the water"}])
    assert c.roles is not None and c.roles[0] == "system" and c.roles[-1] == "assistant"
    assert c.tokens[-1] == "<|assistant|>"  # the start of the Assistant turn is the last token
    assert "user" in c.roles


def test_bad_inputs(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    c = Corpus.load(tiny_corpus)
    with pytest.raises(LayerError, match="layer 9 does not exist"):
        extract(llama_lm, c, layers=[9], shard_dir=tmp_path)
    with pytest.raises(CorpusError, match="shorter than 501 tokens"):
        extract(llama_lm, c, layers=[0], recipe=Recipe(token_skip=500), shard_dir=tmp_path)
    from emoscope.model.chat import ChatError

    bank = extract(llama_lm, c, layers=[0], recipe=Recipe(token_skip=5), shard_dir=tmp_path / "s")
    with pytest.raises(ChatError, match="empty text"):
        read_text(llama_lm, bank, "")


SCRIPT = """
import os, signal, sys
from pathlib import Path
from emoscope.core.recipe import Recipe
from emoscope.corpus import Corpus
from emoscope.extraction import iter_extract
from emoscope.model.loading import load_model
lm = load_model(sys.argv[1], dtype="float32")
kill_after = int(sys.argv[4])
for n, ev in enumerate(iter_extract(lm, Corpus.load(sys.argv[2]), recipe=Recipe(token_skip=5), batch_size=2,
                                    shard_dir=Path(sys.argv[3]))):
    if n == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
    last = ev
last.save(sys.argv[5])
"""


def test_killed_run_resumes_bit_identical(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    def run(shards: Path, kill_after: int, out: Path) -> int:
        env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
        return subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_model_dir), str(tiny_corpus), str(shards),
                               str(kill_after), str(out)], env=env, capture_output=True, timeout=300).returncode

    assert run(tmp_path / "a", 10_000, tmp_path / "whole") == 0
    assert run(tmp_path / "b", 2, tmp_path / "resumed") == -9  # SIGKILL after 3 of 5 story shards
    done = sorted(p.name for p in (tmp_path / "b").rglob("*.safetensors"))
    assert 0 < len(done) < len(list((tmp_path / "a").rglob("*.safetensors")))
    assert not list((tmp_path / "b").rglob("*.tmp"))
    assert run(tmp_path / "b", 10_000, tmp_path / "resumed") == 0
    assert _sha(tmp_path / "whole" / "bank.safetensors") == _sha(tmp_path / "resumed" / "bank.safetensors")


def test_resume_reports_cached_shards(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    c = Corpus.load(tiny_corpus)
    first = [e for e in iter_extract(llama_lm, c, [0], Recipe(token_skip=5), 4, tmp_path) if isinstance(e, Progress)]
    second = [e for e in iter_extract(llama_lm, c, [0], Recipe(token_skip=5), 4, tmp_path)
              if isinstance(e, Progress)]
    assert not any(e.cached for e in first) and all(e.cached for e in second)


def test_load_model_from_directory(tiny_model_dir: Path) -> None:
    lm = load_model(str(tiny_model_dir), dtype="float32")
    assert lm.n_layers == 4 and lm.d_model == 32 and len(lm.fingerprint) == 16
    assert load_model(str(tiny_model_dir), dtype="bfloat16").fingerprint == lm.fingerprint


def test_neutral_moments_match_recorded_tokens(llama_lm: Any) -> None:
    from emoscope.core.recipe import NeutralStats
    from emoscope.model.chat import pad_batch
    from emoscope.model.hooks import record
    from emoscope.model.passes import neutral_moments

    items = [llama_lm.tokenizer(t)["input_ids"] for t in ["the quiet harbour light", "he laughed at the window"]]
    ids, mask = pad_batch(items, 0, "left")
    got = neutral_moments(llama_lm, items, [1, 3])  # padded on the right inside; the reference on the left
    acts = record(llama_lm, ids, mask, [1, 3])
    keep = mask.bool().clone()
    keep[:, :] &= (mask.cumsum(-1) > 1)  # the first real token of each text is left out
    ref = NeutralStats.from_samples([acts[layer][keep].double().numpy() for layer in (1, 3)])
    np.testing.assert_allclose(got["count"], ref.count)
    np.testing.assert_allclose(got["total"], ref.total, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got["gram"], ref.gram, rtol=1e-4, atol=1e-3)


def test_layer_topics_are_kept_out_of_training_and_held_out(tmp_path: Path) -> None:
    """split.json may name topics kept for choosing the layer: their stories build nothing and are not held out."""
    import json as _json
    import shutil

    from emoscope.corpus import default_corpus_dir

    root = tmp_path / "c"
    shutil.copytree(default_corpus_dir(), root)
    split = _json.loads((root / "split.json").read_text())
    split["layer_topics"] = ["t001", "t003"]
    (root / "split.json").write_text(_json.dumps(split))
    c = Corpus.load(root)
    layer = c.layer_stories()
    assert layer and {s.topic_id for s in layer} == {"t001", "t003"}
    ids = {s.id for s in layer}
    assert not ids & {s.id for s in c.train_stories()} and not ids & {s.id for s in c.heldout_stories()}
    assert len(c.train_stories()) + len(c.heldout_stories()) + len(layer) == len(c.stories)
    split["layer_topics"] = [split["heldout_topics"][0]]
    (root / "split.json").write_text(_json.dumps(split))
    with pytest.raises(CorpusError, match="both held out and kept"):
        Corpus.load(root)


def test_story_sets_are_joined_and_recorded(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    """Two story sets build one bank; the bank records both sets with their hashes; colliding ids are refused."""
    import json as _json
    import shutil

    from emoscope.corpus import load_corpora

    other = tmp_path / "other"
    shutil.copytree(tiny_corpus, other)
    rows = [_json.loads(x) for x in (other / "stories.jsonl").read_text().splitlines()]
    renamed = [{**r, "id": r["id"] + "-b", "topic_id": "b" + r["topic_id"]} for r in rows]
    (other / "stories.jsonl").write_text("".join(_json.dumps(r) + "\n" for r in renamed))
    split = _json.loads((other / "split.json").read_text())
    (other / "split.json").write_text(_json.dumps({"heldout_topics": ["b" + t for t in split["heldout_topics"]]}))
    both = load_corpora([str(tiny_corpus), str(other)])
    one = Corpus.load(tiny_corpus)
    assert len(both.stories) == 2 * len(one.stories) and len(both.dialogues) == len(one.dialogues)
    assert both.sha256() not in (one.sha256(), Corpus.load(other).sha256())
    bank = extract(llama_lm, both, layers=[0], batch_size=4)
    assert [s["corpus"] for s in bank.split["story_sets"]] == [str(tiny_corpus), str(other)]
    assert bank.split["n_stories"] == 2 * len(one.train_stories())
    with pytest.raises(CorpusError, match="more than one corpus"):
        load_corpora([str(tiny_corpus), str(tiny_corpus)])
    assert load_corpora(None).root == load_corpora(["v1"]).root
    (other / "stories.jsonl").write_text("".join(_json.dumps({**r, "id": r["id"] + "-b"}) + "\n" for r in rows))
    with pytest.raises(CorpusError, match="topic ids"):
        load_corpora([str(tiny_corpus), str(other)])


def _two_story_sets(tiny_corpus: Path, tmp_path: Path) -> Path:
    """A second story set: the tiny corpus's stories with new ids, topics and texts (same neutral dialogues)."""
    import json as _json
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_corpus, other)
    rows = [_json.loads(x) for x in (other / "stories.jsonl").read_text().splitlines()]
    renamed = [{**r, "id": r["id"] + "-b", "topic_id": "b" + r["topic_id"], "text": r["text"] + " again"}
               for r in rows]
    (other / "stories.jsonl").write_text("".join(_json.dumps(r) + "\n" for r in renamed))
    split = _json.loads((other / "split.json").read_text())
    (other / "split.json").write_text(_json.dumps({"heldout_topics": ["b" + t for t in split["heldout_topics"]]}))
    return other


def test_a_union_reuses_each_story_sets_shards(llama_lm: Any, tiny_corpus: Path, tmp_path: Path) -> None:
    """Activations are cached per story set: after a run on each set alone, the run on both computes nothing,
    and its bank equals the one computed from an empty cache."""
    from emoscope.corpus import load_corpora


    other = _two_story_sets(tiny_corpus, tmp_path)
    cache = tmp_path / "shards"
    for spec in ([str(tiny_corpus)], [str(other)]):
        extract(llama_lm, load_corpora(spec), layers=[0, 2], batch_size=3, shard_dir=cache)
    events = list(iter_extract(llama_lm, load_corpora([str(tiny_corpus), str(other)]), [0, 2], batch_size=3,
                               shard_dir=cache))
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(p.cached for p in progress)
    reused = events[-1]
    assert isinstance(reused, EmotionBank)
    fresh = extract(llama_lm, load_corpora([str(tiny_corpus), str(other)]), layers=[0, 2], batch_size=3,
                    shard_dir=tmp_path / "empty")
    assert np.array_equal(reused.vectors, fresh.vectors)
    assert np.array_equal(reused.stats["mean_residual_norm"], fresh.stats["mean_residual_norm"])


def test_a_shard_of_other_stories_is_recomputed(llama_lm: Any, tmp_path: Path) -> None:
    """A shard whose recorded story ids differ from the batch's (a stale or foreign file) is not trusted."""
    from emoscope.extraction import iter_story_means

    ids = [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    root = tmp_path / "shards"
    first = [e for e in iter_story_means(llama_lm, ids, ["a", "b"], [0], 1, 2, root)]
    again = [e for e in iter_story_means(llama_lm, ids, ["a", "b"], [0], 1, 2, root)]
    assert [e.cached for e in again if isinstance(e, Progress)] == [True]
    other = [e for e in iter_story_means(llama_lm, ids, ["x", "b"], [0], 1, 2, root)]
    assert [e.cached for e in other if isinstance(e, Progress)] == [False]
    assert isinstance(first[-1], StoryMeans) and isinstance(other[-1], StoryMeans)
    assert np.array_equal(first[-1].means, other[-1].means)
