"""A result's JSON and its page written side by side, each atomically.

Example:
    >>> html, js = write_result_files("out/prefs", "preferences.json", result, page)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.atomic import atomic_file


def json_safe(x: Any) -> Any:
    """``x`` made JSON-safe: NaN and infinities become None, NumPy scalars Python numbers, sets sorted lists.

    Example:
        >>> json_safe({"a": float("nan"), "b": (1, 2), 3: {2, 1}})
        {'a': None, 'b': [1, 2], '3': [1, 2]}
    """
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, set | frozenset):
        return sorted(json_safe(v) for v in x)
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_result_files(out_dir: str | Path, json_name: str, result: dict[str, Any], page: str) -> tuple[Path, Path]:
    """Write ``result`` as JSON (NaN as null) and ``page`` as ``index.html`` into ``out_dir``, each atomically;
    returns the two paths (page first).

    Example:
        >>> html, js = write_result_files(tmp, "r.json", {"x": 1.0}, "<!doctype html>")  # doctest: +SKIP
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / json_name
    with atomic_file(jpath) as fh:
        json.dump(json_safe(result), fh, indent=1, allow_nan=False)
        fh.write("\n")
    hpath = out / "index.html"
    with atomic_file(hpath) as fh:
        fh.write(page)
    return hpath, jpath
