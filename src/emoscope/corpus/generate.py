"""Generating stories and neutral dialogues with a language model, at any scale, resumably.

The prompts follow the paper's design, in our own words: ``n`` stories per emotion and topic, a mix of first
and third person, the emotion conveyed but never named; neutral dialogues between a Person and an AI with no
feeling and no pleasantries. The model is a local Hugging Face model (:class:`LocalBackend`) or any
OpenAI-compatible chat-completions endpoint (:class:`HTTPBackend`: llama.cpp server, vLLM, a hosted API).

Output goes to a corpus directory in the shipped format. Every item passes the validators before it is
appended (one write and fsync per request, so an interrupted run loses at most the request in flight);
rejects go to ``rejects.jsonl`` with the reason. Running the same command again skips requests already done.

Example:
    >>> backend = HTTPBackend("http://127.0.0.1:8080", model="local")  # doctest: +SKIP
    >>> for event in generate_corpus(backend, "out/", emotions=["calm"], n_topics=2, stories_per_topic=3):
    ...     print(event)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import random
import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from emoscope.corpus.checks import TokenCounter, check_dialogues, check_story, first_person_count, near_duplicates
from emoscope.corpus.records import (
    DIALOGUES_FILE,
    STORIES_FILE,
    TOPICS_FILE,
    Dialogue,
    Person,
    Story,
    Topic,
    Turn,
    load_topics,
    write_jsonl_atomic,
)
from emoscope.progress import Progress

REJECTS_FILE = "rejects.jsonl"

STORY_PROMPT = """Write {count} based on this premise: {topic}

In each story a character feels {emotion}. Rules:
- Never use the word "{emotion}", any form of it, or any word that means the same thing.
- Show the feeling only through what the character does, what their body feels, what they say and how, what they \
think, and the situation around them. A reader must be able to tell the feeling clearly.
- Each story is one paragraph of about 120 words and starts afresh: no story continues another.
- Vary the wording, the names, the ages and the places. Tell about half of the stories in the first person \
("I") and half in the third person ("he", "she", a name).

Write each story after a line of the form [story 1], [story 2] and so on, and nothing else."""
SINGLE_STORY_PROMPT = """Write a short story of about 120 words, one paragraph, based on this premise: {topic}

The main character feels {emotion}. Never use the word "{emotion}" or any word that means the same thing: show \
the feeling through what the character does, feels in their body, says and thinks. Write only the story."""

DIALOGUE_PROMPT = """Write {n} different short dialogues between a Person and an AI assistant. {subject}

Rules:
- The Person speaks first. Each dialogue has 1 to 3 exchanges.
- Strictly neutral: neither speaker expresses or implies any feeling, and there are no pleasantries (no thanks, \
no apologies, no "great question", no "happy to help"). Plain, matter-of-fact information only.
- Start every turn with "Person:" or "AI:" on a new line.

Write each dialogue after a line of the form [dialogue 1], [dialogue 2] and so on, and nothing else."""

DIALOGUE_SUBJECTS = {
    "topic": "The Person asks a practical, factual question that arises from this premise: {topic}",
    "code": "The Person asks for help with a programming task.",
    "fact": "The Person asks a factual question about science, history, mathematics or geography.",
    "howto": "The Person asks how to do a practical everyday task.",
    "work": "The Person asks for help with a work task such as summarising, formatting or planning.",
}


class GenerationError(RuntimeError):
    """A backend failed (unreachable endpoint, bad response)."""


class ChatBackend(Protocol):
    """Anything that turns chat messages into one completion."""

    @property
    def name(self) -> str: ...

    def complete(self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int) -> str: ...


@dataclass
class HTTPBackend:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint, over plain HTTP(S) from the standard library."""

    url: str
    model: str = "default"
    api_key: str | None = None
    timeout: float = 300.0

    @property
    def name(self) -> str:
        return f"{self.model} via {self.url}"

    def endpoint(self) -> str:
        u = self.url.rstrip("/")
        if u.endswith("/chat/completions"):
            return u
        return u + ("/chat/completions" if u.endswith("/v1") else "/v1/chat/completions")

    def complete(self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": max_tokens,
                           "temperature": temperature, "seed": seed}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.endpoint(), data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise GenerationError(f"{self.endpoint()} answered HTTP {exc.code}: {exc.read()[:200]!r}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise GenerationError(f"cannot reach {self.endpoint()}: {exc}; is the server running?") from None
        except json.JSONDecodeError:
            raise GenerationError(f"{self.endpoint()} did not answer with JSON") from None
        try:
            return str(data["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise GenerationError(f"{self.endpoint()} answered without choices[0].message.content") from None


@dataclass
class LocalBackend:
    """A local Hugging Face causal LM (see :func:`emoscope.load_model`), sampling with its chat template."""

    lm: Any

    @property
    def name(self) -> str:
        return str(self.lm.name)

    def complete(self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int) -> str:
        from emoscope.model.chat import encode_chat
        from emoscope.model.generate import generate

        enc = encode_chat(self.lm.tokenizer, messages, add_generation_prompt=True)
        out = generate(self.lm, [enc.ids], max_tokens, do_sample=temperature > 0, temperature=max(temperature, 1e-5),
                       seed=seed, top_p=0.95)[0]
        return str(self.lm.tokenizer.decode(out, skip_special_tokens=True))


@dataclass(frozen=True)
class RequestOutcome:
    """What one generation request gave: items kept and rejected, or nothing because an earlier run did it.

    Example:
        >>> RequestOutcome("story|calm|t001", accepted=2, rejected=1).note
        '+2 kept, 1 rejected'
    """

    key: str
    accepted: int = 0
    rejected: int = 0
    skipped: bool = False

    @property
    def kind(self) -> str:
        """``story`` or ``dialogue``."""
        return self.key.split("|", 1)[0]

    @property
    def note(self) -> str:
        """A short account: ``already done`` or ``+N kept, M rejected``."""
        return "already done" if self.skipped else f"+{self.accepted} kept, {self.rejected} rejected"


@dataclass
class GenerationTally:
    """The outcome of each request of a run, in order: the plain record beside :func:`generate_corpus`'s progress.

    Example:
        >>> tally = GenerationTally([RequestOutcome("a", 2, 1), RequestOutcome("b", skipped=True)])
        >>> tally.accepted, tally.rejected, tally.last.skipped
        (2, 1, True)
    """

    outcomes: list[RequestOutcome] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Items kept this run."""
        return sum(o.accepted for o in self.outcomes)

    @property
    def rejected(self) -> int:
        """Items rejected this run (reasons in ``rejects.jsonl``)."""
        return sum(o.rejected for o in self.outcomes)

    @property
    def last(self) -> RequestOutcome:
        """The latest request's outcome."""
        return self.outcomes[-1]


def split_numbered(text: str, label: str) -> list[str]:
    """Items of a reply written after ``[label 1]``, ``[label 2]``... markers.

    Example:
        >>> split_numbered("[story 1]\\nOne.\\n[story 2]\\nTwo.", "story")
        ['One.', 'Two.']
    """
    parts = re.split(rf"^\s*\[?\s*{label}\s*\d+\s*\]?\s*:?\s*$", text, flags=re.M | re.I)
    return [" ".join(p.split()) if label == "story" else p.strip() for p in parts[1:] if p.strip()]


def parse_dialogue(text: str) -> list[Turn]:
    """Turns of a dialogue written with ``Person:``/``AI:`` (or ``Human:``/``Assistant:``) prefixes."""
    turns: list[Turn] = []
    for line in text.splitlines():
        m = re.match(r"^\s*\**(Person|Human|User|AI|Assistant)\**\s*:\s*(.*)$", line, re.I)
        if m:
            role = "human" if m.group(1).lower() in ("person", "human", "user") else "assistant"
            turns.append(Turn(role=role, text=m.group(2).strip()))  # type: ignore[arg-type]
        elif turns and line.strip():
            turns[-1] = Turn(role=turns[-1].role, text=f"{turns[-1].text}\n{line.rstrip()}")
    return turns


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "_", s.lower()).strip("_")


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file written by this module; a torn last line (from a crash) is dropped."""
    if not path.exists():
        return []
    out, keep = [], []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            out.append(json.loads(line))
            keep.append(line if line.endswith("\n") else line + "\n")
        except json.JSONDecodeError:
            continue
    text = "".join(keep)
    if text != path.read_text(encoding="utf-8"):
        path.write_text(text, encoding="utf-8")
    return out


def _append(path: Path, records: Sequence[dict[str, Any]]) -> None:
    if not records:
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        fh.flush()
        os.fsync(fh.fileno())


def generate_corpus(backend: ChatBackend, out: str | Path, emotions: Sequence[str],
                    topics: Sequence[Topic] | None = None, n_topics: int = 100, stories_per_topic: int = 12,
                    dialogues_per_topic: int = 0,
                    dialogue_kinds: Sequence[str] = ("topic", "code", "fact", "howto", "work"),
                    count_tokens: TokenCounter | None = None, max_tokens: int = 2048, temperature: float = 0.9,
                    seed: int = 0, tally: GenerationTally | None = None) -> Iterator[Progress]:
    """Generate a corpus into ``out``, resuming where an earlier run stopped; yields a progress event per request.

    Each event (stage ``requests``) is one request of ``total``; ``cached`` marks a request done by an earlier run,
    and ``note`` reads ``KEY: +N kept, M rejected``. Pass a :class:`GenerationTally` to also get each request's
    counts as numbers (it is filled before each event is yielded).
    """
    record = tally if tally is not None else GenerationTally()

    def outcome(o: RequestOutcome, n: int, total: int) -> Progress:
        record.outcomes.append(o)
        return Progress("requests", n, total, cached=o.skipped, note=f"{o.key}: {o.note}")

    from emoscope.catalogue import emotions as catalogue
    from emoscope.corpus import default_corpus_dir

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    unknown = [e for e in emotions if e not in catalogue()]
    if unknown:
        raise ValueError(f"unknown emotions {unknown}; `emoscope emotions` lists the 171 names")
    if topics is None:
        topics = load_topics(default_corpus_dir() / TOPICS_FILE)[:n_topics]
    write_jsonl_atomic(root / TOPICS_FILE, [{"id": t.id, "text": t.text} for t in topics])
    stories_path, dialogues_path, rejects_path = root / STORIES_FILE, root / DIALOGUES_FILE, root / REJECTS_FILE
    done_keys = {r["request"] for r in _read_lines(stories_path) + _read_lines(dialogues_path)
                 + _read_lines(rejects_path) if "request" in r}
    stories_path.touch()
    dialogues_path.touch()
    accepted_texts: dict[str, list[tuple[str, str]]] = {}  # per emotion, and "" for dialogues
    for r in _read_lines(stories_path):
        accepted_texts.setdefault(r["emotion"], []).append((r["id"], r["text"]))
    for r in _read_lines(dialogues_path):
        accepted_texts.setdefault("", []).append((r["id"], Dialogue.from_dict(r).plain_text()))

    jobs: list[tuple[str, str, Topic]] = [("story", e, t) for e in emotions for t in topics]
    jobs += [("dialogue", kind, t) for t in topics for kind in dialogue_kinds if dialogues_per_topic > 0]
    for n, (kind, what, topic) in enumerate(jobs, 1):
        key = f"{kind}|{what}|{topic.id}"
        if key in done_keys:
            yield outcome(RequestOutcome(key, skipped=True), n, len(jobs))
            continue
        rng_seed = seed * 1_000_003 + n
        if kind == "story":
            prompt = (SINGLE_STORY_PROMPT.format(topic=topic.text, emotion=what) if stories_per_topic == 1 else
                      STORY_PROMPT.format(count=f"{stories_per_topic} different short stories", topic=topic.text,
                                          emotion=what))
            reply = backend.complete([{"role": "user", "content": prompt}], max_tokens, temperature, rng_seed)
            good, bad = _accept_stories(reply, what, topic, key, count_tokens, accepted_texts,
                                        single=stories_per_topic == 1)
            _append(stories_path, good)
        else:
            subject = DIALOGUE_SUBJECTS.get(what, DIALOGUE_SUBJECTS["fact"]).format(topic=topic.text)
            prompt = DIALOGUE_PROMPT.format(n=dialogues_per_topic, subject=subject)
            reply = backend.complete([{"role": "user", "content": prompt}], max_tokens, temperature, rng_seed)
            good, bad = _accept_dialogues(reply, what, topic, key, accepted_texts.setdefault("", []))
            _append(dialogues_path, good)
        # The request is marked done by its accepted items, or by this record when nothing was accepted.
        bad.append({"request": key, "reason": "request done", "accepted": len(good)})
        _append(rejects_path, bad)
        yield outcome(RequestOutcome(key, len(good), len(bad) - 1), n, len(jobs))


def _accept_stories(reply: str, emotion: str, topic: Topic, key: str, count_tokens: TokenCounter | None,
                    accepted: dict[str, list[tuple[str, str]]], single: bool = False
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    good: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    items = split_numbered(reply, "story")
    if not items and single and reply.strip():  # small models often drop the marker when asked for one story
        items = [" ".join(reply.split())]
    if not items:
        bad.append({"request": key, "reason": "no [story N] items in the reply", "text": reply[:500]})
    for i, text in enumerate(items):
        person: Person = "first" if first_person_count(text) >= 2 else "third"
        story = Story(id=f"{_slug(emotion)}-{topic.id}-{i:02d}", emotion=emotion, topic_id=topic.id, person=person,
                      text=text)
        errors = [f.message for f in check_story(story, count_tokens) if f.level == "error"]
        pool = accepted.setdefault(emotion, [])
        if _duplicates(pool, story.id, text):
            errors.append("near-duplicate of an accepted story")
        if errors:
            bad.append({"request": key, "reason": "; ".join(errors), "text": text})
            continue
        pool.append((story.id, text))
        good.append({**story.to_dict(), "request": key})
    return good, bad


def _duplicates(pool: list[tuple[str, str]], item_id: str, text: str, threshold: float = 0.25) -> bool:
    return any(item_id in (a, b) for a, b, _ in near_duplicates([*pool, (item_id, text)], threshold))


def _accept_dialogues(reply: str, kind: str, topic: Topic, key: str, pool: list[tuple[str, str]]
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from emoscope.catalogue import emotions as catalogue

    good: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    items = split_numbered(reply, "dialogue")
    if not items:
        bad.append({"request": key, "reason": "no [dialogue N] items in the reply", "text": reply[:500]})
    for i, text in enumerate(items):
        turns = parse_dialogue(text)
        d = Dialogue(id=f"{kind}-{topic.id}-{i:02d}", kind=kind, turns=tuple(turns),
                     topic_id=topic.id if kind == "topic" else None)
        errors = [f.message for f in check_dialogues([d], catalogue()) if f.level == "error"]
        if not turns:
            errors.append("no Person:/AI: turns")
        if _duplicates(pool, d.id, d.plain_text(), threshold=0.5):
            errors.append("near-duplicate of an accepted dialogue")
        if errors:
            bad.append({"request": key, "reason": "; ".join(errors), "text": text})
            continue
        pool.append((d.id, d.plain_text()))
        good.append({**d.to_dict(), "request": key})
    return good, bad


def sample_emotions(n: int, seed: int = 0) -> list[str]:
    """``n`` emotion words drawn reproducibly from the 171 (for small trial runs)."""
    from emoscope.catalogue import emotions

    return sorted(random.Random(seed).sample(emotions(), n), key=emotions().index)
