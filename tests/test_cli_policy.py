"""The library functions that hold what used to be CLI policy: pure, fast, no model needed."""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from emoscope.backends import BackendError, choose_judge, choose_writer
from emoscope.bank import BankError, EmotionBank, record_default_layer
from emoscope.core.rules import RuleError
from emoscope.corpus.generate import HTTPBackend, LocalBackend
from emoscope.inputs import InputError, iter_texts, load_texts, read_chat_file
from emoscope.monitor_options import MonitorOptions, pair_steerings, resolve_monitor_options, watched_emotions
from emoscope.progress import Progress
from emoscope.scan_summary import highlighted_rows, scan_summary
from emoscope.selection import (
    SelectionError,
    choose_emotions,
    count_or_names,
    export_layers,
    parse_strengths,
    split_names,
)
from emoscope.validation.headline import headline

MODULES = ["emoscope.backends", "emoscope.inputs", "emoscope.monitor_options", "emoscope.scan_summary",
           "emoscope.selection", "emoscope.validation.headline", "emoscope.progress"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def _bank(emotions: list[str], layers: list[int], default: int) -> EmotionBank:
    return EmotionBank(np.zeros((len(layers), len(emotions), 4), np.float32), emotions, layers, default, "org/m",
                       "fp", {}, "")


def test_model_spec_prefers_the_request_then_the_registered_name() -> None:
    from emoscope.model.loading import resolve_model_spec

    assert resolve_model_spec(None, "google/gemma-3-270m") == "gemma3-270m"
    assert resolve_model_spec("", "org/other") == "org/other"
    assert resolve_model_spec("dir/model", "google/gemma-3-270m") == "dir/model"


def test_record_default_layer_only_changes_what_differs() -> None:
    bank = _bank(["calm"], [1, 2, 3], 2)
    choice = {"rule": "r", "chosen": 3, "chosen_score": 0.9, "runner_up": 2, "extra": "dropped"}
    assert record_default_layer(bank, choice) is True
    assert bank.default_layer == 3 and bank.default_layer_rule["chosen_score"] == 0.9
    assert "extra" not in bank.default_layer_rule and bank.default_layer_rule["runner_up_top1"] is None
    assert record_default_layer(bank, choice) is False
    fresh = _bank(["calm"], [1, 2], 2)
    assert record_default_layer(fresh, {"chosen": 2}) is True  # same layer, but no rule recorded yet
    with pytest.raises(BankError):
        record_default_layer(fresh, {"chosen": 7})


def test_steerings_pair_with_rules_in_order() -> None:
    assert pair_steerings(["a>1", "b<0"], ["calm=1", "happy=1"]) == ([("a>1", "calm=1"), ("b<0", "happy=1")], None)
    assert pair_steerings([], []) == ([], None)
    with pytest.raises(RuleError, match="give one --steer \\(or pair"):
        pair_steerings([], ["calm=1", "happy=1"])
    with pytest.raises(RuleError, match="2 --when, 1 --steer"):
        pair_steerings(["a>1", "b>1"], ["calm=1"])


def test_watched_emotions_rules_first_then_defaults_up_to_four() -> None:
    names = ["afraid", "calm", "desperate", "happy", "sad"]
    assert watched_emotions(["sad", "afraid"], names) == ["sad", "afraid", "desperate", "calm"]
    assert watched_emotions([], ["sad"]) == []
    assert watched_emotions(["sad"], names, asked=[]) == []


def test_resolve_monitor_options_checks_against_the_bank() -> None:
    bank = _bank(["afraid", "calm", "happy"], [0], 0)
    opts = resolve_monitor_options(bank, ["calm>-1@1"], ["afraid>2"], ["happy=+0.1"])
    assert opts == MonitorOptions(["calm>-1@1"], [("afraid>2", "happy=+0.1")], None, ["calm", "afraid", "happy"])
    assert opts.monitored() and not resolve_monitor_options(bank, steer=["calm=1"]).monitored()
    assert resolve_monitor_options(bank, steer=["calm=1"]).steer == "calm=1"
    with pytest.raises(RuleError, match="EMOTION>VALUE"):
        resolve_monitor_options(bank, ["calm"])
    with pytest.raises(BankError, match="unknown emotion"):
        resolve_monitor_options(bank, watch=["serene"])
    with pytest.raises(ValueError, match="unknown emotion"):
        resolve_monitor_options(bank, when=["calm>1"], steer=["serene=1"])


def test_selection_helpers() -> None:
    assert split_names(" a ,, b ") == ["a", "b"] and split_names(None) is None
    assert parse_strengths("-0.1, 0") == [-0.1, 0.0]
    with pytest.raises(SelectionError, match="numbers separated by commas"):
        parse_strengths("a,b")
    with pytest.raises(SelectionError, match="is empty"):
        parse_strengths(" , ")
    assert choose_emotions("3", seed=2) == choose_emotions("3", seed=2) and len(choose_emotions("3")) == 3
    with pytest.raises(SelectionError, match="unknown emotions \\['glum'\\]"):
        choose_emotions("calm,glum")
    assert count_or_names(" 4 ") == 4 and count_or_names("calm") == ["calm"]
    bank = _bank(["calm"], [0, 1, 2], 2)
    assert export_layers(bank, "all") == [1, 2] and export_layers(bank, "2") == [2]
    with pytest.raises(ValueError, match="layer 5 does not exist"):
        export_layers(bank, "5")
    with pytest.raises(BankError):
        export_layers(_bank(["calm"], [0, 2], 2), "1")


def test_inputs(tmp_path: Path) -> None:
    chat = tmp_path / "c.json"
    chat.write_text(json.dumps([{"role": "user", "content": "x"}]))
    assert read_chat_file(chat) == [{"role": "user", "content": "x"}]
    with pytest.raises(InputError, match="cannot read --chat"):
        read_chat_file(tmp_path / "missing.json")
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"body": "a", "id": 7}\n\n{"body": " "}\n')
    with pytest.raises(InputError, match=":3: each line needs a non-empty \"body\" string \\(or choose --field\\)"):
        list(iter_texts(texts, "body", " (or choose --field)"))
    assert next(iter_texts(texts, "body")) == ("7", "a")
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="has no texts"):
        load_texts(empty)


def test_scan_summary_picks_the_highest_peaks() -> None:
    rows = [{"emotion": e, "max": m, "counts": [1]} for e, m in (("a", 1.0), ("b", None), ("c", 5.0), ("d", 2.0))]
    assert [r["emotion"] for r in highlighted_rows(rows, n=3)] == ["c", "d", "a"]
    assert [r["emotion"] for r in highlighted_rows(rows, ["d", "a"])] == ["a", "d"]
    data = {"texts": 1, "tokens": 2, "truncated_texts": 0, "layer": 1, "emotions": rows}
    summary = scan_summary(data, Path("o"), "z")
    assert summary["out"] == "o" and all("counts" not in r for r in summary["emotions"])


def test_backend_choice() -> None:
    loaded: list[str] = []

    def load(spec: str) -> str:
        loaded.append(spec)
        return spec

    assert choose_judge(None, "m", load) is None
    assert isinstance(choose_judge("http://h:1", "m", load), HTTPBackend) and loaded == []
    assert isinstance(choose_judge("tiny", "m", load), LocalBackend) and loaded == ["tiny"]
    writer = choose_writer(None, "http://h:1", "m", "key", load)
    assert isinstance(writer, HTTPBackend) and writer.api_key == "key"
    assert isinstance(choose_writer("tiny", None, "m", None, load), LocalBackend)
    with pytest.raises(BackendError, match="exactly one of --model"):
        choose_writer("tiny", "http://h:1", "m", None, load)


def test_validation_headline() -> None:
    m = {"default_layer": {"chosen": 2}, "seconds": 3.0, "heldout": {
        "default_layer": {"top1": 0.5, "top5": 0.8, "chance_top1": 0.1}, "lexical_baseline": {"top1": 0.3}}}
    h = headline(m, Path("r.html"), Path("m.json"), recorded=True)
    assert h == {"report": "r.html", "metrics": "m.json", "default_layer": 2, "default_layer_recorded": True,
                 "heldout_top1": 0.5, "heldout_top5": 0.8, "chance_top1": 0.1, "lexical_top1": 0.3, "seconds": 3.0}


def test_generation_reports_progress_with_a_tally(tmp_path: Path) -> None:
    from emoscope.corpus.generate import GenerationTally, generate_corpus

    class Silent:
        name = "silent"

        def complete(self, *_: object) -> str:
            return "nothing numbered"

    tally = GenerationTally()
    events = list(generate_corpus(Silent(), tmp_path / "g", ["calm"], n_topics=2, stories_per_topic=2, tally=tally))
    assert all(isinstance(e, Progress) and e.stage == "requests" and e.total == 2 for e in events)
    assert [e.done for e in events] == [1, 2] and events[0].note.endswith(": +0 kept, 1 rejected")
    assert tally.accepted == 0 and tally.rejected == 2 and [o.kind for o in tally.outcomes] == ["story", "story"]
    again = list(generate_corpus(Silent(), tmp_path / "g", ["calm"], n_topics=2, stories_per_topic=2))
    assert all(e.cached and e.note.endswith("already done") for e in again)


def test_the_cli_drawer_logs_notes_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from emoscope.cli.common import Drawer

    with Drawer(log_notes=True) as draw:
        assert not draw.enabled  # pytest's stderr is not a terminal: no bar
        draw(Progress("requests", 1, 2, note="story|calm|t1: +2 kept, 0 rejected"))
        draw(Progress("texts", 5, 0, tokens=40))  # an unknown total is fine
    with Drawer(quiet=True, log_notes=True) as draw:
        draw(Progress("requests", 2, 2, note="never shown"))
    captured = capsys.readouterr()
    assert captured.err == "[1/2] story|calm|t1: +2 kept, 0 rejected\n" and captured.out == ""
