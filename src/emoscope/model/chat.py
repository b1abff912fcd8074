"""Turning text and conversations into tokens, with character offsets and per-token roles.

A conversation is a list of OpenAI-style messages (``{"role": "user", "content": "..."}``). A model with a
chat template uses it; a model without one (a base model) gets the plain format

    {system}\\n\\nHuman: {user}\\n\\nAssistant: {assistant}\\n\\nHuman: ...

and the generation prompt ``\\n\\nAssistant:``, so that the last token of a prompt ending in a user message
is the start of the Assistant turn (the paper's read-out point).

Example:
    >>> render_chat(tok, [{"role": "user", "content": "Hi"}], add_generation_prompt=True)  # doctest: +SKIP
    'Human: Hi\\n\\nAssistant:'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

ROLES = ("system", "user", "assistant")
_PLAIN_NAMES = {"user": "Human", "assistant": "Assistant"}


class ChatError(ValueError):
    """Malformed messages; the message says which one and why."""


def validate_messages(messages: Any) -> list[dict[str, str]]:
    """Check OpenAI-style messages and return them as plain dicts."""
    if not isinstance(messages, list) or not messages:
        raise ChatError("a conversation must be a non-empty JSON list of {\"role\", \"content\"} messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ChatError(f"message {i} must be an object with 'role' and 'content'")
        if m["role"] not in ROLES:
            raise ChatError(f"message {i} has role {m['role']!r}; use one of {', '.join(ROLES)}")
        if not isinstance(m["content"], str):
            raise ChatError(f"message {i} content must be a string")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def has_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _render_plain(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    parts = []
    for m in messages:
        parts.append(m["content"] if m["role"] == "system" else f"{_PLAIN_NAMES[m['role']]}: {m['content']}")
    text = "\n\n".join(parts)
    if add_generation_prompt:
        text += "\n\nAssistant:"
    return text


def render_chat(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """The conversation as the model sees it (its chat template, or the plain Human/Assistant format)."""
    messages = validate_messages(messages)
    if has_template(tokenizer):
        return str(tokenizer.apply_chat_template(messages, tokenize=False,
                                                 add_generation_prompt=add_generation_prompt))
    return _render_plain(messages, add_generation_prompt)


@dataclass(frozen=True)
class Encoded:
    """One tokenized item: ids, token strings, character offsets into ``text`` and, for chats, each token's
    role and turn (the index of its message; the generation prompt is turn ``len(messages)``)."""

    text: str
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]
    roles: list[str] | None = None
    turns: list[int] | None = None


def encode_text(tokenizer: Any, text: str, add_special_tokens: bool = True) -> Encoded:
    """Tokenize plain text with offsets."""
    if not text:
        raise ChatError("empty text: give at least one character to read")
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=add_special_tokens)
    ids = list(enc["input_ids"])
    offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    tokens = [text[a:b] if b > a else tokenizer.convert_ids_to_tokens(i)
              for i, (a, b) in zip(ids, offsets, strict=True)]
    return Encoded(text=text, ids=ids, tokens=tokens, offsets=offsets)


def encode_chat(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool | None = None
                ) -> Encoded:
    """Tokenize a conversation; each token's role is that of the message whose rendering contains it.

    By default a conversation whose last message is the user's gets the generation prompt, so that its last
    token is the start of the Assistant turn. Tokens of the generation prompt have role ``assistant``. A system
    prompt that the template adds by itself (SmolLM2, Qwen and Llama 3 templates do) has role ``system`` and
    turn ``-1``.
    """
    messages = validate_messages(messages)
    if add_generation_prompt is None:
        add_generation_prompt = messages[-1]["role"] == "user"
    text = render_chat(tokenizer, messages, add_generation_prompt)
    # Character boundaries of each message's rendering (templates render prefixes as prefixes).
    bounds: list[tuple[int, str, int]] = []
    implicit = _implicit_system(tokenizer, messages)
    if implicit and text.startswith(implicit):
        bounds.append((len(implicit), "system", -1))
    for k in range(1, len(messages) + 1):
        prefix = render_chat(tokenizer, messages[:k], False)
        end = len(prefix) if text.startswith(prefix) else text.find(messages[k - 1]["content"]) + len(
            messages[k - 1]["content"])
        bounds.append((end, messages[k - 1]["role"], k - 1))
    enc = encode_text(tokenizer, text, add_special_tokens=not has_template(tokenizer))
    roles, turns = [], []
    for a, _b in enc.offsets:
        role, turn = "assistant", len(messages)  # past the last message: the generation prompt
        for end, r, i in bounds:
            if a < end:
                role, turn = r, i
                break
        roles.append(role)
        turns.append(turn)
    return Encoded(text=enc.text, ids=enc.ids, tokens=enc.tokens, offsets=enc.offsets, roles=roles, turns=turns)


def _implicit_system(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The text a chat template puts before the first message on its own (a default system prompt), or "".

    Found as what rendering the first message alone puts in front of that message's own rendering after an
    empty system message; kept only if it names a system turn (Gemma, for one, merges a system message into the
    first user turn instead, and has no default).
    """
    if not has_template(tokenizer) or messages[0]["role"] == "system":
        return ""
    empty = {"role": "system", "content": ""}
    try:
        alone = render_chat(tokenizer, messages[:1])
        after = render_chat(tokenizer, [empty, messages[0]])
        system_only = render_chat(tokenizer, [empty])
    except Exception:  # templates that refuse a system role
        return ""
    if not after.startswith(system_only):
        return ""
    first = after[len(system_only):]  # the first message's own rendering
    if not first or not alone.endswith(first):
        return ""
    prefix = alone[: len(alone) - len(first)]
    return prefix if "system" in prefix.lower() and messages[0]["content"] not in prefix else ""


def pad_batch(items: list[list[int]], pad_id: int, side: str = "right") -> tuple[Tensor, Tensor]:
    """Pad token-id lists into ``(input_ids, attention_mask)`` tensors, on the left or the right."""
    if side not in ("left", "right"):
        raise ValueError("side must be 'left' or 'right'")
    width = max(len(x) for x in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for r, x in enumerate(items):
        sl = slice(width - len(x), width) if side == "left" else slice(0, len(x))
        ids[r, sl] = torch.tensor(x, dtype=torch.long)
        mask[r, sl] = 1
    return ids, mask


def encode_prefilled(tokenizer: Any, messages: list[dict[str, str]], assistant_prefix: str
                     ) -> tuple[Encoded, list[bool]]:
    """A conversation ending in a user message, plus the start of the Assistant's reply (``"He feels"``).

    Returns the encoding and, per token, whether it belongs to the Assistant turn (generation prompt and prefix).

    Example:
        >>> enc, in_reply = encode_prefilled(tok, [{"role": "user", "content": "Hi"}], "I feel")  # doctest: +SKIP
    """
    before = render_chat(tokenizer, messages, add_generation_prompt=False)
    text = render_chat(tokenizer, messages, add_generation_prompt=True)
    text += (" " if not has_template(tokenizer) else "") + assistant_prefix
    enc = encode_text(tokenizer, text, add_special_tokens=not has_template(tokenizer))
    reply = [a >= len(before) or b > len(before) for a, b in enc.offsets]
    return enc, reply
