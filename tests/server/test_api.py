"""The API in process: OpenAI-shaped responses, streaming, per-request steering and readings, isolation between
concurrent requests, limits and errors."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from helpers import SERVER_MSGS as MSGS
from helpers import reference_reply as _reference


def test_health_emotions_banks_metrics(client: Any, served: tuple[Any, Any]) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    names = [e["emotion"] for e in client.get("/v1/emotions").json()["emotions"]]
    assert names == served[1].emotions
    assert client.get("/v1/banks").json()["banks"][0]["default_layer"] == served[1].default_layer
    m = client.get("/v1/bank/map").json()
    assert len(m["xy"]) == len(names) and len(m["nearest"][0]) == min(5, len(names) - 1)
    assert client.get("/openapi.json").json()["info"]["title"] == "emoscope"
    assert client.get("/docs").status_code == 404  # it would load assets from a CDN
    text = client.get("/metrics").text
    assert "# TYPE emoscope_requests_total counter" in text and 'route="/healthz",status="200"' in text


def test_chat_is_openai_shaped_and_equals_plain_generation(client: Any, served: tuple[Any, Any]) -> None:
    r = client.post("/v1/chat/completions", json={"model": "x", "messages": MSGS, "max_tokens": 12})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and "emoscope" not in body
    assert body["choices"][0]["message"]["content"] == _reference(*served, None)
    assert body["usage"]["completion_tokens"] >= 1 and body["choices"][0]["finish_reason"] in ("stop", "length")


def test_steering_and_readings_per_request(client: Any, served: tuple[Any, Any]) -> None:
    spec = {"happy": 0.9}
    r = client.post("/v1/chat/completions", json={"messages": MSGS, "max_tokens": 12, "emoscope": {
        "steer": spec, "monitor": ["calm", "afraid"], "top_k": 2, "alerts": ["calm>-100@1"]}})
    body = r.json()
    assert body["choices"][0]["message"]["content"] == _reference(*served, spec)
    em = body["emoscope"]
    assert em["steer"] == spec and len(em["tokens"]) == body["usage"]["completion_tokens"]
    assert set(em["tokens"][0]["watch"]) == {"calm", "afraid"} and len(em["tokens"][0]["top"]) == 2
    assert em["events"][0]["action"] == "alert" and em["events"][0]["step"] == 0


def test_stream_matches_the_whole_reply(client: Any) -> None:
    payload = {"messages": MSGS, "max_tokens": 12, "stream": True, "emoscope": {"monitor": ["calm"]}}
    whole = client.post("/v1/chat/completions", json={**payload, "stream": False}).json()
    chunks = []
    with client.stream("POST", "/v1/chat/completions", json=payload) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                chunks.append(line[6:])
    assert chunks[-1] == "[DONE]"
    data = [json.loads(c) for c in chunks[:-1]]
    assert "".join(d["choices"][0]["delta"].get("content", "") for d in data) == \
        whole["choices"][0]["message"]["content"]
    assert all("calm" in d["emoscope"]["token"]["watch"] for d in data[:-1])
    assert data[-1]["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("max_batch", [1, 8])
def test_concurrent_requests_each_get_their_own_output(served: tuple[Any, Any], max_batch: int) -> None:
    import httpx

    from emoscope.server.app import ServerLimits, create_app

    app = create_app(*served, ServerLimits(max_batch=max_batch))
    specs: list[dict[str, float] | None] = [None, {"happy": 0.9}, {"afraid": -0.9}, None, {"happy": 0.9}, None]

    async def run() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            async def one(spec: dict[str, float] | None) -> str:
                body: dict[str, Any] = {"messages": MSGS, "max_tokens": 12}
                if spec:
                    body["emoscope"] = {"steer": spec}
                r = await c.post("/v1/chat/completions", json=body)
                return str(r.json()["choices"][0]["message"]["content"])
            return list(await asyncio.gather(*(one(s) for s in specs)))

    got = asyncio.run(run())
    assert got == [_reference(*served, s) for s in specs]
    stats = app.state.engine.stats
    assert (stats.batched_jobs >= 2) if max_batch > 1 else (stats.batches == 0)


@pytest.mark.parametrize("body,status,says", [
    ({"messages": MSGS, "emoscope": {"steer": {"serene-ish": 0.1}}}, 400, "unknown emotion"),
    ({"messages": MSGS, "emoscope": {"steer": {"calm": 5}}}, 400, "out of range"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "messages.0.role"),
    ({"messages": []}, 400, "messages"),
    ({"messages": MSGS, "max_tokens": 10_000}, 400, "over the limit"),
    ({"messages": MSGS, "emoscope": {"alerts": ["calm"]}}, 400, "EMOTION>VALUE"),
    ({"messages": MSGS, "emoscope": {"layer": 99}}, 400, "layer 99"),
    ({"messages": [{"role": "user", "content": "x" * 30_000}]}, 413, "request body over"),
])
def test_bad_requests_get_clear_json_errors(client: Any, body: dict[str, Any], status: int, says: str) -> None:
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == status, r.text
    assert says in r.json()["error"]["message"]


def test_read_endpoint(client: Any, served: tuple[Any, Any]) -> None:
    from emoscope.read import read_chat

    r = client.post("/v1/read", json={"messages": MSGS, "scores": True, "top_k": 2}).json()
    want = read_chat(served[0], served[1], MSGS)
    assert r["tokens"] == want.tokens and r["roles"] == want.roles and len(r["top"][0]) == 2
    assert r["scores"][-1] == pytest.approx([round(x, 3) for x in want.scores[-1]], abs=2e-3)
    assert client.post("/v1/read", json={}).status_code == 400


def test_api_key(served: tuple[Any, Any]) -> None:
    from fastapi.testclient import TestClient

    from emoscope.server.app import ServerLimits, create_app

    with TestClient(create_app(*served, ServerLimits(api_key="k1"))) as c:
        assert c.post("/v1/chat/completions", json={"messages": MSGS}).status_code == 401
        ok = c.post("/v1/chat/completions", json={"messages": MSGS, "max_tokens": 2},
                    headers={"Authorization": "Bearer k1"})
        assert ok.status_code == 200 and c.get("/healthz").status_code == 200


def test_a_full_queue_answers_429_and_a_gone_client_frees_its_slot() -> None:
    from emoscope.server.engine import Busy, Engine

    engine = Engine(max_pending=1)
    loop = asyncio.new_event_loop()
    gate = threading.Event()
    seen: list[int] = []

    def slow(_emit: Any, cancelled: Any) -> None:
        for i in range(1000):
            if cancelled():
                break
            seen.append(i)
            gate.wait(0.01)

    job = engine.submit(slow, loop)
    with pytest.raises(Busy):
        engine.submit(slow, loop)
    job.cancelled.set()  # what the server does when the client disconnects
    for _ in range(200):
        if engine.pending == 0:
            break
        gate.wait(0.01)
    assert engine.pending == 0 and len(seen) < 1000
    engine.submit(lambda *_: None, loop)  # the slot is free again
    engine.close()
    loop.close()
