"""``emoscope corpus``: validate, count and generate stimulus corpora."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emoscope.cli.common import Drawer, Placement, emit_json, fail, guard, load_lm
from emoscope.cli.options import AllowPickleOpt, DeviceMapOpt, DeviceOpt, DtypeOpt, MaxMemoryOpt, OffloadOpt


def corpus_validate(
    path: Annotated[Path | None, typer.Argument(help="Corpus directory, or a stories/dialogues JSONL file "
                                                "(default: the shipped corpus).")] = None,
    tokens: Annotated[bool, typer.Option(help="Count tokens with the default model's tokenizer.")] = True,
    min_per_emotion: Annotated[int, typer.Option(help="Stories required per emotion.")] = 12,
    min_dialogues: Annotated[int, typer.Option(help="Neutral dialogues required.")] = 400,
    max_per_topic: Annotated[int, typer.Option(help="Most stories of one emotion on one topic (0: no limit; "
                                               "generated corpora ask several per topic).")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False,
) -> None:
    """Check a corpus against every rule; exit code 1 if any error is found."""
    from emoscope.corpus.validate import validate_path
    from emoscope.model.loading import token_counter

    def run() -> None:
        counter = token_counter() if tokens else None
        findings = validate_path(path, counter, min_per_emotion, min_dialogues, max_per_topic or None)
        errors = [f for f in findings if f.level == "error"]
        if as_json:
            emit_json({"errors": len(errors), "warnings": len(findings) - len(errors),
                       "findings": [f.__dict__ for f in findings]})
        else:
            for f in findings:
                typer.echo(f.line())
            typer.echo(f"{len(errors)} errors, {len(findings) - len(errors)} warnings")
        if errors:
            raise typer.Exit(1)

    guard(run)


def corpus_card(
    path: Annotated[Path | None, typer.Argument(help="Corpus directory (default: the shipped corpus).")] = None,
    write: Annotated[bool, typer.Option(help="Also rewrite the counts section of CARD.md in the corpus.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Print the corpus's counts (per emotion, person, topic, split) and validator results for its data card."""
    from emoscope.corpus import Corpus
    from emoscope.corpus.validate import card_section, corpus_counts, update_card
    from emoscope.model.loading import token_counter

    def run() -> None:
        c = Corpus.load(path)
        counter = token_counter()
        if as_json:
            emit_json(corpus_counts(c, counter), indent=1)
            return
        section = card_section(c, counter)
        typer.echo(section)
        if write:
            typer.echo(f"updated {update_card(c.root / 'CARD.md', section)}", err=True)

    guard(run)


def corpus_generate(
    out: Annotated[Path, typer.Option(help="Corpus directory to write (created; resumed if it exists).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Local model: registered name, directory "
                                              "or Hugging Face id.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8080 "
                                                 "(llama.cpp, vLLM) or a hosted API base URL.")] = None,
    endpoint_model: Annotated[str, typer.Option(help="Model name sent to the endpoint.")] = "default",
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the endpoint's API key.")
                           ] = "OPENAI_API_KEY",
    emotions: Annotated[str, typer.Option(help="'all', a comma-separated list, or a number to sample.")] = "all",
    topics: Annotated[int, typer.Option(min=1, help="How many of the shipped topics to use.")] = 100,
    stories_per_topic: Annotated[int, typer.Option(min=1, help="Stories asked per emotion and topic.")] = 12,
    dialogues_per_topic: Annotated[int, typer.Option(min=0, help="Neutral dialogues asked per topic and kind.")
                                   ] = 0,
    max_tokens: Annotated[int, typer.Option(min=16, help="Token limit per reply.")] = 2048,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature.")] = 0.9,
    seed: Annotated[int, typer.Option(help="Seed for reproducible sampling.")] = 0,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print progress and the summary as JSON lines.")] = False,
) -> None:
    """Generate stories (and neutral dialogues) with a local model or an HTTP endpoint, validated as they come.

    Writes stories.jsonl, neutral_dialogues.jsonl, topics.jsonl and rejects.jsonl (every reject with its
    reason) into --out; running the same command again resumes.
    """
    import os

    from emoscope.backends import choose_writer
    from emoscope.corpus.generate import GenerationTally, generate_corpus
    from emoscope.model.loading import token_counter
    from emoscope.selection import choose_emotions

    def run() -> None:
        chosen = choose_emotions(emotions, seed)
        place = Placement(device, device_map, max_memory, offload_folder, allow_pickle)
        backend = choose_writer(model, endpoint, endpoint_model, os.environ.get(api_key_env),
                                lambda spec: load_lm(spec, dtype, place=place))
        tally = GenerationTally()
        with Drawer(quiet=as_json, log_notes=True) as draw:
            for p in generate_corpus(backend, out, chosen, n_topics=topics, stories_per_topic=stories_per_topic,
                                     dialogues_per_topic=dialogues_per_topic, count_tokens=token_counter(),
                                     max_tokens=max_tokens, temperature=temperature, seed=seed, tally=tally):
                draw(p)
                if as_json:
                    o = tally.last
                    emit_json({"request": o.key, "done": p.done, "total": p.total, "accepted": o.accepted,
                               "rejected": o.rejected, "skipped": o.skipped})
        if as_json:
            emit_json({"out": str(out), "accepted": tally.accepted, "rejected": tally.rejected,
                       "rejects": str(out / "rejects.jsonl")})
            return
        typer.echo(f"{out}: {tally.accepted} items kept, {tally.rejected} rejected this run "
                   f"(reasons in {out / 'rejects.jsonl'})")

    guard(run)


def corpus_audit(
    path: Annotated[list[str] | None, typer.Argument(help="Corpus directories, or v1 / v2 (the shipped story "
                                                     "sets; several are joined; default: v1).")] = None,
    bank: Annotated[Path | None, typer.Option(help="Also compare the bank's vectors, layer by layer, with what the "
                                              "words explain.")] = None,
    split: Annotated[str, typer.Option(help="Stories to audit: train (those that build the vectors), heldout or "
                                       "all.")] = "train",
    components: Annotated[int, typer.Option(min=1, help="Lexical principal components to compute and regress on.")
                          ] = 5,
    permutations: Annotated[int, typer.Option(min=100, help="Shuffles for each style statistic's p-value.")] = 2000,
    out: Annotated[Path | None, typer.Option(help="Write the audit as JSON to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the audit as JSON.")] = False,
) -> None:
    """What the corpus's words alone explain: lexical axes of the per-emotion story means, style statistics by
    valence x arousal family (flagged when they differ systematically), and with --bank, how much of the vectors'
    first components the words already explain at every layer.

    Example: emoscope corpus audit --bank banks/smollm2-135m-instruct --out audit.json
    """
    from emoscope.bank import EmotionBank
    from emoscope.catalogue import load_norms
    from emoscope.corpus import load_corpora
    from emoscope.validation.style_audit import audit, audit_lines

    def run() -> None:
        if split not in ("train", "heldout", "all"):
            fail("--split must be train, heldout or all")
        c = load_corpora(path)
        chosen = {"train": c.train_stories(), "heldout": c.heldout_stories(), "all": c.stories}[split]
        b = EmotionBank.load(bank) if bank is not None else None
        vectors = {layer: b.matrix(layer) for layer in b.layers} if b is not None else None
        res = audit([(s.emotion, s.text) for s in chosen], c.emotions(), load_norms(), vectors,
                    b.emotions if b is not None else None, k=components, permutations=permutations)
        res.update(corpus=[p["corpus"] for p in c.story_sets()], corpus_sha256=c.sha256(), split=split,
                   bank=str(bank) if bank is not None else None, model=b.model if b is not None else None)
        if out is not None:
            from emoscope.atomic import atomic_file

            with atomic_file(out) as fh:
                fh.write(json.dumps(res, indent=1))
        if as_json:
            emit_json(res)
            return
        for line in audit_lines(res):
            typer.echo(line)

    guard(run)
