"""Summaries of a dataset scan (``ScanResult.to_dict()``): which emotions to show, and the headline figures.

Nothing here imports torch.

Example:
    >>> rows = [{"emotion": "calm", "max": 1.0}, {"emotion": "afraid", "max": 3.0}, {"emotion": "happy", "max": None}]
    >>> [r["emotion"] for r in highlighted_rows(rows, n=2)]
    ['afraid', 'calm']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_SHOWN = 5
"""How many emotions (those with the highest peaks) a scan shows when none are named."""


def highlighted_rows(rows: Sequence[dict[str, Any]], chosen: Sequence[str] | None = None,
                     n: int = DEFAULT_SHOWN) -> list[dict[str, Any]]:
    """The rows of the ``chosen`` emotions (in the scan's order), else the ``n`` with the highest peaks.

    Emotions never read (``max`` is ``None``) come last.

    Example:
        >>> rows = [{"emotion": "calm", "max": 1.0}, {"emotion": "afraid", "max": 3.0}]
        >>> [r["emotion"] for r in highlighted_rows(rows, ["calm"])]
        ['calm']
    """
    if chosen:
        return [r for r in rows if r["emotion"] in chosen]
    return sorted(rows, key=lambda r: -(r["max"] if r["max"] is not None else -1e9))[:n]


def scan_summary(data: dict[str, Any], out: Path, kind: str) -> dict[str, Any]:
    """The JSON summary of a scan written to ``out``: counts, layer, kind, and per emotion all but the histogram.

    Example:
        >>> data = {"texts": 2, "tokens": 9, "truncated_texts": 0, "layer": 3,
        ...         "emotions": [{"emotion": "calm", "max": 1.0, "counts": [1, 2]}]}
        >>> scan_summary(data, Path("out"), "z")["emotions"]
        [{'emotion': 'calm', 'max': 1.0}]
    """
    return {"out": str(out), "texts": data["texts"], "tokens": data["tokens"],
            "truncated_texts": data["truncated_texts"], "layer": data["layer"], "kind": kind,
            "emotions": [{k: v for k, v in r.items() if k != "counts"} for r in data["emotions"]]}
