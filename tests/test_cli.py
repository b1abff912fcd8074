from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoscope.cli import app

runner = CliRunner()


def _extract(model_dir: Path, corpus: Path, out: Path, *extra: str) -> object:
    return runner.invoke(app, ["extract", "--model", str(model_dir), "--corpus", str(corpus), "--out", str(out),
                               "--token-skip", "5", "--batch-size", "4", "--dtype", "float32", *extra])


@pytest.fixture()
def bank_dir(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path) -> Path:
    res = _extract(tiny_model_dir, tiny_corpus, tmp_path / "bank", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["emotions"] == 3 and summary["layers"] == 4 and summary["stories"] == 9
    return tmp_path / "bank"


def test_read_json_format(bank_dir: Path) -> None:
    res = runner.invoke(app, ["read", "--bank", str(bank_dir), "--text", "the quiet harbour", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["emotions"] == ["afraid", "calm", "happy"] and out["layer"] == 3
    item = out["items"][0]
    assert len(item["tokens"]) == len(item["offsets"]) == len(item["scores"]) and len(item["scores"][0]) == 3


def test_read_chat_and_file(bank_dir: Path, tmp_path: Path) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps([{"role": "user", "content": "the water"}]))
    res = runner.invoke(app, ["read", "--bank", str(bank_dir), "--chat", str(chat), "--json", "--layer", "1"])
    assert res.exit_code == 0, res.output
    item = json.loads(res.output)["items"][0]
    assert item["roles"][-1] == "assistant" and item["tokens"][-1] == "<|assistant|>"
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"text": "the water"}\n{"text": "he laughed"}\n')
    res = runner.invoke(app, ["read", "--bank", str(bank_dir), "--file", str(texts), "--json"])
    assert len(json.loads(res.output)["items"]) == 2


def _one_line_error(res: object, fragment: str) -> None:
    assert res.exit_code == 2, res.output  # type: ignore[attr-defined]
    lines = [ln for ln in res.output.strip().splitlines() if ln]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


def test_bad_inputs_give_one_line_and_write_nothing(tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path,
                                                    bank_dir: Path) -> None:
    out = tmp_path / "never"
    _one_line_error(_extract(tmp_path / "no-such-model", tiny_corpus, out), "cannot load model")
    _one_line_error(_extract(tiny_model_dir, tmp_path / "no-corpus", out), "does not exist")
    _one_line_error(_extract(tiny_model_dir, tiny_corpus, out, "--layers", "7"), "layer 7 does not exist")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "stories.jsonl").write_text("{oops\n")
    (broken / "neutral_dialogues.jsonl").write_text("")
    _one_line_error(_extract(tiny_model_dir, broken, out), "not valid JSON")
    _one_line_error(_extract(tiny_model_dir, tiny_corpus, out, "--center", "frames"), "--center must be one of")
    assert not out.exists()
    read = ["read", "--bank", str(bank_dir)]
    _one_line_error(runner.invoke(app, [*read, "--text", ""]), "--text is empty")
    _one_line_error(runner.invoke(app, [*read, "--text", "x", "--layer", "12"]), "layer 12 is not in this bank")
    _one_line_error(runner.invoke(app, ["read", "--bank", str(tmp_path / "nobank"), "--text", "x"]), "no bank at")
    from helpers import save_tiny_model

    other = save_tiny_model(tmp_path / "other-model", seed=5)
    _one_line_error(runner.invoke(app, [*read, "--text", "x", "--model", str(other)]), "extract a bank for this")
    ok = runner.invoke(app, [*read, "--text", "x", "--model", str(other), "--allow-model-mismatch", "--json"])
    assert ok.exit_code == 0


def test_help_explains_commands() -> None:
    res = runner.invoke(app, ["extract", "--help"])
    assert res.exit_code == 0 and "Resumable" in res.output


def test_emotions_lists_the_171_words_with_ratings_as_json() -> None:
    import json

    from typer.testing import CliRunner

    from emoscope.cli import app

    r = CliRunner().invoke(app, ["emotions", "--json"])
    rows = json.loads(r.output)
    assert r.exit_code == 0 and len(rows) == 171 and rows[0]["emotion"] == "afraid" and "valence" in rows[0]
