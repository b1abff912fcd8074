"""Dataset scan: what does each emotion vector fire on in your own texts?

Streams any number of texts in batches with bounded memory (independent of the number of texts): per emotion,
the ``k`` texts whose peak token scores highest, each kept as a snippet (a window of tokens around the peak,
peak marked), and the distribution of per-token scores (fixed-bin histogram, exact mean and spread, approximate
quantiles). The first token of each text is left out (it carries no context; see :meth:`Reading.keep`).

Example:
    >>> texts = ((str(i), t) for i, t in enumerate(open("notes.txt")))  # doctest: +SKIP
    >>> result = scan(lm, bank, texts, k=5)  # doctest: +SKIP
    >>> result.top["desperate"][0].marked()  # doctest: +SKIP
    'rent is due and I [[have]] forty dollars left'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from emoscope.bank import EmotionBank
from emoscope.core.streaming import Histogram, TopK
from emoscope.model.chat import Encoded, encode_text
from emoscope.model.loading import LoadedModel
from emoscope.progress import Progress, ProgressFn
from emoscope.read import read_encoded
from emoscope.runners import LocalRunner, Runner, in_order

RANGES = {"z": (-8.0, 8.0), "cosine": (-1.0, 1.0)}


@dataclass(frozen=True)
class Snippet:
    """A window of text around the peak token of one text for one emotion."""

    score: float
    text_id: str
    token: int
    before: str
    peak: str
    after: str

    def marked(self) -> str:
        """The snippet with the peak token in double brackets."""
        return f"{self.before}[[{self.peak}]]{self.after}"

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "id": self.text_id, "token": self.token, "before": self.before,
                "peak": self.peak, "after": self.after}


@dataclass
class ScanResult:
    """Per emotion: top snippets and the distribution of per-token scores over the whole dataset."""

    emotions: list[str]
    layer: int
    kind: str
    model: str
    texts: int = 0
    tokens: int = 0
    truncated: int = 0
    top: dict[str, list[Snippet]] = field(default_factory=dict)
    histogram: Histogram | None = None

    def to_dict(self) -> dict[str, Any]:
        h = self.histogram
        assert h is not None
        mean, std, p50, p99 = h.mean(), h.std(), h.quantile(0.5), h.quantile(0.99)
        return {
            "model": self.model, "layer": self.layer, "kind": self.kind, "texts": self.texts, "tokens": self.tokens,
            "truncated_texts": self.truncated, "bin_edges": np.round(h.edges, 5).tolist(),
            "emotions": [{"emotion": e, "mean": round(float(mean[i]), 4), "std": round(float(std[i]), 4),
                          "p50": round(float(p50[i]), 4), "p99": round(float(p99[i]), 4),
                          "max": round(self.top[e][0].score, 4) if self.top.get(e) else None,
                          "counts": h.counts[:, i].tolist(), "top": [s.to_dict() for s in self.top.get(e, [])]}
                         for i, e in enumerate(self.emotions)],
        }


def _batches(items: Iterable[tuple[str, str]], n: int) -> Iterator[list[tuple[str, str]]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


@dataclass
class ChunkResult:
    """What one chunk of texts contributes to a scan: counts, a histogram and each emotion's best candidates
    (``(score, text index in the dataset, snippet)``). Chunks merged in order give the scan of all of them."""

    texts: int
    tokens: int
    truncated: int
    histogram: Histogram
    top: list[list[tuple[float, int, Snippet]]]


def scan_chunk(lm: LoadedModel, bank: EmotionBank, texts: list[tuple[str, str]], start: int, layer: int,
               kind: str, k: int, context: int, max_tokens: int, batch_size: int, allow_mismatch: bool,
               bins: tuple[float, float] | None) -> ChunkResult:
    """Scan one chunk of ``(id, text)`` pairs whose first is text number ``start`` of the dataset.

    ``bins``: the histogram's range (None: for projections, twice the largest score of the chunk's first text).
    """
    n_e = len(bank.emotions)
    top: TopK[tuple[int, int]] = TopK(k, n_e)
    items: list[Encoded] = []
    truncated = 0
    for _tid, text in texts:
        enc = encode_text(lm.tokenizer, text)
        if len(enc.ids) > max_tokens:
            truncated += 1
            enc = Encoded(text=enc.text, ids=enc.ids[:max_tokens], tokens=enc.tokens[:max_tokens],
                          offsets=enc.offsets[:max_tokens])
        items.append(enc)
    readings = read_encoded(lm, bank, items, layer, kind, batch_size, allow_mismatch)
    hist: Histogram | None = Histogram(*bins, 80) if bins is not None else None
    tokens = 0
    for j, r in enumerate(readings):
        s = r.scores[1:] if len(r.scores) > 1 else r.scores
        first = 1 if len(r.scores) > 1 else 0
        if hist is None:  # projections: a range from the first text, with room
            m = float(np.abs(s).max()) * 2 or 1.0
            hist = Histogram(-m, m, 80)
        hist.add(s)
        tokens += len(s)
        peak_t = s.argmax(0)
        peak_v = s[peak_t, np.arange(n_e)]
        for e in np.flatnonzero(peak_v > top.threshold()):
            top.offer_one(int(e), float(peak_v[e]), (j, int(peak_t[e]) + first), order=start + j)
    if hist is None:
        raise ValueError("no texts to scan")

    def snip(j: int, t: int, v: float) -> Snippet:
        tid, text = texts[j]
        return _snippet(text, items[j].offsets, t, v, tid, context)

    kept = [[(v, order, snip(j, t, v)) for v, order, (j, t) in top.items(e)] for e in range(n_e)]
    return ChunkResult(texts=len(texts), tokens=tokens, truncated=truncated, histogram=hist, top=kept)


def scan(lm: LoadedModel, bank: EmotionBank, texts: Iterable[tuple[str, str]], layer: int | None = None,
         kind: str = "z", k: int = 5, context: int = 12, max_tokens: int = 512, batch_size: int = 8,
         allow_mismatch: bool = False, progress: ProgressFn | None = None, runner: Runner | None = None
         ) -> ScanResult:
    """Scan ``(id, text)`` pairs (see the module docstring).

    ``progress`` gets a :class:`~emoscope.progress.Progress` after each batch (stage ``texts``; ``total`` 0 means
    unknown).

    Texts longer than ``max_tokens`` tokens are cut there (counted in ``truncated``); ``context`` tokens on each
    side of the peak make a snippet. ``runner``: where the chunks are read (default: here; a
    :class:`~emoscope.runners.RayRunner` spreads them over a cluster). Chunks are merged in dataset order, so the
    result does not depend on the runner.
    """
    block = bank.layers[bank.layer_index(layer)]
    n_e = len(bank.emotions)
    top: TopK[Snippet] = TopK(k, n_e)
    result = ScanResult(emotions=bank.emotions, layer=block, kind=kind, model=bank.model)
    options = {"layer": block, "kind": kind, "k": k, "context": context, "max_tokens": max_tokens,
               "batch_size": batch_size, "allow_mismatch": allow_mismatch}
    run = runner or LocalRunner(lm)
    chunks = _batches(texts, batch_size)
    first = next(chunks, None)
    if first is None:
        raise ValueError("no texts to scan")
    # The first chunk fixes the histogram's range (projections have none a priori); the rest follow in parallel.
    head = [c for _i, c in run.map("scan_chunk", [(0, {"texts": first, "start": 0, "bins": RANGES.get(kind),
                                                        **options})], shared=bank)]
    bins = (float(head[0].histogram.edges[0]), float(head[0].histogram.edges[-1]))
    hist = Histogram(*bins, 80)

    def jobs() -> Iterator[tuple[int, dict[str, Any]]]:
        start = len(first)
        for i, chunk in enumerate(chunks, start=1):
            yield i, {"texts": chunk, "start": start, "bins": bins, **options}
            start += len(chunk)

    def merged() -> Iterator[tuple[int, ChunkResult]]:
        yield 0, head[0]
        yield from in_order(run.map("scan_chunk", jobs(), shared=bank), first=1)

    for _i, part in merged():
        hist.merge(part.histogram)
        result.texts += part.texts
        result.tokens += part.tokens
        result.truncated += part.truncated
        for e in range(n_e):
            for v, order, snippet in part.top[e]:
                top.offer_one(e, v, snippet, order=order)
        if progress is not None:
            progress(Progress("texts", result.texts, 0, tokens=result.tokens))
    result.histogram = hist
    result.top = {e: [sn for _v, sn in top.best(i)] for i, e in enumerate(bank.emotions)}
    return result


def _snippet(text: str, offsets: list[tuple[int, int]], t: int, score: float, tid: str, context: int) -> Snippet:
    a, b = offsets[t]
    start = offsets[max(t - context, 0)][0]
    end = offsets[min(t + context, len(offsets) - 1)][1]
    return Snippet(score=score, text_id=tid, token=t, before=text[start:a], peak=text[a:b], after=text[b:end])


def count_lines(path: Any) -> int:
    """Non-blank lines of a file (for a progress bar), reading it in constant memory."""
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())
