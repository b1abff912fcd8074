"""Atomic writes: the target appears whole or not at all, with ordinary permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from emoscope.atomic import atomic_file


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(p) as fh:
        fh.write("new, half")
        raise RuntimeError("interrupted")
    assert p.read_text() == "old" and [q.name for q in tmp_path.iterdir()] == ["x.txt"]


def test_written_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "y.json") as fh:
            fh.write("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "y.json").stat().st_mode) == 0o644


def test_public_names_stay_functions_after_their_modules_are_imported() -> None:
    import importlib

    import emoscope

    for mod in ("emoscope.steering", "emoscope.extraction", "emoscope.read", "emoscope.validation.run",
                "emoscope.model.generate"):
        importlib.import_module(mod)
    for name in ("steer", "extract", "read_text", "read_chat", "validate", "generate_text", "load_model"):
        assert callable(getattr(emoscope, name)) and not isinstance(getattr(emoscope, name), type(emoscope)), name
