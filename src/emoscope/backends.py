"""Choosing the chat backend that writes a corpus or judges a rollout: a local model or an HTTP endpoint.

A backend is anything with ``complete(messages, max_tokens, temperature, seed) -> str``
(:class:`emoscope.corpus.generate.ChatBackend`). Local models are loaded through the ``load`` function given (so
this module imports no torch).

Example:
    >>> choose_judge("http://127.0.0.1:8080", "judge", load=lambda spec: None).name
    'judge via http://127.0.0.1:8080'
    >>> choose_judge(None, "default", load=lambda spec: None) is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emoscope.corpus.generate import ChatBackend, HTTPBackend, LocalBackend

LoadFn = Callable[[str], Any]
"""Loads a local model by spec (registered name, directory or Hugging Face id), e.g. ``emoscope.load_model``."""


class BackendError(ValueError):
    """The backend choice is ambiguous or incomplete; the message says which options to give."""


def is_endpoint(spec: str) -> bool:
    """Whether ``spec`` names an HTTP(S) endpoint rather than a local model.

    Example:
        >>> is_endpoint("https://api.example.com/v1"), is_endpoint("smollm2-135m-instruct")
        (True, False)
    """
    return spec.startswith(("http://", "https://"))


def choose_judge(judge: str | None, judge_model: str, load: LoadFn) -> ChatBackend | None:
    """The judge of a behaviour experiment: ``None``, an endpoint URL (asked for ``judge_model``), or a local model.

    Example:
        >>> choose_judge("https://judge.example", "big", load=lambda spec: None).endpoint()
        'https://judge.example/v1/chat/completions'
    """
    if judge is None:
        return None
    if is_endpoint(judge):
        return HTTPBackend(judge, judge_model)
    return LocalBackend(load(judge))


def choose_writer(model: str | None, endpoint: str | None, endpoint_model: str, api_key: str | None,
                  load: LoadFn) -> ChatBackend:
    """The backend writing a corpus: exactly one of a local ``model`` or an ``endpoint`` (with its ``api_key``).

    Example:
        >>> choose_writer(None, "http://127.0.0.1:8080", "local", None, load=lambda spec: None).name
        'local via http://127.0.0.1:8080'
        >>> choose_writer(None, None, "default", None, load=lambda spec: None)
        Traceback (most recent call last):
        ...
        emoscope.backends.BackendError: give exactly one of --model (a local model) or --endpoint (an HTTP server)
    """
    if (model is None) == (endpoint is None):
        raise BackendError("give exactly one of --model (a local model) or --endpoint (an HTTP server)")
    if endpoint is not None:
        return HTTPBackend(endpoint, endpoint_model, api_key)
    return LocalBackend(load(str(model)))
