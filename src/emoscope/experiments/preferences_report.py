"""The preference experiment's page: Elo by category, r per emotion, the steering scatter, next to the paper.

The page is ``emoscope/report/templates/preferences.html``; this module gathers its rows and figures.

Example:
    >>> write_preferences_report(result, "banks/smol/preferences")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoscope.report import render, write_result_files
from emoscope.report.plots.preferences import r_bars, steering_scatter

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


def _criteria(res: dict[str, Any]) -> list[list[Any]]:
    c = res.get("causal")
    top3 = [e for e, _ in res["top_r"][:3]]
    bottom3 = [e for e, _ in res["bottom_r"][:3]]
    values = {"category_gap": res["category_gap"], "n_abs_r_over_0_3": res["n_abs_r_over_0_3"],
              "r_vs_delta_elo": (c or {}).get("r_vs_delta_elo"),
              "n_predicted_direction": None if not c else f"{c['n_predicted_direction']} of {c['n']}"}
    return [[name, thr, values[key] if key else f"top {', '.join(top3)}; bottom {', '.join(bottom3)}"]
            for name, thr, key in PAPER]


def render_preferences(res: dict[str, Any]) -> str:
    """The page as a string (figures inline; no network needed)."""
    c = res.get("causal")
    rows = c["per_emotion"] if c else []
    return render(
        "preferences.html", res=res, causal=c,
        categories=[[k, v] for k, v in sorted(res["category_elo"].items(), key=lambda kv: -kv[1])],
        activities=[[a["elo"], a["category"], a["activity"], a["reference_elo"]]
                    for a in sorted(res["activities"], key=lambda a: -a["elo"])],
        extremes=[[a[0], a[1], b[0], b[1]] for a, b in zip(res["top_r"], res["bottom_r"], strict=False)],
        steered=[[x["emotion"], x["r"], x["delta_elo_steered"], x["delta_elo_control"]] for x in rows],
        criteria=_criteria(res), r_fig=r_bars(res["r_by_emotion"]),
        scatter_fig=steering_scatter(rows) if c else "")
