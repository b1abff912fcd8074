"""The server's engine: one worker thread owns the model and runs jobs in order.

Requests are queued (at most ``max_pending`` waiting: more get HTTP 429). A job that carries a ``batch_key`` may
run together with up to ``max_batch - 1`` other waiting jobs with the same key, through ``run_batch`` (the chat
route batches generations this way, one row per request, each row with its own steering and readings); other
jobs run alone. No request can see another's steering or readings (rows are independent, and hooks are per call:
see :mod:`emoscope.model.hooks`). A job streams events back to its request; a request whose client has gone sets
``cancelled``, and its job (or its row) stops being served at the next token.

Example:
    >>> engine = Engine()  # doctest: +SKIP
    >>> job = engine.submit(lambda emit, cancelled: emit({"hello": 1}), loop)  # doctest: +SKIP
    >>> [e async for e in job.events()]  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
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
    batch_key: Any = None
    payload: Any = None
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
    batches: int = 0
    batched_jobs: int = 0

    def count(self, route: str, status: int) -> None:
        self.requests[(route, status)] = self.requests.get((route, status), 0) + 1


class Engine:
    """A worker thread running :class:`Job` s in order (see the module docstring)."""

    def __init__(self, max_pending: int = 64, max_batch: int = 1,
                 run_batch: Callable[[list[Job]], None] | None = None) -> None:
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.run_batch = run_batch
        self._q: deque[Job | None] = deque()
        self._ready = threading.Condition()
        self._pending = 0
        self._lock = threading.Lock()
        self.stats = Stats()
        self._thread = threading.Thread(target=self._run, name="emoscope-engine", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, work: Work, loop: asyncio.AbstractEventLoop, batch_key: Any = None,
               payload: Any = None) -> Job:
        with self._lock:
            if self._pending >= self.max_pending:
                raise Busy(f"{self._pending} requests are already waiting; try again shortly")
            self._pending += 1
        job = Job(work, loop, batch_key, payload)
        with self._ready:
            self._q.append(job)
            self._ready.notify()
        return job

    def close(self) -> None:
        with self._ready:
            self._q.append(None)
            self._ready.notify()
        self._thread.join(timeout=30)

    def _take(self) -> list[Job] | None:
        """The next job, with the waiting jobs of the same batch key (up to ``max_batch`` in all)."""
        with self._ready:
            while not self._q:
                self._ready.wait()
            first = self._q.popleft()
            if first is None:
                return None
            group = [first]
            if first.batch_key is not None and self.max_batch > 1 and self.run_batch is not None:
                for job in list(self._q):
                    if len(group) >= self.max_batch:
                        break
                    if job is not None and job.batch_key == first.batch_key and not job.cancelled.is_set():
                        self._q.remove(job)
                        group.append(job)
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            live = [j for j in group if not j.cancelled.is_set()]
            self.stats.cancelled += len(group) - len(live)
            start = time.perf_counter()
            try:
                if len(live) > 1 and self.run_batch is not None:
                    self.stats.batches += 1
                    self.stats.batched_jobs += len(live)
                    self.run_batch(live)
                elif live:
                    live[0].work(live[0].emit, live[0].cancelled.is_set)
            except BaseException as exc:  # reported to the requests, never kills the worker
                for job in live:
                    job.error = exc
            finally:
                self.stats.busy_seconds += time.perf_counter() - start
                self.stats.jobs += len(group)
                with self._lock:
                    self._pending -= len(group)
                for job in group:
                    job.emit(_DONE)
