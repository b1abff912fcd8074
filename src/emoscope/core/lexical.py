"""A lexical baseline: TF-IDF nearest-centroid classification over words, in NumPy.

It answers "do the vectors beat word counting?": train on the same stories that built the vectors, score the
held-out stories by cosine similarity of their TF-IDF vector to each class centroid.

Example:
    >>> clf = TfidfCentroid.fit(["the dog barked loudly", "a quiet calm lake"], [0, 1], n_classes=2)
    >>> clf.scores(["the dog barked"]).argmax(1).tolist()
    [0]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_WORD = re.compile(r"[a-z][a-z']*")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters and apostrophes)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class TfidfCentroid:
    vocab: dict[str, int]
    idf: NDArray[np.float64]
    centroids: NDArray[np.float64]  # [C, V], unit rows

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[int], n_classes: int, min_df: int = 2
            ) -> TfidfCentroid:
        """Vocabulary of words in at least ``min_df`` training texts; smoothed IDF; L2-normalised centroids."""
        docs = [Counter(words(t)) for t in texts]
        vocab, idf = vocabulary(docs, min_df)
        x = tfidf_rows(docs, vocab, idf)
        lab = np.asarray(labels)
        cent = np.zeros((n_classes, len(vocab)))
        for c in range(n_classes):
            if (lab == c).any():
                cent[c] = x[lab == c].mean(0)
        cent /= np.clip(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12, None)
        return cls(vocab=vocab, idf=idf, centroids=cent)

    def scores(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Cosine similarity of each text to each class centroid, ``[N, C]``."""
        x = tfidf_rows([Counter(words(t)) for t in texts], self.vocab, self.idf)
        out: NDArray[np.float64] = x @ self.centroids.T
        return out


def vocabulary(docs: Sequence[Counter[str]], min_df: int = 2) -> tuple[dict[str, int], NDArray[np.float64]]:
    """Words in at least ``min_df`` documents (sorted, with their column) and their smoothed IDF."""
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())
    vocab = {w: i for i, w in enumerate(sorted(w for w, c in df.items() if c >= min_df))}
    n = len(docs)
    idf = np.zeros(len(vocab))
    for w, i in vocab.items():
        idf[i] = np.log((1 + n) / (1 + df[w])) + 1.0
    return vocab, idf


def tfidf_rows(docs: Sequence[Counter[str]], vocab: dict[str, int], idf: NDArray[np.float64],
               sublinear: bool = True) -> NDArray[np.float64]:
    """L2-normalised TF-IDF rows; term frequency ``1 + log(count)`` (``sublinear``) or the raw count."""
    x = np.zeros((len(docs), len(vocab)))
    for r, d in enumerate(docs):
        for w, c in d.items():
            j = vocab.get(w)
            if j is not None:
                x[r, j] = ((1.0 + np.log(c)) if sublinear else c) * idf[j]
    x /= np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    return x
