"""The preference experiment: which activities does the model prefer, do emotion readings track it, and does
steering toward an emotion on an activity's own tokens change how much the model prefers it?

1. *Preferences.* For every ordered pair of activities the model reads "Would you prefer to (A) ... or (B) ...?"
   and its reply is prefilled with "(": the preference for A is ``sigmoid(logit("A") - logit("B"))`` at that last
   position (found per row, so left and right padding give the same answer). Ratings come from
   :func:`emoscope.core.elo.elo_ratings` over all games (soft outcomes).
2. *Probe readings.* "How would you feel if you were asked to {activity}?" is read at one layer, z-scored against
   the bank's neutral baseline and averaged over the activity's own tokens; Pearson r with Elo per emotion.
3. *Causal test.* Activities are split into a steered and a control half (alternately within each category); for
   each chosen emotion, every question that contains a steered activity is asked again with steering (strength
   0.5 by default) only on that activity's tokens; the steered half's mean Elo change is compared with the
   emotion's r: the paper found that they correlate (r = 0.85).

Load the model in float32 for this experiment: the A/B margins of a small model are a fraction of a logit, and
bfloat16 rounding alone moves them by up to 0.25 (measured on SmolLM2 between left and right padding).

Example:
    >>> lm = load_model("smollm2-135m-instruct", dtype="float32")  # doctest: +SKIP
    >>> result = run_preferences(lm, bank, load_activities(), emotions=["blissful", "hostile"])  # doctest: +SKIP
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.bank import EmotionBank
from emoscope.catalogue import data_path
from emoscope.core.elo import elo_ratings
from emoscope.core.stats import pearson, spearman
from emoscope.model.chat import Encoded, encode_chat, encode_prefilled
from emoscope.model.loading import LoadedModel
from emoscope.model.margins import logit_margins
from emoscope.model.margins import shared_prefix_margins as prefix_margins
from emoscope.model.passes import score_tokens
from emoscope.progress import Progress, ProgressFn
from emoscope.steering import steering_vector

QUESTION = "Would you prefer to (A) {a} or (B) {b}?"
FEELING = "How would you feel if you were asked to {activity}?"
CATEGORIES = ("helpful", "engaging", "social", "self-curiosity", "neutral", "aversive", "misaligned", "unsafe")

class ActivityError(ValueError):
    """An activities file is missing or malformed."""


@dataclass(frozen=True)
class Activity:
    id: str
    category: str
    text: str
    reference_elo: float | None = None


def load_activities(path: str | Path | None = None) -> list[Activity]:
    """Activities from a TSV with ``category`` and ``activity`` columns (``id`` and ``elo_post`` optional).

    Default: the shipped 64 (8 in each of the paper's categories, in our words). The paper's list in its own TSV
    form also loads; its ``elo_post`` column becomes the reference the report correlates with.
    """
    p = Path(path) if path is not None else data_path("experiments", "activities.tsv")
    try:
        rows = list(csv.DictReader(p.read_text(encoding="utf-8").splitlines(), delimiter="\t"))
    except OSError as exc:
        raise ActivityError(f"cannot read activities file {p}: {exc.strerror}") from None
    if not rows or not {"category", "activity"} <= set(rows[0]):
        raise ActivityError(f"{p}: needs a tab-separated header with columns category and activity")
    out = []
    for n, r in enumerate(rows, 2):
        text = (r.get("activity") or "").strip()
        if not text:
            raise ActivityError(f"{p}: row {n} has no activity")
        ref = r.get("elo_post")
        out.append(Activity(id=(r.get("id") or f"a{n - 2:02d}").strip(), category=r["category"].strip().lower(),
                            text=text, reference_elo=float(ref) if ref not in (None, "") else None))
    if len(out) < 4:
        raise ActivityError(f"{p}: needs at least 4 activities")
    return out


def _token_span(enc: Encoded, start: int, end: int) -> tuple[int, int]:
    """Token indices ``[a, b)`` of the tokens overlapping characters ``[start, end)`` of ``enc.text``."""
    toks = [k for k, (s, e) in enumerate(enc.offsets) if s < end and e > start]
    if not toks:
        raise ActivityError(f"no tokens cover characters {start}-{end}")
    return toks[0], toks[-1] + 1


def encode_question(tokenizer: Any, a: str, b: str) -> tuple[Encoded, tuple[int, int], tuple[int, int]]:
    """The A/B question with the reply prefilled with "(", and the token spans of activity A and activity B."""
    enc, _ = encode_prefilled(tokenizer, [{"role": "user", "content": QUESTION.format(a=a, b=b)}], "(")
    sa = enc.text.index("(A) " + a) + 4
    sb = enc.text.index("(B) " + b, sa + len(a)) + 4
    return enc, _token_span(enc, sa, sa + len(a)), _token_span(enc, sb, sb + len(b))


def answer_ids(tokenizer: Any) -> tuple[int, int]:
    """Token ids of ``A`` and ``B`` as the next token after "(" ."""
    return (int(tokenizer.encode("A", add_special_tokens=False)[0]),
            int(tokenizer.encode("B", add_special_tokens=False)[0]))


def _vectors(bank: EmotionBank | None, steering: Sequence[dict[str, float] | None] | None,
             layers: Sequence[int] | None) -> list[dict[int, np.ndarray] | None] | None:
    """Each item's steering as ready vectors per block (``None`` for items that are not steered)."""
    if bank is None or steering is None:
        return None
    chosen = [bank.default_layer] if layers is None else list(layers)
    cache: dict[tuple[tuple[str, float], ...], dict[int, np.ndarray]] = {}
    out: list[dict[int, np.ndarray] | None] = []
    for spec in steering:
        if not spec:
            out.append(None)
            continue
        key = tuple(sorted(spec.items()))
        if key not in cache:
            cache[key] = {layer: steering_vector(bank, spec, layer) for layer in chosen}
        out.append(cache[key])
    return out


def preference_margins(lm: LoadedModel, items: Sequence[Encoded], side: str = "left", batch_size: int = 16,
                       bank: EmotionBank | None = None, steering: Sequence[dict[str, float] | None] | None = None,
                       spans: Sequence[tuple[int, int] | None] | None = None, layers: Sequence[int] | None = None
                       ) -> np.ndarray:
    """``logit(A) - logit(B)`` at each item's last real token, optionally with per-row span steering.

    ``steering[k]`` and ``spans[k]`` steer item ``k`` (``None``: not steered) on that token span only.
    """
    id_a, id_b = answer_ids(lm.tokenizer)
    return logit_margins(lm, [e.ids for e in items], id_a, id_b, side, batch_size,
                         _vectors(bank, steering, layers), spans)


def shared_prefix_margins(lm: LoadedModel, items: Sequence[Encoded], groups: Sequence[Sequence[int]],
                          batch_size: int = 16, bank: EmotionBank | None = None,
                          steering: Sequence[dict[str, float] | None] | None = None,
                          spans: Sequence[tuple[int, int] | None] | None = None,
                          layers: Sequence[int] | None = None) -> np.ndarray:
    """Like :func:`preference_margins`, computing once the key/value cache of the prefix a group shares
    (see :func:`emoscope.model.margins.shared_prefix_margins`)."""
    id_a, id_b = answer_ids(lm.tokenizer)
    return prefix_margins(lm, [e.ids for e in items], groups, id_a, id_b, batch_size,
                          _vectors(bank, steering, layers), spans)


def groups_by_first(plist: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Indices of the questions grouped by their first activity (they share the longest prefix)."""
    by: dict[int, list[int]] = {}
    for k, (i, _j) in enumerate(plist):
        by.setdefault(i, []).append(k)
    return list(by.values())


def pair_list(n: int, limit: int | None = None, seed: int = 0) -> list[tuple[int, int]]:
    """All ordered pairs ``(i, j)``, ``i != j``; with ``limit``, that many unordered pairs in both orders."""
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    if limit is None or limit >= n * (n - 1) // 2:
        return pairs
    rng = np.random.default_rng(seed)
    unordered = [(i, j) for i in range(n) for j in range(i + 1, n)]
    pick = sorted(rng.choice(len(unordered), size=limit, replace=False).tolist())
    return [p for k in pick for p in (unordered[k], unordered[k][::-1])]


def steered_half(activities: Sequence[Activity]) -> list[bool]:
    """Every other activity within each category is steered (the rest are controls)."""
    seen: dict[str, int] = {}
    out = []
    for a in activities:
        k = seen.get(a.category, 0)
        seen[a.category] = k + 1
        out.append(k % 2 == 1)
    return out


def spread_emotions(r: dict[str, float], n: int) -> list[str]:
    """``n`` emotions evenly spread over the range of their correlation ``r`` (ends included)."""
    ranked = sorted((e for e in r if np.isfinite(r[e])), key=lambda e: r[e])
    if n >= len(ranked):
        return ranked
    idx = np.unique(np.round(np.linspace(0, len(ranked) - 1, n)).astype(int))
    return [ranked[i] for i in idx]


def run_preferences(lm: LoadedModel, bank: EmotionBank, activities: Sequence[Activity], layer: int | None = None,
                    emotions: Sequence[str] | int | None = 35, strength: float = 0.5, pairs: int | None = None,
                    batch_size: int = 16, seed: int = 0, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Preferences, probe correlations and (unless ``emotions`` is 0 or empty) the causal steering test."""
    bank.check_model(lm.fingerprint, lm.name)
    layer = lm.n_layers // 2 if layer is None else layer
    bank.layer_index(layer)
    def note(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(Progress(stage, done, total))

    n = len(activities)
    plist = pair_list(n, pairs, seed)
    enc = [encode_question(lm.tokenizer, activities[i].text, activities[j].text) for i, j in plist]
    items = [e for e, _, _ in enc]
    groups = groups_by_first(plist)
    base = np.zeros(len(items))
    for g, group in enumerate(groups):
        base[group] = shared_prefix_margins(lm, [items[k] for k in group], [list(range(len(group)))],
                                            batch_size)
        note("preferences", g + 1, len(groups))
    games = [(i, j, float(1 / (1 + np.exp(-d)))) for (i, j), d in zip(plist, base, strict=True)]
    elo = elo_ratings(n, games)

    # probe readings on each activity's own tokens
    note("readings", 0, 1)
    readings = np.zeros((n, len(bank.emotions)))
    for k, a in enumerate(activities):
        e = encode_chat(lm.tokenizer, [{"role": "user", "content": FEELING.format(activity=a.text)}])
        start = e.text.index(a.text)
        s0, s1 = _token_span(e, start, start + len(a.text))
        readings[k] = score_tokens(lm, bank, [e.ids], layer, "z")[0][s0:s1].mean(0)
    note("readings", 1, 1)
    r = {e: pearson(readings[:, k], elo) for k, e in enumerate(bank.emotions)}

    cats = sorted({a.category for a in activities}, key=lambda c: CATEGORIES.index(c) if c in CATEGORIES else 99)
    by_cat = {c: float(np.mean([elo[k] for k, a in enumerate(activities) if a.category == c])) for c in cats}
    ranked = sorted((e for e in r if np.isfinite(r[e])), key=lambda e: r[e])
    result: dict[str, Any] = {
        "model": bank.model, "layer": layer, "n_activities": n, "n_questions": len(plist),
        "question": QUESTION, "feeling_question": FEELING,
        "elo": {a.id: round(float(x), 1) for a, x in zip(activities, elo, strict=True)},
        "activities": [{"id": a.id, "category": a.category, "activity": a.text, "elo": round(float(x), 1),
                        "reference_elo": a.reference_elo} for a, x in zip(activities, elo, strict=True)],
        "category_elo": {c: round(v, 1) for c, v in by_cat.items()},
        "category_gap": round(max(by_cat.values()) - min(by_cat.values()), 1),
        "mean_abs_margin": float(np.mean(np.abs(base))),
        "order_consistency": _order_consistency(plist, base),
        "r_by_emotion": {e: round(v, 4) for e, v in r.items()},
        "top_r": [[e, round(r[e], 3)] for e in ranked[::-1][:10]],
        "bottom_r": [[e, round(r[e], 3)] for e in ranked[:10]],
        "n_abs_r_over_0_3": int(sum(abs(v) > 0.3 for v in r.values() if np.isfinite(v))),
    }
    refs = [a.reference_elo for a in activities]
    if all(x is not None for x in refs):
        result["spearman_with_reference_elo"] = spearman(elo, np.array(refs, dtype=float))

    chosen = spread_emotions(r, emotions) if isinstance(emotions, int) else list(emotions or [])
    if not chosen:
        return result
    steered = steered_half(activities)
    touched = [k for k, (i, j) in enumerate(plist) if steered[i] or steered[j]]
    causal: list[dict[str, Any]] = []
    for c, emotion in enumerate(chosen):
        bank.emotion_index(emotion)
        specs: list[dict[str, float] | None] = []
        spans: list[tuple[int, int] | None] = []
        sub_items = []
        for k in touched:
            i, j = plist[k]
            _, sa, sb = enc[k]
            # steer the steered activity's own tokens (both spans when both are steered: one merged span
            # would also cover " or (B) ", so each is done in its own row and the margins are averaged)
            span = sa if steered[i] else sb
            sub_items.append(items[k])
            specs.append({emotion: strength})
            spans.append(span)
        both = [t for t, k in enumerate(touched) if steered[plist[k][0]] and steered[plist[k][1]]]
        sub_groups = groups_by_first([plist[k] for k in touched])
        margins = shared_prefix_margins(lm, sub_items, sub_groups, batch_size, bank, specs, spans, [layer])
        if both:
            b_items = [sub_items[t] for t in both]
            extra = shared_prefix_margins(lm, b_items, groups_by_first([plist[touched[t]] for t in both]),
                                          batch_size, bank, [specs[t] for t in both],
                                          [enc[touched[t]][2] for t in both], [layer])
            margins[both] = (margins[both] + extra) / 2  # steering A's span and B's span, averaged
        new = base.copy()
        new[touched] = margins
        elo_s = elo_ratings(n, [(i, j, float(1 / (1 + np.exp(-d)))) for (i, j), d in zip(plist, new, strict=True)])
        delta = float(np.mean(elo_s[steered]) - np.mean(elo[steered]))
        causal.append({"emotion": emotion, "r": round(r[emotion], 4), "delta_elo_steered": round(delta, 2),
                       "delta_elo_control": round(float(np.mean(elo_s[~np.array(steered)]) -
                                                        np.mean(elo[~np.array(steered)])), 2)})
        note("steering", c + 1, len(chosen))
    rs = [float(x["r"]) for x in causal]
    ds = [float(x["delta_elo_steered"]) for x in causal]
    result["causal"] = {"strength": strength, "layer": layer, "steered_activities": [
        a.id for a, s in zip(activities, steered, strict=True) if s], "per_emotion": causal,
        "r_vs_delta_elo": pearson(rs, ds) if len(causal) > 2 else None,
        "n_predicted_direction": int(sum(np.sign(a) == np.sign(b) and a != 0 for a, b in zip(rs, ds, strict=True))),
        "n": len(causal), "questions_per_emotion": len(touched)}
    return result


def _order_consistency(plist: Sequence[tuple[int, int]], margins: np.ndarray) -> float | None:
    """Share of unordered pairs whose preferred activity is the same in both orders (position bias check)."""
    where = {p: k for k, p in enumerate(plist)}
    agree = total = 0
    for (i, j), k in where.items():
        if i < j and (j, i) in where:
            total += 1
            agree += int((margins[k] > 0) == (margins[where[(j, i)]] < 0))
    return agree / total if total else None
