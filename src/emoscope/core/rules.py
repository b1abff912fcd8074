"""Alert and steering rules on emotion readings over a sliding window of tokens.

A rule reads ``EMOTION OP THRESHOLD``, e.g. ``desperate>2.0`` or ``calm<=-1``, optionally followed by
``@N`` for a window of ``N`` tokens (default 8). It holds while the mean reading over the last ``N`` tokens
(fewer at the start) satisfies the comparison. :class:`RuleWatch` reports when a rule starts and stops holding.

Example:
    >>> rule = parse_rule("desperate>1.0@2")
    >>> watch = RuleWatch(rule)
    >>> [watch.update(x) for x in (0.5, 2.0, 2.0, 0.0, 0.0)]
    [None, 'start', None, None, 'stop']
    >>> watch.active
    False
"""

from __future__ import annotations

import operator
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_WINDOW = 8
_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt,
                                                    "<": operator.lt}
_RULE = re.compile(r"^\s*([A-Za-z][\w\- ]*?)\s*(>=|<=|>|<)\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*"
                   r"(?:@\s*(\d+))?\s*$")


class RuleError(ValueError):
    """A rule that cannot be read; the message shows the expected form."""


@dataclass(frozen=True)
class Rule:
    """``emotion op threshold`` over the mean of the last ``window`` readings."""

    emotion: str
    op: str
    threshold: float
    window: int = DEFAULT_WINDOW

    def __str__(self) -> str:
        return f"{self.emotion}{self.op}{self.threshold:g}@{self.window}"

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)


def parse_rule(text: str, window: int | None = None) -> Rule:
    """``"desperate>2.0"`` or ``"desperate>2.0@16"`` -> :class:`Rule` (``window`` is the default window)."""
    m = _RULE.match(text)
    if m is None:
        raise RuleError(f"cannot read rule {text!r}; write EMOTION>VALUE with an optional @WINDOW in tokens, "
                        "e.g. 'desperate>2.0' or 'calm<-1@16'")
    w = int(m.group(4)) if m.group(4) else (window or DEFAULT_WINDOW)
    if w < 1:
        raise RuleError(f"rule {text!r}: the window must be at least 1 token")
    return Rule(m.group(1).strip(), m.group(2), float(m.group(3)), w)


@dataclass
class RuleWatch:
    """The state of one rule along a stream of readings of its emotion."""

    rule: Rule
    values: deque[float] = field(default_factory=deque)
    active: bool = False
    mean: float = 0.0

    def update(self, value: float) -> str | None:
        """Add one reading; return ``"start"`` or ``"stop"`` when the rule starts or stops holding."""
        self.values.append(float(value))
        if len(self.values) > self.rule.window:
            self.values.popleft()
        self.mean = sum(self.values) / len(self.values)
        now = self.rule.holds(self.mean)
        change = None if now == self.active else ("start" if now else "stop")
        self.active = now
        return change
