"""``emoscope export gguf``: a llama.cpp control vector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emoscope.cli.common import emit_json, guard
from emoscope.cli.options import BankOpt


def export_gguf(
    bank: BankOpt,
    emotion: Annotated[str, typer.Option(help="The emotion to export (one per file: llama.cpp sums a file).")],
    out: Annotated[Path, typer.Option(help="The .gguf file to write.")],
    strength: Annotated[float, typer.Option(help="Strength in the paper's unit (fraction of the mean residual "
                                            "norm); llama.cpp's scale multiplies it.")] = 0.1,
    layers: Annotated[str | None, typer.Option(help="Blocks to write (>= 1): '20', '15-20', 'all' (default: "
                                               "the bank's default layer).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Write one emotion as a llama.cpp control vector: llama-cli ... --control-vector calm.gguf"""
    from emoscope.bank import EmotionBank
    from emoscope.export import export_control_vector
    from emoscope.selection import export_layers

    def run() -> None:
        b = EmotionBank.load(bank)
        chosen = export_layers(b, layers)
        path = export_control_vector(b, emotion, out, strength, chosen)
        if as_json:
            emit_json({"file": str(path), "emotion": emotion, "strength": strength, "model": b.model,
                       "layers": chosen or [b.default_layer]})
            return
        typer.echo(f"wrote {path}: {emotion} x {strength:g} at layers {chosen or [b.default_layer]} of {b.model}; "
                   f"use: llama-cli -m MODEL.gguf --control-vector {path}")

    guard(run)
