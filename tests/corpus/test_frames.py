"""The matched design's frames: style rules per mode, assembly, and validation of a framed corpus."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from emoscope.catalogue import emotions
from emoscope.corpus import default_corpus_dir
from emoscope.corpus.frames import Frame, assemble, check_version, frame_balance, load_frames, mode_problems
from emoscope.corpus.validate import validate_path

OPENING = ("The market hall was half empty at nine, and the stall holders were still unpacking crates of apples "
           "and onions under the tall windows. Ana set down her basket by the fish counter and looked along the "
           "row of tables toward the far door.")


def _frame(fid: str, mode: str = "action", split: str = "train") -> Frame:
    return Frame(fid, split, mode, "third", "a market hall", "Ana", "a morning at the market", OPENING)


def _filler(rng: random.Random, n: int = 64) -> str:
    return " ".join(f"zq{rng.randrange(10 ** 6)}" for _ in range(n)) + "."


def test_mode_rules() -> None:
    assert mode_problems("dialogue", '"Come here," she said. "Now, please, before the light goes." ' + "x " * 20) \
        == []
    assert mode_problems("dialogue", "She waited by the door. " * 8)[0].startswith("0 quoted segments")
    assert mode_problems("action", 'She thought and wondered. "Hi."')[:2] == [
        "1 quoted segments; action frames have no speech", "2 words of thinking; action frames allow one"]
    assert mode_problems("thought", "She walked on. " * 6) == [
        "no word of thinking and no question; thought frames tell inner thought"]
    assert mode_problems("mixed", '"' + "word " * 30 + '" she said.') == [
        "30 words of speech; mixed frames allow 25"]
    assert mode_problems("mixed", 'An odd " quote') == ["an unmatched double quote"]


def test_check_version_and_assemble() -> None:
    f = _frame("f00")
    rng = random.Random(0)
    good = f"{OPENING} {_filler(rng)}"
    assert check_version(f, "calm", good) == []
    checks = {x.check for x in check_version(f, "calm", f"{OPENING} I was calm and I sat. {_filler(rng, 60)}")}
    assert checks == {"person", "forbidden-word"}
    assert [x.check for x in check_version(f, "calm", _filler(rng))] == ["opening"]
    rows = assemble([f], {"f00": {"at ease": "She sat.  Down."}})
    assert rows == [{"id": "at_ease-f00", "emotion": "at ease", "topic_id": "f00", "person": "third",
                     "text": OPENING + " She sat. Down."}]


def test_shipped_frames_are_balanced() -> None:
    frames = load_frames(Path(default_corpus_dir()).parent / "corpus_v2" / "frames.jsonl")
    bal = frame_balance(frames)
    assert len([f for f in frames if f.split == "train"]) >= 24
    assert len({bal["train"][m] for m in ("dialogue", "action", "thought", "mixed")}) == 1
    assert bal["train"]["first"] == bal["train"]["third"]
    assert {f.split for f in frames} == {"train", "layer", "test"}
    assert all(30 <= len(f.opening.split()) <= 50 for f in frames)


@pytest.fixture()
def framed(tmp_path: Path) -> Path:
    """A matched corpus of five frames (two train, one layer, two test), every emotion told on each."""
    root = tmp_path / "v2"
    root.mkdir()
    frames = [_frame("f00"), _frame("f01", "thought"), _frame("f02", split="layer"), _frame("f03", split="test"),
              _frame("f04", split="test")]
    (root / "frames.jsonl").write_text("".join(json.dumps(f.to_dict()) + "\n" for f in frames))
    rng = random.Random(1)
    conts = {f.id: {e: (_filler(rng) + (" Maybe." if f.mode == "thought" else "")) for e in emotions()}
             for f in frames}
    (root / "stories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in assemble(frames, conts)))
    (root / "topics.jsonl").write_text("".join(json.dumps({"id": f.id, "text": f.event}) + "\n" for f in frames)
                                       + (default_corpus_dir() / "topics.jsonl").read_text())  # the dialogues' topics
    (root / "split.json").write_text(json.dumps({"heldout_topics": ["f03", "f04"], "layer_topics": ["f02"]}))
    shutil.copy(default_corpus_dir() / "neutral_dialogues.jsonl", root / "neutral_dialogues.jsonl")
    return root


def test_a_matched_corpus_validates_and_its_faults_are_found(framed: Path) -> None:
    errors = [f.line() for f in validate_path(framed, None) if f.level == "error"]
    assert errors == []
    lines = (framed / "stories.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    rows[0]["text"] += ' "Hello there."'  # speech in an action frame
    rows[1]["text"] = rows[1]["text"][10:]  # the opening changed
    del rows[2]  # an emotion missing from frame f00
    (framed / "stories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = {(f.item, f.check) for f in validate_path(framed, None) if f.level == "error"}
    assert ("f00/" + rows[0]["emotion"], "mode") in found
    assert ("f00/" + rows[1]["emotion"], "opening") in found
    assert ("f00", "coverage") in found
