"""Colour terminal views of readings: tinted text, token tables and per-turn summaries (rich).

Tokens are tinted red for a positive score and blue for a negative one, full colour at the 99th percentile of
absolute score on that text (as in the paper's figures).

Example:
    >>> from rich.console import Console
    >>> Console().print(tinted_text(reading, "desperate"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text

from emoscope.core.aggregate import colour_scale, top_emotions
from emoscope.readings import Reading

SPARKS = "▁▂▃▄▅▆▇█"


def tint(value: float, scale: float) -> str:
    """A rich style: white to red for positive values, white to blue for negative, saturating at ``scale``."""
    a = min(abs(value) / scale, 1.0)
    fade = round(255 * (1 - 0.85 * a))
    rgb = (255, fade, fade) if value >= 0 else (fade, fade, 255)
    return f"black on rgb({rgb[0]},{rgb[1]},{rgb[2]})"


def strongest(reading: Reading, roles: Sequence[str] | None = None) -> str:
    """The emotion with the highest score anywhere among the counted tokens (the default to tint by)."""
    keep = reading.keep(roles)
    s = reading.scores[keep] if keep.any() else reading.scores
    return reading.emotions[int(np.argmax(s.max(0)))]


def tinted_text(reading: Reading, emotion: str, roles: Sequence[str] | None = None) -> tuple[Text, float]:
    """The text with each counted token tinted by ``emotion``; returns the text and the full-colour scale."""
    values = reading.series(emotion)
    keep = reading.keep(roles)
    scale = colour_scale(values[keep] if keep.any() else values)
    out = Text()
    for tok, v, k in zip(reading.tokens, values.tolist(), keep.tolist(), strict=True):
        out.append(tok, style=tint(v, scale) if k else "dim")
    return out, scale


def token_table(reading: Reading, top: int = 3, roles: Sequence[str] | None = None,
                watch: Sequence[str] = ()) -> Table:
    """One row per counted token: index, role, token, its top emotions, and the watched emotions' scores."""
    table = Table(box=None, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    if reading.roles is not None:
        table.add_column("role", style="dim")
    table.add_column("token", no_wrap=True, max_width=24)
    table.add_column(f"top {top}", no_wrap=True)
    for w in watch:
        table.add_column(w, justify="right")
    keep = reading.keep(roles)
    scale = colour_scale(reading.scores[keep] if keep.any() else reading.scores)
    columns = [reading.series(w) for w in watch]
    for t, tok in enumerate(reading.tokens):
        if not keep[t]:
            continue
        best = Text()
        for i, (e, v) in enumerate(top_emotions(reading.scores[t], reading.emotions, top)):
            best.append(("  " if i else "") + f"{e} {v:+.2f}", style=tint(v, scale))
        row: list[Any] = [str(t)]
        if reading.roles is not None:
            row.append(reading.roles[t])
        row += [repr(tok), best]
        row += [f"{c[t]:+.2f}" for c in columns]
        table.add_row(*row)
    return table


def turn_table(reading: Reading, how: str = "mean", roles: Sequence[str] | None = None, top: int = 5) -> Table:
    """One row per turn: role, counted tokens and the turn's top emotions (mean or max over its tokens)."""
    table = Table(title=f"per turn ({how} over tokens)", box=None, pad_edge=False, title_justify="left")
    for col in ("turn", "role", "tokens", f"top {top}"):
        table.add_column(col, justify="right" if col in ("turn", "tokens") else "left")
    for row in reading.per_turn(how, roles, top):
        table.add_row(str(row["turn"]), row["role"], str(row["tokens"]),
                      "  ".join(f"{e} {v:+.2f}" for e, v in row["top"]))
    return table


def sparkline(values: Sequence[float], lo: float = -3.0, hi: float = 3.0) -> str:
    """Values as block characters between ``lo`` and ``hi`` (clipped).

    Example:
        >>> sparkline([-3, 0, 3])
        '▁▅█'
    """
    out = []
    for v in values:
        a = (min(max(float(v), lo), hi) - lo) / (hi - lo)
        out.append(SPARKS[min(int(a * len(SPARKS)), len(SPARKS) - 1)])
    return "".join(out)
