"""The server's engine: one worker thread owns the model and runs jobs one after another.

Requests are queued (at most ``max_pending`` waiting: more get HTTP 429) and each runs alone on the model, so its
output is exactly what it would be alone (greedy decoding: token for token) and no request can see another's
steering or readings (those are per call anyway: see :mod:`emoscope.model.hooks`). A job streams events back to
its request; a request whose client has gone sets ``cancelled`` and the job stops at the next token, freeing the
worker.

Example:
    >>> engine = Engine()  # doctest: +SKIP
    >>> job = engine.submit(lambda emit, cancelled: emit({"hello": 1}), loop)  # doctest: +SKIP
    >>> [e async for e in job.events()]  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

Emit = Callable[[Any], None]
Work = Callable[[Emit, Callable[[], bool]], None]
_DONE = object()


class Busy(RuntimeError):
    """Too many requests are waiting."""


@dataclass
class Job:
    """One queued piece of work and the stream of events it sends back."""

    work: Work
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def emit(self, event: Any) -> None:
        self.loop.call_soon_threadsafe(self.out.put_nowait, event)

    async def events(self) -> AsyncIterator[Any]:
        """The job's events until it finishes; raises the job's exception, if any, at the end."""
        while True:
            ev = await self.out.get()
            if ev is _DONE:
                break
            yield ev
        if self.error is not None:
            raise self.error


@dataclass
class Stats:
    """Counters for ``/metrics``."""

    requests: dict[tuple[str, int], int] = field(default_factory=dict)
    tokens: int = 0
    busy_seconds: float = 0.0
    jobs: int = 0
    cancelled: int = 0

    def count(self, route: str, status: int) -> None:
        self.requests[(route, status)] = self.requests.get((route, status), 0) + 1


class Engine:
    """A worker thread running :class:`Job` s in order (see the module docstring)."""

    def __init__(self, max_pending: int = 64) -> None:
        self.max_pending = max_pending
        self._q: queue.Queue[Job | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self.stats = Stats()
        self.running: Job | None = None
        self._thread = threading.Thread(target=self._run, name="emoscope-engine", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, work: Work, loop: asyncio.AbstractEventLoop) -> Job:
        with self._lock:
            if self._pending >= self.max_pending:
                raise Busy(f"{self._pending} requests are already waiting; try again shortly")
            self._pending += 1
        job = Job(work, loop)
        self._q.put(job)
        return job

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            self.running = job
            start = time.perf_counter()
            try:
                if job.cancelled.is_set():
                    self.stats.cancelled += 1
                else:
                    job.work(job.emit, job.cancelled.is_set)
            except BaseException as exc:  # reported to the request, never kills the worker
                job.error = exc
            finally:
                self.stats.busy_seconds += time.perf_counter() - start
                self.stats.jobs += 1
                self.running = None
                with self._lock:
                    self._pending -= 1
                job.emit(_DONE)
