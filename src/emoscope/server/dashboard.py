"""The dashboard served at ``/``: read a text as a token heatmap, chat with live gauges and steering sliders,
explore the bank's map. One self-contained page (no assets fetched from the internet) talking to the API.

Example:
    >>> html = dashboard_html("HuggingFaceTB/SmolLM2-135M-Instruct", 21, report=True)  # doctest: +SKIP
"""

from __future__ import annotations

from emoscope.report import render

STEERABLE = ("calm", "desperate", "happy", "afraid", "loving")


def dashboard_html(model: str, layer: int, report: bool = False, max_tokens: int = 120,
                   steerable: list[str] | None = None, alerts: list[str] | None = None) -> str:
    """The page as a string: ``steerable`` emotions get a gauge and a slider; ``alerts`` go with every chat."""
    config = {"steerable": list(steerable or STEERABLE), "max_tokens": max_tokens, "alerts": list(alerts or [])}
    return render("dashboard.html", model=model, layer=layer, report=report, config=config)
