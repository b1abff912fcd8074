"""``emoscope emotions``: the 171 words."""

from __future__ import annotations

from typing import Annotated

import typer

from emoscope.cli.common import emit_json


def emotions(
    as_json: Annotated[bool, typer.Option("--json", help="Print the words with their judged valence and "
                                          "arousal as JSON.")] = False,
) -> None:
    """List the 171 emotion words."""
    from emoscope.catalogue import emotions as names
    from emoscope.catalogue import load_norms

    if as_json:
        norms = load_norms()
        emit_json([{"emotion": e, "valence": norms[e][0], "arousal": norms[e][1]} if e in norms else {"emotion": e}
                   for e in names()])
        return
    typer.echo("\n".join(names()))
