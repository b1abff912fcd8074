"""The corpus's record types and their JSONL files.

A corpus is a directory holding ``stories.jsonl`` (one :class:`Story` per line),
``neutral_dialogues.jsonl`` (one :class:`Dialogue` per line) and ``topics.jsonl``
(``{"id": ..., "text": ...}`` per line); ``split.json`` (``{"heldout_topics": [...]}``) is optional.
The format is documented in ``docs/formats.md``.

Example:
    >>> s = Story(id="calm-00", emotion="calm", topic_id="t001", person="first", text="...")
    >>> Story.from_dict(s.to_dict()) == s
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from emoscope.atomic import atomic_file

Person = Literal["first", "third"]
Role = Literal["system", "human", "assistant"]

STORIES_FILE = "stories.jsonl"
DIALOGUES_FILE = "neutral_dialogues.jsonl"
TOPICS_FILE = "topics.jsonl"
SPLIT_FILE = "split.json"


class CorpusError(ValueError):
    """A corpus file is missing or malformed; the message names the file, line and fix."""


@dataclass(frozen=True)
class Story:
    """One short story in which a character feels ``emotion`` without it being named."""

    id: str
    emotion: str
    topic_id: str
    person: Person
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Story:
        person = d["person"]
        if person not in ("first", "third"):
            raise ValueError(f"person must be 'first' or 'third', got {person!r}")
        return cls(id=str(d["id"]), emotion=str(d["emotion"]), topic_id=str(d["topic_id"]),
                   person=person, text=str(d["text"]))


@dataclass(frozen=True)
class Turn:
    """One message of a dialogue."""

    role: Role
    text: str


@dataclass(frozen=True)
class Dialogue:
    """An emotionally neutral exchange between a Human and an Assistant (optionally with a system prompt)."""

    id: str
    kind: str
    turns: tuple[Turn, ...]
    topic_id: str | None = None
    system: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "topic_id": self.topic_id, "system": self.system,
                             "turns": [{"role": t.role, "text": t.text} for t in self.turns]}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dialogue:
        turns = []
        for t in d["turns"]:
            if t["role"] not in ("human", "assistant"):
                raise ValueError(f"turn role must be 'human' or 'assistant', got {t['role']!r}")
            turns.append(Turn(role=t["role"], text=str(t["text"])))
        return cls(id=str(d["id"]), kind=str(d.get("kind", "general")), turns=tuple(turns),
                   topic_id=d.get("topic_id"), system=d.get("system"))

    def messages(self) -> list[dict[str, str]]:
        """OpenAI-style messages (``system``/``user``/``assistant``) for a chat template."""
        out = [{"role": "system", "content": self.system}] if self.system else []
        out += [{"role": "user" if t.role == "human" else "assistant", "content": t.text} for t in self.turns]
        return out

    def plain_text(self) -> str:
        """The paper's raw transcript form: ``Human: ...\\n\\nAssistant: ...``."""
        parts = [self.system] if self.system else []
        parts += [f"{'Human' if t.role == 'human' else 'Assistant'}: {t.text}" for t in self.turns]
        return "\n\n".join(parts)


@dataclass(frozen=True)
class Topic:
    """A valence-neutral premise any emotion can be told on."""

    id: str
    text: str


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; a bad line raises :class:`CorpusError`."""
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{n}: not valid JSON ({exc.msg}); fix or remove that line") from None
            if not isinstance(obj, dict):
                raise CorpusError(f"{path}:{n}: each line must be a JSON object")
            yield n, obj


def _load(path: Path, make: Any) -> list[Any]:
    out = []
    for n, obj in read_jsonl(path):
        try:
            out.append(make(obj))
        except (KeyError, ValueError, TypeError) as exc:
            raise CorpusError(f"{path}:{n}: bad record ({exc}); see docs/formats.md") from None
    return out


def load_stories(path: Path) -> list[Story]:
    """Read a stories JSONL file."""
    return _load(path, Story.from_dict)


def load_dialogues(path: Path) -> list[Dialogue]:
    """Read a neutral-dialogues JSONL file."""
    return _load(path, Dialogue.from_dict)


def load_topics(path: Path) -> list[Topic]:
    """Read a topics JSONL file."""
    return _load(path, lambda d: Topic(id=str(d["id"]), text=str(d["text"])))


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write records to ``path`` through a temporary file and a rename: never half-written."""
    with atomic_file(path) as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_file(path) as fh:
        fh.write(text)
