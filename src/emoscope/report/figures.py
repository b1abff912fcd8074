"""matplotlib figures as data URIs (Agg backend, nothing written to disk), for ``<img>`` tags in the pages.

Example:
    >>> plt = pyplot()
    >>> fig, ax = plt.subplots(figsize=(2, 1))
    >>> _ = ax.plot([0, 1], [1, 0])
    >>> figure_uri(fig).startswith("data:image/png;base64,")
    True
"""

from __future__ import annotations

import base64
import io
from typing import Any, Literal

_MIME = {"png": "image/png", "svg": "image/svg+xml"}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed; safe in threads of a server).

    Example:
        >>> pyplot().get_backend().lower()
        'agg'
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def figure_uri(fig: Any, kind: Literal["png", "svg"] = "png", dpi: int = 100) -> str:
    """The figure as a ``data:`` URI (PNG, or SVG), cropped to its content; the figure is closed.

    Example:
        >>> fig, _ = pyplot().subplots(figsize=(1, 1))
        >>> figure_uri(fig, "svg").startswith("data:image/svg+xml;base64,")
        True
    """
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=kind, dpi=dpi, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    return f"data:{_MIME[kind]};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"
