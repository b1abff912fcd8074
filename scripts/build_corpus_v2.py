"""Assemble the matched corpus (v2) from the writers' frame files into src/emoscope/data/corpus_v2/.

    .venv/bin/python scripts/build_corpus_v2.py corpus_work/v2

Each frame file (``fNN.txt``: ``# frame: fNN`` then ``### <emotion>`` blocks holding the continuation) becomes
one story per emotion: the frame's shared opening, then the continuation. Writes stories.jsonl, topics.jsonl (the
frames as topics, then the v1 topics the neutral dialogues refer to), split.json (test frames held out, layer
frames kept for the layer choice) and a copy of the v1 neutral dialogues, so the directory is a complete corpus.
Only complete frames (all 171 emotions) are taken; the others are reported and left out.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from emoscope.catalogue import emotions  # noqa: E402
from emoscope.corpus.frames import assemble, load_frames  # noqa: E402
from emoscope.corpus.records import write_jsonl_atomic, write_text_atomic  # noqa: E402


def parse(path: Path) -> tuple[str, dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    m = re.search(r"^# frame: (\S+)", text, re.M)
    if m is None:
        raise SystemExit(f"{path}: no '# frame:' line")
    out: dict[str, str] = {}
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        out[head.strip()] = " ".join(body.split())
    return m.group(1), out


def main(work: Path) -> None:
    dest = ROOT / "src" / "emoscope" / "data" / "corpus_v2"
    frames = load_frames(dest / "frames.jsonl")
    wanted = emotions()
    conts: dict[str, dict[str, str]] = {}
    for path in sorted(work.glob("f*.txt")):
        fid, versions = parse(path)
        if set(versions) >= set(wanted):
            conts[fid] = {e: versions[e] for e in wanted}
        else:
            print(f"{fid}: {len(set(versions) & set(wanted))} of {len(wanted)} emotions; left out")
    used = [f for f in frames if f.id in conts]
    write_jsonl_atomic(dest / "stories.jsonl", assemble(used, conts))
    v1 = ROOT / "src" / "emoscope" / "data" / "corpus"
    topics = [{"id": f.id, "text": f"{f.setting}: {f.event}"} for f in used]
    topics += [json.loads(x) for x in (v1 / "topics.jsonl").read_text().splitlines() if x.strip()]
    write_jsonl_atomic(dest / "topics.jsonl", topics)
    split = {"heldout_topics": [f.id for f in used if f.split == "test"],
             "layer_topics": [f.id for f in used if f.split == "layer"]}
    write_text_atomic(dest / "split.json", json.dumps(split, indent=1) + "\n")
    shutil.copyfile(v1 / "neutral_dialogues.jsonl", dest / "neutral_dialogues.jsonl")
    print(f"{len(used)} frames, {sum(len(v) for v in conts.values())} stories -> {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "corpus_work" / "v2"))
