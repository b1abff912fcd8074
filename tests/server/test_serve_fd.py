"""`emoscope serve --fd N` in a subprocess, on a loopback socket the test holds from the start: it answers on that
socket, replies as a direct generation does, and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

from helpers import SERVER_MSGS, random_bank, reference_reply, serve_subprocess


def test_serve_on_a_held_socket(tiny_model_dir: Path, tmp_path: Path) -> None:
    from emoscope.model.loading import load_model

    lm = load_model(str(tiny_model_dir), dtype="float32")
    bank = random_bank(lm)
    bank.save(tmp_path / "bank")
    args = ["--bank", str(tmp_path / "bank"), "--model", str(tiny_model_dir), "--dtype", "float32"]
    with serve_subprocess(args, deadline_s=120) as (base, proc):
        req = urllib.request.Request(base + "/v1/chat/completions", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"messages": SERVER_MSGS, "max_tokens": 12}).encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            body = json.loads(r.read())
        assert body["choices"][0]["message"]["content"] == reference_reply(lm, bank, None)
    # stopped by the SIGTERM sent when the block ended (uvicorn shuts down, then re-raises the signal), not killed
    assert proc.returncode in (0, -signal.SIGTERM)
