"""Turn summaries, alert rules over sliding windows, and bounded-memory top-k and histograms (pure NumPy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emoscope.core.aggregate import colour_scale, top_emotions, turn_summary
from emoscope.core.rules import Rule, RuleError, RuleWatch, parse_rule
from emoscope.core.streaming import Histogram, TopK

finite = st.floats(-50, 50, allow_nan=False)


def test_turn_summary_mean_max_and_keep() -> None:
    s = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, -1.0], [7.0, 4.0]])
    out = turn_summary(s, [0, 0, 1, 1], "max", keep=[True, False, True, True])
    assert out[0].tolist() == [1.0, 0.0] and out[1].tolist() == [7.0, 4.0]
    assert list(turn_summary(s, [0, 0, 1, 1], "mean", keep=[False, False, True, True])) == [1]
    with pytest.raises(ValueError, match="aggregation"):
        turn_summary(s, [0, 0, 1, 1], "median")


def test_top_emotions_and_colour_scale() -> None:
    assert [e for e, _ in top_emotions(np.array([0.2, 0.5, 0.1]), ["a", "b", "c"], 2)] == ["b", "a"]
    v = np.linspace(-10, 1, 1001)
    assert colour_scale(v) == pytest.approx(np.percentile(np.abs(v), 99))
    assert colour_scale(np.zeros(3)) > 0 and colour_scale(np.array([])) == 1.0


@pytest.mark.parametrize("text,want", [
    ("desperate>2.0", Rule("desperate", ">", 2.0, 8)),
    (" calm <= -1.5 @ 16", Rule("calm", "<=", -1.5, 16)),
    ("worn out>.5@1", Rule("worn out", ">", 0.5, 1)),
    ("self-critical>=3", Rule("self-critical", ">=", 3.0, 8)),
])
def test_parse_rule(text: str, want: Rule) -> None:
    assert parse_rule(text) == want


@pytest.mark.parametrize("bad,says", [("desperate", "EMOTION>VALUE"), ("desperate>>2", "EMOTION>VALUE"),
                                      (">2", "EMOTION>VALUE"), ("desperate=2", "EMOTION>VALUE"),
                                      ("desperate>2@0", "at least 1 token")])
def test_parse_rule_refuses_with_the_form(bad: str, says: str) -> None:
    with pytest.raises(RuleError, match=says):
        parse_rule(bad)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40), st.integers(1, 6), finite)
def test_rule_watch_follows_the_window_mean(values: list[float], window: int, threshold: float) -> None:
    watch = RuleWatch(Rule("x", ">", threshold, window))
    changes = []
    for i, v in enumerate(values):
        change = watch.update(v)
        recent = values[max(0, i + 1 - window): i + 1]
        assert watch.active == (np.mean(recent) > threshold)
        if change:
            changes.append(change)
    # changes alternate, beginning with a start
    assert all(c == ("start" if k % 2 == 0 else "stop") for k, c in enumerate(changes))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=50), st.integers(1, 5))
def test_topk_keeps_the_k_largest(rows: list[list[float]], k: int) -> None:
    top: TopK[int] = TopK(k, 3)
    for i, r in enumerate(rows):
        top.offer(np.array(r), i)
    arr = np.array(rows)
    for e in range(3):
        got = [v for v, _ in top.best(e)]
        assert got == sorted(arr[:, e].tolist(), reverse=True)[:k]
        assert all(arr[key, e] == v for v, key in top.best(e))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(finite, min_size=2, max_size=2), min_size=1, max_size=80))
def test_histogram_counts_every_value_once(rows: list[list[float]]) -> None:
    h = Histogram(-5.0, 5.0, bins=7)
    arr = np.array(rows)
    h.add(arr[: len(arr) // 2 + 1])
    h.add(arr[len(arr) // 2 + 1:]) if len(arr) > 1 else None
    assert h.n == len(arr) and h.counts.sum(0).tolist() == [len(arr)] * 2
    assert np.allclose(h.mean(), arr.mean(0)) and np.allclose(h.std(), arr.std(0), atol=1e-6)
