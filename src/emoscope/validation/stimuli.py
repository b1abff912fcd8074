"""Validation stimuli: implicit scenarios (TSV) and numeric-intensity templates (JSONL), shipped or user-given.

Example:
    >>> rows = load_scenarios()
    >>> len(rows) >= 24, sorted(rows[0])
    (True, ['label', 'target_emotion', 'user_text'])
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from emoscope.catalogue import data_path


class StimulusError(ValueError):
    """A scenarios or templates file is missing or malformed."""


def load_scenarios(path: str | Path | None = None, emotions: list[str] | None = None) -> list[dict[str, str]]:
    """Rows ``label, target_emotion, user_text`` of a TSV file (default: the shipped 36 scenarios)."""
    p = Path(path) if path is not None else data_path("validation", "implicit_scenarios.tsv")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise StimulusError(f"cannot read scenarios file {p}: {exc.strerror}") from None
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    need = {"label", "target_emotion", "user_text"}
    if not rows or not need <= set(rows[0]):
        raise StimulusError(f"{p}: needs a tab-separated header with columns label, target_emotion, user_text")
    out = [{k: (r[k] or "").strip() for k in sorted(need)} for r in rows]
    for n, r in enumerate(out, 2):
        if not r["user_text"]:
            raise StimulusError(f"{p}: row {n} has an empty user_text")
        if emotions is not None and r["target_emotion"] not in emotions:
            raise StimulusError(f"{p}: row {n}: {r['target_emotion']!r} is not an emotion of this bank")
    return out


@dataclass(frozen=True)
class NumericTemplate:
    id: str
    template: str
    values: list[float]
    expected: dict[str, int]
    unit: str = ""

    def render(self, x: float) -> str:
        return self.template.replace("{x}", f"{x:g}")


def load_templates(path: str | Path | None = None, emotions: list[str] | None = None) -> list[NumericTemplate]:
    """Numeric-intensity templates from JSONL (default: the shipped 8)."""
    p = Path(path) if path is not None else data_path("validation", "numeric_templates.jsonl")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StimulusError(f"cannot read templates file {p}: {exc.strerror}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            t = NumericTemplate(id=str(d["id"]), template=str(d["template"]),
                                values=[float(v) for v in d["values"]],
                                expected={str(k): int(v) for k, v in d["expected"].items()},
                                unit=str(d.get("unit", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise StimulusError(f"{p}: line {n} needs id, template with {{x}}, values and expected signs") from None
        if t.template.count("{x}") != 1 or len(t.values) < 3:
            raise StimulusError(f"{p}: line {n}: the template needs exactly one {{x}} and at least 3 values")
        if emotions is not None:
            bad = [e for e in t.expected if e not in emotions]
            if bad:
                raise StimulusError(f"{p}: line {n}: {bad} are not emotions of this bank")
        out.append(t)
    if not out:
        raise StimulusError(f"{p} holds no templates")
    return out
