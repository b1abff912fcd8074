"""The generator end to end: a real HTTP server on loopback, and a tiny local model."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emoscope.cli import app
from emoscope.corpus import Corpus
from emoscope.corpus.generate import (
    GenerationError,
    GenerationTally,
    HTTPBackend,
    LocalBackend,
    generate_corpus,
    parse_dialogue,
    split_numbered,
)
from emoscope.corpus.validate import validate_path

DIALOGUE = ("Person: What is the boiling point of water at sea level in Celsius?\n"
            "AI: It is 100 degrees Celsius at standard atmospheric pressure.")


class _Writer(BaseHTTPRequestHandler):
    """A stand-in language model behind a real OpenAI-style HTTP API: it answers story requests with shipped
    stories of the requested emotion (one of them deliberately naming its emotion, to be rejected)."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        prompt = body["messages"][-1]["content"]
        m = re.search(r"a character feels (.+?)\. Rules", prompt)
        if m:
            emotion = m.group(1)
            k = [t.text for t in Corpus.load().topics].index(prompt.split("premise: ")[1].split("\n")[0])
            texts = [s.text for s in Corpus.load().stories if s.emotion == emotion][2 * k : 2 * k + 2]
            texts.append(f"I was {emotion}. " * 30)
            reply = "\n".join(f"[story {i + 1}]\n{t}" for i, t in enumerate(texts))
        else:
            reply = f"[dialogue 1]\n{DIALOGUE}\n[dialogue 2]\nPerson: Great question!\nAI: Thanks, I love it!"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    _Writer.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Writer)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_generation_writes_a_valid_corpus_and_resumes(server: str, tmp_path: Path) -> None:
    out = tmp_path / "gen"
    backend = HTTPBackend(server, model="writer")
    events = list(generate_corpus(backend, out, ["calm", "afraid"], n_topics=2, stories_per_topic=3,
                                  dialogues_per_topic=2, dialogue_kinds=("fact",)))
    assert len(events) == 6 and not any(e.cached for e in events)
    assert _Writer.requests[0]["model"] == "writer"
    assert 'Never use the word "calm"' in _Writer.requests[0]["messages"][0]["content"]
    stories = [json.loads(x) for x in (out / "stories.jsonl").read_text().splitlines()]
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert len(stories) == 2 * 2 * 2  # the two shipped stories per request pass; the third is rejected
    assert any("names its emotion" in r["reason"] for r in rejects)
    assert any("not neutral" in r["reason"] for r in rejects)
    findings = validate_path(out / "stories.jsonl", min_per_emotion=4, max_per_topic=None)
    assert [f.line() for f in findings if f.level == "error"] == []
    assert validate_path(out / "neutral_dialogues.jsonl") == []
    n_requests = len(_Writer.requests)
    again = list(generate_corpus(backend, out, ["calm", "afraid"], n_topics=2, stories_per_topic=3,
                                 dialogues_per_topic=2, dialogue_kinds=("fact",)))
    assert all(e.cached for e in again) and len(_Writer.requests) == n_requests
    assert Corpus.load(out).emotions() == ["afraid", "calm"]


def test_interrupted_file_is_repaired_on_resume(server: str, tmp_path: Path) -> None:
    out = tmp_path / "gen"
    backend = HTTPBackend(server)
    list(generate_corpus(backend, out, ["calm"], n_topics=1, stories_per_topic=2))
    with (out / "stories.jsonl").open("a") as fh:
        fh.write('{"id": "torn')  # a crash mid-write
    list(generate_corpus(backend, out, ["calm"], n_topics=2, stories_per_topic=2))
    lines = (out / "stories.jsonl").read_text().splitlines()
    assert all(json.loads(x) for x in lines) and len(lines) == 4


def test_cli_generate_with_endpoint_and_unreachable(server: str, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["corpus", "generate", "--out", str(tmp_path / "g"), "--endpoint", server,
                              "--emotions", "calm", "--topics", "1", "--stories-per-topic", "3"])
    assert res.exit_code == 0, res.output
    assert "2 items kept, 1 rejected" in res.output
    res = runner.invoke(app, ["corpus", "generate", "--out", str(tmp_path / "g"), "--endpoint", server,
                              "--emotions", "calm", "--topics", "1", "--stories-per-topic", "3", "--json"])
    lines = [json.loads(x) for x in res.output.strip().splitlines()]
    assert res.exit_code == 0 and lines[0]["skipped"] and lines[-1]["accepted"] == 0  # resumed: nothing to do
    res = runner.invoke(app, ["corpus", "generate", "--out", str(tmp_path / "h"), "--endpoint",
                              "http://127.0.0.1:9", "--emotions", "calm", "--topics", "1"])
    assert res.exit_code == 2 and "cannot reach" in res.output
    res = runner.invoke(app, ["corpus", "generate", "--out", str(tmp_path / "h"), "--endpoint", server,
                              "--emotions", "glum"])
    assert res.exit_code == 2 and "unknown emotions" in res.output


def test_local_tiny_model_runs_end_to_end(llama_lm: Any, tmp_path: Path) -> None:
    tally = GenerationTally()
    list(generate_corpus(LocalBackend(llama_lm), tmp_path / "g", ["calm"], n_topics=1, stories_per_topic=2,
                         dialogues_per_topic=1, dialogue_kinds=("code",), max_tokens=20, tally=tally))
    assert [o.kind for o in tally.outcomes] == ["story", "dialogue"]
    rejects = (tmp_path / "g" / "rejects.jsonl").read_text()
    assert "no [story N] items" in rejects  # random weights write no stories; the reject says why
    assert list(generate_corpus(LocalBackend(llama_lm), tmp_path / "g", ["calm"], n_topics=1,
                                stories_per_topic=2, dialogues_per_topic=1, dialogue_kinds=("code",),
                                max_tokens=20))[0].cached


def test_parsers() -> None:
    assert split_numbered("[story 1]\nA b.\n\n[Story 2]:\nC d.", "story") == ["A b.", "C d."]
    turns = parse_dialogue("Person: hi\nAI: one\ntwo\n**Human**: next")
    assert [(t.role, t.text) for t in turns] == [("human", "hi"), ("assistant", "one\ntwo"), ("human", "next")]
    with pytest.raises(GenerationError, match="cannot reach"):
        HTTPBackend("http://127.0.0.1:9", timeout=2).complete([{"role": "user", "content": "x"}], 5, 0.0, 0)
