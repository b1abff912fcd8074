"""The real default model and a small bank of the paper's 12 showcase emotions, shared by the integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emoscope.core.recipe import Recipe
from emoscope.corpus import Corpus
from emoscope.extraction import extract
from emoscope.model.loading import load_model


@pytest.fixture(scope="session")
def smol() -> Any:
    return load_model("smollm2-135m-instruct", dtype="float32")


CHOSEN = ["afraid", "calm", "angry", "happy", "sad", "proud", "guilty", "loving", "desperate", "nervous",
          "surprised", "inspired"]


@pytest.fixture(scope="session")
def small_bank(smol: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Corpus, Path]:
    """A bank of the paper's 12 showcase emotions from the shipped corpus, at three layers."""
    full = Corpus.load()
    sub = Corpus(root=full.root, stories=[s for s in full.stories if s.emotion in CHOSEN],
                 dialogues=full.dialogues[:60], topics=full.topics, heldout_topics=full.heldout_topics)
    shards = tmp_path_factory.mktemp("shards")
    bank = extract(smol, sub, layers="10,15,20", recipe=Recipe(), batch_size=16, shard_dir=shards)
    return bank, sub, shards
