"""A tiny model and bank behind the app, in process (TestClient) and on a real loopback port (uvicorn thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import random_bank


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
    """The app served by uvicorn on a free loopback port, in a thread."""
    import uvicorn

    from emoscope.server.app import ServerLimits, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(*served, ServerLimits(max_tokens=64)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
