"""The ``emoscope`` command line: a thin layer over the library (no logic of its own).

Run ``emoscope --help`` or ``emoscope COMMAND --help``. One module per command group; each command checks its
options, calls the library and prints. Modules import torch only inside commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import typer

from emoscope.cli import corpus, emotions, experiments, export, extract, generation, reading, serve, validate

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  help="Find, validate, read and steer the 171 emotion-concept vectors inside a language model.")
corpus_app = typer.Typer(no_args_is_help=True, help="Validate, count and generate stimulus corpora.")
export_app = typer.Typer(no_args_is_help=True, help="Export emotion vectors for other engines.")
experiment_app = typer.Typer(no_args_is_help=True, help="Experiments of the paper, on your model.")
app.add_typer(corpus_app, name="corpus")
app.add_typer(export_app, name="export")
app.add_typer(experiment_app, name="experiment")

app.command("extract")(extract.extract)
app.command("read")(reading.read)
app.command("validate")(validate.validate)
app.command("steer")(generation.steer)
app.command("scan")(reading.scan)
app.command("generate")(generation.generate)
app.command("chat")(generation.chat)
app.command("serve")(serve.serve)
app.command("emotions")(emotions.emotions)
corpus_app.command("validate")(corpus.corpus_validate)
corpus_app.command("card")(corpus.corpus_card)
corpus_app.command("audit")(corpus.corpus_audit)
corpus_app.command("generate")(corpus.corpus_generate)
export_app.command("gguf")(export.export_gguf)
experiment_app.command("steering-check")(experiments.steering_check)
experiment_app.command("preferences")(experiments.preferences)
experiment_app.command("behaviour")(experiments.behaviour)

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line (the ``emoscope`` console script)."""
    app()
