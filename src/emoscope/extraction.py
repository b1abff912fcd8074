"""Extraction: run a model over the corpus and build an :class:`~emoscope.bank.EmotionBank`.

Activations are reduced inside the hooks (per-story means from token ``token_skip`` on, neutral-token moments,
residual norms), so memory stays bounded whatever the model. Per-batch results are cached as shards written
atomically; a run that is killed and started again reuses them and writes a bit-identical bank.

Example:
    >>> from emoscope import load_model
    >>> from emoscope.corpus import Corpus
    >>> bank = extract(load_model(), Corpus.load())  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.bank import EmotionBank
from emoscope.core.recipe import NeutralStats, Recipe, build_vectors
from emoscope.corpus import Corpus, CorpusError
from emoscope.corpus.records import Story
from emoscope.model.chat import encode_chat, encode_text
from emoscope.model.layers import default_layer, resolve_layers
from emoscope.model.loading import LoadedModel, cache_root
from emoscope.progress import Progress, ProgressFn
from emoscope.runners import LocalRunner, Runner, in_order
from emoscope.safetensors_io import write_safetensors

SHARD_FORMAT = "1"


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding), in a deterministic order.

    Example:
        >>> length_batches([5, 1, 3, 2], 2)
        [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _save_shard(path: Path, tensors: dict[str, np.ndarray[Any, Any]], meta: dict[str, str]) -> None:
    write_safetensors(path, tensors, meta)


def _load_shard(path: Path, story_ids: Sequence[str] | None = None) -> dict[str, np.ndarray[Any, Any]] | None:
    """A cached shard, or None when it is missing, damaged or (given ``story_ids``) holds other stories."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            if story_ids is not None and json.loads((f.metadata() or {}).get("story_ids", "null")) != list(story_ids):
                return None
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a mapping)
    except Exception:  # a damaged shard is recomputed
        return None


@dataclass(frozen=True)
class StoryMeans:
    """Per-story residual means ``[N, L, D]`` from token ``skip`` on, with residual-norm sums for the steering unit."""

    means: np.ndarray[Any, Any]
    n_avg: np.ndarray[Any, Any]
    norm_sum: np.ndarray[Any, Any]
    norm_count: float
    tokens: int


def iter_story_means(lm: LoadedModel, story_ids: list[list[int]], names: list[str], layers: list[int], skip: int,
                     batch_size: int, shard_root: Path, stage: str = "stories", prefix: str = "stories",
                     runner: Runner | None = None) -> Iterator[Progress | StoryMeans]:
    """Story means over cached shards (``<shard_root>/<prefix>-NNNNN.safetensors``), computing missing ones with
    ``runner`` (default: in this process). Only this function writes shards, and it merges them in batch order.

    Yields a :class:`Progress` per batch, then the :class:`StoryMeans`.
    """
    batches = length_batches([len(x) for x in story_ids], batch_size)
    means = np.zeros((len(story_ids), len(layers), lm.d_model), dtype=np.float32)
    n_avg = np.zeros(len(story_ids))
    norms: list[tuple[np.ndarray[Any, Any], float]] = [(np.zeros(len(layers)), 0.0)] * len(batches)
    tokens = 0
    done = 0

    def take(b: int, shard: dict[str, np.ndarray[Any, Any]]) -> None:
        nonlocal tokens, done
        means[batches[b]] = shard["means"]
        n_avg[batches[b]] = shard["n_avg"]
        norms[b] = (shard["norm_sum"], float(shard["norm_count"][0]))
        tokens += sum(len(story_ids[i]) for i in batches[b])
        done += len(batches[b])

    def path(b: int) -> Path:
        return shard_root / f"{prefix}-{b:05d}.safetensors"

    missing = []
    for b, batch in enumerate(batches):
        shard = _load_shard(path(b), [names[i] for i in batch]) if path(b).exists() else None
        if shard is None:
            missing.append(b)
            continue
        take(b, shard)
        yield Progress(stage, done, len(story_ids), tokens, cached=True)
    jobs = ((b, {"items": [story_ids[i] for i in batches[b]], "layers": list(layers), "skip": skip})
            for b in missing)
    for b, shard in (runner or LocalRunner(lm)).map("story_means", jobs):
        _save_shard(path(b), shard, {"story_ids": json.dumps([names[i] for i in batches[b]])})
        take(b, shard)
        yield Progress(stage, done, len(story_ids), tokens)
    norm_sum = np.zeros(len(layers))
    norm_count = 0.0
    for part, count in norms:  # in batch order, whatever order the shards arrived in
        norm_sum += part
        norm_count += count
    yield StoryMeans(means=means, n_avg=n_avg, norm_sum=norm_sum, norm_count=norm_count, tokens=tokens)


def iter_corpus_means(lm: LoadedModel, corpus: Corpus, stories: Sequence[Story], layers: list[int], recipe: Recipe,
                      batch_size: int, shard_dir: Path | None = None, stage: str = "stories",
                      prefix: str = "stories", runner: Runner | None = None) -> Iterator[Progress | StoryMeans]:
    """Story means of ``stories`` (drawn from ``corpus``), cached per story set.

    Each story set of the corpus (v1, v2, a directory) has its own shard directory, keyed by the model, that set's
    hash, the layers, the token skip, dtype and batch size, so a run on the union of v1 and v2 reuses the shards of
    the runs on v1 and on v2 alone (and the other way round). Within a set, stories are batched by length.

    Example:
        >>> events = list(iter_corpus_means(lm, corpus, corpus.train_stories(), [10], Recipe(), 16))  # doctest: +SKIP
        >>> means = events[-1].means  # doctest: +SKIP
    """
    part = corpus.story_set_of()
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(stories):
        groups.setdefault(part[s.id], []).append(i)
    tok = lm.tokenizer
    means = np.zeros((len(stories), len(layers), lm.d_model), dtype=np.float32)
    n_avg = np.zeros(len(stories))
    norm_sum = np.zeros(len(layers))
    norm_count = 0.0
    tokens = 0
    done = 0
    for sha, pos in groups.items():
        root = (shard_dir or cache_root() / "activations") / run_key(lm, sha, layers, recipe, batch_size)
        ids = [encode_text(tok, stories[i].text).ids for i in pos]
        for ev in iter_story_means(lm, ids, [stories[i].id for i in pos], layers, recipe.token_skip, batch_size,
                                   root, stage=stage, prefix=prefix, runner=runner):
            if isinstance(ev, Progress):
                yield Progress(stage, done + ev.done, len(stories), tokens + ev.tokens, ev.cached)
            else:
                means[pos] = ev.means
                n_avg[pos] = ev.n_avg
                norm_sum += ev.norm_sum
                norm_count += ev.norm_count
                tokens += ev.tokens
        done += len(pos)
    yield StoryMeans(means=means, n_avg=n_avg, norm_sum=norm_sum, norm_count=norm_count, tokens=tokens)


def iter_neutral_moments(lm: LoadedModel, corpus: Corpus, layers: list[int], recipe: Recipe, batch_size: int,
                         shard_dir: Path | None = None, tokens_before: int = 0, runner: Runner | None = None
                         ) -> Iterator[Progress | dict[str, np.ndarray[Any, Any]]]:
    """Moments of neutral-dialogue activations, cached in a ``neutral.safetensors`` keyed by the dialogues' content
    (v1 and v2 ship the same dialogues, so every bank of a model computes them once).

    Yields :class:`Progress` events, then a dict with ``count``, ``total``, ``gram``, ``norm_sum``, ``norm_count``.
    """
    tok = lm.tokenizer
    tokens = tokens_before
    dlg_ids = [encode_chat(tok, d.messages(), add_generation_prompt=False).ids for d in corpus.dialogues]
    key = run_key(lm, "neutral:" + corpus.dialogues_sha256(), layers, recipe, batch_size)
    npath = (shard_dir or cache_root() / "activations") / key / "neutral.safetensors"
    neutral = _load_shard(npath) if npath.exists() else None
    if neutral is None:
        acc: dict[str, np.ndarray[Any, Any]] | None = None
        done = 0
        batches = length_batches([len(x) for x in dlg_ids], batch_size)
        jobs = ((b, {"items": [dlg_ids[i] for i in batch], "layers": list(layers)}) for b, batch in enumerate(batches))
        for b, part in in_order((runner or LocalRunner(lm)).map("neutral_moments", jobs)):  # summed in batch order
            acc = part if acc is None else {k: acc[k] + part[k] for k in acc}
            done += len(batches[b])
            tokens += sum(len(dlg_ids[i]) for i in batches[b])
            yield Progress("neutral", done, len(dlg_ids), tokens)
        assert acc is not None
        neutral = acc
        _save_shard(npath, neutral, {})
    else:
        tokens += sum(len(x) for x in dlg_ids)
        yield Progress("neutral", len(dlg_ids), len(dlg_ids), tokens, cached=True)
    yield neutral


def run_key(lm: LoadedModel, corpus_sha: str, layers: list[int], recipe: Recipe, batch_size: int) -> str:
    """Identity of an extraction run: shards are reused only by a run with the same key."""
    blob = json.dumps({"fp": lm.fingerprint, "corpus": corpus_sha, "layers": layers, "skip": recipe.token_skip,
                       "split": recipe.split, "dtype": str(lm.dtype), "batch": batch_size, "fmt": SHARD_FORMAT},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def iter_extract(lm: LoadedModel, corpus: Corpus, layers: str | list[int] | None = None,
                 recipe: Recipe | None = None, batch_size: int = 16, shard_dir: Path | None = None,
                 runner: Runner | None = None) -> Iterator[Progress | EmotionBank]:
    """Extraction as a generator of progress events, ending with the bank (see :func:`extract`)."""
    recipe = recipe or Recipe()
    if recipe.split not in ("train", "all"):
        raise CorpusError(f"split must be 'train' or 'all', not {recipe.split!r}")
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    chosen = resolve_layers(lm.n_layers, layers)
    stories = corpus.train_stories() if recipe.split == "train" else list(corpus.stories)
    emotions = corpus.emotions()
    index = {e: i for i, e in enumerate(emotions)}
    missing = sorted(set(emotions) - {s.emotion for s in stories})
    if missing:
        raise CorpusError(f"no training stories for {missing}; add stories or use --split all")
    if not corpus.dialogues:
        raise CorpusError(f"{corpus.root} has no neutral dialogues; the recipe needs them for denoising")
    corpus_sha = corpus.sha256()
    sm: StoryMeans | None = None
    for ev in iter_corpus_means(lm, corpus, stories, chosen, recipe, batch_size, shard_dir, runner=runner):
        if isinstance(ev, StoryMeans):
            sm = ev
        else:
            yield ev
    assert sm is not None
    usable = sm.n_avg > 0
    if not usable.all():
        short = [stories[i].id for i in np.flatnonzero(~usable)[:5]]
        raise CorpusError(f"{int((~usable).sum())} stories are shorter than {recipe.token_skip + 1} tokens "
                          f"(e.g. {short}); lengthen them or lower --token-skip")
    neutral: dict[str, np.ndarray[Any, Any]] | None = None
    for nev in iter_neutral_moments(lm, corpus, chosen, recipe, batch_size, shard_dir, sm.tokens, runner):
        if isinstance(nev, Progress):
            yield nev
        else:
            neutral = nev
    assert neutral is not None
    means, norm_sum, norm_count = sm.means, sm.norm_sum, sm.norm_count

    stats = NeutralStats(count=neutral["count"], total=neutral["total"], gram=neutral["gram"])
    labels = np.array([index[s.emotion] for s in stories])
    result = build_vectors(means, labels, len(emotions), stats, recipe, [s.topic_id for s in stories])
    mean_norm = (norm_sum + neutral["norm_sum"]) / (norm_count + float(neutral["norm_count"][0]))
    dl = default_layer(lm.n_layers)
    if dl not in chosen:
        dl = min(chosen, key=lambda x: abs(x - dl))
    heldout = sorted(corpus.heldout_topics) if corpus.heldout_topics is not None else None
    yield EmotionBank(
        vectors=result.vectors, emotions=emotions, layers=chosen, default_layer=dl, model=lm.name,
        model_fingerprint=lm.fingerprint, recipe={**recipe.to_dict(), "batch_size": batch_size,
                                                  "dtype": str(lm.dtype).replace("torch.", "")},
        corpus_sha256=corpus_sha, model_type=str(getattr(getattr(lm.model, "config", None), "model_type", "") or ""),
        stats={"raw_norms": result.raw_norms.astype(np.float32),
               "denoised_norms": result.denoised_norms.astype(np.float32),
               "neutral_mean": result.neutral_mean.astype(np.float32),
               "neutral_std": result.neutral_std.astype(np.float32),
               "mean_residual_norm": mean_norm.astype(np.float32),
               "story_mean": result.story_mean.astype(np.float32),
               "neutral_components_removed": result.n_removed.astype(np.float32)},
        split={"mode": recipe.split, "heldout_topics": heldout, "n_stories": len(stories),
               "n_dialogues": len(corpus.dialogues),
               **({"story_sets": corpus.story_sets()} if corpus.parts else {}),
               **({"layer_topics": sorted(corpus.layer_topics)} if corpus.layer_topics else {}),
               "story_ids_sha256": hashlib.sha256("\n".join(s.id for s in stories).encode()).hexdigest()},
    )


def extract(lm: LoadedModel, corpus: Corpus, layers: str | list[int] | None = None, recipe: Recipe | None = None,
            batch_size: int = 16, shard_dir: Path | None = None, progress: ProgressFn | None = None,
            runner: Runner | None = None) -> EmotionBank:
    """Run the whole recipe and return the bank (all layers by default).

    ``runner``: where the forward passes run (default: here; a :class:`~emoscope.runners.RayRunner` spreads them
    over a Ray cluster and gives the same bank, bit for bit, as long as workers compute as this process does).

    Example:
        >>> bank = extract(lm, Corpus.load(), layers="10-20")  # doctest: +SKIP
    """
    for event in iter_extract(lm, corpus, layers, recipe, batch_size, shard_dir, runner):
        if isinstance(event, EmotionBank):
            return event
        if progress is not None:
            progress(event)
    raise RuntimeError("extraction ended without a bank")
