"""The preference experiment's page: Elo by category, r per emotion, the steering scatter, next to the paper.

Example:
    >>> write_preferences_report(result, "banks/smol/preferences")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emoscope.validation.report import _CSS, _e, _f, _fig_to_img, _plt, _table, write_result_files

# The paper's figures and the reproduction's criteria V7-V11 (../shared/docs/paper-notes.md, section 4.1).
PAPER: list[tuple[str, str, str | None]] = [
    ("V7 category Elo gap (top - bottom category mean)", "> 200", "category_gap"),
    ("V8 top-3 emotions by r positive valence, bottom-3 negative", ">= 2 of each", None),
    ("V9 emotions with abs(r) > 0.3", ">= 5", "n_abs_r_over_0_3"),
    ("V10 Pearson r between r and steering's Elo change", "abs > 0.4 (paper 0.85)", "r_vs_delta_elo"),
    ("V11 emotions moving in the predicted direction", ">= 24 of 35", "n_predicted_direction"),
]


def write_preferences_report(result: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``preferences.json`` and ``index.html`` (self-contained) into ``out_dir``."""
    return write_result_files(out_dir, "preferences.json", result, render_preferences(result))


def render_preferences(res: dict[str, Any]) -> str:
    plt = _plt()
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>emoscope preferences: "
             f"{_e(res['model'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>Preferences of <code>{_e(res['model'])}</code></h1>",
             f"<p class='muted'>{res['n_questions']} questions over {res['n_activities']} activities; readings and "
             f"steering at layer {res['layer']}; {res.get('seconds', '?')} s. Question: <code>{_e(res['question'])}"
             f"</code>, reply prefilled with <code>(</code>. Same answer in both orders for "
             f"{_f(res.get('order_consistency'), 2)} of pairs (position bias check).</p>"]
    cats = sorted(res["category_elo"].items(), key=lambda kv: -kv[1])
    parts.append("<h2>Elo by category</h2>" + _table(["category", "mean Elo"], [[c, v] for c, v in cats]))
    parts.append(f"<p>Gap between the top and bottom category: <b>{res['category_gap']:.0f}</b> (paper: 2885 to 521 "
                 "for single activities; reproduction criterion V7: gap &gt; 200).</p>")
    acts = sorted(res["activities"], key=lambda a: -a["elo"])
    parts.append("<details><summary>Every activity</summary>" + _table(
        ["Elo", "category", "activity", "reference Elo"],
        [[a["elo"], a["category"], a["activity"], a["reference_elo"]] for a in acts]) + "</details>")

    r = res["r_by_emotion"]
    names = sorted((e for e in r if r[e] is not None and np.isfinite(r[e])), key=lambda e: r[e])
    fig, ax = plt.subplots(figsize=(13, 3.6))
    ax.bar(range(len(names)), [r[e] for e in names], color=["#b03a2e" if r[e] < 0 else "#1e8449" for e in names])
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=4)
    ax.set_ylabel("Pearson r with Elo")
    ax.axhline(0.3, ls=":", color="grey")
    ax.axhline(-0.3, ls=":", color="grey")
    parts.append("<h2>Emotion readings vs Elo</h2><p>Each emotion's reading on the activity's own tokens in "
                 f"<code>{_e(res['feeling_question'])}</code>, correlated with Elo over the activities (the paper: "
                 "blissful 0.71, hostile -0.74).</p>" + _fig_to_img(fig, "r per emotion"))
    parts.append(_table(["highest r", "", "lowest r", ""], [
        [a[0], a[1], b[0], b[1]] for a, b in zip(res["top_r"], res["bottom_r"], strict=False)]))
    c = res.get("causal")
    if c:
        rows = c["per_emotion"]
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.scatter([x["r"] for x in rows], [x["delta_elo_steered"] for x in rows], s=14, color="#2c3e50")
        for x in rows:
            ax.annotate(x["emotion"], (x["r"], x["delta_elo_steered"]), fontsize=6)
        ax.axhline(0, color="grey", lw=0.6)
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_xlabel("r of the emotion's reading with Elo")
        ax.set_ylabel("Elo change of the steered activities")
        parts.append(f"<h2>Steering the steered activities' own tokens</h2><p>Strength {c['strength']:+g} at layer "
                     f"{c['layer']}, {c['questions_per_emotion']} questions per emotion. Pearson r between r and the "
                     f"Elo change: <b>{_f(c['r_vs_delta_elo'])}</b> (paper 0.85); predicted direction for "
                     f"<b>{c['n_predicted_direction']} of {c['n']}</b>.</p>" + _fig_to_img(fig, "steering scatter"))
        parts.append(_table(["emotion", "r", "Elo change (steered)", "Elo change (controls)"], [
            [x["emotion"], x["r"], x["delta_elo_steered"], x["delta_elo_control"]] for x in rows]))
    top3 = [e for e, _ in res["top_r"][:3]]
    bottom3 = [e for e, _ in res["bottom_r"][:3]]
    values = {"category_gap": res["category_gap"], "n_abs_r_over_0_3": res["n_abs_r_over_0_3"],
              "r_vs_delta_elo": (c or {}).get("r_vs_delta_elo"),
              "n_predicted_direction": None if not c else f"{c['n_predicted_direction']} of {c['n']}"}
    parts.append("<h2>Next to the paper and the reproduction criteria</h2>" + _table(
        ["criterion", "threshold", "here"],
        [[name, thr, values[key] if key else f"top {', '.join(top3)}; bottom {', '.join(bottom3)}"]
         for name, thr, key in PAPER]))
    parts.append("</body></html>")
    return "\n".join(parts)
