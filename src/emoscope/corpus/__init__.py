"""The stimulus corpus: stories, neutral dialogues, topics, the held-out split, validators and the generator.

Example:
    >>> c = Corpus.load()  # the corpus shipped inside the package
    >>> len(c.stories) >= 171 * 12
    True
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emoscope.corpus.records import (
    DIALOGUES_FILE,
    SPLIT_FILE,
    STORIES_FILE,
    TOPICS_FILE,
    CorpusError,
    Dialogue,
    Story,
    Topic,
    load_dialogues,
    load_stories,
    load_topics,
)

__all__ = ["Corpus", "CorpusError", "Dialogue", "Story", "Topic", "default_corpus_dir"]


def default_corpus_dir() -> Path:
    """The directory of the corpus shipped inside the package."""
    from emoscope.catalogue import data_path

    return data_path("corpus")


SHIPPED = {"v1": "corpus", "v2": "corpus_v2"}


def load_corpora(specs: Sequence[str | Path] | None) -> Corpus:
    """One corpus from ``--corpus`` values: directories, or ``v1`` (the shipped unmatched stories) and ``v2`` (the
    shipped matched design); several make a union. None or empty: the shipped v1 corpus.

    Example:
        >>> load_corpora(["v1"]).root.name
        'corpus'
    """
    from emoscope.catalogue import data_path

    if not specs:
        return Corpus.load(None)
    parts = [Corpus.load(data_path(SHIPPED[str(s)]) if str(s) in SHIPPED else s) for s in specs]
    return Corpus.union(parts)


def _heldout_by_hash(stories: list[Story], per_emotion: int) -> set[str]:
    """Without a split file: per emotion, the stories on its ``per_emotion`` topics that hash lowest."""
    held: set[str] = set()
    by_emotion: dict[str, set[str]] = {}
    for s in stories:
        by_emotion.setdefault(s.emotion, set()).add(s.topic_id)
    for e, topics in by_emotion.items():
        ranked = sorted(topics, key=lambda t: hashlib.sha256(f"{e}|{t}".encode()).hexdigest())
        held |= {f"{e}|{t}" for t in ranked[:per_emotion]}
    return held


@dataclass(frozen=True)
class Corpus:
    """A corpus directory loaded into memory (see ``docs/formats.md`` for the files)."""

    root: Path
    stories: list[Story]
    dialogues: list[Dialogue]
    topics: list[Topic]
    heldout_topics: frozenset[str] | None
    layer_topics: frozenset[str] = frozenset()  # topics kept for choosing the default layer (split.json)
    parts: tuple[tuple[str, str], ...] = ()  # (directory, sha256) of each story set, for a union
    part_sizes: tuple[int, ...] = ()  # number of stories of each part, in order (stories are concatenated)

    @classmethod
    def union(cls, corpora: Sequence[Corpus]) -> Corpus:
        """Several story sets as one corpus (for example the unmatched v1 stories and the matched v2 ones):
        stories, topics and splits together, dialogues of all (once each); ids must not collide.

        Example:
            >>> both = Corpus.union([Corpus.load(), Corpus.load(v2_dir)])  # doctest: +SKIP
        """
        if not corpora:
            raise CorpusError("no corpus given")
        if len(corpora) == 1:
            return corpora[0]
        if any(c.heldout_topics is None for c in corpora):
            raise CorpusError("every corpus of a union needs its own split.json (held-out topics)")
        ids = Counter(s.id for c in corpora for s in c.stories)
        clash = [i for i, n in ids.items() if n > 1]
        if clash:
            raise CorpusError(f"story ids {clash[:3]} appear in more than one corpus; ids must be unique")
        topic_count = Counter(t for c in corpora for t in {s.topic_id for s in c.stories})
        shared = sorted(t for t, n in topic_count.items() if n > 1)
        if shared:
            raise CorpusError(f"topic ids {shared[:3]} appear in more than one corpus; each story set needs its "
                              "own topic ids (its split.json refers to them)")
        dialogues = list({d.id: d for c in reversed(corpora) for d in c.dialogues}.values())
        topics = list({t.id: t for c in reversed(corpora) for t in c.topics}.values())
        return cls(root=corpora[0].root, stories=[s for c in corpora for s in c.stories],
                   dialogues=sorted(dialogues, key=lambda d: d.id), topics=sorted(topics, key=lambda t: t.id),
                   heldout_topics=frozenset().union(*(c.heldout_topics or frozenset() for c in corpora)),
                   layer_topics=frozenset().union(*(c.layer_topics for c in corpora)),
                   parts=tuple(p for c in corpora for p in (c.parts or ((str(c.root), c.sha256()),))),
                   part_sizes=tuple(n for c in corpora for n in (c.part_sizes or (len(c.stories),))))

    def story_sets(self) -> list[dict[str, str]]:
        """The directories (and their hashes) whose stories this corpus holds."""
        return [{"corpus": root, "sha256": sha} for root, sha in (self.parts or ((str(self.root), self.sha256()),))]

    def dialogues_sha256(self) -> str:
        """Hash of the neutral dialogues' content (ids, system prompts, turns), whichever files they came from."""
        blob = json.dumps([d.to_dict() for d in self.dialogues], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def story_set_of(self) -> dict[str, str]:
        """Story id -> hash of the story set it comes from (the corpus's own hash when it is not a union).

        Activations are cached per story set, so a union of v1 and v2 reuses what each set's own run computed.
        """
        if not self.parts:
            sha = self.sha256()
            return {s.id: sha for s in self.stories}
        out: dict[str, str] = {}
        start = 0
        for (_, sha), n in zip(self.parts, self.part_sizes, strict=True):
            out.update({s.id: sha for s in self.stories[start : start + n]})
            start += n
        return out

    @classmethod
    def load(cls, path: str | Path | None = None) -> Corpus:
        """Load a corpus directory (default: the shipped corpus). Missing files raise :class:`CorpusError`."""
        root = Path(path) if path is not None else default_corpus_dir()
        if not root.is_dir():
            raise CorpusError(f"corpus directory {root} does not exist; pass a directory holding {STORIES_FILE}")
        for name in (STORIES_FILE, DIALOGUES_FILE):
            if not (root / name).is_file():
                raise CorpusError(f"{root} has no {name}; a corpus needs {STORIES_FILE} and {DIALOGUES_FILE}")
        topics = load_topics(root / TOPICS_FILE) if (root / TOPICS_FILE).is_file() else []
        held = None
        layer: frozenset[str] = frozenset()
        if (root / SPLIT_FILE).is_file():
            try:
                split = json.loads((root / SPLIT_FILE).read_text())
                held = frozenset(split["heldout_topics"])
                layer = frozenset(split.get("layer_topics", []))
            except (ValueError, KeyError, TypeError):
                raise CorpusError(f"{root / SPLIT_FILE} must be {{\"heldout_topics\": [topic ids], "
                                  "\"layer_topics\": [topic ids, optional]}") from None
            if held & layer:
                raise CorpusError(f"{root / SPLIT_FILE}: topics {sorted(held & layer)[:5]} are both held out and "
                                  "kept for the layer choice")
        stories = load_stories(root / STORIES_FILE)
        if not stories:
            raise CorpusError(f"{root / STORIES_FILE} holds no stories")
        return cls(root=root, stories=stories, dialogues=load_dialogues(root / DIALOGUES_FILE), topics=topics,
                   heldout_topics=held, layer_topics=layer)

    def is_heldout(self, story: Story) -> bool:
        """Whether a story belongs to the held-out split (never used to build vectors by default)."""
        if self.heldout_topics is not None:
            return story.topic_id in self.heldout_topics
        return f"{story.emotion}|{story.topic_id}" in _heldout_by_hash(self.stories, 2)

    def train_stories(self) -> list[Story]:
        """Stories that build the vectors: neither held out nor kept for the layer choice."""
        held = self._held_keys()
        return [s for s in self.stories if f"{s.emotion}|{s.topic_id}" not in held
                and s.topic_id not in self.layer_topics]

    def layer_stories(self) -> list[Story]:
        """Stories kept for choosing the default layer (empty when ``split.json`` names no ``layer_topics``)."""
        return [s for s in self.stories if s.topic_id in self.layer_topics]

    def heldout_stories(self) -> list[Story]:
        held = self._held_keys()
        return [s for s in self.stories if f"{s.emotion}|{s.topic_id}" in held]

    def _held_keys(self) -> set[str]:
        if self.heldout_topics is not None:
            return {f"{s.emotion}|{s.topic_id}" for s in self.stories if s.topic_id in self.heldout_topics}
        return _heldout_by_hash(self.stories, 2)

    def emotions(self) -> list[str]:
        """Emotions in catalogue order (those of the 171 present), then any others in order of appearance."""
        from emoscope.catalogue import emotions as catalogue

        present = {s.emotion for s in self.stories}
        known = [e for e in catalogue() if e in present]
        extra = list(dict.fromkeys(s.emotion for s in self.stories if s.emotion not in set(known)))
        return known + extra

    def sha256(self) -> str:
        """Hash of the corpus files (stories, dialogues, topics, split), recorded in every bank; for a union, the
        hash of its parts' hashes in order."""
        h = hashlib.sha256()
        if self.parts:
            for _, sha in self.parts:
                h.update(sha.encode())
            return h.hexdigest()
        for name in (STORIES_FILE, DIALOGUES_FILE, TOPICS_FILE, SPLIT_FILE):
            p = self.root / name
            if p.is_file():
                h.update(name.encode())
                h.update(p.read_bytes())
        return h.hexdigest()
