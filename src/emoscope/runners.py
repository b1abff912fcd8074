"""Where the batch passes run: in this process, or on a Ray cluster.

Extraction and scanning cut their work into numbered jobs (one batch of stories, of neutral dialogues or of texts
to scan) whose results are *pure*: they depend only on the job and the model. A runner computes jobs and hands back
``(index, result)`` pairs; the caller (only the caller) writes shards and merges results in index order, so the
output does not depend on which worker computed what, in which order, or how often a job was retried.

- :class:`LocalRunner` computes each job when asked, in order, with the caller's model.
- :class:`RayRunner` starts ``workers`` Ray actors that each load the model once (from a :class:`ModelSpec`, and
  refuse weights whose fingerprint differs from the caller's), keeps a bounded number of jobs in flight per
  worker, and restarts a worker that dies (its jobs are retried; a result is only ever used once). Ray is an
  optional dependency (``pip install 'emoscope[ray]'``).

Why actors and not Ray Data ``map_batches``: the jobs are few, large and already batched by length (padding
matters more than scheduling); actors keep one model per worker for the whole run, the driver keeps the exact
merge order that makes results bit-identical, and only Ray core is needed (no Arrow/pandas pipeline).

Example:
    >>> runner = LocalRunner(lm)  # doctest: +SKIP
    >>> with RayRunner(ModelSpec("smollm2-135m-instruct"), lm.fingerprint, workers=2) as runner:  # doctest: +SKIP
    ...     bank = extract(lm, corpus, runner=runner)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any, Protocol

from emoscope.model.loading import LoadedModel

Job = tuple[int, dict[str, Any]]


class RunnerError(RuntimeError):
    """A runner could not start or a worker's model differs from the caller's."""


@dataclass(frozen=True)
class ModelSpec:
    """What a worker passes to :func:`emoscope.load_model` (the same model as the caller's, loaded there)."""

    spec: str
    dtype: str = "bfloat16"
    device: str = "cpu"
    layer_path: str | None = None
    allow_pickle: bool = False
    device_map: str | None = None  # "auto": spread one copy over the GPUs the worker holds

    def load(self) -> LoadedModel:
        from emoscope.model.loading import load_model

        return load_model(self.spec, dtype=self.dtype, device=self.device, layer_path=self.layer_path,
                          allow_pickle=self.allow_pickle, device_map=self.device_map)


def run_job(lm: LoadedModel, task: str, job: dict[str, Any], shared: Any = None) -> Any:
    """Compute one job of ``task`` (``story_means``, ``neutral_moments`` or ``scan_chunk``) with ``lm``."""
    if task == "story_means":
        from emoscope.model.passes import story_means

        return story_means(lm, job["items"], job["layers"], job["skip"])
    if task == "neutral_moments":
        from emoscope.model.passes import neutral_moments

        return neutral_moments(lm, job["items"], job["layers"])
    if task == "scan_chunk":
        from emoscope.scan import scan_chunk

        return scan_chunk(lm, shared, **job)
    raise ValueError(f"unknown task {task!r}")


class Runner(Protocol):
    """Computes numbered jobs; results may come back in any order, each index exactly once."""

    def map(self, task: str, jobs: Iterable[Job], shared: Any = None) -> Iterator[tuple[int, Any]]: ...


class LocalRunner:
    """Jobs computed in this process, in order, one at a time (nothing computed before it is asked for)."""

    def __init__(self, lm: LoadedModel) -> None:
        self.lm = lm

    def map(self, task: str, jobs: Iterable[Job], shared: Any = None) -> Iterator[tuple[int, Any]]:
        for index, job in jobs:
            yield index, run_job(self.lm, task, job, shared)


def in_order(results: Iterable[tuple[int, Any]], first: int = 0) -> Iterator[tuple[int, Any]]:
    """Results re-ordered by index (holding only those that arrived early), for order-sensitive merges.

    Example:
        >>> [i for i, _ in in_order([(1, "b"), (0, "a"), (2, "c")])]
        [0, 1, 2]
    """
    pending: dict[int, Any] = {}
    nxt = first
    for index, value in results:
        pending[index] = value
        while nxt in pending:
            yield nxt, pending.pop(nxt)
            nxt += 1
    if pending:
        raise RunnerError(f"jobs {sorted(pending)[:3]} came back but job {nxt} never did")


class _Worker:
    """A Ray actor's state: one loaded model."""

    def __init__(self, spec: dict[str, Any], fingerprint: str, threads: int | None) -> None:
        from emoscope.model.devices import set_torch_threads

        if threads:
            set_torch_threads(threads)
        self.lm = ModelSpec(**spec).load()
        if self.lm.fingerprint != fingerprint:
            raise RunnerError(f"worker on {os.uname().nodename} loaded weights {self.lm.fingerprint[:12]}, not the "
                              f"caller's {fingerprint[:12]}; give every node the same model files")

    def run(self, task: str, index: int, job: dict[str, Any], shared: Any = None) -> tuple[int, Any]:
        return index, run_job(self.lm, task, job, shared)

    def pid(self) -> int:
        return os.getpid()


class RayRunner:
    """Jobs spread over ``workers`` Ray actors (a context manager: actors are started on enter, killed on exit).

    ``address``: an existing cluster (``auto``, ``ray://host:10001``) or None for a local one started here (and
    shut down on exit). ``gpus_per_worker``: GPUs reserved per actor (the model is then loaded on ``cuda``; with more
    than one, spread over them by accelerate's ``device_map="auto"``).
    ``threads``: torch threads per worker (default: the CPUs each worker reserves). ``in_flight``: jobs queued per
    worker. A worker that dies is restarted up to ``max_restarts`` times and its jobs retried.
    """

    def __init__(self, model: ModelSpec, fingerprint: str, address: str | None = None, workers: int = 2,
                 gpus_per_worker: float = 0.0, cpus_per_worker: float = 1.0, threads: int | None = None,
                 in_flight: int = 2, max_restarts: int = 3) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if gpus_per_worker and model.device == "cpu":  # the GPUs Ray gives each worker: one copy over all of them
            model = ModelSpec(**{**asdict(model), "device": "cuda",
                                 "device_map": "auto" if gpus_per_worker > 1 else model.device_map})
        self.model = model
        self.fingerprint = fingerprint
        self.address = address
        self.workers = workers
        self.gpus = gpus_per_worker
        self.cpus = cpus_per_worker
        self.threads = threads if threads is not None else max(1, int(cpus_per_worker))
        self.in_flight = max(1, in_flight)
        self.max_restarts = max_restarts
        self._actors: list[Any] = []
        self._started_ray = False

    def __enter__(self) -> RayRunner:
        try:
            import ray
        except ImportError:
            raise RunnerError("the Ray engine needs Ray: pip install 'emoscope[ray]'") from None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is None:
                kwargs["num_cpus"] = max(int(self.workers * self.cpus), 1)
            ray.init(address=self.address, **kwargs)
            self._started_ray = True
        actor = ray.remote(_Worker).options(num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=self.max_restarts,
                                            max_task_retries=self.max_restarts)
        self._actors = [actor.remote(asdict(self.model), self.fingerprint, self.threads)  # type: ignore[attr-defined]
                        for _ in range(self.workers)]
        try:
            ray.get([a.pid.remote() for a in self._actors])  # wait for the models; surface a load error here
        except Exception as e:
            self.__exit__(None, None, None)
            raise RunnerError(f"a Ray worker could not load {self.model.spec}: {_cause(e)}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        for a in self._actors:
            ray.kill(a)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def worker_pids(self) -> list[int]:
        """Process ids of the workers (to watch them, or to kill one in a test)."""
        import ray

        return list(ray.get([a.pid.remote() for a in self._actors]))

    def map(self, task: str, jobs: Iterable[Job], shared: Any = None) -> Iterator[tuple[int, Any]]:
        import ray

        if not self._actors:
            raise RunnerError("RayRunner.map outside its `with` block")
        ref = ray.put(shared) if shared is not None else None
        it = iter(jobs)
        pending: dict[Any, int] = {}  # object ref -> actor slot
        load = [0] * len(self._actors)

        def submit(n: int) -> None:
            for index, job in islice(it, n):
                slot = min(range(len(load)), key=load.__getitem__)
                pending[self._actors[slot].run.remote(task, index, job, ref)] = slot
                load[slot] += 1

        submit(self.in_flight * len(self._actors))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            slot = pending.pop(done[0])
            load[slot] -= 1
            try:
                index, result = ray.get(done[0])
            except Exception as e:
                raise RunnerError(f"a Ray job of {task} failed: {_cause(e)}") from None
            submit(1)
            yield index, result


def _cause(e: BaseException) -> str:
    """The first line of the innermost error message (Ray wraps remote errors in long tracebacks)."""
    text = str(getattr(e, "cause", None) or e).strip().splitlines()
    return text[-1] if text else type(e).__name__
