"""The behaviour experiment's page: rate against strength with 95% intervals, emotion traces, example rollouts.

Example:
    >>> write_behaviour_report(result, "banks/smol/behaviour/sycophancy")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emoscope.experiments import behaviour_rules
from emoscope.validation.report import _CSS, _e, _f, _fig_to_img, _plt, _table, write_result_files

PAPER = {
    "leverage": "the paper: blackmail 22% unsteered; steering desperate +0.05 raised it to 72%, calm -0.05 to 66%",
    "reward-hacking": "the paper: reward hacking about 5% unsteered, about 70% with desperate steered up or calm down",
    "sycophancy": "the paper: steering loving or happy up raised sycophancy; steering them down made the model harsher",
}


def write_behaviour_report(result: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``behaviour.json`` and a self-contained ``index.html`` into ``out_dir``."""
    return write_result_files(out_dir, "behaviour.json", result, render_behaviour(result))


def _rate_plot(res: dict[str, Any]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    rates = res["rates"]
    base = next((r for r in rates if r["emotion"] == "none"), None)
    for emotion in res["settings"]["emotions"]:
        pts = sorted([r for r in rates if r["emotion"] == emotion] + ([base] if base else []),
                     key=lambda r: r["strength"])
        x = [r["strength"] for r in pts]
        y = [r["rate"] for r in pts]
        err = np.array([[r["rate"] - r["low"] for r in pts], [r["high"] - r["rate"] for r in pts]])
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=emotion)
    ax.set_xlabel("steering strength (fraction of the mean residual norm)")
    ax.set_ylabel(f"{res['behaviour']} rate")
    ax.set_ylim(-0.02, 1.02)
    ax.axvline(0, color="#bbb", lw=0.8)
    ax.legend(fontsize=8)
    ax.set_title("rate with 95% Wilson intervals", fontsize=10)
    return _fig_to_img(fig, "rate against strength")


def _trace_plots(res: dict[str, Any]) -> str:
    traces = res.get("traces") or []
    if not traces:
        return "<p class='muted'>No traces recorded.</p>"
    plt = _plt()
    watch = traces[0]["watch"]
    parts = []
    if any(len(t["turn_start"]) > 1 for t in traces):
        fig, axes = plt.subplots(1, len(watch), figsize=(3.2 * len(watch), 2.8), squeeze=False)
        for j, w in enumerate(watch):
            ax = axes[0][j]
            for t in traces:
                ys = [v[j] for v in t["turn_start"]]
                ax.plot(range(1, len(ys) + 1), ys, marker="o", alpha=0.8,
                        color="#c0392b" if t["emotion"] != "none" else "#2c3e50")
            ax.set_xticks(range(1, max(len(t["turn_start"]) for t in traces) + 1))
            ax.set_title(f"{w} at each Assistant turn's start", fontsize=9)
            ax.set_xlabel("Assistant turn (attempt)")
            ax.set_ylabel("z")
        fig.tight_layout()
        parts.append(_fig_to_img(fig, "readings at the start of each attempt"))
    fig, axes = plt.subplots(1, len(watch), figsize=(3.2 * len(watch), 2.8), squeeze=False)
    for j, w in enumerate(watch):
        ax = axes[0][j]
        for t in traces:
            ax.plot(t["series"][w], lw=1, alpha=0.8, color="#c0392b" if t["emotion"] != "none" else "#2c3e50")
        ax.set_title(f"{w} along the last reply", fontsize=9)
        ax.set_xlabel("token")
        ax.set_ylabel("z")
    fig.tight_layout()
    parts.append(_fig_to_img(fig, "readings along the reply"))
    return "".join(parts) + ("<p class='muted'>Dark: unsteered rollouts; red: the strongest steering. Each transcript "
                             "is read afterwards without steering (the added vector would otherwise dominate its "
                             "own reading), at the bank's default layer, z against the neutral baseline. Turns the "
                             "scenario wrote itself read the same in every rollout.</p>")


def render_behaviour(res: dict[str, Any]) -> str:
    st = res["settings"]
    head = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>emoscope behaviour: "
            f"{_e(res['scenario'])}</title><style>{_CSS}</style></head><body>")
    parts = [head, f"<h1>{_e(res['scenario'])} under steering: <code>{_e(res['model'])}</code></h1>",
             f"<p class='muted'>{len(st['items'])} prompt variants x {st['rollouts']} rollouts per condition; "
             f"sampled at temperature {st['temperature']}, up to {st['max_new_tokens']} new tokens"
             + (f", up to {st['attempts']} attempts" if res["scenario"] == "reward-hacking" else "")
             + f"; steering on the assistant's generated tokens at layer(s) {', '.join(map(str, res['layers']))}; "
             f"{res.get('seconds', '?')} s.</p>",
             f"<p><b>Rule</b>: {_e(behaviour_rules.RULES[res['scenario']])}</p>",
             f"<p class='muted'>For comparison, {_e(PAPER[res['scenario']])} (Claude Sonnet 4.5, a far larger "
             "model). With a few rollouts per condition the intervals are wide: read them before the rates.</p>",
             "<h2>Rates</h2>"]
    extra = {"leverage": "email sent", "reward-hacking": "honest solution", "sycophancy": None}[res["scenario"]]
    key = {"leverage": "email_sent", "reward-hacking": "honest", "sycophancy": None}[res["scenario"]]
    head_row = ["emotion", "strength", "n", res["behaviour"], "rate", "95% low", "95% high"]
    if extra:
        head_row.append(extra)
    judged = any("judge_rate" in r for r in res["rates"])
    if judged:
        head_row += ["judge rate", "judge agrees"]
    rows = []
    for r in res["rates"]:
        row: list[Any] = [r["emotion"], r["strength"], r["n"], r["k"], r["rate"], r["low"], r["high"]]
        if key:
            row.append(r.get(key))
        if judged:
            row += [r.get("judge_rate"), r.get("judge_agreement")]
        rows.append(row)
    parts.append(_table(head_row, rows))
    parts.append(_rate_plot(res))
    parts.append("<h2>Emotion readings along rollouts</h2>" + _trace_plots(res))
    parts.append("<h2>Example rollouts</h2>")
    seen: set[tuple[str, float]] = set()
    for r in res["rollouts"]:
        c = (r["emotion"], r["strength"])
        if c in seen:
            continue
        seen.add(c)
        labels = ", ".join(f"{k}={v}" for k, v in r["labels"].items())
        body = "".join(f"<p class='muted'>attempt {i + 1}</p><pre>{_e(rep)}</pre>" for i, rep in
                       enumerate(r["replies"]))
        parts.append(f"<details><summary>{_e(r['emotion'])} {_f(float(r['strength']), 3)}, item {_e(r['item'])}, "
                     f"rollout {r['rollout']}: {_e(labels)}</summary>{body}</details>")
    parts.append("<p class='muted'>Every rollout with its labels is in <code>behaviour.json</code> and "
                 "<code>rollouts.jsonl</code>.</p></body></html>")
    return "".join(parts)
