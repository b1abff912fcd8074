"""``emoscope serve``: the OpenAI-compatible API and the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from emoscope.cli.common import Placement, guard, load_for_bank
from emoscope.cli.options import (
    AllowPickleOpt,
    BankModelOpt,
    BankOpt,
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    MaxMemoryOpt,
    OffloadOpt,
)


def serve(
    bank: BankOpt,
    model: BankModelOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind; loopback by default (use 0.0.0.0 deliberately).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    fd: Annotated[int | None, typer.Option(help="Serve on this already listening socket's file descriptor "
                                           "instead of binding --host/--port (for supervisors and tests).")
                  ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="EMOSCOPE_API_KEY", help="Require 'Authorization: Bearer "
                                                "KEY' on /v1/ routes (or set EMOSCOPE_API_KEY).")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Largest max_tokens a request may ask for.")] = 1024,
    max_prompt_tokens: Annotated[int, typer.Option(min=1, help="Longest prompt accepted, in tokens.")] = 4096,
    max_pending: Annotated[int, typer.Option(min=1, help="Requests waiting at most; more get HTTP 429.")] = 64,
    max_body_bytes: Annotated[int, typer.Option(min=1000, help="Largest request body.")] = 1_000_000,
    max_batch: Annotated[int | None, typer.Option(min=1, help="Concurrent chat requests generated together "
                                                  "(default: 8 in float32; 1 in bfloat16, where padding changes "
                                                  "some greedy replies).")] = None,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
) -> None:
    """Serve an OpenAI-compatible API with per-request steering and live emotion readings, and a dashboard at /.

    POST /v1/chat/completions (stream or not; an optional "emoscope" object: steer, monitor, alerts, when),
    POST /v1/read, GET /v1/emotions, /v1/banks, /healthz, /metrics. Example: emoscope serve --bank
    banks/smollm2-135m-instruct, then open http://127.0.0.1:8000/.
    """
    from emoscope.bank import EmotionBank, bank_dir
    from emoscope.server.app import ServerLimits, create_app

    def run() -> None:
        import uvicorn

        b = EmotionBank.load(bank)
        lm = load_for_bank(b, model, dtype, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        limits = ServerLimits(max_body_bytes=max_body_bytes, max_prompt_tokens=max_prompt_tokens,
                              max_tokens=max_tokens, max_pending=max_pending, api_key=api_key, max_batch=max_batch)
        app = create_app(lm, b, limits, bank_dir=bank_dir(bank))
        where = f"file descriptor {fd}" if fd is not None else f"http://{host}:{port}/ (dashboard)"
        typer.echo(f"emoscope serving {lm.name} on {where}, API under /v1/", err=True)
        if fd is not None:
            uvicorn.run(app, fd=fd, log_level="warning")
        else:
            uvicorn.run(app, host=host, port=port, log_level="warning")

    guard(run)
