"""The tests' shared helpers (test modules import from here, never from each other): tiny randomly initialised
models, a tiny tokenizer, a tiny corpus and a random bank (no downloads, seconds to build), the reference reply
the server must reproduce, and servers on a loopback socket the test holds from the start (no free-port race)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emoscope.bank import EmotionBank

WORDS = ("the quiet harbour light fell across the water while she counted boats and waited for news "
         "he laughed at the window then slammed the door and ran down the stairs shouting her name "
         "nothing moved in the kitchen except the clock and the slow drip of the tap into the sink").split()
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def make_tokenizer(chat_template: str | None = CHAT_TEMPLATE) -> Any:
    """A byte-level BPE tokenizer trained on a few sentences (vocab under 400)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<eos>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
    trainer = trainers.BpeTrainer(vocab_size=380, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([" ".join(WORDS)] * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    if chat_template:
        fast.chat_template = chat_template
    return fast


def make_model(arch: str = "llama", n_layers: int = 4, seed: int = 0) -> Any:
    """A tiny random causal LM of one architecture family."""
    from transformers import (
        AutoModelForCausalLM,
        Gemma3TextConfig,
        GPT2Config,
        GPTNeoXConfig,
        LlamaConfig,
        MistralConfig,
        Phi3Config,
        Qwen2Config,
    )

    common: dict[str, Any] = {"vocab_size": 400, "num_hidden_layers": n_layers, "hidden_size": 32,
                              "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
                              "max_position_embeddings": 512, "pad_token_id": 0, "bos_token_id": 1,
                              "eos_token_id": 1}
    configs: dict[str, Any] = {
        "llama": lambda: LlamaConfig(**common),
        "mistral": lambda: MistralConfig(**common),
        "qwen2": lambda: Qwen2Config(**common),
        "phi3": lambda: Phi3Config(**common),
        "gemma3": lambda: Gemma3TextConfig(**common, head_dim=8, sliding_window=16),
        "gpt2": lambda: GPT2Config(vocab_size=400, n_layer=n_layers, n_embd=32, n_head=4, n_positions=512,
                                   bos_token_id=1, eos_token_id=1),
        "gpt_neox": lambda: GPTNeoXConfig(vocab_size=400, num_hidden_layers=n_layers, hidden_size=32,
                                          intermediate_size=64, num_attention_heads=4,
                                          max_position_embeddings=512, bos_token_id=1, eos_token_id=1),
    }
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(configs[arch]())
    model.eval()
    return model


def save_tiny_model(path: Path, arch: str = "llama", seed: int = 0) -> Path:
    """A tiny model and tokenizer saved as a Hugging Face directory (loadable with emoscope.load_model)."""
    make_model(arch, seed=seed).save_pretrained(str(path))
    make_tokenizer().save_pretrained(str(path))
    return path


def write_tiny_corpus(root: Path, emotions: tuple[str, ...] = ("calm", "afraid", "happy"), per: int = 4,
                      n_dialogues: int = 6) -> Path:
    """A corpus directory in the shipped format: ``per`` stories per emotion, one held-out topic per emotion."""
    import random

    rng = random.Random(0)
    root.mkdir(parents=True, exist_ok=True)
    topics = [{"id": f"t{i:03d}", "text": f"premise {i}"} for i in range(per)]
    stories = []
    for e in emotions:
        for k in range(per):
            words = [rng.choice(WORDS) for _ in range(40 + 5 * k)]
            stories.append({"id": f"{e}-{k}", "emotion": e, "topic_id": f"t{k:03d}",
                            "person": "first" if k % 2 else "third", "text": f"{e} " + " ".join(words)})
    dialogues = []
    for i in range(n_dialogues):
        q = " ".join(rng.choice(WORDS) for _ in range(8))
        a = " ".join(rng.choice(WORDS) for _ in range(12))
        dialogues.append({"id": f"n{i}", "kind": "fact", "topic_id": None, "system": None,
                          "turns": [{"role": "human", "text": q}, {"role": "assistant", "text": a}]})
    (root / "topics.jsonl").write_text("".join(json.dumps(t) + "\n" for t in topics))
    (root / "stories.jsonl").write_text("".join(json.dumps(s) + "\n" for s in stories))
    (root / "neutral_dialogues.jsonl").write_text("".join(json.dumps(d) + "\n" for d in dialogues))
    (root / "split.json").write_text(json.dumps({"heldout_topics": [f"t{per - 1:03d}"]}))
    return root


def cli_extract(model_dir: Path, corpus: Path, out: Path) -> None:
    """Build a bank with the CLI (float32, small batches), as a user would."""
    from typer.testing import CliRunner

    from emoscope.cli import app

    r = CliRunner().invoke(app, ["extract", "--model", str(model_dir), "--corpus", str(corpus), "--out", str(out),
                                 "--batch-size", "4", "--dtype", "float32"])
    assert r.exit_code == 0, r.output


def random_bank(lm: Any, n: int = 6, seed: int = 0) -> EmotionBank:
    """A bank of random unit vectors at every layer, stamped with the model's fingerprint."""
    rng = np.random.default_rng(seed)
    L, D = lm.n_layers, lm.d_model
    v = rng.normal(size=(L, n, D)).astype(np.float32)
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    stats = {"neutral_mean": rng.normal(size=(L, n)).astype(np.float32),
             "neutral_std": (0.5 + rng.random((L, n))).astype(np.float32),
             "mean_residual_norm": np.full(L, 3.0, dtype=np.float32)}
    return EmotionBank(vectors=v, emotions=["calm", "afraid", "happy", "desperate", "sad", "angry"][:n],
                       layers=list(range(L)), default_layer=L - 2, model=lm.name, model_fingerprint=lm.fingerprint,
                       recipe={}, corpus_sha256="", stats=stats)


SERVER_MSGS = [{"role": "user", "content": "the quiet harbour light"}]


def reference_reply(lm: Any, bank: Any, spec: dict[str, float] | None, n: int = 12,
                    messages: list[dict[str, str]] = SERVER_MSGS) -> str:
    """The greedy reply to ``messages`` generated directly (steered by ``spec`` if given): what the server must
    answer to the same request."""
    from emoscope.model.chat import encode_chat
    from emoscope.model.generate import generate
    from emoscope.steering import steer

    ids = encode_chat(lm.tokenizer, messages).ids
    if spec:
        with steer(lm, bank, spec):
            out = generate(lm, [ids], n)[0]
    else:
        out = generate(lm, [ids], n)[0]
    return str(lm.tokenizer.decode(out, skip_special_tokens=True))


def held_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port and already listening. The test keeps it from the start and hands
    it to the server, so no other process can take the port in between (as with bind-to-0, close, rebind)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def wait_healthy(base: str, deadline_s: float, check_alive: Callable[[], None]) -> None:
    """Poll ``base``/healthz until it answers 200, for at most ``deadline_s`` seconds.

    The socket already listens, so a request waits in its backlog until the server accepts it; between attempts
    ``check_alive`` raises (with the server's own words) if the server died.
    """
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while (left := end - time.monotonic()) > 0:
        check_alive()
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=min(2.0, left)) as r:
                if r.status == 200:
                    return
        except OSError as exc:  # not ready yet (timed out in the backlog, or an early error status)
            last = exc
            time.sleep(0.05)
    check_alive()
    raise AssertionError(f"{base}/healthz did not answer within {deadline_s:.0f} s (last error: {last!r})")


@contextmanager
def uvicorn_thread(app: Any, deadline_s: float = 60) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a held loopback socket; yields its base URL once /healthz answers,
    and stops the server (the thread must end) on exit."""
    import uvicorn

    sock = held_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def check_alive() -> None:
        assert thread.is_alive(), "the uvicorn thread ended before the server answered"

    try:
        thread.start()
        wait_healthy(base, deadline_s, check_alive)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "the uvicorn thread did not stop within 30 s"


@contextmanager
def serve_subprocess(args: list[str], deadline_s: float = 600) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``emoscope serve ARGS --fd N`` in a subprocess, on a held loopback socket passed down as descriptor N;
    yields the base URL and the process once /healthz answers, then terminates it (killing it after 30 s)."""
    exe = str(Path(sys.executable).with_name("emoscope"))
    with held_socket() as sock, tempfile.TemporaryFile() as err:
        fd = sock.fileno()
        proc = subprocess.Popen([exe, "serve", *args, "--fd", str(fd)], pass_fds=[fd], stdout=subprocess.DEVNULL,
                                stderr=err)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"

        def check_alive() -> None:
            if proc.poll() is not None:
                err.seek(0)
                raise AssertionError(f"emoscope serve exited with {proc.returncode}: "
                                     f"{err.read().decode(errors='replace')[-2000:]}")

        try:
            wait_healthy(base, deadline_s, check_alive)
            yield base, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
                raise AssertionError("emoscope serve did not stop within 30 s of SIGTERM") from None
