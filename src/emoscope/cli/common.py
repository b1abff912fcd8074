"""What every command shares: one-line errors (exit code 2), the console, the progress drawer, model loading.

Nothing here imports torch at module level, so ``emoscope --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from emoscope.progress import Progress

if TYPE_CHECKING:
    from emoscope.bank import EmotionBank
    from emoscope.model.loading import LoadedModel

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Print ``error: MESSAGE`` (one line naming the fix) on stderr and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _input_errors() -> tuple[type[Exception], ...]:
    from emoscope.backends import BackendError
    from emoscope.bank import BankError
    from emoscope.catalogue import NormsError
    from emoscope.core.rules import RuleError
    from emoscope.corpus.generate import GenerationError
    from emoscope.corpus.records import CorpusError
    from emoscope.experiments.behaviour_rules import ScenarioError
    from emoscope.inputs import InputError
    from emoscope.model.chat import ChatError
    from emoscope.model.layers import LayerError
    from emoscope.model.loading import ModelError
    from emoscope.runners import RunnerError
    from emoscope.selection import SelectionError
    from emoscope.steering import SteeringError
    from emoscope.validation.stimuli import StimulusError

    return (BankError, CorpusError, ModelError, LayerError, ChatError, NormsError, SteeringError, RuleError,
            InputError, SelectionError, BackendError, GenerationError, StimulusError, ScenarioError, RunnerError)


def guard(fn: Callable[[], T], *extra: type[Exception]) -> T:
    """Run ``fn``; a known input error (or one of ``extra``) becomes one line on stderr and exit code 2."""
    try:
        return fn()
    except typer.Exit:
        raise
    except Exception as exc:
        if isinstance(exc, (*_input_errors(), *extra)):
            fail(str(exc))
        raise


def emit_json(obj: Any, **kw: Any) -> None:
    """Print ``obj`` as one JSON document on stdout."""
    typer.echo(json.dumps(obj, **kw))


def console() -> Any:
    """A rich console; wide when writing to a file or pipe, so tables are not cut at 80 columns."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def require_dir(path: Path, flag: str = "--out") -> None:
    """Refuse an output path that is an existing file."""
    if path.exists() and not path.is_dir():
        fail(f"{flag} {path} is a file; give a directory")


def check_emotions(bank: EmotionBank, names: Iterable[str]) -> None:
    """Fail (through :class:`~emoscope.bank.BankError`) on a name the bank does not hold."""
    for name in names:
        bank.emotion_index(name)


@dataclass(frozen=True)
class Placement:
    """Where a command puts its model: ``--device``, ``--device-map``, ``--max-memory``."""

    device: str = "auto"
    device_map: str | None = None
    max_memory: str | None = None
    offload_folder: Path | None = None
    allow_pickle: bool = False


def load_lm(spec: str, dtype: str, layer_path: str | None = None, place: Placement | None = None) -> LoadedModel:
    """Load a model (torch is imported here, not before)."""
    from emoscope.model.loading import load_model

    p = place or Placement()
    return load_model(spec, dtype=dtype, device=p.device, layer_path=layer_path, device_map=p.device_map,
                      max_memory=p.max_memory, offload_folder=p.offload_folder, allow_pickle=p.allow_pickle)


def open_runner(engine: str, lm: LoadedModel, spec: str, layer_path: str | None = None, allow_pickle: bool = False,
                address: str | None = None, workers: int = 2, gpus_per_worker: float = 0.0) -> Any:
    """A context manager giving the runner of ``--engine`` (None for local: the caller's own process)."""
    import contextlib

    if engine == "local":
        return contextlib.nullcontext(None)
    if engine != "ray":
        fail(f"--engine must be 'local' or 'ray', not {engine!r}")
    from emoscope.runners import ModelSpec, RayRunner

    dtype = str(lm.dtype).replace("torch.", "")
    model = ModelSpec(spec, dtype=dtype, device="cpu", layer_path=layer_path, allow_pickle=allow_pickle)
    return RayRunner(model, lm.fingerprint, address=address, workers=workers, gpus_per_worker=gpus_per_worker)


def load_for_bank(bank: EmotionBank, model: str | None, dtype: str, place: Placement | None = None
                  ) -> LoadedModel:
    """The model asked for with ``--model``, else the bank's own (see ``resolve_model_spec``)."""
    from emoscope.model.loading import resolve_model_spec

    return load_lm(resolve_model_spec(model, bank.model), dtype, place=place)


class Drawer:
    """The one progress drawer: a bar on stderr with one row per stage, for every long job.

    Off with ``quiet`` (``--json``) or when stderr is not a terminal. Use it as a context manager and pass it as
    the job's ``progress`` callback. With ``log_notes``, each event's ``note`` is also printed as a line
    ``[done/total] note`` on stderr (even without a terminal). ``keep`` leaves the finished bars on screen.
    """

    def __init__(self, quiet: bool = False, keep: bool = False, log_notes: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self.enabled = not quiet and sys.stderr.isatty()
        self.log_notes = log_notes and not quiet
        self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        transient=not keep, disable=not self.enabled, console=Console(stderr=True))
        self._tasks: dict[str, Any] = {}
        self._t0 = time.perf_counter()

    def __enter__(self) -> Drawer:
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
                 ) -> None:
        self._bar.stop()

    def __call__(self, p: Progress) -> None:
        total = p.total if p.total > 0 else None
        rate = f"{p.tokens / max(time.perf_counter() - self._t0, 1e-9):,.0f} tok/s" if p.tokens else ""
        if p.stage not in self._tasks:
            self._tasks[p.stage] = self._bar.add_task(p.stage, total=total, rate=rate)
        self._bar.update(self._tasks[p.stage], completed=p.done, total=total, rate=rate)
        if self.log_notes and p.note:
            line = f"[{p.done}/{p.total}] {p.note}"
            if self.enabled:
                self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                typer.echo(line, err=True)
