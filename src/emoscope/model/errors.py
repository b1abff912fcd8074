"""The one error type of model loading (kept apart so that small loading modules can share it without cycles)."""

from __future__ import annotations


class ModelError(ValueError):
    """A model could not be found or loaded; the message says what to install or pass instead."""
