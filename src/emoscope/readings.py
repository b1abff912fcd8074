"""The value types of readings, free of torch: what reading, monitoring and the views pass around.

- :class:`Reading`: per-token scores of one text or conversation (from :func:`emoscope.read_text` and friends).
- :class:`Step`: one generated token with the readings of the pass that chose it (from :func:`emoscope.monitor`).
- :class:`Event`: an alert or conditional-steering rule starting or stopping to hold.

Example:
    >>> import numpy as np
    >>> r = Reading(["calm", "afraid"], 20, "z", ["a", "b"], [(0, 1), (1, 2)], np.array([[0.1, 2.0], [1.5, 0.2]]))
    >>> r.top(-1, k=1)
    [('calm', 1.5)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from emoscope.core.aggregate import top_emotions, turn_summary


@dataclass(frozen=True)
class Reading:
    """Scores of one text: ``scores[t, e]`` for token ``t`` and emotion ``e`` of ``emotions``."""

    emotions: list[str]
    layer: int
    kind: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    scores: NDArray[np.float64]
    roles: list[str] | None = None
    turns: list[int] | None = None

    def to_dict(self, decimals: int = 5) -> dict[str, Any]:
        d: dict[str, Any] = {"tokens": self.tokens, "offsets": [list(o) for o in self.offsets]}
        if self.roles is not None:
            d["roles"] = self.roles
        if self.turns is not None:
            d["turns"] = self.turns
        d["scores"] = np.round(self.scores, decimals).tolist()
        return d

    def top(self, token: int = -1, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` highest-scoring emotions at one token (default: the last)."""
        return top_emotions(self.scores[token], self.emotions, k)

    def keep(self, roles: Sequence[str] | None = None) -> NDArray[np.bool_]:
        """Per token, whether it counts: all tokens, or those of the given roles (plain text has none).

        The first token never counts when there are others: it attends only to itself, so its residual carries
        no context, and its norm is tens of times larger than elsewhere (an attention sink), which would
        dominate any scale or summary.
        """
        if roles is None or self.roles is None:
            out = np.ones(len(self.tokens), dtype=bool)
        else:
            out = np.array([r in roles for r in self.roles], dtype=bool)
        if len(out) > 1:
            out[0] = False
        return out

    def series(self, emotion: str) -> NDArray[np.float64]:
        """One emotion's score along the text."""
        out: NDArray[np.float64] = self.scores[:, self.emotions.index(emotion)]
        return out

    def per_turn(self, how: str = "mean", roles: Sequence[str] | None = None, k: int = 5) -> list[dict[str, Any]]:
        """Per turn (message) of a conversation, the mean or max of every emotion over its counted tokens.

        Returns ``[{"turn", "role", "tokens", "scores" ([E]), "top" ([(emotion, score)] * k)}]``; plain text
        is one turn.
        """
        turns = self.turns if self.turns is not None else [0] * len(self.tokens)
        keep = self.keep(roles)
        out = []
        for turn, row in turn_summary(self.scores, turns, how, keep).items():
            first = turns.index(turn)
            out.append({"turn": turn, "role": self.roles[first] if self.roles else "text",
                        "tokens": int(sum(1 for t, k_ in zip(turns, keep, strict=True) if t == turn and k_)),
                        "scores": row, "top": top_emotions(row, self.emotions, k)})
        return out


@dataclass(frozen=True)
class Event:
    """A rule starting (``start``) or stopping (``stop``) to hold at generated token ``step``.

    ``action`` is ``alert`` for an alert rule and ``steer`` for a conditional steering rule.
    """

    action: str
    change: str
    rule: str
    step: int
    token: str
    value: float
    steer: dict[str, float] | None = None

    def __str__(self) -> str:
        what = "alert" if self.action == "alert" else f"steer {_fmt_spec(self.steer or {})}"
        verb = "started" if self.change == "start" else "stopped"
        return (f"{what} {verb}: {self.rule} at token {self.step} {self.token!r} (window mean "
                f"{self.value:+.2f})")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "event", "action": self.action, "change": self.change, "rule": self.rule,
                             "step": self.step, "token": self.token, "value": round(self.value, 4)}
        if self.steer is not None:
            d["steer"] = self.steer
        return d


@dataclass(frozen=True)
class Step:
    """One generated token with the readings of the pass that chose it (``scores[e]`` for ``emotions[e]``).

    ``token`` is the text the token adds to the reply (empty for a token that only starts a multi-byte
    character, which then appears with the token that completes it, and for the end-of-turn token).
    """

    index: int
    token_id: int
    token: str
    scores: NDArray[np.float64]
    emotions: list[str]
    events: list[Event] = field(default_factory=list)
    steering: dict[str, float] = field(default_factory=dict)

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` strongest emotions at this token."""
        return top_emotions(self.scores, self.emotions, k)

    def value(self, emotion: str) -> float:
        return float(self.scores[self.emotions.index(emotion)])

    def to_dict(self, watch: Sequence[str] = (), k: int = 5) -> dict[str, Any]:
        return {"type": "token", "step": self.index, "token_id": self.token_id, "token": self.token,
                "top": [[e, round(v, 4)] for e, v in self.top(k)],
                "watch": {w: round(self.value(w), 4) for w in watch}, "steering": self.steering}


def _fmt_spec(spec: Mapping[str, float]) -> str:
    return ",".join(f"{k}={v:+g}" for k, v in spec.items())
