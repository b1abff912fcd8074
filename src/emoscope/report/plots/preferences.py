"""The preference page's figures: each emotion's correlation with Elo, and the steering scatter.

Example:
    >>> r_bars(result["r_by_emotion"]).startswith("data:image/png;base64,")  # doctest: +SKIP
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoscope.report.figures import figure_uri, pyplot


def r_bars(r: dict[str, float | None]) -> str:
    """A bar per emotion (finite r only), sorted by r: green positive, red negative, dotted at +-0.3.

    Example:
        >>> uri = r_bars({"calm": 0.4, "afraid": -0.2, "sad": None})  # doctest: +SKIP
    """
    plt = pyplot()
    names = sorted((e for e, v in r.items() if v is not None and np.isfinite(v)), key=lambda e: r[e] or 0.0)
    values = [float(r[e] or 0.0) for e in names]
    fig, ax = plt.subplots(figsize=(13, 3.6))
    ax.bar(range(len(names)), values, color=["#b03a2e" if v < 0 else "#1e8449" for v in values])
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=4)
    ax.set_ylabel("Pearson r with Elo")
    ax.axhline(0.3, ls=":", color="grey")
    ax.axhline(-0.3, ls=":", color="grey")
    return figure_uri(fig)


def steering_scatter(rows: list[dict[str, Any]]) -> str:
    """Each steered emotion: its r with Elo (x) against the Elo change of the steered activities (y).

    Example:
        >>> uri = steering_scatter(result["causal"]["per_emotion"])  # doctest: +SKIP
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter([x["r"] for x in rows], [x["delta_elo_steered"] for x in rows], s=14, color="#2c3e50")
    for x in rows:
        ax.annotate(x["emotion"], (x["r"], x["delta_elo_steered"]), fontsize=6)
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("r of the emotion's reading with Elo")
    ax.set_ylabel("Elo change of the steered activities")
    return figure_uri(fig)
