"""A tiny model and bank behind the app, in process (TestClient) and on a real loopback socket (uvicorn thread)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helpers import random_bank, uvicorn_thread


@pytest.fixture(scope="module")
def served(tokenizer: Any) -> tuple[Any, Any]:
    from emoscope.model.loading import wrap_model
    from helpers import make_model

    lm = wrap_model(make_model("llama"), tokenizer, "tiny-llama")
    return lm, random_bank(lm)


@pytest.fixture(scope="module")
def client(served: tuple[Any, Any]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from emoscope.server.app import ServerLimits, create_app

    app = create_app(*served, ServerLimits(max_tokens=64, max_body_bytes=20_000))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def live_url(served: tuple[Any, Any]) -> Iterator[str]:
    """The app served by uvicorn in a thread, on a loopback socket held from the start; stopped afterwards."""
    from emoscope.server.app import ServerLimits, create_app

    with uvicorn_thread(create_app(*served, ServerLimits(max_tokens=64))) as url:
        yield url
