"""A self-contained HTML page of readings (no network, no external files).

Each token is tinted by the chosen emotion, red for positive and blue for negative, full colour at the 99th
percentile of absolute score over the counted tokens of that text (as in the paper). Hovering a token shows its
top 5 emotions; a picker chooses the emotion; a line plot follows chosen emotions along the text; several texts
get a text picker. Tokens of roles that do not count, and the first token (no context, an attention sink), are
shown grey and left out of the scale.

Example:
    >>> html = reading_html([reading], title="My chat")  # doctest: +SKIP
    >>> Path("reading.html").write_text(html)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emoscope.readings import Reading
from emoscope.report import render
from emoscope.views.terminal import strongest


def _meta(model: str, layer: int, kind: str, roles: Sequence[str] | None) -> list[str]:
    """The provenance line under the title: model, layer, the kind of score, the counted roles."""
    meta = [f"model {model}", f"layer {layer}", "z-scores against the neutral baseline" if kind == "z" else kind]
    if roles:
        meta.append(f"counting {', '.join(roles)} tokens")
    return meta


def reading_html(readings: Sequence[Reading], title: str = "emoscope reading", model: str = "",
                 tint: str | None = None, plot: Sequence[str] = (), roles: Sequence[str] | None = None,
                 titles: Sequence[str] | None = None, decimals: int = 3) -> str:
    """The page as a string. ``tint``: the emotion to colour by (default: the strongest on the first text);
    ``plot``: emotions drawn in the line plot (default: the three strongest on the first text); ``roles``:
    the roles whose tokens count (default: all)."""
    if not readings:
        raise ValueError("nothing to show: no readings")
    first = readings[0]
    names = first.emotions
    keep = first.keep(roles)
    peak = (first.scores[keep] if keep.any() else first.scores).max(0)
    tint_name = tint or strongest(first, roles)
    plot_names = list(plot) or [names[i] for i in np.argsort(-peak)[:3]]
    for n in [tint_name, *plot_names]:
        if n not in names:
            raise ValueError(f"unknown emotion {n!r}")
    items: list[dict[str, Any]] = []
    for i, r in enumerate(readings):
        d: dict[str, Any] = {"title": titles[i] if titles else f"text {i + 1}", "tokens": r.tokens,
                             "roles": r.roles, "turns": r.turns,
                             "scores": np.round(np.nan_to_num(r.scores), decimals).tolist()}
        items.append(d)
    data = {"model": model, "layer": first.layer, "kind": first.kind, "emotions": names,
            "roles": list(roles) if roles else None, "tint": names.index(tint_name),
            "plot": [names.index(n) for n in plot_names], "items": items}
    return render("reading.html", title=title, meta=_meta(model, first.layer, first.kind, roles), data=data)
