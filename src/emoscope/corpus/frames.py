"""The matched design (corpus v2): scene frames, each written once for every emotion, and the style rules that keep
a frame's versions alike in everything but the emotion.

A frame fixes the setting, the people, what happens, the point of view and the narrative **mode**; every version
starts with the frame's shared ``opening`` (about 40 words, neutral, so the tokens the recipe skips are the same
for all emotions) and continues with 55 to 85 words written for one emotion. Modes:

``dialogue``  two to four quoted utterances carrying at least a fifth of the continuation's words;
``action``    no quoted speech and at most one verb of thinking: the body, actions and the scene;
``thought``   no quoted speech; inner thought (at least one verb of thinking or a question);
``mixed``     one or two quoted segments of at most 25 words in all, with action and thought around them.

Rules checked for every version: the shared opening verbatim, the continuation's length, the mode, the person of
the narration, the emotion never named (nor its direct synonyms), no near-duplicate of another version.

Example:
    >>> f = Frame("f99", "train", "action", "third", "a yard", "Ana", "rain", "Ana stood in the yard.")
    >>> [x.check for x in check_version(f, "calm", "Ana stood in the yard. " + "She waited. " * 30)]
    ['length-words']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emoscope.corpus.checks import Finding, first_person_count, near_duplicates, words
from emoscope.corpus.records import CorpusError, read_jsonl
from emoscope.corpus.rules import forbidden_hits, other_emotion_words

FRAMES_FILE = "frames.jsonl"
MODES = ("dialogue", "action", "thought", "mixed")
SPLITS = ("train", "layer", "test")  # build the vectors / choose the layer / report held-out figures
CONTINUATION_WORDS = (55, 85)
_QUOTE = re.compile(r"\"([^\"]*)\"")
COGNITION = frozenset("""think thinks thought thoughts thinking wonder wonders wondered wondering know knows knew
    knowing realise realised realises realize realized realizes remember remembers remembered imagine imagined
    imagines suppose supposed decide decided decides believe believed figure figured guess guessed consider
    considered reckon reckoned maybe perhaps""".split())


@dataclass(frozen=True)
class Frame:
    """A scene to be told once per emotion."""

    id: str
    split: str
    mode: str
    person: str
    setting: str
    people: str
    event: str
    opening: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Frame:
        f = cls(**{k: str(d[k]) for k in ("id", "split", "mode", "person", "setting", "people", "event", "opening")})
        if f.mode not in MODES or f.split not in SPLITS or f.person not in ("first", "third"):
            raise ValueError(f"frame {f.id}: mode must be one of {MODES}, split one of {SPLITS}, person first/third")
        return f

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def continuation(self, text: str) -> str:
        """What a version adds after the frame's shared opening (the whole text if it does not start with it)."""
        return text[len(self.opening):].strip() if text.startswith(self.opening) else text


def load_frames(path: str | Path) -> list[Frame]:
    """Frames from a JSONL file (``frames.jsonl`` of a matched corpus)."""
    out = []
    for n, d in read_jsonl(Path(path)):
        try:
            out.append(Frame.from_dict(d))
        except (KeyError, ValueError, TypeError) as exc:
            raise CorpusError(f"{path}:{n}: not a frame ({exc})") from None
    return out


def style_counts(text: str) -> dict[str, int]:
    """Quoted segments, words inside quotes, words of thinking and questions in ``text``."""
    quotes = _QUOTE.findall(text)
    lower = [w.lower() for w in words(_QUOTE.sub(" ", text))]
    return {"quotes": len(quotes), "quoted_words": sum(len(words(q)) for q in quotes),
            "cognition": sum(w in COGNITION for w in lower), "questions": _QUOTE.sub(" ", text).count("?")}


def mode_problems(mode: str, continuation: str) -> list[str]:
    """What in a continuation does not fit its frame's mode (empty when it fits)."""
    s = style_counts(continuation)
    n = max(len(words(continuation)), 1)
    if '"' in _QUOTE.sub("", continuation):
        return ["an unmatched double quote"]
    if mode == "dialogue":
        out = [] if 2 <= s["quotes"] <= 4 else [f"{s['quotes']} quoted segments; dialogue frames need 2 to 4"]
        if s["quoted_words"] < n / 5:
            out.append(f"{s['quoted_words']} of {n} words are speech; dialogue frames need at least a fifth")
        return out
    if mode == "action":
        out = [] if s["quotes"] == 0 else [f"{s['quotes']} quoted segments; action frames have no speech"]
        if s["cognition"] > 1:
            out.append(f"{s['cognition']} words of thinking; action frames allow one")
        return out
    if mode == "thought":
        out = [] if s["quotes"] == 0 else [f"{s['quotes']} quoted segments; thought frames have no speech"]
        if s["cognition"] + s["questions"] == 0:
            out.append("no word of thinking and no question; thought frames tell inner thought")
        return out
    out = [] if 1 <= s["quotes"] <= 2 else [f"{s['quotes']} quoted segments; mixed frames need 1 or 2"]
    if s["quoted_words"] > 25:
        out.append(f"{s['quoted_words']} words of speech; mixed frames allow 25")
    return out


def check_version(frame: Frame, emotion: str, text: str, emotions: Sequence[str] = ()) -> list[Finding]:
    """Every rule for one version (one emotion told on one frame)."""
    item = f"{frame.id}/{emotion}"
    if not text.startswith(frame.opening):
        return [Finding("error", item, "opening", "does not start with the frame's opening, word for word")]
    cont = frame.continuation(text)
    out: list[Finding] = []
    lo, hi = CONTINUATION_WORDS
    n = len(words(cont))
    if not lo <= n <= hi:
        out.append(Finding("error", item, "length-words", f"continuation of {n} words; write {lo} to {hi}"))
    out += [Finding("error", item, "mode", f"{frame.mode}: {p}") for p in mode_problems(frame.mode, cont)]
    fp = first_person_count(text)
    if frame.person == "first" and fp < 2:
        out.append(Finding("error", item, "person", f"first-person frame but narration has {fp} I/me/my"))
    if frame.person == "third" and first_person_count(cont) > 0:
        out.append(Finding("error", item, "person", "third-person frame but the continuation says I/me/my "
                                                    "outside quotes"))
    hits = forbidden_hits(emotion, cont)
    if hits:
        out.append(Finding("error", item, "forbidden-word", f"names {emotion!r} as {sorted(set(hits))}"))
    others = other_emotion_words(emotion, cont, emotions)
    if others:
        out.append(Finding("warning", item, "other-emotion-word", f"also names {others}"))
    return out


def check_frame(frame: Frame, versions: Mapping[str, str], emotions: Sequence[str], duplicates: bool = True
                ) -> list[Finding]:
    """A frame's versions: one per emotion, each passing :func:`check_version`, and (``duplicates``) none a
    near-duplicate of another (the shared opening left out of the comparison)."""
    out: list[Finding] = []
    missing = [e for e in emotions if e not in versions]
    if missing:
        out.append(Finding("error", frame.id, "coverage", f"{len(missing)} emotions missing, e.g. {missing[:5]}"))
    extra = [e for e in versions if e not in emotions]
    if extra:
        out.append(Finding("error", frame.id, "coverage", f"unknown emotions {extra[:5]}"))
    for e, text in versions.items():
        out += check_version(frame, e, text, emotions)
    if not duplicates:
        return out
    for a, b, j in near_duplicates([(e, frame.continuation(t)) for e, t in versions.items()]):
        out.append(Finding("error", f"{frame.id}/{a}", "near-duplicate", f"overlaps {frame.id}/{b} (5-gram "
                                                                          f"Jaccard {j:.2f}); rewrite one"))
    return out


def assemble(frames: Sequence[Frame], continuations: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """Story records (``stories.jsonl`` lines) from each frame's continuations per emotion: the shared opening,
    a space, the continuation; the frame is the story's topic.

    Example:
        >>> f = Frame("f00", "train", "action", "third", "s", "p", "e", "Ana sat down.")
        >>> assemble([f], {"f00": {"calm": "She breathed out."}})[0]["text"]
        'Ana sat down. She breathed out.'
    """
    out = []
    for f in frames:
        for emotion, cont in continuations.get(f.id, {}).items():
            out.append({"id": f"{emotion.replace(' ', '_')}-{f.id}", "emotion": emotion, "topic_id": f.id,
                        "person": f.person, "text": f"{f.opening} {' '.join(cont.split())}"})
    return out


def frame_balance(frames: Iterable[Frame]) -> dict[str, dict[str, int]]:
    """Frames per split by mode and person (the design should balance them)."""
    out: dict[str, dict[str, int]] = {}
    for f in frames:
        row = out.setdefault(f.split, {})
        for key in (f.mode, f.person):
            row[key] = row.get(key, 0) + 1
    return out
