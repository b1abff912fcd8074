"""Style audit: what the corpus's words alone explain, beside what the vectors show (NumPy only).

The vectors are averages of activations over each emotion's stories, so anything that differs systematically
between emotions' stories, including how they were written, can end up in them. This module measures it:

* **Lexical axes**: a TF-IDF vector per story, averaged per emotion, centred; the principal components of those
  per-emotion word-content means, with the words that load on each end, and their correlation with the valence
  and arousal ratings.
* **Style statistics** per story, averaged per emotion: share of words in quoted speech, share of body and sensory
  words, share of words of thinking and telling, mean sentence length, share of first-person narration. Each is
  tested across the four valence x arousal families (eta squared with a permutation p-value) and flagged when it
  differs systematically by family.
* **Against a bank**: at every layer, the correlation of the vectors' principal components with the lexical
  ones, and how much of each vector component (and of its correlation with valence) the lexical components already
  explain (R squared of a regression on the top lexical components; partial correlation with valence).

Example:
    >>> texts = [("happy", '"Yes!" she said, and laughed.'), ("sad", "Her chest ached; her hands shook.")] * 3
    >>> a = audit(texts, ["happy", "sad"], k=1)
    >>> a["lexical"]["explained"][:1]
    [1.0]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from emoscope.core.geometry import pca
from emoscope.core.lexical import tfidf_rows, vocabulary
from emoscope.core.lexical import words as lexical_words
from emoscope.core.stats import pearson
from emoscope.corpus.checks import first_person_count

F64 = NDArray[np.float64]
_QUOTED = re.compile(r"[\"\u201c][^\"\u201d]*[\"\u201d]")
_SENTENCE = re.compile(r"[.!?]+(?:\s|$)")
BODY = frozenset("""body breath breathe breathed breathing chest heart pulse throat stomach belly gut skin sweat
    sweating hands hand fingers fist fists palm palms arms arm legs leg knees knee feet foot shoulders shoulder neck
    jaw teeth lips mouth tongue face cheeks eyes eye brow forehead head spine back ribs muscles blood veins lungs
    shiver shivered shook shaking trembled trembling tremble flushed blush blushed tears tear tingling numb ache
    ached aching clenched clench gasp gasped swallowed swallow heartbeat pounding thudding racing cold warm hot heat
    chill smell smelled scent taste tasted sound loud quiet bright dark light air wind skin""".split())
TELLING = frozenset("""think thinks thought thinking wonder wondered know knew realise realised realize realized
    remember remembered imagine imagined suppose supposed decide decided believe believed figure figured guess
    guessed consider considered reckon reckoned would could should might must said says say told tell tells asked
    ask asks wrote write replied answered explained promised mentioned""".split())
# Function words and pronouns: left out of the lexical axes, which are about content (the style statistics count
# pronouns and speech separately).
STOP = frozenset("""a an the and or but if then so than that this these those there here of in on at to from by
    for with without into onto over under about after before as is was were be been being am are has have had do
    does did it its it's he she they them their theirs his her hers him i me my mine we us our you your yours who
    whom which what when where why how not no yes all any some one two just very too also only even still again
    up down out off back away through while until because would could should will shall can may might must
    i'd i'm i've i'll he'd he's she'd she's they'd they're we'd we're you'd you're didn't don't wasn't isn't
    couldn't wouldn't hadn't hasn't haven't won't can't himself herself themselves myself itself""".split())
STYLE_STATS = ("dialogue_share", "body_share", "telling_share", "sentence_words", "first_person")


def words(text: str) -> list[str]:
    """Lower-cased words, curly apostrophes straightened (:func:`emoscope.core.lexical.words`)."""
    return lexical_words(text.replace("\u2019", "'"))


def story_style(text: str) -> dict[str, float]:
    """Style statistics of one story (see the module docstring).

    Example:
        >>> s = story_style('"Go," she said. Her hands shook.')
        >>> s["dialogue_share"], s["body_share"]
        (0.16666666666666666, 0.16666666666666666)
    """
    w = words(text)
    n = max(len(w), 1)
    quoted = sum(len(words(q)) for q in _QUOTED.findall(text))
    sentences = max(len(_SENTENCE.findall(text.strip() + " ")), 1)
    return {"dialogue_share": quoted / n, "body_share": sum(x in BODY for x in w) / n,
            "telling_share": sum(x in TELLING for x in w) / n, "sentence_words": len(w) / sentences,
            "first_person": float(first_person_count(text) >= 2)}


def tfidf(texts: Sequence[str], min_df: int = 2) -> tuple[F64, list[str]]:
    """L2-normalised TF-IDF rows (smoothed IDF) over content words (not :data:`STOP`) in at least ``min_df``
    texts, and the vocabulary."""
    docs = [Counter(w for w in words(t) if w not in STOP) for t in texts]
    vocab, idf = vocabulary(docs, min_df)
    return tfidf_rows(docs, vocab, idf, sublinear=False), list(vocab)


def family(valence: float, arousal: float, mid: float = 4.0) -> str:
    """The valence x arousal quadrant of a rated emotion (1-7 scales)."""
    return ("positive" if valence >= mid else "negative") + "-" + ("high" if arousal >= mid else "low")


def eta_squared(values: F64, groups: Sequence[str]) -> float:
    """Share of the variance of ``values`` between groups (one-way ANOVA effect size)."""
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    between = sum(len(idx) * (values[idx].mean() - values.mean()) ** 2
                  for idx in (np.flatnonzero(np.asarray(groups) == g) for g in set(groups)))
    return float(between / total)


def permutation_p(values: F64, groups: Sequence[str], n: int = 2000, seed: int = 0) -> float:
    """How often shuffled family labels give an eta squared at least as large (with the +1 correction)."""
    rng = np.random.default_rng(seed)
    observed = eta_squared(values, groups)
    g = np.asarray(groups)
    hits = sum(eta_squared(values, list(rng.permutation(g))) >= observed - 1e-12 for _ in range(n))
    return (hits + 1) / (n + 1)


def _r2(y: F64, x: F64) -> float:
    """R squared of the least-squares fit of ``y`` on the columns of ``x`` (with an intercept)."""
    a = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    tot = float(((y - y.mean()) ** 2).sum())
    return 0.0 if tot == 0 else 1 - float((resid ** 2).sum()) / tot


def _residual(y: F64, x: F64) -> F64:
    a = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return np.asarray(y - a @ coef, dtype=np.float64)


def _r(x: Any, y: Any) -> float | None:
    v = pearson(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return None if math.isnan(v) else round(float(v), 4)


def audit(stories: Sequence[tuple[str, str]], emotions: Sequence[str],
          ratings: Mapping[str, tuple[float, float]] | None = None,
          bank_vectors: Mapping[int, NDArray[Any]] | None = None, bank_emotions: Sequence[str] | None = None,
          k: int = 5, top_words: int = 8, permutations: int = 2000, alpha: float = 0.01,
          min_eta: float = 0.06) -> dict[str, Any]:
    """The audit as plain data. ``stories`` are ``(emotion, text)``; ``ratings`` maps an emotion to (valence,
    arousal); ``bank_vectors`` maps a layer to its ``[E, D]`` vectors in ``bank_emotions`` order.

    A style statistic is *flagged* when it differs by valence x arousal family with a permutation p below
    ``alpha`` and an eta squared of at least ``min_eta`` (a medium effect).
    """
    emos = [e for e in emotions if any(s[0] == e for s in stories)]
    pos = {e: i for i, e in enumerate(emos)}
    texts = [t for e, t in stories if e in pos]
    labels = np.array([pos[e] for e, _ in stories if e in pos])
    x, vocab = tfidf(texts)
    means = np.stack([x[labels == i].mean(0) for i in range(len(emos))])
    k = max(1, min(k, len(emos) - 1))
    lex = pca(means, k)
    lexical: dict[str, Any] = {"explained": [round(float(v), 4) for v in lex.explained[:k]], "components": []}
    rated = [e for e in emos if ratings and e in ratings]
    ridx = [pos[e] for e in rated]
    val = np.array([ratings[e][0] for e in rated]) if ratings else np.zeros(0)
    aro = np.array([ratings[e][1] for e in rated]) if ratings else np.zeros(0)
    for j in range(k):
        order = np.argsort(lex.components[j])
        comp = {"pc": j + 1, "positive_words": [vocab[i] for i in order[::-1][:top_words]],
                "negative_words": [vocab[i] for i in order[:top_words]],
                "positive_emotions": [emos[i] for i in np.argsort(-lex.scores[:, j])[:6]],
                "negative_emotions": [emos[i] for i in np.argsort(lex.scores[:, j])[:6]]}
        if len(rated) > 2:
            comp["r_valence"] = _r(lex.scores[ridx, j], val)
            comp["r_arousal"] = _r(lex.scores[ridx, j], aro)
        lexical["components"].append(comp)
    per_story = [story_style(t) for t in texts]
    style = {s: np.array([np.mean([per_story[n][s] for n in np.flatnonzero(labels == i)])
                          for i in range(len(emos))]) for s in STYLE_STATS}
    out: dict[str, Any] = {"stories": len(texts), "emotions": len(emos), "k": k, "lexical": lexical,
                           "style": {}, "flagged": []}
    fams = [family(*ratings[e]) for e in rated] if ratings else []
    for s, v in style.items():
        row: dict[str, Any] = {"mean": round(float(v.mean()), 4), "sd_between_emotions": round(float(v.std()), 4)}
        if len(rated) > 3 and len(set(fams)) > 1:
            sub = v[ridx]
            row.update(eta_squared=round(eta_squared(sub, fams), 4), p=round(permutation_p(sub, fams, permutations),
                                                                                4),
                       r_valence=_r(sub, val), r_arousal=_r(sub, aro),
                       by_family={f: round(float(sub[np.asarray(fams) == f].mean()), 4) for f in sorted(set(fams))})
            if row["p"] < alpha and row["eta_squared"] >= min_eta:
                out["flagged"].append(s)
        out["style"][s] = row
    out["style_by_emotion"] = {e: {s: round(float(style[s][i]), 4) for s in STYLE_STATS} for i, e in enumerate(emos)}
    if bank_vectors:
        out["layers"] = _against_bank(bank_vectors, list(bank_emotions or emos), emos, lex.scores, rated, val, aro,
                                      k)
    return out


def _against_bank(vectors: Mapping[int, NDArray[Any]], bank_emotions: list[str], emos: list[str], lex: F64,
                  rated: list[str], val: F64, aro: F64, k: int) -> list[dict[str, Any]]:
    common = [e for e in emos if e in bank_emotions]
    bi = [bank_emotions.index(e) for e in common]
    li = [emos.index(e) for e in common]
    L = lex[li]
    rows = []
    for layer in sorted(vectors):
        v = np.asarray(vectors[layer], dtype=np.float64)[bi]
        vp = pca(v, k)
        r = np.array([[pearson(vp.scores[:, a], L[:, b]) for b in range(L.shape[1])] for a in range(min(2, k))])
        row: dict[str, Any] = {
            "layer": int(layer), "explained": [round(float(x), 4) for x in vp.explained[:2]],
            "pc1_r_lexical_pc1": round(float(r[0, 0]), 4),
            "pc1_max_abs_r_lexical": round(float(np.nanmax(np.abs(r[0]))), 4),
            "pc1_words_r2": round(_r2(vp.scores[:, 0], L), 4),
            "chance_r2": round(L.shape[1] / max(len(common) - 1, 1), 4),
            "pc2_words_r2": round(_r2(vp.scores[:, 1], L), 4) if k > 1 else None,
        }
        ratedc = [e for e in rated if e in common]
        if len(ratedc) > k + 2:
            idx = [common.index(e) for e in ratedc]
            vv = np.array([val[rated.index(e)] for e in ratedc])
            aa = np.array([aro[rated.index(e)] for e in ratedc])
            row.update(pc1_r_valence=_r(vp.scores[idx, 0], vv), pc2_r_arousal=_r(vp.scores[idx, 1], aa) if k > 1
                       else None,
                       pc1_r_valence_beyond_words=_r(_residual(vp.scores[idx, 0], L[idx]), _residual(vv, L[idx])),
                       words_r2_valence=round(_r2(vv, L[idx]), 4))
        rows.append(row)
    return rows


def audit_lines(a: dict[str, Any]) -> list[str]:
    """The audit as a few lines of text (what ``emoscope corpus audit`` prints)."""
    out = [f"{a['stories']} stories, {a['emotions']} emotions; lexical components of the per-emotion word means:"]
    for c, ex in zip(a["lexical"]["components"], a["lexical"]["explained"], strict=False):
        rv = f", r valence {c['r_valence']:+.2f}, arousal {c['r_arousal']:+.2f}" if c.get("r_valence") is not None \
            else ""
        out.append(f"  PC{c['pc']} ({ex:.0%}{rv}): {' '.join(c['positive_words'][:6])}  <->  "
                   f"{' '.join(c['negative_words'][:6])}")
    out.append("style statistics by valence x arousal family (flagged: permutation p < 0.01, eta^2 >= 0.06):")
    for s, row in a["style"].items():
        if "eta_squared" in row:
            fam = ", ".join(f"{f} {v:.3f}" for f, v in row["by_family"].items())
            out.append(f"  {'FLAG ' if s in a['flagged'] else '     '}{s}: eta^2 {row['eta_squared']:.2f} "
                       f"(p {row['p']:.4f}); {fam}")
        else:
            out.append(f"       {s}: mean {row['mean']:.3f}")
    for row in a.get("layers", []):
        extra = (f", r(PC1, valence) {row['pc1_r_valence']:+.2f}, beyond words {row['pc1_r_valence_beyond_words']:+.2f}"
                 if row.get("pc1_r_valence") is not None else "")
        out.append(f"  layer {row['layer']}: vector PC1 vs lexical PC1 r {row['pc1_r_lexical_pc1']:+.2f}; words "
                   f"explain R^2 {row['pc1_words_r2']:.2f} of PC1 (chance {row['chance_r2']:.2f}){extra}")
    return out
