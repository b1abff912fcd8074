"""Validating a corpus directory or file, and counting what it holds (the data card's numbers).

Example:
    >>> findings = validate_path(None, count_tokens=None)  # the shipped corpus
    >>> [f.line() for f in findings if f.level == "error"]
    []
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from emoscope.catalogue import emotions as catalogue_emotions
from emoscope.corpus import Corpus
from emoscope.corpus.checks import Finding, TokenCounter, check_dialogues, check_stories
from emoscope.corpus.frames import FRAMES_FILE, Frame, check_frame, load_frames
from emoscope.corpus.records import CorpusError, load_dialogues, load_stories, read_jsonl


def _stories_split_findings(corpus: Corpus, per_emotion: int = 2) -> list[Finding]:
    """Each emotion needs ``per_emotion`` held-out stories on topics none of its training stories use."""
    out = []
    train_topics: dict[str, set[str]] = {}
    for s in corpus.train_stories():
        train_topics.setdefault(s.emotion, set()).add(s.topic_id)
    held: Counter[str] = Counter()
    for s in corpus.heldout_stories():
        if s.topic_id not in train_topics.get(s.emotion, set()):
            held[s.emotion] += 1
    for e in corpus.emotions():
        if held[e] < per_emotion:
            out.append(Finding("error", e, "split", f"{held[e]} held-out stories; need {per_emotion}"))
    return out


def validate_path(path: str | Path | None, count_tokens: TokenCounter | None = None, min_per_emotion: int = 12,
                  min_dialogues: int = 400, max_per_topic: int | None = 1) -> list[Finding]:
    """All findings for a corpus directory, or for a single stories or dialogues JSONL file."""
    emos = catalogue_emotions()
    p = Path(path) if path is not None else None
    if p is not None and p.is_file():
        first = next((obj for _, obj in read_jsonl(p)), None)
        if first is None:
            raise CorpusError(f"{p} is empty")
        if "turns" in first:
            return check_dialogues(load_dialogues(p), emos)
        stories = load_stories(p)
        present = [e for e in emos if e in {s.emotion for s in stories}]
        return check_stories(stories, present, None, count_tokens, min_per_emotion, max_per_topic)
    corpus = Corpus.load(p)
    frames = load_frames(corpus.root / FRAMES_FILE) if (corpus.root / FRAMES_FILE).is_file() else []
    if frames:
        return _framed(corpus, frames, emos, count_tokens, min_dialogues)
    found = check_stories(corpus.stories, emos, corpus.topics or None, count_tokens, min_per_emotion, max_per_topic)
    found += check_dialogues(corpus.dialogues, emos, corpus.topics or None, min_dialogues)
    found += _stories_split_findings(corpus)
    return found


def _framed(corpus: Corpus, frames: list[Frame], emos: list[str], count_tokens: TokenCounter | None,
            min_dialogues: int) -> list[Finding]:
    """A matched corpus: every frame told once per emotion, each version passing the frame's style rules, and the
    usual story, dialogue and split rules (near-duplicates compared without the shared openings)."""
    by_id = {f.id: f for f in frames}
    found: list[Finding] = []
    versions: dict[str, dict[str, str]] = {f.id: {} for f in frames}
    for s in corpus.stories:
        frame = by_id.get(s.topic_id)
        if frame is None:
            found.append(Finding("error", s.id, "unknown-frame", f"topic {s.topic_id!r} is not in {FRAMES_FILE}"))
            continue
        if s.person != frame.person:
            found.append(Finding("error", s.id, "person", f"frame {frame.id} is told in the {frame.person} person"))
        versions[frame.id][s.emotion] = s.text
    for f in frames:  # near-duplicates: once below, across the whole corpus
        found += check_frame(f, versions[f.id], emos, duplicates=False)

    def continuation(s: Any) -> str:
        f = by_id.get(s.topic_id)
        return str(s.text) if f is None else f.continuation(s.text)

    found += [x for x in check_stories(corpus.stories, emos, corpus.topics or None, count_tokens, len(frames), 1,
                                       continuation)
              if x.check not in ("forbidden-word", "person", "other-emotion-word", "person-mix")]  # by frame
    found += check_dialogues(corpus.dialogues, emos, corpus.topics or None, min_dialogues)
    found += _stories_split_findings(corpus)
    return found


def corpus_counts(corpus: Corpus, count_tokens: TokenCounter | None = None) -> dict[str, Any]:
    """Counts for the data card: stories per emotion, person and split, topics, dialogues per kind, lengths."""
    stories = corpus.stories
    words = [len(s.text.split()) for s in stories]
    per_emotion = Counter(s.emotion for s in stories)
    out: dict[str, Any] = {
        "stories": len(stories),
        "emotions": len(per_emotion),
        "stories_per_emotion": {"min": min(per_emotion.values()), "max": max(per_emotion.values())},
        "person": dict(Counter(s.person for s in stories)),
        "split": {"train": len(corpus.train_stories()), "heldout": len(corpus.heldout_stories()),
                  "heldout_topics": len(corpus.heldout_topics or [])},
        "topics": len(corpus.topics),
        "topics_used": len({s.topic_id for s in stories}),
        "stories_per_topic": {"min": min(Counter(s.topic_id for s in stories).values()),
                              "max": max(Counter(s.topic_id for s in stories).values())},
        "words": {"min": min(words), "mean": round(sum(words) / len(words), 1), "max": max(words),
                  "total": sum(words)},
        "dialogues": len(corpus.dialogues),
        "dialogue_kinds": dict(sorted(Counter(d.kind for d in corpus.dialogues).items())),
        "dialogue_messages": dict(sorted(Counter(len(d.turns) for d in corpus.dialogues).items())),
        "dialogues_with_system_prompt": sum(d.system is not None for d in corpus.dialogues),
        "sha256": corpus.sha256(),
    }
    if count_tokens is not None:
        toks = [count_tokens(s.text) for s in stories]
        out["tokens"] = {"min": min(toks), "mean": round(sum(toks) / len(toks), 1), "max": max(toks),
                         "total": sum(toks)}
    return out


def counts_markdown(counts: dict[str, Any]) -> str:
    """The counts as a Markdown table (pasted into CARD.md by ``emoscope corpus card``)."""
    rows = ["| what | count |", "|---|---|"]
    for k, v in counts.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}: {b}" for a, b in v.items())
        rows.append(f"| {k.replace('_', ' ')} | {v} |")
    return "\n".join(rows)


CARD_BEGIN, CARD_END = "<!-- counts:begin (emoscope corpus card --write) -->", "<!-- counts:end -->"


def card_section(corpus: Corpus, count_tokens: TokenCounter | None = None) -> str:
    """The generated part of a data card: counts and validator results, with the command that made them."""
    counts = corpus_counts(corpus, count_tokens)
    findings = validate_path(corpus.root, count_tokens)
    errors = sum(f.level == "error" for f in findings)
    by_check = Counter(f.check for f in findings if f.level == "warning")
    lines = ["Generated by `emoscope corpus card --write`; do not edit by hand.", "", counts_markdown(counts), "",
             f"Validators (`emoscope corpus validate`): {errors} errors, {len(findings) - errors} warnings"
             + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(by_check.items()))})" if by_check else "") + "."]
    return "\n".join(lines)


def update_card(card: Path, section: str) -> Path:
    """Replace the generated section of ``card`` (between the markers), or append it."""
    from emoscope.corpus.records import write_text_atomic

    text = card.read_text(encoding="utf-8") if card.exists() else "# Data card\n"
    block = f"{CARD_BEGIN}\n{section}\n{CARD_END}"
    if CARD_BEGIN in text and CARD_END in text:
        head, rest = text.split(CARD_BEGIN, 1)
        text = head + block + rest.split(CARD_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_text_atomic(card, text)
    return card


def card_is_current(card: Path, section: str) -> bool:
    """Whether ``card`` holds exactly this generated section."""
    return card.exists() and f"{CARD_BEGIN}\n{section}\n{CARD_END}" in card.read_text(encoding="utf-8")
