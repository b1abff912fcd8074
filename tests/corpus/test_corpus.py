from __future__ import annotations

import json
from pathlib import Path

import pytest

from emoscope.catalogue import emotions, load_norms
from emoscope.corpus import Corpus, CorpusError
from emoscope.corpus.validate import corpus_counts, validate_path

PAPER = Path(__file__).resolve().parents[3] / "shared" / "paper"


def test_emotion_list_is_the_papers() -> None:
    words = emotions()
    assert len(words) == len(set(words)) == 171
    assert {"hope", "hopeful", "at ease", "on edge", "worn out", "grief-stricken", "self-critical"} <= set(words)
    if PAPER.exists():
        assert words == [w.strip() for w in (PAPER / "emotions_171.txt").read_text().splitlines() if w.strip()]


def test_shipped_corpus_passes_every_validator() -> None:
    errors = [f.line() for f in validate_path(None) if f.level == "error"]
    assert errors == []


def test_shipped_corpus_shape() -> None:
    c = Corpus.load()
    counts = corpus_counts(c)
    assert counts["emotions"] == 171 and counts["stories_per_emotion"]["min"] >= 12
    assert counts["topics"] >= 100 and counts["dialogues"] >= 400
    held = {s.id for s in c.heldout_stories()}
    assert held and not held & {s.id for s in c.train_stories()}
    for e in emotions():  # at least 2 held-out stories per emotion, on topics its training stories never use
        train_topics = {s.topic_id for s in c.train_stories() if s.emotion == e}
        assert sum(s.topic_id not in train_topics for s in c.heldout_stories() if s.emotion == e) >= 2


def test_shipped_topics_are_ours_not_the_papers() -> None:
    if not PAPER.exists():
        pytest.skip("paper lists not present")
    paper = {t.strip().lower() for t in (PAPER / "topics_100.txt").read_text().splitlines()}
    assert not paper & {t.text.lower() for t in Corpus.load().topics}


def test_ratings_cover_every_word_and_user_norms_load(tmp_path: Path) -> None:
    r = load_norms()
    assert set(r) == set(emotions())
    assert all(1 <= v <= 7 and 1 <= a <= 7 for v, a in r.values())
    f = tmp_path / "norms.csv"
    f.write_text("word,valence,arousal,dominance\ncalm,7.1,2.0,5\n")
    assert load_norms(f) == {"calm": (7.1, 2.0)}


def test_bad_corpus_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        Corpus.load(tmp_path / "nope")
    (tmp_path / "stories.jsonl").write_text('{"id": 1}\n')
    (tmp_path / "neutral_dialogues.jsonl").write_text("")
    with pytest.raises(CorpusError, match=r"stories.jsonl:1: bad record"):
        Corpus.load(tmp_path)
    (tmp_path / "stories.jsonl").write_text("not json\n")
    with pytest.raises(CorpusError, match="not valid JSON"):
        Corpus.load(tmp_path)


def test_split_without_file_is_deterministic(tiny_corpus: Path) -> None:
    (tiny_corpus / "split.json").unlink()
    a, b = Corpus.load(tiny_corpus), Corpus.load(tiny_corpus)
    assert [s.id for s in a.heldout_stories()] == [s.id for s in b.heldout_stories()]
    assert len(a.heldout_stories()) == 2 * 3
    assert json.loads(json.dumps([s.id for s in a.train_stories()]))
