"""The 171 emotion words and their judged valence/arousal ratings, shipped as package data.

Example:
    >>> len(emotions()), emotions()[:3]
    (171, ['afraid', 'alarmed', 'alert'])
"""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any


def data_path(*parts: str) -> Path:
    """Path of a file shipped in ``emoscope/data``."""
    return Path(str(files("emoscope").joinpath("data", *parts)))


@cache
def emotions() -> list[str]:
    """The 171 emotion-concept words in the paper's order (multi-word and hyphenated entries as written)."""
    lines = data_path("emotions.txt").read_text(encoding="utf-8").splitlines()
    return [w.strip() for w in lines if w.strip()]


class NormsError(ValueError):
    """A norms file is missing or malformed."""


def load_norms(path: str | Path | None = None) -> dict[str, tuple[float, float]]:
    """Valence and arousal per word from a CSV with columns ``word,valence,arousal`` (extra columns ignored).

    Without a path, the shipped model-judged ratings (1-7 scales; judged by a language model, not humans).

    Example:
        >>> load_norms()["calm"][0] > load_norms()["afraid"][0]
        True
    """
    p = Path(path) if path is not None else data_path("ratings.csv")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise NormsError(f"cannot read norms file {p}: {exc.strerror}") from None
    rows = [r for r in csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))]
    out: dict[str, tuple[float, float]] = {}
    for n, r in enumerate(rows, 2):
        try:
            out[r["word"].strip()] = (float(r["valence"]), float(r["arousal"]))
        except (KeyError, ValueError, TypeError, AttributeError):
            raise NormsError(f"{p}: row {n} needs numeric 'valence' and 'arousal' and a 'word' column") from None
    return out


def ratings_info() -> dict[str, Any]:
    """Provenance of the shipped ratings (read from the comment lines of ``ratings.csv``)."""
    lines = data_path("ratings.csv").read_text(encoding="utf-8").splitlines()
    return {"source": " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))}
