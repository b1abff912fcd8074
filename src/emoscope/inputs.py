"""Reading user input files: a chat as JSON messages, and texts from a JSONL file (one object per line).

Errors are :class:`InputError` with a message naming the file, the line and the fix. Nothing here imports torch.

Example:
    >>> import json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "texts.jsonl"
    >>> _ = path.write_text('{"text": "the lamp"}\\n{"id": "b", "text": "the door"}\\n')
    >>> list(iter_texts(path))
    [('1', 'the lamp'), ('b', 'the door')]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """An input file cannot be read or lacks what is needed; the message says which line and what to write."""


def read_chat_file(path: Path) -> Any:
    """Messages from a JSON file: a list of ``{"role", "content"}``, or an object with a ``"messages"`` list.

    The messages themselves are checked where they are encoded (:func:`emoscope.model.chat.validate_messages`).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "chat.json"
        >>> _ = path.write_text('{"messages": [{"role": "user", "content": "hi"}]}')
        >>> read_chat_file(path)
        [{'role': 'user', 'content': 'hi'}]
    """
    try:
        msgs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read --chat {path}: {exc}") from None
    if isinstance(msgs, dict) and "messages" in msgs:
        msgs = msgs["messages"]
    return msgs


def iter_texts(path: Path, field: str = "text", hint: str = "") -> Iterator[tuple[str, str]]:
    """``(id, text)`` per line of a JSONL file, streamed; ``id`` is the line's ``"id"`` or its line number.

    A line without a non-empty ``field`` string raises :class:`InputError`; ``hint`` is appended to that message
    (e.g. ``" (or choose --field)"``).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
        >>> _ = path.write_text('{"body": "x"}\\n')
        >>> list(iter_texts(path, "body"))
        [('1', 'x')]
    """
    from emoscope.corpus.records import read_jsonl

    for n, obj in read_jsonl(path):
        text = obj.get(field)
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{n}: each line needs a non-empty \"{field}\" string{hint}")
        yield str(obj.get("id", n)), text


def load_texts(path: Path, field: str = "text") -> list[str]:
    """All texts of a JSONL file (see :func:`iter_texts`); an empty file raises :class:`InputError`.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
        >>> _ = path.write_text('{"text": "a"}\\n{"text": "b"}\\n')
        >>> load_texts(path)
        ['a', 'b']
    """
    texts = [text for _, text in iter_texts(path, field)]
    if not texts:
        raise InputError(f"{path} has no texts")
    return texts
