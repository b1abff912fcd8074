"""The one progress event every long job reports: extraction, validation, experiments, scans, corpus generation.

A long job is a generator (or takes a callback) of :class:`Progress` events; the CLI draws them as bars (one row
per ``stage``) and the server can stream them as JSON. Nothing here imports torch.

Example:
    >>> p = Progress("stories", done=16, total=64, tokens=4096)
    >>> p.fraction, p.to_dict()["stage"]
    (0.25, 'stories')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of ``stage`` finished.

    ``tokens`` counts tokens processed so far (where a job counts them), ``cached`` says the step was read from a
    cache rather than computed, and ``note`` carries a short free text (e.g. "3 accepted, 1 rejected").
    """

    stage: str
    done: int
    total: int
    tokens: int = 0
    cached: bool = False
    note: str = ""

    @property
    def fraction(self) -> float:
        """Share done, in [0, 1] (1.0 for an empty stage)."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``{"type": "progress", ...}``), as the server streams it."""
        return {"type": "progress", **asdict(self)}


ProgressFn = Callable[[Progress], None]
"""A callback that receives progress events."""
