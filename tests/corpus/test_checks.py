from __future__ import annotations

from emoscope.corpus.checks import check_dialogues, check_stories, check_story, near_duplicates
from emoscope.corpus.records import Dialogue, Story, Turn

LONG = ("The ferry horn sounded twice across the grey water and I counted the cars rolling off the ramp one at a "
        "time while the gulls argued over a dropped sandwich near the ticket office. My brother was supposed to "
        "be on the nine o'clock boat, and the nine o'clock boat had come and gone, and now the ten was tying up "
        "with a slow groan of rope against iron. I checked my phone again. Nothing. I walked to the end of the "
        "pier and back, my shoes loud on the planks, rehearsing what I would say to our mother if he was not on "
        "this one either, and my hands would not stay still in my pockets.")


def _story(**kw: object) -> Story:
    base = {"id": "s1", "emotion": "worried", "topic_id": "t1", "person": "first", "text": LONG}
    base.update(kw)
    return Story(**base)  # type: ignore[arg-type]


def test_a_good_story_passes() -> None:
    assert [f for f in check_story(_story(), lambda t: len(t.split()) * 2) if f.level == "error"] == []


def test_each_story_rule_fires() -> None:
    checks = {f.check for f in check_story(_story(text="I was worried. " * 3), lambda _t: 20)}
    assert {"forbidden-word", "length-words", "length-tokens"} <= checks
    third = {f.check for f in check_story(_story(person="third"))}
    assert "person" in third


def test_corpus_rules_find_missing_emotions_reused_topics_and_person_mix() -> None:
    stories = [_story(id=f"s{i}", topic_id="t1", text=LONG + f" Day {i}.") for i in range(3)]
    checks = {f.check for f in check_stories(stories, ["worried", "calm"], min_per_emotion=3)}
    assert {"missing-stories", "topic-reuse", "person-mix", "near-duplicate"} <= checks


def test_near_duplicates_ignore_different_texts() -> None:
    a = "one two three four five six seven eight nine ten"
    b = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    assert near_duplicates([("a", a), ("b", b)]) == []
    assert near_duplicates([("a", a), ("b", a + " eleven")])[0][:2] == ("a", "b")


def test_dialogue_rules() -> None:
    good = Dialogue("d1", "fact", (Turn("human", "What is the boiling point of water at sea level?"),
                                   Turn("assistant", "100 degrees Celsius at standard pressure.")))
    bad = Dialogue("d2", "fact", (Turn("assistant", "Great question! I'd be happy to help."),))
    assert [f for f in check_dialogues([good], ["happy"]) if f.level == "error"] == []
    checks = {f.check for f in check_dialogues([bad], ["happy"], min_count=2)}
    assert {"turns", "turn-order", "affect", "count"} <= checks
