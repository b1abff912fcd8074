"""The read, generate and chat commands on a tiny model and bank (the CLI as a user meets it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from browser import page
from emoscope.cli import app

runner = CliRunner()


@pytest.fixture()
def bank_dir(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path) -> Path:
    res = runner.invoke(app, ["extract", "--model", str(tiny_model_dir), "--corpus", str(tiny_corpus), "--out",
                              str(tmp_path / "bank"), "--token-skip", "5", "--batch-size", "4", "--dtype", "float32",
                              "--json"])
    assert res.exit_code == 0, res.output
    return tmp_path / "bank"


@pytest.fixture()
def chat_file(tmp_path: Path) -> Path:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"messages": [
        {"role": "user", "content": "she counted boats and waited for news"},
        {"role": "assistant", "content": "he laughed at the window then slammed the door"},
        {"role": "user", "content": "nothing moved in the kitchen"}]}), encoding="utf-8")
    return path


def test_read_chat_views_and_html(bank_dir: Path, chat_file: Path, tmp_path: Path) -> None:
    base = ["read", "--bank", str(bank_dir), "--chat", str(chat_file), "--dtype", "float32"]
    res = runner.invoke(app, [*base, "--json", "--roles", "assistant", "--per-turn", "max", "--top", "2"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    item = data["items"][0]
    assert data["roles"] == ["assistant"] and len(item["turns"]) == len(item["tokens"])
    assert [t["role"] for t in item["per_turn"]] == ["assistant", "assistant"]  # the reply and the generation prompt
    assert all(len(t["top"]) == 2 for t in item["per_turn"])
    res = runner.invoke(app, [*base, "--emotion", "calm"])
    assert res.exit_code == 0, res.output
    assert "calm at layer" in res.output and "per turn (mean over tokens)" in res.output
    assert "nothing moved in the kitchen" in res.output
    res = runner.invoke(app, [*base, "--view", "tokens", "--watch", "afraid", "--roles", "user"])
    assert res.exit_code == 0 and "afraid" in res.output.splitlines()[0]
    html = tmp_path / "out" / "reading.html"
    html.parent.mkdir()
    res = runner.invoke(app, [*base, "--html", str(html), "--watch", "calm,happy"])
    assert res.exit_code == 0, res.output
    with page(html) as pg:
        assert len(pg.query_selector_all("#text .tok")) == len(item["tokens"])
        assert [p.get_attribute("data-emotion") for p in pg.query_selector_all("#plot path.line")] == ["calm", "happy"]
        assert [h.inner_text() for h in pg.query_selector_all("#text .turn")] == ["USER", "ASSISTANT", "USER",
                                                                                   "ASSISTANT"]


@pytest.mark.parametrize("args,says", [
    (["--roles", "robot"], "unknown role 'robot'"),
    (["--view", "grid"], "--view must be text or tokens"),
    (["--per-turn", "median"], "--per-turn must be one of"),
    (["--emotion", "serene-ish"], "unknown emotion"),
])
def test_read_errors_are_one_line(bank_dir: Path, chat_file: Path, args: list[str], says: str) -> None:
    res = runner.invoke(app, ["read", "--bank", str(bank_dir), "--chat", str(chat_file), *args])
    assert res.exit_code == 2 and says in res.output and len(res.output.strip().splitlines()) == 1


def test_generate_monitor_json_lines(bank_dir: Path) -> None:
    base = ["generate", "--bank", str(bank_dir), "--prompt", "the lamp", "--dtype", "float32",
            "--max-new-tokens", "6"]
    plain = runner.invoke(app, [*base, "--json"])
    assert plain.exit_code == 0, plain.output
    res = runner.invoke(app, [*base, "--json", "--alert", "calm>-100@1", "--when", "afraid>-100@1", "--steer",
                              "happy=+0.0"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.strip().splitlines()]
    tokens = [x for x in lines if x["type"] == "token"]
    events = [x for x in lines if x["type"] == "event"]
    done = lines[-1]
    assert done["type"] == "done" and done["tokens"] == len(tokens) >= 1
    assert done["text"] == json.loads(plain.output)["text"]  # a zero steering and monitoring change nothing
    assert {(e["action"], e["change"], e["step"]) for e in events} == {("alert", "start", 0), ("steer", "start", 0)}
    assert list(tokens[0]["watch"]) == ["calm", "afraid", "happy"]  # the rules' emotions first, then defaults
    assert tokens[0]["steering"] == {} and all(t["steering"] == {"happy": 0.0} for t in tokens[1:])


def test_generate_lines_view_and_html(bank_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["generate", "--bank", str(bank_dir), "--prompt", "the lamp", "--dtype", "float32",
                              "--max-new-tokens", "5", "--monitor", "--watch", "calm,afraid", "--html",
                              str(tmp_path / "g.html")])
    assert res.exit_code == 0, res.output
    assert "calm" in res.output.splitlines()[0] and "--- reply" in res.output and "HTML view" in res.output
    assert (tmp_path / "g.html").read_text(encoding="utf-8").startswith("<!doctype html>")


@pytest.mark.parametrize("args,says", [
    (["--alert", "calm"], "EMOTION>VALUE"),
    (["--alert", "serene-ish>1"], "unknown emotion"),
    (["--when", "calm>1"], "one --steer per --when"),
    (["--steer", "calm=+1", "--steer", "afraid=+1"], "give one --steer"),
])
def test_generate_rule_errors_are_one_line(bank_dir: Path, args: list[str], says: str) -> None:
    res = runner.invoke(app, ["generate", "--bank", str(bank_dir), "--prompt", "x", *args])
    assert res.exit_code == 2 and says in res.output and len(res.output.strip().splitlines()) == 1


def test_chat_streams_fires_alerts_and_saves_a_transcript(bank_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    res = runner.invoke(app, ["chat", "--bank", str(bank_dir), "--dtype", "float32", "--max-new-tokens", "4",
                              "--alert", "calm>-100@1", "--transcript", str(out)],
                        input="the lamp\n/reset\nthe door\n/quit\n")
    assert res.exit_code == 0, res.output
    assert res.output.count("alert started: calm>-100@1 at token 0") == 2
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert [m["role"] for m in saved["messages"]] == ["user", "assistant"]  # /reset dropped the first exchange
    assert saved["messages"][0]["content"] == "the door" and saved["events"][0]["events"][0]["action"] == "alert"
