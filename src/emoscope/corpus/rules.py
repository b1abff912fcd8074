"""Which words a story about an emotion may not use.

A story for ``desperate`` must convey the emotion without naming it: not the word, not its
inflections or derived forms (``desperately``, ``desperation``) and not an obvious direct
synonym (``despair``). This module turns each of the 171 emotion words into a matcher.

Example:
    >>> forbidden_hits("afraid", "She was not afraid. Fear is for others.")
    ['afraid', 'fear']
    >>> forbidden_hits("at ease", "He felt at ease by the fire.")
    ['at ease']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

# Endings that turn a root into an inflected or derived form of the same word.
_SUFFIXES: frozenset[str] = frozenset(
    """
    s es d ed ing ly ily ness nesses ment ments ement er ers est ful fully fulness ity ities ies ied ier iest
    ism ist ists ic ically ation ations ion ions ive ively ous ously ance ence y e
    """.split()
)
# Short roots (sad, mad) take only these, so that "made" never counts as "mad".
_SHORT_SUFFIXES: frozenset[str] = frozenset({"", "ly", "ness", "der", "dest", "den", "dened", "dening"})

# Obvious direct synonyms and root forms that inflection alone does not reach.
EXTRA_FORMS: dict[str, tuple[str, ...]] = {
    "afraid": ("fear", "fearful", "scared", "frightened", "terrified"),
    "alarmed": ("alarm",),
    "amazed": ("amaze", "amazing", "amazement"),
    "amused": ("amuse", "amusing", "amusement"),
    "angry": ("anger", "angrily", "furious", "irate"),
    "annoyed": ("annoy", "annoyance"),
    "anxious": ("anxiety", "anxieties"),
    "aroused": ("arousal", "arouse"),
    "ashamed": ("shame", "shameful"),
    "astonished": ("astonish", "astonishment"),
    "awestruck": ("awe", "awed", "awe-struck"),
    "bewildered": ("bewilder", "bewilderment"),
    "blissful": ("bliss",),
    "bored": ("bore", "boring", "boredom"),
    "calm": ("serene", "tranquil"),
    "brooding": ("brood",),
    "cheerful": ("cheer", "cheery"),
    "compassionate": ("compassion",),
    "contemptuous": ("contempt",),
    "content": ("contentment", "contented"),
    "defiant": ("defiance", "defy", "defied"),
    "delighted": ("delight", "delightful"),
    "depressed": ("depression", "depress"),
    "desperate": ("desperation", "despair"),
    "disdainful": ("disdain",),
    "disgusted": ("disgust", "disgusting"),
    "disoriented": ("disorient", "disorientation"),
    "distressed": ("distress",),
    "disturbed": ("disturb",),
    "docile": ("docility",),
    "dumbstruck": ("dumbstruck",),
    "eager": ("eagerness",),
    "ecstatic": ("ecstasy",),
    "elated": ("elation",),
    "embarrassed": ("embarrass", "embarrassment"),
    "empathetic": ("empathy", "empathise", "empathize"),
    "energized": ("energised", "energy", "energetic", "energise", "energize"),
    "enraged": ("rage", "enrage"),
    "enthusiastic": ("enthusiasm", "enthusiastically"),
    "envious": ("envy", "envied"),
    "euphoric": ("euphoria",),
    "exasperated": ("exasperation",),
    "excited": ("excite", "excitement", "exciting"),
    "exuberant": ("exuberance",),
    "frightened": ("fright", "frighten", "scared", "afraid"),
    "frustrated": ("frustration", "frustrate"),
    "fulfilled": ("fulfil", "fulfill", "fulfilment", "fulfillment"),
    "furious": ("fury",),
    "grateful": ("gratitude",),
    "greedy": ("greed",),
    "grief-stricken": ("grief", "grieve", "grieving"),
    "grumpy": ("grump",),
    "guilty": ("guilt", "remorseful"),
    "happy": ("happiness", "happily", "glad"),
    "hateful": ("hate", "hatred"),
    "heartbroken": ("heartbreak", "heartbreaking"),
    "hope": ("hopeful",),
    "hopeful": ("hope",),
    "horrified": ("horror", "horrify"),
    "hostile": ("hostility",),
    "humiliated": ("humiliation", "humiliate"),
    "hysterical": ("hysteria",),
    "impatient": ("impatience",),
    "indifferent": ("indifference",),
    "indignant": ("indignation",),
    "infatuated": ("infatuation",),
    "inspired": ("inspire", "inspiration"),
    "irritated": ("irritation", "irritate"),
    "jealous": ("jealousy",),
    "joyful": ("joy", "joyous"),
    "jubilant": ("jubilation",),
    "kind": ("kindness",),
    "lazy": ("laziness", "lazily"),
    "lonely": ("loneliness", "lonesome"),
    "loving": ("love", "lovingly"),
    "melancholy": ("melancholic",),
    "miserable": ("misery",),
    "mortified": ("mortify",),
    "mystified": ("mystify",),
    "nervous": ("nervousness", "jittery"),
    "nostalgic": ("nostalgia",),
    "offended": ("offend", "offence", "offense"),
    "optimistic": ("optimism", "optimist"),
    "outraged": ("outrage",),
    "overwhelmed": ("overwhelm", "overwhelming"),
    "panicked": ("panic", "panicky"),
    "paranoid": ("paranoia",),
    "patient": ("patience",),
    "peaceful": ("peace",),
    "perplexed": ("perplex", "perplexity"),
    "pleased": ("pleasure",),
    "proud": ("pride",),
    "puzzled": ("puzzle",),
    "reflective": ("reflect", "reflection"),
    "refreshed": ("refresh",),
    "regretful": ("regret",),
    "rejuvenated": ("rejuvenate",),
    "relaxed": ("relax", "relaxation"),
    "relieved": ("relief", "relieve"),
    "remorseful": ("remorse",),
    "resentful": ("resent", "resentment"),
    "resigned": ("resignation",),
    "sad": ("sadness", "sadden", "saddened", "unhappy", "sorrow", "sorrowful"),
    "safe": ("safety",),
    "satisfied": ("satisfy", "satisfaction"),
    "scared": ("scare", "afraid", "frightened"),
    "scornful": ("scorn",),
    "self-confident": ("confident", "confidence", "self-confidence"),
    "self-conscious": ("self-consciousness",),
    "self-critical": ("self-criticism",),
    "sensitive": ("sensitivity",),
    "sentimental": ("sentiment",),
    "serene": ("serenity",),
    "shocked": ("shock",),
    "skeptical": ("sceptical", "skeptic", "sceptic", "skepticism", "scepticism"),
    "sleepy": ("sleepiness",),
    "sorry": ("sorrow",),
    "spiteful": ("spite",),
    "stimulated": ("stimulate", "stimulation"),
    "stressed": ("stress",),
    "surprised": ("surprise", "astonished", "stunned"),
    "suspicious": ("suspicion",),
    "sympathetic": ("sympathy", "sympathise", "sympathize"),
    "tense": ("tension",),
    "terrified": ("terror", "terrify", "petrified"),
    "thankful": ("thankfulness",),
    "thrilled": ("thrill",),
    "tired": ("tiredness",),
    "tormented": ("torment",),
    "trapped": ("trap",),
    "triumphant": ("triumph",),
    "troubled": ("trouble",),
    "uneasy": ("unease",),
    "unhappy": ("unhappiness",),
    "unnerved": ("unnerve",),
    "unsettled": ("unsettle",),
    "valiant": ("valour", "valor"),
    "vengeful": ("vengeance", "revenge"),
    "vigilant": ("vigilance",),
    "vulnerable": ("vulnerability",),
    "weary": ("weariness", "wearily"),
    "worried": ("worry",),
}

_WORD_RE = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


def _roots(word: str) -> set[str]:
    """The word and the stems its inflections grow from (``amused`` -> ``amuse``, ``amus``)."""
    roots = {word}
    cuts: list[tuple[str, str]] = [("ied", "y"), ("ed", ""), ("d", ""), ("ful", ""), ("ous", ""), ("ic", "")]
    for ending, repl in cuts:
        if word.endswith(ending) and len(word) - len(ending) + len(repl) >= 4:
            roots.add(word[: len(word) - len(ending)] + repl)
    if word.endswith("y") and len(word) >= 5:
        roots.add(word[:-1] + "i")
    return roots


@cache
def _matchers(emotion: str) -> tuple[tuple[re.Pattern[str], ...], frozenset[str]]:
    """Phrase patterns (multi-word and hyphenated forms) and single-word roots for one emotion."""
    phrases: list[re.Pattern[str]] = []
    roots: set[str] = set()
    forms = [emotion.lower(), *EXTRA_FORMS.get(emotion, ())]
    for form in forms:
        if " " in form or "-" in form:
            parts = re.split(r"[ -]", form)
            joined = r"[\s-]+".join(re.escape(p) for p in parts)
            phrases.append(re.compile(rf"\b{joined}(?:ly|ness|s)?\b"))
        else:
            roots |= _roots(form)
    return tuple(phrases), frozenset(roots)


# Endings that drop a root's final "e" (hope -> hoping, rage -> raging).
_E_DROP_SUFFIXES: frozenset[str] = frozenset({"ing", "ings", "ed", "er", "ers", "est", "ation", "ations", "ity", "ous"})


def _matches_root(token: str, root: str) -> bool:
    if root.endswith("e") and len(root) >= 4 and token.startswith(root[:-1]):
        if token[len(root) - 1 :] in _E_DROP_SUFFIXES:
            return True
    if not token.startswith(root):
        return False
    rest = token[len(root) :]
    if len(root) <= 3:
        return rest in _SHORT_SUFFIXES
    return rest == "" or rest in _SUFFIXES


def forbidden_hits(emotion: str, text: str) -> list[str]:
    """Every form of ``emotion`` (word, inflection, listed synonym) that ``text`` uses, in order.

    Example:
        >>> forbidden_hits("sad", "He made tea; sadly it was cold.")
        ['sadly']
    """
    lowered = text.lower().replace("\u2019", "'")
    phrases, roots = _matchers(emotion)
    hits: list[str] = [m.group(0) for p in phrases for m in p.finditer(lowered)]
    for token in _WORD_RE.findall(lowered):
        for piece in {token, *token.split("-")}:
            base = piece[:-2] if piece.endswith("'s") else piece
            if any(_matches_root(base, r) for r in roots):
                hits.append(piece)
                break
    return hits


def other_emotion_words(emotion: str, text: str, emotions: Iterable[str]) -> list[str]:
    """Emotion words other than ``emotion`` that ``text`` names verbatim (a soft warning, not a rule).

    Example:
        >>> other_emotion_words("sad", "a calm and lonely night", ["sad", "calm", "lonely"])
        ['calm', 'lonely']
    """
    lowered = text.lower()
    return [e for e in emotions if e != emotion and re.search(rf"\b{re.escape(e)}\b", lowered)]
