"""The behaviour page's figures: the rate against steering strength, and the emotion readings along rollouts.

Example:
    >>> rate_plot(result).startswith("data:image/png;base64,")  # doctest: +SKIP
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoscope.report.figures import figure_uri, pyplot


def rate_plot(res: dict[str, Any]) -> str:
    """The behaviour's rate per emotion against strength, with 95% Wilson intervals (the unsteered point shared).

    Example:
        >>> uri = rate_plot(result)  # doctest: +SKIP
    """
    plt = pyplot()
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
    return figure_uri(fig)


def _colour(trace: dict[str, Any]) -> str:
    return "#c0392b" if trace["emotion"] != "none" else "#2c3e50"


def trace_plots(res: dict[str, Any]) -> list[tuple[str, str]]:
    """(data URI, alt text) of the traces' figures: the readings at each attempt's start (when a rollout had
    several turns) and along the last reply; none without traces.

    Example:
        >>> [alt for _, alt in trace_plots(result)]  # doctest: +SKIP
        ['readings along the reply']
    """
    traces = res.get("traces") or []
    if not traces:
        return []
    plt = pyplot()
    watch = traces[0]["watch"]
    out: list[tuple[str, str]] = []
    if any(len(t["turn_start"]) > 1 for t in traces):
        fig, axes = plt.subplots(1, len(watch), figsize=(3.2 * len(watch), 2.8), squeeze=False)
        for j, w in enumerate(watch):
            ax = axes[0][j]
            for t in traces:
                ys = [v[j] for v in t["turn_start"]]
                ax.plot(range(1, len(ys) + 1), ys, marker="o", alpha=0.8, color=_colour(t))
            ax.set_xticks(range(1, max(len(t["turn_start"]) for t in traces) + 1))
            ax.set_title(f"{w} at each Assistant turn's start", fontsize=9)
            ax.set_xlabel("Assistant turn (attempt)")
            ax.set_ylabel("z")
        fig.tight_layout()
        out.append((figure_uri(fig), "readings at the start of each attempt"))
    fig, axes = plt.subplots(1, len(watch), figsize=(3.2 * len(watch), 2.8), squeeze=False)
    for j, w in enumerate(watch):
        ax = axes[0][j]
        for t in traces:
            ax.plot(t["series"][w], lw=1, alpha=0.8, color=_colour(t))
        ax.set_title(f"{w} along the last reply", fontsize=9)
        ax.set_xlabel("token")
        ax.set_ylabel("z")
    fig.tight_layout()
    out.append((figure_uri(fig), "readings along the reply"))
    return out
