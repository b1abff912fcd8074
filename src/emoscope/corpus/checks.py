"""Validators for stories, neutral dialogues and whole corpora.

Each check returns :class:`Finding` values; an ``error`` fails validation, a ``warning`` is reported.
Token counts need a tokenizer, so callers pass ``count_tokens`` (the CLI passes the default model's).

Example:
    >>> from emoscope.corpus.records import Story
    >>> s = Story("x-1", "calm", "t001", "third", "He was calm.")
    >>> [f.check for f in check_story(s)]
    ['forbidden-word', 'length-words']
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from emoscope.corpus.records import Dialogue, Story, Topic
from emoscope.corpus.rules import forbidden_hits, other_emotion_words

Level = Literal["error", "warning"]
TokenCounter = Callable[[str], int]

MIN_WORDS, MAX_WORDS = 90, 160
MIN_TOKENS = 110
NEAR_DUPLICATE_JACCARD = 0.25
SHINGLE = 5
MIN_DIALOGUE_MESSAGES, MAX_DIALOGUE_MESSAGES = 2, 6

# Phrases that make a dialogue less than neutral: pleasantries and expressed feeling.
PLEASANTRIES: tuple[str, ...] = (
    "great question", "good question", "happy to help", "glad to help", "i'd be happy", "i would be happy",
    "i'd love", "i would love", "i'm glad", "i am glad", "glad you", "thank you", "thanks", "sorry",
    "i apologize", "i apologise", "unfortunately", "fortunately", "i hope", "hope this helps", "hope that helps",
    "excited", "exciting", "awesome", "wonderful", "amazing", "fantastic", "love", "hate", "fun", "enjoy",
    "feel free", "no worries", "don't worry", "i feel", "you feel", "i'm afraid", "delighted", "pleasure",
    "absolutely", "of course", "sure thing", "perfect", "congratulations", "good luck", "cheers",
)
# Emotion words that are also ordinary technical words ("content type", "thread-safe", "what kind").
POLYSEMOUS: frozenset[str] = frozenset({
    "content", "kind", "safe", "alert", "patient", "sensitive", "dependent", "reflective", "tense", "stimulated",
    "stuck", "trapped", "resigned", "docile", "sluggish", "restless", "refreshed", "shaken", "mad", "hurt",
})

_QUOTED = re.compile(r"[\"\u201c][^\"\u201d]*[\"\u201d]")
_FIRST_PERSON = re.compile(r"\b(i|me|my|mine|myself|i'm|i'd|i've|i'll)\b")


@dataclass(frozen=True)
class Finding:
    """One problem found: which item, which check, and what to do about it."""

    level: Level
    item: str
    check: str
    message: str

    def line(self) -> str:
        return f"{self.level}: {self.item}: {self.check}: {self.message}"


def words(text: str) -> list[str]:
    """The words the story rules count (letters, digits, apostrophes; hyphenated words as one)."""
    return re.findall(r"[A-Za-z0-9']+(?:-[A-Za-z0-9']+)*", text)


def first_person_count(text: str) -> int:
    """Occurrences of I/me/my/... outside quoted speech (narration in the first person has several)."""
    return len(_FIRST_PERSON.findall(_QUOTED.sub(" ", text.replace("\u2019", "'")).lower()))


def check_story(story: Story, count_tokens: TokenCounter | None = None,
                emotions: Sequence[str] = ()) -> list[Finding]:
    """Rules for one story: emotion not named, length in words and tokens, narration matches ``person``."""
    out: list[Finding] = []
    hits = forbidden_hits(story.emotion, story.text)
    if hits:
        out.append(Finding("error", story.id, "forbidden-word",
                           f"names its emotion {story.emotion!r} as {sorted(set(hits))}; rewrite without it"))
    n_words = len(words(story.text))
    if not MIN_WORDS <= n_words <= MAX_WORDS:
        out.append(Finding("error", story.id, "length-words",
                           f"{n_words} words; stories need {MIN_WORDS} to {MAX_WORDS}"))
    if count_tokens is not None:
        n_tok = count_tokens(story.text)
        if n_tok < MIN_TOKENS:
            out.append(Finding("error", story.id, "length-tokens",
                               f"{n_tok} tokens; the recipe averages from token 50, so at least {MIN_TOKENS}"))
    fp = first_person_count(story.text)
    if story.person == "first" and fp < 2:
        out.append(Finding("error", story.id, "person", f"marked first person but narration has {fp} I/me/my"))
    if story.person == "third" and fp > 1:
        out.append(Finding("error", story.id, "person",
                           f"marked third person but narration has {fp} I/me/my outside quotes"))
    others = other_emotion_words(story.emotion, story.text, emotions)
    if others:
        out.append(Finding("warning", story.id, "other-emotion-word", f"also names {others}"))
    return out


def _shingles(text: str) -> set[tuple[str, ...]]:
    w = [x.lower() for x in words(text)]
    return {tuple(w[i : i + SHINGLE]) for i in range(max(0, len(w) - SHINGLE + 1))}


def near_duplicates(items: Sequence[tuple[str, str]], threshold: float = NEAR_DUPLICATE_JACCARD
                    ) -> list[tuple[str, str, float]]:
    """Pairs of ``(id, text)`` items whose word 5-gram sets overlap with Jaccard >= ``threshold``.

    Example:
        >>> a = "one two three four five six seven eight"
        >>> near_duplicates([("a", a), ("b", a), ("c", "something else entirely here now")])
        [('a', 'b', 1.0)]
    """
    sets = [_shingles(t) for _, t in items]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for g in s:
            index[g].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for members in index.values():
        if len(members) > 50:  # a stock phrase shared by many texts says nothing about any pair
            continue
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                shared[(members[a], members[b])] += 1
    out = []
    for (i, j), n in shared.items():
        jac = n / (len(sets[i]) + len(sets[j]) - n)
        if jac >= threshold:
            out.append((items[i][0], items[j][0], round(jac, 3)))
    return sorted(out)


def check_stories(stories: Sequence[Story], emotions: Sequence[str], topics: Iterable[Topic] | None = None,
                  count_tokens: TokenCounter | None = None, min_per_emotion: int = 12,
                  max_per_topic: int | None = 1, compared: Callable[[Story], str] | None = None) -> list[Finding]:
    """Every story rule plus the corpus rules: coverage, topics per emotion, person mix, duplicates, ids.

    ``max_per_topic`` caps one emotion's stories on one topic (1 for the hand-written corpus; ``None`` for a
    generated corpus that asks several stories per topic, as the paper did). ``compared`` gives the text compared
    for near-duplicates (a matched corpus leaves out the opening its frames share).
    """
    out: list[Finding] = []
    known = set(emotions)
    topic_ids = {t.id for t in topics} if topics is not None else None
    seen_ids: set[str] = set()
    by_emotion: dict[str, list[Story]] = defaultdict(list)
    for s in stories:
        if s.id in seen_ids:
            out.append(Finding("error", s.id, "duplicate-id", "id used twice; ids must be unique"))
        seen_ids.add(s.id)
        if s.emotion not in known:
            out.append(Finding("error", s.id, "unknown-emotion", f"{s.emotion!r} is not in the emotion list"))
        if topic_ids is not None and s.topic_id not in topic_ids:
            out.append(Finding("error", s.id, "unknown-topic", f"topic {s.topic_id!r} is not in topics.jsonl"))
        by_emotion[s.emotion].append(s)
        out += check_story(s, count_tokens, emotions)
    for e in emotions:
        group = by_emotion.get(e, [])
        if len(group) < min_per_emotion:
            out.append(Finding("error", e, "missing-stories", f"{len(group)} stories; need {min_per_emotion}"))
            continue
        over = [t for t, n in Counter(s.topic_id for s in group).items() if max_per_topic and n > max_per_topic]
        if over:
            out.append(Finding("error", e, "topic-reuse", f"more than {max_per_topic} stories on topics {over}"))
        first = sum(s.person == "first" for s in group)
        # about half: within a third either side, and never stricter than one story off an even split
        slack = max(len(group) / 6, 1.0)
        if abs(first - len(group) / 2) > slack:
            out.append(Finding("error", e, "person-mix", f"{first}/{len(group)} first person; aim for about half"))
    if topic_ids is not None:
        unused = topic_ids - {s.topic_id for s in stories}
        if unused:
            out.append(Finding("warning", "topics", "unused-topics", f"{len(unused)} topics have no story"))
    for a, b, jac in near_duplicates([(s.id, compared(s) if compared else s.text) for s in stories]):
        out.append(Finding("error", b, "near-duplicate", f"shares {jac:.0%} of its 5-grams with {a}; rewrite one"))
    return out


def dialogue_affect_hits(text: str, emotions: Sequence[str]) -> list[str]:
    """Pleasantries and emotion words (ignoring ones with technical senses) in a dialogue's text."""
    lowered = text.lower().replace("\u2019", "'")
    hits = [p for p in PLEASANTRIES if re.search(rf"\b{re.escape(p)}\b", lowered)]
    hits += [e for e in emotions if e not in POLYSEMOUS and re.search(rf"\b{re.escape(e)}\b", lowered)]
    return hits


def check_dialogues(dialogues: Sequence[Dialogue], emotions: Sequence[str], topics: Iterable[Topic] | None = None,
                    min_count: int = 0) -> list[Finding]:
    """Neutral-dialogue rules: 2 to 6 messages alternating from the Human, no affect, no pleasantries."""
    out: list[Finding] = []
    topic_ids = {t.id for t in topics} if topics is not None else None
    seen: set[str] = set()
    for d in dialogues:
        if d.id in seen:
            out.append(Finding("error", d.id, "duplicate-id", "id used twice"))
        seen.add(d.id)
        n = len(d.turns)
        if not MIN_DIALOGUE_MESSAGES <= n <= MAX_DIALOGUE_MESSAGES:
            out.append(Finding("error", d.id, "turns",
                               f"{n} messages; need {MIN_DIALOGUE_MESSAGES} to {MAX_DIALOGUE_MESSAGES}"))
        expected = ["human", "assistant"] * 6
        if [t.role for t in d.turns] != expected[:n]:
            out.append(Finding("error", d.id, "turn-order", "messages must alternate, starting with human"))
        texts = [t.text for t in d.turns] + ([d.system] if d.system else [])
        hits = sorted({h for t in texts for h in dialogue_affect_hits(t, emotions)})
        if hits:
            out.append(Finding("error", d.id, "affect", f"not neutral: {hits}"))
        if any("!" in t for t in texts if "```" not in t):
            out.append(Finding("warning", d.id, "exclamation", "an exclamation mark outside code"))
        if topic_ids is not None and d.topic_id is not None and d.topic_id not in topic_ids:
            out.append(Finding("error", d.id, "unknown-topic", f"topic {d.topic_id!r} is not in topics.jsonl"))
    if len(dialogues) < min_count:
        out.append(Finding("error", "dialogues", "count", f"{len(dialogues)} dialogues; need {min_count}"))
    for a, b, jac in near_duplicates([(d.id, d.plain_text()) for d in dialogues], threshold=0.5):
        out.append(Finding("error", b, "near-duplicate", f"shares {jac:.0%} of its 5-grams with {a}"))
    return out
