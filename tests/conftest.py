"""Shared fixtures (tiny models, corpus, an isolated cache) and the browser-test rule: with
EMOSCOPE_REQUIRE_BROWSER=1 (exported by .ci/run) a browser test that skips, for whatever reason, fails."""

from __future__ import annotations

import sys
import types
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import browser  # noqa: E402
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (set on every test that calls "
                                       "browser.page, directly or through a function of its module)")


def _calls_page(code: types.CodeType, module: Any, seen: set[types.CodeType]) -> bool:
    """Whether ``code`` (or code nested in it, or a function of ``module`` it names) refers to ``browser.page``."""
    if code in seen:
        return False
    seen.add(code)
    for name in code.co_names:
        target = getattr(module, name, None)
        if target is browser.page:
            return True
        if isinstance(target, types.FunctionType) and target.__module__ == module.__name__ and \
                _calls_page(target.__code__, module, seen):
            return True
    return any(isinstance(c, types.CodeType) and _calls_page(c, module, seen) for c in code.co_consts)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fn, module = getattr(item, "function", None), getattr(item, "module", None)
        if isinstance(fn, types.FunctionType) and module is not None and _calls_page(fn.__code__, module, set()):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, Any]:
    """With EMOSCOPE_REQUIRE_BROWSER=1, a skipped browser test is reported as failed (so CI cannot pass with the
    HTML views untested)."""
    report = yield
    if report.skipped and browser.required() and item.get_closest_marker("browser") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"{browser.REQUIRE}=1 requires every browser test to run, but this one was skipped: "
                           f"{reason}")
    return report
