"""``emoscope validate``: the validation report of a bank, and its default layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from emoscope.cli.common import Drawer, Placement, emit_json, guard, load_for_bank, require_dir
from emoscope.cli.options import (
    AllowPickleOpt,
    BankModelOpt,
    BankOpt,
    DeviceMapOpt,
    DeviceOpt,
    MaxMemoryOpt,
    MismatchOpt,
    OffloadOpt,
)


def validate(
    bank: BankOpt,
    out: Annotated[Path | None, typer.Option(help="Report directory (default: <bank dir>/validation).")] = None,
    corpus: Annotated[list[str] | None, typer.Option(help="The corpus or corpora the bank was built from (v1, "
                                                     "v2 or directories; default: v1).")
                      ] = None,
    heldout: Annotated[list[str] | None, typer.Option(help="Take the held-out stories from this corpus instead "
                                                      "(v1, v2 or a directory; e.g. v1 for a bank built from v2, so "
                                                      "that held-out figures are on unmatched stories).")] = None,
    norms: Annotated[Path | None, typer.Option(help="CSV word,valence,arousal (e.g. human norms) to correlate "
                                               "the principal components with, beside the shipped judged ratings."
                                               )] = None,
    scenarios: Annotated[Path | None, typer.Option(help="TSV label<TAB>target_emotion<TAB>user_text of implicit "
                                                   "scenarios (default: the shipped 36).")] = None,
    templates: Annotated[Path | None, typer.Option(help="JSONL numeric-intensity templates (default: shipped 8)."
                                                   )] = None,
    model: BankModelOpt = None,
    dtype: Annotated[str | None, typer.Option(help="Compute dtype (default: the one the bank was built with, "
                                              "so cached activations are reused).")] = None,
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    draws: Annotated[int, typer.Option(min=1, help="Random draws per learning-curve point.")] = 5,
    keep_default_layer: Annotated[bool, typer.Option(help="Do not record the chosen default layer in the bank."
                                                     )] = False,
    cache: Annotated[Path | None, typer.Option(help="Activation shard cache (as for extract).")] = None,
    allow_model_mismatch: MismatchOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the headline figures as JSON.")] = False,
) -> None:
    """Validate a bank: held-out detection, geometry, logit lens, implicit scenarios, numeric intensity.

    Writes a self-contained index.html (plots inline, opens offline) and metrics.json, every figure next to its
    chance level or baseline; chooses the default layer by a documented rule and records it in the bank.
    """
    import shlex
    import sys
    import time

    from emoscope.bank import EmotionBank, bank_dir, record_default_layer
    from emoscope.corpus import load_corpora
    from emoscope.validation.headline import headline
    from emoscope.validation.report import write_report
    from emoscope.validation.run import validate as run_validation

    def run() -> None:
        b = EmotionBank.load(bank)
        target = out or bank_dir(bank) / "validation"
        require_dir(target)
        c = load_corpora(corpus)
        place = Placement(device, device_map, max_memory, offload_folder, allow_pickle)
        lm = load_for_bank(b, model, dtype or str(b.recipe.get("dtype", "bfloat16")), place)
        t0 = time.perf_counter()
        with Drawer(quiet=as_json) as draw:
            v = run_validation(lm, b, c, str(norms) if norms else None, str(scenarios) if scenarios else None,
                               str(templates) if templates else None, draws=draws, shard_dir=cache,
                               progress=draw, allow_mismatch=allow_model_mismatch,
                               heldout=load_corpora(heldout) if heldout else None)
        m = v.metrics
        m["seconds"] = round(time.perf_counter() - t0, 1)
        html_path, json_path = write_report(v, target, "emoscope " + shlex.join(sys.argv[1:]))
        recorded = not keep_default_layer and record_default_layer(b, m["default_layer"])
        if recorded:
            b.save(bank)
        head = headline(m, html_path, json_path, recorded)
        if as_json:
            emit_json(head)
        else:
            _print_headline(m, head)

    guard(run)


def _print_headline(m: dict[str, Any], head: dict[str, Any]) -> None:
    d, choice = m["heldout"]["default_layer"], m["default_layer"]
    typer.echo(f"wrote {head['report']} and {head['metrics']} in {m['seconds']} s")
    typer.echo(f"default layer {choice['chosen']} (runner-up {choice['runner_up']})"
               + (" recorded in the bank" if head["default_layer_recorded"] else ""))
    typer.echo(f"held-out: top-1 {d['top1']:.3f}, top-5 {d['top5']:.3f}, mean rank {d['mean_rank']:.1f} "
               f"(chance {d['chance_top1']:.3f} / {d['chance_top5']:.3f} / {d['chance_mean_rank']:.0f}; "
               f"TF-IDF words top-1 {head['lexical_top1']:.3f})")
