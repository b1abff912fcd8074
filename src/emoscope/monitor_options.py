"""Monitoring options as a user gives them: alert rules, ``--when``/``--steer`` pairs, watched emotions.

:func:`resolve_monitor_options` checks them against a bank and decides what :func:`emoscope.monitor` gets: the
alerts, the (rule, steering) pairs, a constant steering, and the emotions to show. Its parts
(:func:`pair_steerings`, :func:`watched_emotions`) are pure and import no torch.

Example:
    >>> pair_steerings(["desperate>2"], ["calm=+0.05"])
    ([('desperate>2', 'calm=+0.05')], None)
    >>> watched_emotions(["desperate"], ["afraid", "calm", "desperate", "happy"])
    ['desperate', 'calm', 'afraid', 'happy']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emoscope.core.rules import RuleError

if TYPE_CHECKING:
    from emoscope.bank import EmotionBank

DEFAULT_WATCH = ("desperate", "calm", "afraid", "happy")
"""Emotions watched after those of the rules, when none are named."""
MAX_DEFAULT_WATCH = 4
"""How many emotions are watched at most when none are named."""


@dataclass(frozen=True)
class MonitorOptions:
    """What a monitored generation gets: alert rules, conditional steerings, a constant steering, watched names."""

    alerts: list[str]
    when: list[tuple[str, str]]
    steer: str | None
    watch: list[str]

    def monitored(self, asked: bool = False) -> bool:
        """Whether to generate with live readings: when ``asked``, or when any rule must be checked per token.

        Example:
            >>> MonitorOptions([], [], "calm=+0.1", ["calm"]).monitored(), MonitorOptions(["calm>1"], [], None,
            ...     ["calm"]).monitored()
            (False, True)
        """
        return asked or bool(self.alerts or self.when)


def pair_steerings(when: Sequence[str], steer: Sequence[str]) -> tuple[list[tuple[str, str]], str | None]:
    """Pair each ``--when`` rule with the ``--steer`` in the same position; a lone ``--steer`` applies throughout.

    Returns the ``(rule, steering)`` pairs and the constant steering (or ``None``). Unpaired or extra steerings
    raise :class:`~emoscope.core.rules.RuleError`.

    Example:
        >>> pair_steerings([], ["calm=+0.1"])
        ([], 'calm=+0.1')
        >>> pair_steerings(["calm>1"], [])
        Traceback (most recent call last):
        ...
        emoscope.core.rules.RuleError: give one --steer per --when (1 --when, 0 --steer)
    """
    if when and len(steer) != len(when):
        raise RuleError(f"give one --steer per --when ({len(when)} --when, {len(steer)} --steer)")
    if not when and len(steer) > 1:
        raise RuleError("give one --steer (or pair each with a --when)")
    pairs = list(zip(when, steer, strict=True)) if when else []
    return pairs, (steer[0] if steer and not when else None)


def watched_emotions(rule_emotions: Sequence[str], available: Sequence[str],
                     asked: Sequence[str] | None = None) -> list[str]:
    """The emotions to show: those ``asked``, else the rules' emotions then :data:`DEFAULT_WATCH` (up to 4).

    Example:
        >>> watched_emotions(["calm", "calm"], ["afraid", "calm", "happy"])
        ['calm', 'afraid', 'happy']
        >>> watched_emotions(["calm"], ["calm"], asked=["happy"])
        ['happy']
    """
    if asked is not None:
        return list(asked)
    names: list[str] = []
    for e in rule_emotions:
        if e not in names:
            names.append(e)
    for e in DEFAULT_WATCH:
        if e in available and e not in names and len(names) < MAX_DEFAULT_WATCH:
            names.append(e)
    return names


def resolve_monitor_options(bank: EmotionBank, alerts: Sequence[str] = (), when: Sequence[str] = (),
                            steer: Sequence[str] = (), watch: Sequence[str] | None = None,
                            window: int | None = None) -> MonitorOptions:
    """Check alert rules, ``when``/``steer`` pairs and watched emotions against ``bank``.

    Raises :class:`~emoscope.core.rules.RuleError` for a rule that cannot be read or unpaired steerings, and
    :class:`~emoscope.bank.BankError` or :class:`~emoscope.steering.SteeringError` for unknown emotions.

    Example:
        >>> opts = resolve_monitor_options(bank, ["afraid>1.5"], ["desperate>2"], ["calm=+0.05"])  # doctest: +SKIP
        >>> opts.watch  # doctest: +SKIP
        ['afraid', 'desperate', 'calm', 'happy']
    """
    from emoscope.monitor import make_rules

    pairs, constant = pair_steerings(list(when), list(steer))
    rules, conds = make_rules(bank, list(alerts), pairs, window)
    names = watched_emotions([r.emotion for r in [*rules, *(c.rule for c in conds)]], bank.emotions, watch)
    for name in names:
        bank.emotion_index(name)
    return MonitorOptions(list(alerts), pairs, constant, names)
