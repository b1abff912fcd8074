"""The headline figures of a validation (``Validation.metrics``), as the CLI prints them. No torch here.

Example:
    >>> m = {"default_layer": {"chosen": 3}, "seconds": 1.5, "heldout": {
    ...     "default_layer": {"top1": 0.5, "top5": 0.9, "chance_top1": 0.33}, "lexical_baseline": {"top1": 0.4}}}
    >>> headline(m, Path("v/index.html"), Path("v/metrics.json"), recorded=True)["heldout_top1"]
    0.5
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def headline(metrics: dict[str, Any], report: Path, metrics_file: Path, recorded: bool) -> dict[str, Any]:
    """Report paths, the chosen default layer (and whether the bank now records it), held-out accuracy at that
    layer next to chance and the TF-IDF word baseline, and the run time.

    Example:
        >>> m = {"default_layer": {"chosen": 3}, "seconds": 1.5, "heldout": {
        ...     "default_layer": {"top1": 0.5, "top5": 0.9, "chance_top1": 0.33}, "lexical_baseline": {"top1": 0.4}}}
        >>> sorted(headline(m, Path("i.html"), Path("m.json"), recorded=False))[:3]
        ['chance_top1', 'default_layer', 'default_layer_recorded']
    """
    d = metrics["heldout"]["default_layer"]
    return {"report": str(report), "metrics": str(metrics_file), "default_layer": metrics["default_layer"]["chosen"],
            "default_layer_recorded": recorded, "heldout_top1": d["top1"], "heldout_top5": d["top5"],
            "chance_top1": d["chance_top1"], "lexical_top1": metrics["heldout"]["lexical_baseline"]["top1"],
            "seconds": metrics["seconds"]}
