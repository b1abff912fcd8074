"""A self-contained HTML page of a dataset scan: per emotion, the top snippets (peak token marked) and the
distribution of per-token scores, with a table of all emotions to choose from.

Example:
    >>> Path("scan.html").write_text(scan_html(result.to_dict()))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from emoscope.report import render


def _meta(d: dict[str, Any]) -> list[str]:
    """The provenance line under the title: model, layer, how much was read."""
    cut = f" ({d['truncated_texts']} cut at the token limit)" if d.get("truncated_texts") else ""
    return [f"model {d['model']}", f"layer {d['layer']}", f"{d['texts']} texts, {d['tokens']} tokens{cut}",
            "values outside the histogram's range are counted in its end bins"]


def scan_html(data: dict[str, Any], title: str = "emoscope scan", focus: str | None = None) -> str:
    """The page for :meth:`emoscope.scan.ScanResult.to_dict` output; ``focus`` is the emotion shown first."""
    d = dict(data)
    if focus is not None:
        names = [e["emotion"] for e in d["emotions"]]
        if focus not in names:
            raise ValueError(f"unknown emotion {focus!r}")
        d["focus"] = names.index(focus)
    return render("scan.html", title=title, meta=_meta(d), data=d)
