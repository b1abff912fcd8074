from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import make_model, make_tokenizer, save_tiny_model, write_tiny_corpus  # noqa: E402

ARCHS = ("llama", "mistral", "qwen2", "phi3", "gemma3", "gpt2", "gpt_neox")


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return make_tokenizer()


@pytest.fixture(scope="session", params=ARCHS)
def tiny_lm(request: pytest.FixtureRequest, tokenizer: Any) -> Any:
    from emoscope.model.loading import wrap_model

    return wrap_model(make_model(request.param), tokenizer, f"tiny-{request.param}")


@pytest.fixture(scope="session")
def llama_lm(tokenizer: Any) -> Any:
    from emoscope.model.loading import wrap_model

    return wrap_model(make_model("llama"), tokenizer, "tiny-llama")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny-llama")


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> Path:
    return write_tiny_corpus(tmp_path / "corpus")


@pytest.fixture(autouse=True)
def _isolated_cache(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never write into the user's cache; integration tests share the real model's cache."""
    if request.node.get_closest_marker("integration") is None:
        monkeypatch.setenv("EMOSCOPE_CACHE", str(tmp_path / "cache"))
