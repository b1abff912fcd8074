from __future__ import annotations

import pytest

from emoscope.catalogue import emotions
from emoscope.corpus.rules import forbidden_hits


@pytest.mark.parametrize(("emotion", "text", "hits"), [
    ("calm", "She stayed calm, then spoke calmly with great calmness.", ["calm", "calmly", "calmness"]),
    ("amused", "An amusing story; he was amused by the amusement.", ["amusing", "amused", "amusement"]),
    ("angry", "His anger grew and he shouted angrily.", ["anger", "angrily"]),
    ("at ease", "He was at ease, then felt at-ease again.", ["at ease", "at-ease"]),
    ("worn out", "I was worn-out and worn out.", ["worn-out", "worn out"]),
    ("grief-stricken", "Grief-stricken, grief filled her.", ["grief-stricken", "grief"]),
    ("self-confident", "She was confident.", ["confident"]),
    ("happy", "Happiness: she smiled happily, happier than ever.", ["happiness", "happily", "happier"]),
    ("desperate", "Despair and desperation.", ["despair", "desperation"]),
    ("hope", "She hoped and kept hoping, full of hope.", ["hoped", "hoping", "hope"]),
    ("sad", "Sadly, the sadness.", ["sadly", "sadness"]),
    ("worried", "She worries about everything.", ["worries"]),
])
def test_forbidden_forms_are_found(emotion: str, text: str, hits: list[str]) -> None:
    assert sorted(set(forbidden_hits(emotion, text))) == sorted(set(hits))


@pytest.mark.parametrize(("emotion", "text"), [
    ("mad", "He made tea and madly... no: he made a madrigal."),  # 'madly' is the only hit
    ("tense", "There were tens of them."),
    ("sad", "A saddle on the horse."),
    ("kind", "She lit a fire to kindle the wood."),
    ("hurt", "The car hurtled past."),
    ("calm", "A calamity in the night."),
])
def test_no_false_positives_from_other_words(emotion: str, text: str) -> None:
    hits = forbidden_hits(emotion, text)
    assert hits in ([], ["madly"])


def test_every_emotion_word_is_caught_in_its_own_story() -> None:
    for e in emotions():
        assert forbidden_hits(e, f"In the end she was {e} again."), e
