"""Streaming views of a monitored generation: a live terminal panel, plain lines, or JSON lines.

``live`` (on a terminal) shows the reply as it grows and, per watched emotion, the current reading, the window
mean and a sparkline; events are printed above it. ``lines`` prints one line per token (for logs and pipes).
``json`` prints one JSON object per token and per event, then a ``done`` object.

Example:
    >>> view = LiveView(watch=["desperate", "calm"], mode="lines")  # doctest: +SKIP
    >>> for step in monitor(lm, bank, "Hello"):  # doctest: +SKIP
    ...     view.step(step)
    >>> view.finish()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from emoscope.readings import Event, Step
from emoscope.views.terminal import sparkline, tint

MODES = ("auto", "live", "lines", "json")


class LiveView:
    """Shows a stream of :class:`~emoscope.monitor.Step` in one of :data:`MODES` (``auto``: live on a terminal)."""

    def __init__(self, watch: Sequence[str], mode: str = "auto", top: int = 3, window: int = 8,
                 history: int = 48, console: Console | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown view {mode!r}; choose one of {', '.join(MODES)}")
        self.console = console or Console(highlight=False, soft_wrap=True,
                                          width=None if sys.stdout.isatty() else 160)
        self.mode = ("live" if self.console.is_terminal else "lines") if mode == "auto" else mode
        self.watch = list(watch)
        self.top = top
        self.window = window
        self.hist: dict[str, deque[float]] = {w: deque(maxlen=history) for w in self.watch}
        self.text = ""
        self.steps = 0
        self.events: list[Event] = []
        self.steered = 0
        self._last: Step | None = None
        self._live: Live | None = None

    def start(self, title: str = "") -> None:
        """Begin a reply (the live panel appears; in lines mode a header is printed)."""
        self.text, self.steps, self.events, self.steered, self._last = "", 0, [], 0, None
        for h in self.hist.values():
            h.clear()
        if self.mode == "live":
            if title:
                self.console.print(title)
            self._live = Live(self._panel(), console=self.console, refresh_per_second=12, transient=False)
            self._live.start()
        elif self.mode == "lines":
            cols = "  ".join(f"{w:>10}" for w in self.watch)
            self.console.print(f"[dim]{'#':>4}  {'token':<16}  {cols}  top {self.top}[/dim]")

    def step(self, step: Step) -> None:
        """Show one token (and its events)."""
        self.steps += 1
        self.text += step.token
        self.steered += bool(step.steering)
        self._last = step
        for w in self.watch:
            self.hist[w].append(step.value(w))
        if self.mode == "json":
            print(json.dumps(step.to_dict(self.watch, self.top)), flush=True)
            for ev in step.events:
                print(json.dumps(ev.to_dict()), flush=True)
        elif self.mode == "lines":
            cols = "  ".join(f"{step.value(w):>+10.2f}" for w in self.watch)
            best = "  ".join(f"{e} {v:+.2f}" for e, v in step.top(self.top))
            mark = " [steered]" if step.steering else ""
            self.console.print(f"{step.index:>4}  {step.token!r:<16}  {cols}  {best}{mark}", markup=False)
            for ev in step.events:
                self.console.print(f"  ! {ev}", style="bold red" if ev.action == "alert" else "bold blue",
                                   markup=False)
        else:
            for ev in step.events:
                self.console.print(Text(f"! {ev}", style="bold red" if ev.action == "alert" else "bold blue"))
            if self._live is not None:
                self._live.update(self._panel())
        self.events += step.events

    def finish(self) -> dict[str, Any]:
        """End the reply; returns (and, except in JSON mode, prints) a summary."""
        if self._live is not None:
            self._live.update(self._panel())
            self._live.stop()
            self._live = None
        alerts = [e for e in self.events if e.action == "alert" and e.change == "start"]
        summary = {"type": "done", "text": self.text, "tokens": self.steps, "alerts": len(alerts),
                   "steered_tokens": self.steered, "events": [e.to_dict() for e in self.events]}
        if self.mode == "json":
            print(json.dumps(summary), flush=True)
        else:
            if self.mode == "lines":
                self.console.print(f"--- reply\n{self.text}", markup=False)
            self.console.print(f"[dim]{self.steps} tokens, {len(alerts)} alert(s), steering on "
                               f"{self.steered} token(s)[/dim]")
        return summary

    def _panel(self) -> Group:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        for col, just in (("emotion", "left"), ("now", "right"), (f"mean {self.window}", "right"),
                          ("history", "left")):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        for w in self.watch:
            h = list(self.hist[w])
            now = h[-1] if h else 0.0
            recent = h[-self.window:] or [0.0]
            table.add_row(w, Text(f"{now:+.2f}", style=tint(now, 3.0)), f"{sum(recent) / len(recent):+.2f}",
                          sparkline(h))
        top = ""
        if self._last is not None:
            top = "  ".join(f"{e} {v:+.2f}" for e, v in self._last.top(self.top))
        return Group(Text(self.text or "…"), Text(""), table, Text(f"now: {top}", style="dim"))
