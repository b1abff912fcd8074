"""The examples in the docstrings run (those that need a real model are marked to skip)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["emoscope.atomic", "emoscope.catalogue", "emoscope.core.recipe", "emoscope.core.scores",
           "emoscope.corpus", "emoscope.corpus.checks", "emoscope.corpus.generate", "emoscope.corpus.records",
           "emoscope.corpus.rules", "emoscope.corpus.validate", "emoscope.model.layers", "emoscope.safetensors_io",
           "emoscope.bank", "emoscope.model.loading", "emoscope.model.hooks", "emoscope.read"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
