"""``emoscope serve``: an OpenAI-compatible chat API with per-request steering and live emotion readings.

Routes: ``POST /v1/chat/completions`` (streaming by server-sent events or not), ``POST /v1/read``,
``GET /v1/emotions``, ``GET /v1/banks``, ``GET /v1/bank/map`` (PCA of the vectors for the dashboard),
``GET /healthz``, ``GET /metrics`` (Prometheus text), ``GET /`` (the dashboard) and ``GET /report`` (the bank's
validation report, when it exists). A chat request may carry an ``emoscope`` object::

    {"steer": {"calm": 0.05}, "monitor": ["desperate", "calm"] | "all", "layer": 21, "top_k": 3,
     "alerts": ["desperate>2.0"], "when": [{"rule": "desperate>1.5", "steer": {"calm": 0.05}}]}

and the response then carries, per token, the top emotions and the watched ones, and the alert events.

Example:
    >>> app = create_app(lm, bank)  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from emoscope.bank import BankError, EmotionBank
from emoscope.core.rules import RuleError
from emoscope.model.chat import ChatError, encode_chat, encode_text
from emoscope.model.generate import stop_ids
from emoscope.model.loading import LoadedModel
from emoscope.server.engine import Busy, Emit, Engine
from emoscope.steering import SteeringError


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on what one request may ask for."""

    max_body_bytes: int = 1_000_000
    max_prompt_tokens: int = 4096
    max_tokens: int = 1024
    max_pending: int = 64
    max_strength: float = 1.0
    api_key: str | None = None
    max_batch: int | None = None  # None: 8 in float32, 1 otherwise (bf16 padding changes some greedy replies)


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class WhenRule(BaseModel):
    rule: str
    steer: dict[str, float]


class EmoscopeOptions(BaseModel):
    steer: dict[str, float] = Field(default_factory=dict)
    monitor: list[str] | Literal["all"] = Field(default_factory=list)
    layer: int | None = None
    top_k: int = Field(default=3, ge=0, le=20)
    alerts: list[str] = Field(default_factory=list)
    when: list[WhenRule] = Field(default_factory=list)
    window: int | None = Field(default=None, ge=1, le=512)


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int = 0
    stream: bool = False
    emoscope: EmoscopeOptions | None = None


class ReadRequest(BaseModel):
    text: str | None = None
    messages: list[Message] | None = None
    layer: int | None = None
    kind: Literal["z", "projection", "cosine"] = "z"
    top_k: int = Field(default=5, ge=0, le=20)
    scores: bool = False


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _error(status: int, message: str, code: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": code, "code": status}}, status_code=status)


def create_app(lm: LoadedModel, bank: EmotionBank, limits: ServerLimits | None = None,
               bank_dir: str | Path | None = None) -> FastAPI:
    """The application for one model and its bank (checked to match)."""
    from emoscope.monitor import Row, Step, monitor, monitor_batch

    lim = limits or ServerLimits()
    bank.check_model(lm.fingerprint, lm.name)
    max_batch = lim.max_batch if lim.max_batch is not None else (8 if lm.dtype_name == "float32" else 1)

    def run_batch(jobs: list[Any]) -> None:
        """Several chat requests with the same reading layer, one row each (see monitor_batch)."""
        gen = monitor_batch(lm, bank, [j.payload[1] for j in jobs], jobs[0].payload[0], window=jobs[0].payload[2])
        try:
            for steps in gen:
                if all(j.cancelled.is_set() for j in jobs):
                    break
                for job, step in zip(jobs, steps, strict=True):
                    if step is not None and not job.cancelled.is_set():
                        job.emit(step)
        finally:
            gen.close()

    engine = Engine(lim.max_pending, max_batch, run_batch)
    stops = set(stop_ids(lm))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.close()

    # No /docs page: it would fetch its assets from a CDN; the schema is at /openapi.json.
    app = FastAPI(title="emoscope", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.engine = engine
    started = time.time()

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        route = request.url.path
        if lim.api_key and route.startswith("/v1/"):
            if request.headers.get("authorization") != f"Bearer {lim.api_key}":
                engine.stats.count(route, 401)
                return _error(401, "missing or wrong API key: send 'Authorization: Bearer <key>'", "auth_error")
        if request.method == "POST":
            size = request.headers.get("content-length")
            if size is None or int(size) > lim.max_body_bytes:
                engine.stats.count(route, 413)
                return _error(413, f"request body over {lim.max_body_bytes} bytes (or without a length)")
        response: Response = await call_next(request)
        engine.stats.count(route, response.status_code)
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.code)

    def check_options(o: EmoscopeOptions) -> tuple[list[str], int]:
        try:
            layer = bank.layers[bank.layer_index(o.layer)]
            for name, s in [*o.steer.items(), *((k, v) for w in o.when for k, v in w.steer.items())]:
                bank.emotion_index(name)
                if not abs(s) <= lim.max_strength:
                    raise ApiError(400, f"strength {s} for {name!r} is out of range: at most {lim.max_strength} "
                                        "in absolute value (the paper uses about 0.05 to 0.5)")
            watch = list(bank.emotions) if o.monitor == "all" else list(o.monitor)
            for name in watch:
                bank.emotion_index(name)
            from emoscope.monitor import make_rules

            make_rules(bank, o.alerts, [(w.rule, w.steer) for w in o.when], o.window)
        except (BankError, SteeringError, RuleError) as exc:
            raise ApiError(400, str(exc)) from None
        return watch, layer

    def token_payload(step: Step, watch: list[str], top_k: int) -> dict[str, Any]:
        d: dict[str, Any] = {"token": step.token, "top": [[e, round(v, 4)] for e, v in step.top(top_k)]}
        if watch:
            d["watch"] = {w: round(step.value(w), 4) for w in watch}
        if step.steering:
            d["steering"] = step.steering
        return d

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(req: ChatRequest, request: Request) -> Response:
        opts = req.emoscope or EmoscopeOptions()
        watch, layer = check_options(opts)
        msgs = [m.model_dump() for m in req.messages]
        try:
            ids = encode_chat(lm.tokenizer, msgs).ids
        except ChatError as exc:
            raise ApiError(400, str(exc)) from None
        if len(ids) > lim.max_prompt_tokens:
            raise ApiError(400, f"the prompt has {len(ids)} tokens; the limit is {lim.max_prompt_tokens}")
        max_new = req.max_completion_tokens or req.max_tokens or 256
        if max_new > lim.max_tokens:
            raise ApiError(400, f"max_tokens {max_new} is over the limit of {lim.max_tokens}")
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        extended = req.emoscope is not None

        def work(emit: Emit, cancelled: Any) -> None:
            gen = monitor(lm, bank, ids, max_new, layer, alerts=opts.alerts,
                          when=[(w.rule, w.steer) for w in opts.when], steer=opts.steer or None, window=opts.window,
                          do_sample=req.temperature > 0, temperature=req.temperature or 1.0, seed=req.seed)
            try:
                for step in gen:
                    if cancelled():
                        break
                    emit(step)
            finally:
                gen.close()

        loop = asyncio.get_running_loop()
        row = Row(ids, max_new, alerts=opts.alerts, when=[(w.rule, w.steer) for w in opts.when],
                  steer=opts.steer or None, do_sample=req.temperature > 0, temperature=req.temperature or 1.0,
                  seed=req.seed)
        try:
            job = engine.submit(work, loop, batch_key=(layer, opts.window), payload=(layer, row, opts.window))
        except Busy as exc:
            raise ApiError(429, str(exc), "rate_limit_error") from None

        if not req.stream:
            steps: list[Step] = []
            try:
                async for step in job.events():
                    steps.append(step)
                    if await request.is_disconnected():
                        job.cancelled.set()
            except asyncio.CancelledError:
                job.cancelled.set()
                raise
            engine.stats.tokens += len(steps)
            text = "".join(s.token for s in steps)
            finish = "stop" if steps and steps[-1].token_id in stops else "length"
            body: dict[str, Any] = {
                "id": rid, "object": "chat.completion", "created": created, "model": lm.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish}],
                "usage": {"prompt_tokens": len(ids), "completion_tokens": len(steps),
                          "total_tokens": len(ids) + len(steps)}}
            if extended:
                body["emoscope"] = {"layer": layer, "steer": opts.steer,
                                    "tokens": [token_payload(s, watch, opts.top_k) for s in steps],
                                    "events": [e.to_dict() for s in steps for e in s.events]}
            return JSONResponse(body)

        async def sse() -> AsyncIterator[str]:
            n = 0
            last: Step | None = None
            try:
                async for step in job.events():
                    n += 1
                    last = step
                    chunk: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": created,
                                             "model": lm.name, "choices": [{"index": 0, "delta": {
                                                 "content": step.token} if step.token_id not in stops else {},
                                                 "finish_reason": None}]}
                    if extended:
                        chunk["emoscope"] = {"token": token_payload(step, watch, opts.top_k),
                                             "events": [e.to_dict() for e in step.events]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                finish = "stop" if last is not None and last.token_id in stops else "length"
                end = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": lm.name,
                       "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
                yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"
            finally:  # the client went away (or we finished): free the worker at the next token
                job.cancelled.set()
                engine.stats.tokens += n

        return StreamingResponse(sse(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/read")
    async def read(req: ReadRequest) -> JSONResponse:
        from emoscope.read import read_encoded

        if (req.text is None) == (req.messages is None):
            raise ApiError(400, "give exactly one of text or messages")
        try:
            layer = bank.layers[bank.layer_index(req.layer)]
            item = encode_text(lm.tokenizer, req.text) if req.text is not None else encode_chat(
                lm.tokenizer, [m.model_dump() for m in req.messages or []])
        except (BankError, ChatError) as exc:
            raise ApiError(400, str(exc)) from None
        if len(item.ids) > lim.max_prompt_tokens:
            raise ApiError(400, f"the text has {len(item.ids)} tokens; the limit is {lim.max_prompt_tokens}")

        def work(emit: Emit, _cancelled: Any) -> None:
            emit(read_encoded(lm, bank, [item], layer, req.kind)[0])

        try:
            job = engine.submit(work, asyncio.get_running_loop())
        except Busy as exc:
            raise ApiError(429, str(exc), "rate_limit_error") from None
        reading = [r async for r in job.events()][0]
        out: dict[str, Any] = {"model": lm.name, "layer": layer, "kind": req.kind, "emotions": bank.emotions,
                               "tokens": reading.tokens, "roles": reading.roles, "turns": reading.turns,
                               "top": [reading.top(t, req.top_k) for t in range(len(reading.tokens))]}
        if req.scores:
            out["scores"] = np.round(reading.scores, 3).tolist()
        return JSONResponse(out)

    @app.get("/v1/emotions")
    async def emotions() -> JSONResponse:
        from emoscope.catalogue import load_norms

        norms = load_norms()
        return JSONResponse({"emotions": [{"emotion": e, "valence": norms.get(e, (None, None))[0],
                                           "arousal": norms.get(e, (None, None))[1]} for e in bank.emotions]})

    @app.get("/v1/banks")
    async def banks() -> JSONResponse:
        meta = bank.metadata()
        return JSONResponse({"banks": [{"model": bank.model, "emotions": len(bank.emotions), "layers": bank.layers,
                                        "default_layer": bank.default_layer, "path": str(bank_dir or ""),
                                        "metadata": meta}]})

    @app.get("/v1/bank/map")
    async def bank_map(layer: int | None = None) -> JSONResponse:
        from emoscope.core.geometry import cosine_matrix, pca

        try:
            vecs = bank.matrix(layer).astype(np.float64)
        except BankError as exc:
            raise ApiError(400, str(exc)) from None
        p = pca(vecs, 2)
        cos = cosine_matrix(vecs)
        np.fill_diagonal(cos, -np.inf)
        near = [[bank.emotions[j] for j in np.argsort(-cos[i])[:5]] for i in range(len(bank.emotions))]
        return JSONResponse({"layer": bank.layers[bank.layer_index(layer)], "emotions": bank.emotions,
                             "xy": np.round(p.scores[:, :2], 4).tolist(),
                             "explained": np.round(p.explained[:2], 4).tolist(), "nearest": near})

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "model": lm.name, "emotions": len(bank.emotions),
                             "pending": engine.pending, "uptime_seconds": round(time.time() - started, 1)})

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        s = engine.stats
        lines = ["# HELP emoscope_requests_total Requests by route and status.",
                 "# TYPE emoscope_requests_total counter"]
        lines += [f'emoscope_requests_total{{route="{r}",status="{c}"}} {n}' for (r, c), n in sorted(
            s.requests.items())]
        lines += ["# HELP emoscope_generated_tokens_total Tokens generated.",
                  "# TYPE emoscope_generated_tokens_total counter", f"emoscope_generated_tokens_total {s.tokens}",
                  "# HELP emoscope_engine_busy_seconds_total Time the model worker spent on jobs.",
                  "# TYPE emoscope_engine_busy_seconds_total counter",
                  f"emoscope_engine_busy_seconds_total {s.busy_seconds:.3f}",
                  "# HELP emoscope_jobs_total Jobs run by the model worker.", "# TYPE emoscope_jobs_total counter",
                  f"emoscope_jobs_total {s.jobs}",
                  "# HELP emoscope_batches_total Batches of several requests run together.",
                  "# TYPE emoscope_batches_total counter", f"emoscope_batches_total {s.batches}",
                  "# HELP emoscope_batched_requests_total Requests that ran in a batch.",
                  "# TYPE emoscope_batched_requests_total counter", f"emoscope_batched_requests_total {s.batched_jobs}",
                  "# HELP emoscope_pending_requests Requests waiting or running.",
                  "# TYPE emoscope_pending_requests gauge", f"emoscope_pending_requests {engine.pending}"]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        from emoscope.server.dashboard import STEERABLE, dashboard_html

        report = bank_dir is not None and (Path(bank_dir) / "validation" / "index.html").exists()
        steerable = [e for e in STEERABLE if e in bank.emotions] or bank.emotions[:5]
        alerts = ["desperate>2.0"] if "desperate" in bank.emotions else []
        return HTMLResponse(dashboard_html(lm.name, bank.default_layer, report, max_tokens=min(120, lim.max_tokens),
                                           steerable=steerable, alerts=alerts))

    @app.get("/report", response_class=HTMLResponse)
    async def report() -> HTMLResponse:
        path = Path(bank_dir) / "validation" / "index.html" if bank_dir is not None else None
        if path is None or not path.exists():
            raise ApiError(404, "no validation report beside this bank: run emoscope validate --bank DIR", "not_found")
        return HTMLResponse(path.read_text(encoding="utf-8"))

    return app
