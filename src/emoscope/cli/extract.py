"""``emoscope extract``: build a bank."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emoscope.cli.common import Drawer, Placement, emit_json, fail, guard, load_lm, open_runner, require_dir
from emoscope.cli.options import (
    AddressOpt,
    AllowPickleOpt,
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    EngineOpt,
    GpusPerWorkerOpt,
    MaxMemoryOpt,
    ModelOpt,
    OffloadOpt,
    WorkersOpt,
)


def extract(
    model: ModelOpt = "smollm2-135m-instruct",
    corpus: Annotated[list[str] | None, typer.Option(help="Corpus directory, or v1 (the shipped stories, the "
                                                     "default) or v2 (the shipped matched design); repeat to build "
                                                     "from several story sets together.")] = None,
    layers: Annotated[str, typer.Option(help="Blocks to store: 'all', '20', '10-20', '4,8,-1'.")] = "all",
    out: Annotated[Path, typer.Option(help="Directory to write bank.safetensors into.")] = Path("banks/default"),
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 16,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    split: Annotated[str, typer.Option(help="'train' keeps held-out stories unseen (default); 'all' uses all."
                                       )] = "train",
    token_skip: Annotated[int, typer.Option(min=0, help="Average each story from this token on.")] = 50,
    center: Annotated[str, typer.Option(help="'none' (the paper's recipe) or 'topic': subtract each topic's mean "
                                        "story first (per-frame centering in a matched corpus such as corpus v2)."
                                        )] = "none",
    neutral_variance: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of neutral-dialogue "
                                                    "variance whose components are projected out.")] = 0.5,
    layer_path: Annotated[str | None, typer.Option(help="Dotted path of the decoder block list, if "
                                                   "discovery fails (e.g. model.layers).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Where activation shards go (resumable runs).")] = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    gpus_per_worker: GpusPerWorkerOpt = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of text.")] = False,
) -> None:
    """Build an emotion-vector bank: run the model over the corpus and apply the paper's recipe.

    Resumable: per-batch activations are cached; run the same command again after an interruption.
    With --engine ray the batches are spread over Ray workers and the bank is the same, bit for bit (the cache
    directory must then be on storage the driver writes; only the driver writes shards).
    """
    import time

    from emoscope.core.recipe import CENTERINGS, Recipe
    from emoscope.corpus import load_corpora
    from emoscope.extraction import extract as run_extract

    def run() -> None:
        require_dir(out)
        if center not in CENTERINGS:
            fail(f"--center must be one of {', '.join(CENTERINGS)}")
        c = load_corpora(corpus)
        lm = load_lm(model, dtype, layer_path, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        recipe = Recipe(token_skip=token_skip, neutral_variance=neutral_variance, split=split, center=center)
        t0 = time.perf_counter()
        with open_runner(engine, lm, model, layer_path, allow_pickle, address, workers, gpus_per_worker) as runner, \
                Drawer(quiet=as_json, keep=True) as draw:
            bank = run_extract(lm, c, layers, recipe, batch_size, cache, progress=draw, runner=runner)
        path = bank.save(out)
        summary = {"bank": str(path), "model": bank.model, "emotions": len(bank.emotions),
                   "layers": len(bank.layers), "default_layer": bank.default_layer,
                   "stories": bank.split.get("n_stories"), "dialogues": bank.split.get("n_dialogues"),
                   "seconds": round(time.perf_counter() - t0, 1), "engine": engine}
        if as_json:
            emit_json(summary)
            return
        typer.echo(f"wrote {path}: {summary['emotions']} emotions x {summary['layers']} layers of {bank.model} "
                   f"(default layer {bank.default_layer}) from {summary['stories']} stories and "
                   f"{summary['dialogues']} neutral dialogues in {summary['seconds']} s")

    guard(run)
