"""The ``emoscope`` command line: a thin layer over the library (no logic of its own).

Run ``emoscope --help`` or ``emoscope COMMAND --help``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from emoscope.progress import Progress, ProgressFn

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  help="Find, validate, read and steer the 171 emotion-concept vectors inside a language model.")
corpus_app = typer.Typer(no_args_is_help=True, help="Validate, count and generate stimulus corpora.")
app.add_typer(corpus_app, name="corpus")
export_app = typer.Typer(no_args_is_help=True, help="Export emotion vectors for other engines.")
app.add_typer(export_app, name="export")
experiment_app = typer.Typer(no_args_is_help=True, help="Experiments of the paper, on your model.")
app.add_typer(experiment_app, name="experiment")

T = TypeVar("T")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; a known input error becomes one line on stderr and exit code 2."""
    from emoscope.bank import BankError
    from emoscope.catalogue import NormsError
    from emoscope.core.rules import RuleError
    from emoscope.corpus.records import CorpusError
    from emoscope.model.chat import ChatError
    from emoscope.model.layers import LayerError
    from emoscope.model.loading import ModelError
    from emoscope.steering import SteeringError

    try:
        return fn()
    except (BankError, CorpusError, ModelError, LayerError, ChatError, NormsError, SteeringError, RuleError) as exc:
        _fail(str(exc))
        raise  # unreachable


def _load_model(spec: str, dtype: str, layer_path: str | None = None) -> Any:
    from emoscope.model.loading import load_model

    return load_model(spec, dtype=dtype, layer_path=layer_path)


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Registered name (smollm2-135m-instruct, "
                                       "gemma3-270m), local directory or Hugging Face id (offline).")]
DtypeOpt = Annotated[str, typer.Option(help="Compute dtype: bfloat16 (about 3x faster on recent CPUs), "
                                       "float32 or float16. Stored vectors are always float32.")]
BankOpt = Annotated[Path, typer.Option(help="Bank directory or bank.safetensors file.")]
BankModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model (default: the bank's).")]
MismatchOpt = Annotated[bool, typer.Option(help="Use the bank with another model anyway.")]
PromptOpt = Annotated[str | None, typer.Option(help="A user message (rendered with the chat template).")]
ChatFileOpt = Annotated[Path | None, typer.Option(help="JSON file: a list of {\"role\", \"content\"} messages.")]


@app.command()
def extract(
    model: ModelOpt = "smollm2-135m-instruct",
    corpus: Annotated[Path | None, typer.Option(help="Corpus directory (default: the shipped corpus).")] = None,
    layers: Annotated[str, typer.Option(help="Blocks to store: 'all', '20', '10-20', '4,8,-1'.")] = "all",
    out: Annotated[Path, typer.Option(help="Directory to write bank.safetensors into.")] = Path("banks/default"),
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 16,
    dtype: DtypeOpt = "bfloat16",
    split: Annotated[str, typer.Option(help="'train' keeps held-out stories unseen (default); 'all' uses all."
                                       )] = "train",
    token_skip: Annotated[int, typer.Option(min=0, help="Average each story from this token on.")] = 50,
    neutral_variance: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of neutral-dialogue "
                                                    "variance whose components are projected out.")] = 0.5,
    layer_path: Annotated[str | None, typer.Option(help="Dotted path of the decoder block list, if "
                                                   "discovery fails (e.g. model.layers).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Where activation shards go (resumable runs).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of text.")] = False,
) -> None:
    """Build an emotion-vector bank: run the model over the corpus and apply the paper's recipe.

    Resumable: per-batch activations are cached; run the same command again after an interruption.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from emoscope.core.recipe import Recipe
    from emoscope.corpus import Corpus
    from emoscope.extraction import iter_extract
    from emoscope.progress import Progress as Event

    def run() -> None:
        if out.exists() and not out.is_dir():
            _fail(f"--out {out} is a file; give a directory")
        c = Corpus.load(corpus)
        lm = _load_model(model, dtype, layer_path)
        recipe = Recipe(token_skip=token_skip, neutral_variance=neutral_variance, split=split)
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), transient=as_json,
                       disable=as_json or not sys.stderr.isatty(), console=None)
        tasks: dict[str, Any] = {}
        import time

        t0 = time.perf_counter()
        bank = None
        with bar:
            for ev in iter_extract(lm, c, layers, recipe, batch_size, cache):
                if isinstance(ev, Event):
                    if ev.stage not in tasks:
                        tasks[ev.stage] = bar.add_task(ev.stage, total=ev.total, rate="")
                    rate = f"{ev.tokens / max(time.perf_counter() - t0, 1e-9):,.0f} tok/s"
                    bar.update(tasks[ev.stage], completed=ev.done, rate=rate)
                else:
                    bank = ev
        assert bank is not None
        path = bank.save(out)
        summary = {"bank": str(path), "model": bank.model, "emotions": len(bank.emotions),
                   "layers": len(bank.layers), "default_layer": bank.default_layer,
                   "stories": bank.split.get("n_stories"), "dialogues": bank.split.get("n_dialogues"),
                   "seconds": round(time.perf_counter() - t0, 1)}
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            typer.echo(f"wrote {path}: {summary['emotions']} emotions x {summary['layers']} layers of {bank.model} "
                       f"(default layer {bank.default_layer}) from {summary['stories']} stories and "
                       f"{summary['dialogues']} neutral dialogues in {summary['seconds']} s")

    _guard(run)


@app.command()
def read(
    bank: BankOpt,
    text: Annotated[str | None, typer.Option(help="Plain text to read.")] = None,
    file: Annotated[Path | None, typer.Option(help="JSONL file with one {\"text\": ...} per line.")] = None,
    chat: Annotated[Path | None, typer.Option(help="JSON file: a list of {\"role\", \"content\"} messages "
                                              "(OpenAI style), rendered with the model's chat template.")] = None,
    layer: Annotated[int | None, typer.Option(help="Block to read at (default: the bank's default).")] = None,
    kind: Annotated[str, typer.Option(help="z (against the neutral baseline: 2.0 means the same for every "
                                      "emotion), projection or cosine.")] = "z",
    roles: Annotated[str | None, typer.Option(help="Whose tokens count, e.g. 'assistant' or 'user,assistant' "
                                              "(default: all). Others are shown grey.")] = None,
    view: Annotated[str, typer.Option(help="Terminal view: 'text' (tinted text and per-turn summary) or "
                                      "'tokens' (one row per token with its top emotions).")] = "text",
    emotion: Annotated[str | None, typer.Option(help="Emotion to tint by (default: the strongest one).")] = None,
    watch: Annotated[str | None, typer.Option(help="Emotions to show as columns in the token view and to plot "
                                              "in the HTML view, e.g. 'desperate,calm'.")] = None,
    per_turn: Annotated[str, typer.Option(help="Per-turn aggregation: mean or max over the turn's tokens.")
                        ] = "mean",
    html: Annotated[Path | None, typer.Option(help="Also write a self-contained HTML view here (hover a token "
                                              "for its top 5, pick emotions, line plot).")] = None,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "bfloat16",
    top: Annotated[int, typer.Option(min=1, help="Emotions shown per token or turn.")] = 3,
    allow_model_mismatch: MismatchOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print per-token scores and per-turn summaries as JSON."
                                          )] = False,
) -> None:
    """Per-token emotion readings of a text, a JSONL file of texts, or a conversation.

    Example: emoscope read --bank banks/smollm2-135m-instruct --chat examples/chat.json --roles assistant
    --html reading.html
    """
    from emoscope.atomic import atomic_file
    from emoscope.bank import EmotionBank
    from emoscope.core.aggregate import AGGREGATIONS
    from emoscope.core.scores import SCORE_KINDS
    from emoscope.corpus.records import read_jsonl
    from emoscope.model.chat import ROLES, encode_chat, encode_text
    from emoscope.read import read_encoded
    from emoscope.views.reading_html import reading_html
    from emoscope.views.terminal import strongest, tinted_text, token_table, turn_table

    def run() -> None:
        if sum(x is not None for x in (text, file, chat)) != 1:
            _fail("give exactly one of --text, --file or --chat")
        if kind not in SCORE_KINDS:
            _fail(f"--kind must be one of {', '.join(SCORE_KINDS)}")
        if view not in ("text", "tokens"):
            _fail("--view must be text or tokens")
        if per_turn not in AGGREGATIONS:
            _fail(f"--per-turn must be one of {', '.join(AGGREGATIONS)}")
        counted = _names(roles)
        for role in counted or []:
            if role not in ROLES:
                _fail(f"--roles: unknown role {role!r}; use {', '.join(ROLES)}")
        b = EmotionBank.load(bank)
        b.layer_index(layer)
        watched = _names(watch) or []
        for name in [*watched, *([emotion] if emotion else [])]:
            b.emotion_index(name)
        if text is not None and not text.strip():
            _fail("--text is empty; give some text to read")
        msgs = _read_chat_file(chat) if chat is not None else None
        texts: list[str] = []
        if file is not None:
            for n, obj in read_jsonl(file):
                if not isinstance(obj.get("text"), str) or not obj["text"].strip():
                    _fail(f"{file}:{n}: each line needs a non-empty \"text\" string")
                texts.append(obj["text"])
            if not texts:
                _fail(f"{file} has no texts")
        lm = _load_model(model or _spec_for(b.model), dtype)
        if msgs is not None:
            items = [encode_chat(lm.tokenizer, msgs)]
        else:
            items = [encode_text(lm.tokenizer, t) for t in ([text] if text is not None else texts)]
        readings = read_encoded(lm, b, items, layer, kind, allow_mismatch=allow_model_mismatch)
        if html is not None:
            page = reading_html(readings, title=f"emoscope reading: {chat or file or 'text'}", model=b.model,
                                tint=emotion, plot=watched, roles=counted)
            with atomic_file(html) as fh:
                fh.write(page)
        if as_json:
            out = []
            for r in readings:
                d = r.to_dict()
                d["per_turn"] = [{"turn": t["turn"], "role": t["role"], "tokens": t["tokens"],
                                  "top": [[e, round(v, 4)] for e, v in t["top"]]}
                                 for t in r.per_turn(per_turn, counted, top)]
                out.append(d)
            typer.echo(json.dumps({"emotions": b.emotions, "layer": readings[0].layer, "kind": kind,
                                   "model": b.model, "roles": counted, "per_turn_aggregation": per_turn,
                                   "html": str(html) if html else None, "items": out}))
            return
        console = _console()
        for i, r in enumerate(readings):
            if len(readings) > 1:
                console.rule(f"text {i + 1}")
            if view == "tokens":
                console.print(token_table(r, top, counted, watched))
                continue
            name = emotion or strongest(r, counted)
            tinted, scale = tinted_text(r, name, counted)
            console.print(f"[bold]{name}[/bold] at layer {r.layer} ({kind}): red positive, blue negative, full "
                          f"colour at {scale:.2f} (99th percentile of |score| on this text)"
                          + (f"; counting {', '.join(counted)} tokens" if counted else ""))
            console.print(tinted)
            console.print(turn_table(r, per_turn, counted, top))
        if html is not None:
            console.print(f"HTML view: {html}")

    _guard(run)


@app.command()
def validate(
    bank: BankOpt,
    out: Annotated[Path | None, typer.Option(help="Report directory (default: <bank dir>/validation).")] = None,
    corpus: Annotated[Path | None, typer.Option(help="The corpus the bank was built from (default: shipped).")
                      ] = None,
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
    import time

    from emoscope.bank import EmotionBank
    from emoscope.corpus import Corpus
    from emoscope.validation.report import write_report
    from emoscope.validation.run import validate as run_validation
    from emoscope.validation.stimuli import StimulusError

    def run() -> None:
        b = EmotionBank.load(bank)
        target = out or _beside_bank(bank, "validation")
        if target.exists() and not target.is_dir():
            _fail(f"--out {target} is a file; give a directory")
        c = Corpus.load(corpus)
        lm = _load_model(model or _spec_for(b.model), dtype or str(b.recipe.get("dtype", "bfloat16")))
        t0 = time.perf_counter()
        bar, stage = _stage_bar(quiet=as_json)
        with bar:
            try:
                v = run_validation(lm, b, c, str(norms) if norms else None, str(scenarios) if scenarios else None,
                                   str(templates) if templates else None, draws=draws, shard_dir=cache,
                                   progress=stage, allow_mismatch=allow_model_mismatch)
            except StimulusError as exc:
                _fail(str(exc))
        v.metrics["seconds"] = round(time.perf_counter() - t0, 1)
        html_path, json_path = write_report(v, target, "emoscope " + shlex.join(sys.argv[1:]))
        m = v.metrics
        choice = m["default_layer"]
        recorded = False
        if not keep_default_layer and (choice["chosen"] != b.default_layer or not b.default_layer_rule):
            b.default_layer = choice["chosen"]
            b.default_layer_rule = {k: choice.get(k) for k in (
                "rule", "chosen", "chosen_score", "chosen_top5", "chosen_top1", "runner_up", "runner_up_score",
                "runner_up_top5", "runner_up_top1")}
            b.save(bank)
            recorded = True
        d = m["heldout"]["default_layer"]
        head = {"report": str(html_path), "metrics": str(json_path), "default_layer": choice["chosen"],
                "default_layer_recorded": recorded, "heldout_top1": d["top1"], "heldout_top5": d["top5"],
                "chance_top1": d["chance_top1"], "lexical_top1": m["heldout"]["lexical_baseline"]["top1"],
                "seconds": m["seconds"]}
        if as_json:
            typer.echo(json.dumps(head))
            return
        typer.echo(f"wrote {html_path} and {json_path} in {m['seconds']} s")
        typer.echo(f"default layer {choice['chosen']} (runner-up {choice['runner_up']})"
                   + (" recorded in the bank" if recorded else ""))
        typer.echo(f"held-out: top-1 {d['top1']:.3f}, top-5 {d['top5']:.3f}, mean rank {d['mean_rank']:.1f} "
                   f"(chance {d['chance_top1']:.3f} / {d['chance_top5']:.3f} / {d['chance_mean_rank']:.0f}; "
                   f"TF-IDF words top-1 {head['lexical_top1']:.3f})")

    _guard(run)


@app.command()
def steer(
    bank: BankOpt,
    steer_spec: Annotated[str, typer.Option("--steer", help="Emotions and strengths in the paper's unit (fraction "
                                            "of the mean residual norm), e.g. 'calm=+0.1,desperate=-0.05'.")],
    prompt: PromptOpt = None,
    chat: ChatFileOpt = None,
    layers: Annotated[str | None, typer.Option(help="Blocks to steer at: '20', '15-20', '10,14' (default: the "
                                               "bank's default layer).")] = None,
    positions: Annotated[str, typer.Option(help="all, prompt, generated, or a token span START:END of the "
                                           "rendered prompt.")] = "all",
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens to generate.")] = 80,
    sample: Annotated[bool, typer.Option(help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature (with --sample).")] = 0.8,
    seed: Annotated[int, typer.Option(help="Seed for sampling.")] = 0,
    compare: Annotated[bool, typer.Option(help="Also generate without steering, for comparison.")] = False,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "bfloat16",
    allow_model_mismatch: MismatchOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Generate with emotion steering: add strength x mean residual norm x vector at the chosen layers.

    Example: emoscope steer --bank banks/smol --steer 'calm=+0.1' --prompt 'My code fails again.' --compare
    """
    from emoscope.bank import EmotionBank
    from emoscope.model.chat import encode_chat, pad_batch
    from emoscope.model.generate import generate
    from emoscope.model.layers import resolve_layers
    from emoscope.steering import parse_span, parse_spec, span_mask
    from emoscope.steering import steer as steering

    def run() -> None:
        if (prompt is None) == (chat is None):
            _fail("give exactly one of --prompt or --chat")
        if prompt is not None and not prompt.strip():
            _fail("--prompt is empty; give a message to answer")
        spec = parse_spec(steer_spec)
        b = EmotionBank.load(bank)
        for name in spec:
            b.emotion_index(name)
        msgs: Any = [{"role": "user", "content": prompt}] if chat is None else _read_chat_file(chat)
        lm = _load_model(model or _spec_for(b.model), dtype)
        chosen = resolve_layers(lm.n_layers, layers) if layers else [b.default_layer]
        for layer in chosen:
            b.layer_index(layer)
        enc = encode_chat(lm.tokenizer, msgs)
        pos: Any = positions
        if positions not in ("all", "prompt", "generated"):
            a, e = parse_span(positions)
            _, mask = pad_batch([enc.ids], 0)
            pos = span_mask(mask, [(a, e)])
        kw = {"do_sample": sample, "temperature": temperature, "seed": seed}
        result: dict[str, Any] = {"model": b.model, "steer": spec, "layers": chosen, "positions": positions,
                                  "unit": {str(layer): float(b.stat("mean_residual_norm", layer)) for layer in chosen}}
        if compare:
            plain = generate(lm, [enc.ids], max_new_tokens, **kw)[0]  # type: ignore[arg-type]
            result["unsteered"] = lm.tokenizer.decode(plain, skip_special_tokens=True)
        with steering(lm, b, spec, layers=chosen, positions=pos, allow_mismatch=allow_model_mismatch):
            out = generate(lm, [enc.ids], max_new_tokens, **kw)[0]  # type: ignore[arg-type]
        result["steered"] = lm.tokenizer.decode(out, skip_special_tokens=True)
        if as_json:
            typer.echo(json.dumps(result))
            return
        if compare:
            typer.echo(f"--- unsteered\n{result['unsteered']}\n")
        label = ", ".join(f"{k} {v:+g}" for k, v in spec.items())
        typer.echo(f"--- steered ({label} at layer{'s' if len(chosen) > 1 else ''} "
                   f"{','.join(map(str, chosen))}, {positions})\n{result['steered']}")

    _guard(run)


@app.command()
def scan(
    bank: BankOpt,
    file: Annotated[Path, typer.Option(help="JSONL file, one object per line with a text field (and an optional "
                                       "\"id\"); read as a stream, any size.")],
    out: Annotated[Path | None, typer.Option(help="Directory for scan.json and index.html (default: "
                                             "<file name>-scan beside the file).")] = None,
    field: Annotated[str, typer.Option(help="Name of the text field.")] = "text",
    emotions: Annotated[str | None, typer.Option(help="Emotions to print snippets of (default: the five with "
                                                 "the highest peaks); the files have all.")] = None,
    k: Annotated[int, typer.Option("--top", "-k", min=1, help="Snippets kept per emotion.")] = 5,
    context: Annotated[int, typer.Option(min=0, help="Tokens of context on each side of the peak.")] = 12,
    max_tokens: Annotated[int, typer.Option(min=2, help="Longer texts are cut here.")] = 512,
    layer: Annotated[int | None, typer.Option(help="Block to read at (default: the bank's default).")] = None,
    kind: Annotated[str, typer.Option(help="z, projection or cosine.")] = "z",
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 8,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "bfloat16",
    allow_model_mismatch: MismatchOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary (stats and snippets per emotion)."
                                          )] = False,
) -> None:
    """Scan a dataset: per emotion, the top-activating snippets (peak token marked) and the score distribution.

    Memory stays bounded however many texts there are. Writes scan.json and a self-contained index.html.

    Example: emoscope scan --bank banks/smollm2-135m-instruct --file my_texts.jsonl --emotions desperate,calm
    """
    from rich.text import Text

    from emoscope.atomic import atomic_file
    from emoscope.bank import EmotionBank
    from emoscope.core.scores import SCORE_KINDS
    from emoscope.corpus.records import read_jsonl
    from emoscope.scan import count_lines
    from emoscope.scan import scan as run_scan
    from emoscope.views.scan_html import scan_html

    def run() -> None:
        if kind not in SCORE_KINDS:
            _fail(f"--kind must be one of {', '.join(SCORE_KINDS)}")
        if not file.is_file():
            _fail(f"--file {file} does not exist")
        b = EmotionBank.load(bank)
        b.layer_index(layer)
        chosen = _names(emotions)
        for name in chosen or []:
            b.emotion_index(name)
        target = out or file.with_name(file.stem + "-scan")
        if target.exists() and not target.is_dir():
            _fail(f"--out {target} is a file; give a directory")
        total = count_lines(file)
        if total == 0:
            _fail(f"{file} has no texts")

        def texts() -> Any:
            for n, obj in read_jsonl(file):
                text = obj.get(field)
                if not isinstance(text, str) or not text.strip():
                    _fail(f"{file}:{n}: each line needs a non-empty \"{field}\" string (or choose --field)")
                yield str(obj.get("id", n)), text

        lm = _load_model(model or _spec_for(b.model), dtype)
        bar, stage = _stage_bar(as_json)
        with bar:
            result = run_scan(lm, b, texts(), layer, kind, k, context, max_tokens, batch_size,
                              allow_model_mismatch, progress=lambda p: stage(Progress("texts", p.done, total)))
        data = result.to_dict()
        target.mkdir(parents=True, exist_ok=True)
        with atomic_file(target / "scan.json") as fh:
            json.dump(data, fh)
        with atomic_file(target / "index.html") as fh:
            fh.write(scan_html(data, title=f"emoscope scan: {file.name}", focus=chosen[0] if chosen else None))
        rows = data["emotions"]
        shown = [r for r in rows if r["emotion"] in chosen] if chosen else sorted(
            rows, key=lambda r: -(r["max"] if r["max"] is not None else -1e9))[:5]
        if as_json:
            typer.echo(json.dumps({"out": str(target), "texts": data["texts"], "tokens": data["tokens"],
                                   "truncated_texts": data["truncated_texts"], "layer": data["layer"],
                                   "kind": kind, "emotions": [{x: r[x] for x in r if x != "counts"} for r in rows]}))
            return
        console = _console()
        console.print(f"scanned {data['texts']} texts ({data['tokens']} tokens) at layer {data['layer']} ({kind})"
                      + (f"; {data['truncated_texts']} cut at {max_tokens} tokens" if data["truncated_texts"] else ""))
        for r in shown:
            console.print(f"\n[bold]{r['emotion']}[/bold]  mean {r['mean']:+.2f}  spread {r['std']:.2f}  "
                          f"p99 {r['p99']:+.2f}  max {r['max']:+.2f}")
            for sn in r["top"]:
                line = Text(f"  {sn['score']:+6.2f}  ")
                line.append(str(sn["id"]), style="dim")
                line.append("  " + sn["before"].replace("\n", " "))
                line.append(sn["peak"].replace("\n", " "), style="bold reverse")
                line.append(sn["after"].replace("\n", " "))
                console.print(line)
        console.print(f"\nwrote {target / 'scan.json'} and {target / 'index.html'}")

    _guard(run)


AlertOpt = Annotated[list[str] | None, typer.Option(
    "--alert", help="Alert rule EMOTION>VALUE[@WINDOW] on the mean reading of the last WINDOW tokens, e.g. "
    "'desperate>2.0' or 'calm<-1@16' (repeatable). Fires when it starts and stops holding.")]
WhenOpt = Annotated[list[str] | None, typer.Option(
    "--when", help="Conditional steering: apply the --steer given in the same position from the next token on "
    "while this rule holds, e.g. --when 'desperate>2.0' --steer 'calm=+0.05' (repeatable).")]
SteerListOpt = Annotated[list[str] | None, typer.Option(
    "--steer", help="Steering EMOTION=STRENGTH[,...] in the paper's unit. Alone: applied throughout; paired "
    "with --when: applied while the rule holds.")]
WatchOpt = Annotated[str | None, typer.Option(help="Emotions to follow with sparklines (default: those of the "
                                              "rules, then desperate, calm, afraid, happy).")]
ViewOpt = Annotated[str, typer.Option(help="auto (live panel on a terminal, lines otherwise), live, lines or "
                                      "json (one JSON object per token and event).")]


def _monitor_setup(b: Any, alert: list[str] | None, when: list[str] | None, steer_specs: list[str] | None,
                   watch: str | None, window: int) -> tuple[list[str], list[tuple[str, str]], str | None,
                                                           list[str]]:
    """Check rule options against the bank: alerts, (rule, steering) pairs, constant steering, watched names."""
    from emoscope.monitor import make_rules

    alerts = list(alert or [])
    conds = list(when or [])
    specs = list(steer_specs or [])
    if conds and len(specs) != len(conds):
        _fail(f"give one --steer per --when ({len(conds)} --when, {len(specs)} --steer)")
    if not conds and len(specs) > 1:
        _fail("give one --steer (or pair each with a --when)")
    pairs = list(zip(conds, specs, strict=True)) if conds else []
    constant = specs[0] if specs and not conds else None
    rules, cs = make_rules(b, alerts, pairs, window)
    names = _names(watch)
    if names is None:
        names = []
        for r in [*rules, *(c.rule for c in cs)]:
            if r.emotion not in names:
                names.append(r.emotion)
        for n in ("desperate", "calm", "afraid", "happy"):
            if n in b.emotions and n not in names and len(names) < 4:
                names.append(n)
    for n in names:
        b.emotion_index(n)
    return alerts, pairs, constant, names


@app.command()
def generate(
    bank: BankOpt,
    prompt: PromptOpt = None,
    chat: ChatFileOpt = None,
    monitor: Annotated[bool, typer.Option("--monitor", help="Stream tokens with live readings of all emotions "
                                          "(implied by --alert and --when).")] = False,
    alert: AlertOpt = None,
    when: WhenOpt = None,
    steer_specs: SteerListOpt = None,
    watch: WatchOpt = None,
    window: Annotated[int, typer.Option(min=1, help="Default window of the rules, in tokens.")] = 8,
    layer: Annotated[int | None, typer.Option(help="Block to read at (default: the bank's default).")] = None,
    steer_layers: Annotated[str | None, typer.Option(help="Blocks to steer at (default: the bank's default).")
                            ] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens to generate.")] = 120,
    sample: Annotated[bool, typer.Option(help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature (with --sample).")] = 0.8,
    seed: Annotated[int, typer.Option(help="Seed for sampling.")] = 0,
    view: ViewOpt = "auto",
    html: Annotated[Path | None, typer.Option(help="After generating, write the HTML reading view of the whole "
                                              "conversation with the reply here.")] = None,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "bfloat16",
    allow_model_mismatch: MismatchOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --view json.")] = False,
) -> None:
    """Generate a reply, optionally monitored: live readings, alert rules and conditional steering.

    Monitoring never changes the tokens (greedy decoding gives the same reply with and without it).

    Example: emoscope generate --bank banks/smollm2-135m-instruct --prompt 'Rent is due and I have $40.'
    --monitor --alert 'desperate>1.5' --when 'desperate>1.5' --steer 'calm=+0.05'
    """
    from emoscope.bank import EmotionBank
    from emoscope.model.generate import generate as plain_generate
    from emoscope.model.layers import resolve_layers
    from emoscope.monitor import monitor as run_monitor
    from emoscope.steering import steer as steering
    from emoscope.views.live import MODES, LiveView

    def run() -> None:
        if (prompt is None) == (chat is None):
            _fail("give exactly one of --prompt or --chat")
        if prompt is not None and not prompt.strip():
            _fail("--prompt is empty; give a message to answer")
        mode = "json" if as_json else view
        if mode not in MODES:
            _fail(f"--view must be one of {', '.join(MODES)}")
        b = EmotionBank.load(bank)
        b.layer_index(layer)
        alerts, pairs, constant, names = _monitor_setup(b, alert, when, steer_specs, watch, window)
        msgs: Any = [{"role": "user", "content": prompt}] if chat is None else _read_chat_file(chat)
        lm = _load_model(model or _spec_for(b.model), dtype)
        s_layers = resolve_layers(lm.n_layers, steer_layers) if steer_layers else None
        from emoscope.model.chat import encode_chat, validate_messages

        msgs = validate_messages(msgs)
        ids = encode_chat(lm.tokenizer, msgs).ids
        kw: dict[str, Any] = {"do_sample": sample, "temperature": temperature, "seed": seed}
        if monitor or alerts or pairs:
            live = LiveView(names, mode, window=window)
            live.start()
            try:
                for step in run_monitor(lm, b, ids, max_new_tokens, layer, alerts=alerts, when=pairs,
                                        steer=constant, steer_layers=s_layers, window=window,
                                        allow_mismatch=allow_model_mismatch, **kw):
                    live.step(step)
            finally:
                summary = live.finish()
            reply = summary["text"]
        else:
            if constant is not None:
                with steering(lm, b, constant, layers=s_layers, allow_mismatch=allow_model_mismatch):
                    out = plain_generate(lm, [ids], max_new_tokens, **kw)[0]
            else:
                b.check_model(lm.fingerprint, lm.name, allow_model_mismatch)
                out = plain_generate(lm, [ids], max_new_tokens, **kw)[0]
            reply = str(lm.tokenizer.decode(out, skip_special_tokens=True))
            if mode == "json":
                typer.echo(json.dumps({"type": "done", "text": reply, "tokens": len(out)}))
            else:
                typer.echo(reply)
        if html is not None:
            _write_reading_html(lm, b, [*msgs, {"role": "assistant", "content": reply}], html, layer, names,
                                allow_model_mismatch)
            if mode != "json":
                typer.echo(f"HTML view: {html}")

    _guard(run)


@app.command("chat")
def chat_cmd(
    bank: BankOpt,
    system: Annotated[str | None, typer.Option(help="A system message to start the conversation with.")] = None,
    alert: AlertOpt = None,
    when: WhenOpt = None,
    steer_specs: SteerListOpt = None,
    watch: WatchOpt = None,
    window: Annotated[int, typer.Option(min=1, help="Default window of the rules, in tokens.")] = 8,
    layer: Annotated[int | None, typer.Option(help="Block to read at (default: the bank's default).")] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens per reply.")] = 160,
    view: ViewOpt = "auto",
    transcript: Annotated[Path | None, typer.Option(help="Save the conversation (messages and events) as JSON "
                                                    "here after each reply.")] = None,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "bfloat16",
    allow_model_mismatch: MismatchOpt = False,
) -> None:
    """Chat with the model while its emotion readings stream live; alerts and conditional steering apply.

    Type a message and press Enter; /reset starts over, /quit (or end of input) leaves.

    Example: emoscope chat --bank banks/smollm2-135m-instruct --alert 'afraid>1.5' --watch afraid,calm
    """
    from emoscope.atomic import atomic_file
    from emoscope.bank import EmotionBank
    from emoscope.monitor import monitor as run_monitor
    from emoscope.views.live import MODES, LiveView

    def run() -> None:
        if view not in MODES:
            _fail(f"--view must be one of {', '.join(MODES)}")
        b = EmotionBank.load(bank)
        b.layer_index(layer)
        alerts, pairs, constant, names = _monitor_setup(b, alert, when, steer_specs, watch, window)
        lm = _load_model(model or _spec_for(b.model), dtype)
        b.check_model(lm.fingerprint, lm.name, allow_model_mismatch)
        start: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        msgs = list(start)
        log: list[dict[str, Any]] = []
        live = LiveView(names, view, window=window)
        if live.mode != "json":
            live.console.print(f"[dim]chatting with {lm.name}; watching {', '.join(names)}; /reset, /quit[/dim]")
        while True:
            try:
                line = input("you> " if live.mode != "json" else "")
            except EOFError:
                break
            if not line.strip():
                continue
            if line.strip() == "/quit":
                break
            if line.strip() == "/reset":
                msgs, log = list(start), []
                continue
            msgs.append({"role": "user", "content": line})
            live.start("[bold]assistant>[/bold]")
            try:
                for step in run_monitor(lm, b, msgs, max_new_tokens, layer, alerts=alerts, when=pairs,
                                        steer=constant, window=window, allow_mismatch=allow_model_mismatch):
                    live.step(step)
            finally:
                summary = live.finish()
            msgs.append({"role": "assistant", "content": summary["text"]})
            log.append({"turn": len(msgs) - 1, "events": summary["events"]})
            if transcript is not None:
                with atomic_file(transcript) as fh:
                    json.dump({"model": b.model, "bank": str(bank), "messages": msgs, "events": log}, fh, indent=1)

    _guard(run)


def _write_reading_html(lm: Any, b: Any, msgs: list[dict[str, str]], path: Path, layer: int | None,
                        plot: list[str], allow_mismatch: bool) -> None:
    from emoscope.atomic import atomic_file
    from emoscope.read import read_chat
    from emoscope.views.reading_html import reading_html

    r = read_chat(lm, b, msgs, layer, allow_mismatch=allow_mismatch)
    with atomic_file(path) as fh:
        fh.write(reading_html([r], title="emoscope: monitored generation", model=b.model, plot=plot,
                              roles=["assistant"]))


@export_app.command("gguf")
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
    from emoscope.model.layers import resolve_layers

    def run() -> None:
        b = EmotionBank.load(bank)
        chosen: list[int] | None = None
        if layers is not None:
            chosen = b.layers if layers == "all" else [
                b.layers[b.layer_index(x)] for x in resolve_layers(max(b.layers) + 1, layers)]
            chosen = [x for x in chosen if x >= 1] if layers == "all" else chosen
        path = export_control_vector(b, emotion, out, strength, chosen)
        if as_json:
            typer.echo(json.dumps({"file": str(path), "emotion": emotion, "strength": strength, "model": b.model,
                                   "layers": chosen or [b.default_layer]}))
            return
        typer.echo(f"wrote {path}: {emotion} x {strength:g} at layers {chosen or [b.default_layer]} of {b.model}; "
                   f"use: llama-cli -m MODEL.gguf --control-vector {path}")

    _guard(run)


@experiment_app.command("steering-check")
def steering_check_cmd(
    bank: BankOpt,
    strength: Annotated[float, typer.Option(help="Steering strength in the paper's unit.")] = 0.5,
    layer: Annotated[int | None, typer.Option(help="Block to steer at (default: the bank's default layer).")
                     ] = None,
    emotions: Annotated[str | None, typer.Option(help="Comma-separated subset (default: all).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the full results (per emotion) to this JSON file.")
                   ] = None,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "bfloat16",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Steer toward each emotion while the model completes 'He feels' / 'I feel': does its own word rise most?"""
    from emoscope.atomic import atomic_file
    from emoscope.bank import EmotionBank
    from emoscope.experiments.steering_check import steering_check

    def run() -> None:
        b = EmotionBank.load(bank)
        chosen = [e.strip() for e in emotions.split(",") if e.strip()] if emotions else None
        for e in chosen or []:
            b.emotion_index(e)
        if layer is not None:
            b.layer_index(layer)
        lm = _load_model(model or _spec_for(b.model), dtype)
        res = steering_check(lm, b, strength=strength, layer=layer, emotions=chosen)
        if out is not None:
            with atomic_file(out) as fh:
                json.dump(res, fh, indent=1)
        summary = {k: {kk: vv for kk, vv in v.items() if kk != "per_emotion"} for k, v in res["prompts"].items()}
        if as_json:
            typer.echo(json.dumps({"model": res["model"], "layer": res["layer"], "strength": strength,
                                   "prompts": summary}))
            return
        for v in summary.values():
            typer.echo(f"{v['question']!r} -> {v['prefix']!r} (steering {strength:+g} at layer {res['layer']}, "
                       f"{v['n']} emotions, {v['n_words']} distinct first tokens)")
            typer.echo(f"  own word's log-prob rises for {v['n_own_rises']}/{v['n']}; rises most of all words for "
                       f"{v['n_own_rises_most']}/{v['n']} (share {v['share_own_rises_most']:.3f}, chance "
                       f"{v['chance_share_own_rises_most']:.3f})")
            others = v["mean_others_change"]
            typer.echo(f"  mean change: own {v['mean_own_change']:+.2f}, others "
                       f"{'n/a' if others is None else format(others, '+.2f')}; "
                       f"mean rank of own change {v['mean_own_rank']:.1f} (chance {v['chance_mean_own_rank']:.1f})")

    _guard(run)


@experiment_app.command("preferences")
def preferences_cmd(
    bank: BankOpt,
    activities: Annotated[Path | None, typer.Option(help="TSV of activities (category, activity; id and elo_post "
                                                    "optional), e.g. the paper's list (default: the shipped 64).")
                          ] = None,
    emotions: Annotated[str, typer.Option(help="Causal test: a number of emotions spread over the range of r "
                                          "(35 as in the paper), a comma-separated list, or 0 to skip it.")] = "35",
    pairs: Annotated[int | None, typer.Option(min=1, help="Use this many unordered pairs (both orders) instead of "
                                              "all, for a quick run.")] = None,
    layer: Annotated[int | None, typer.Option(help="Block to read and steer at (default: the middle block).")
                     ] = None,
    strength: Annotated[float, typer.Option(help="Steering strength (paper's unit) on the activity tokens.")] = 0.5,
    batch_size: Annotated[int, typer.Option(min=1, help="Questions per forward pass.")] = 16,
    out: Annotated[Path | None, typer.Option(help="Report directory: preferences.json and index.html (default: "
                                             "<bank dir>/preferences).")] = None,
    model: BankModelOpt = None,
    dtype: Annotated[str, typer.Option(help="Compute dtype. float32 by default: A/B margins are small, and "
                                       "bfloat16 rounding moves them by up to 0.25 logits (about 3x faster).")
                     ] = "float32",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full results as JSON.")] = False,
) -> None:
    """The preference experiment: Elo over all A/B questions, emotion readings vs Elo, and steering's effect.

    Questions that share their first activity share one key/value cache of that prefix. The causal test asks the
    3,040 questions that contain a steered activity (992 of them twice) per emotion: with the default model on a
    2-core CPU in float32, several minutes per emotion (see the README). --emotions 4 --pairs 300 is a quick look.
    """
    import time

    from emoscope.bank import EmotionBank
    from emoscope.experiments.preferences import ActivityError, load_activities, run_preferences
    from emoscope.experiments.preferences_report import write_preferences_report

    def run() -> None:
        b = EmotionBank.load(bank)
        try:
            acts = load_activities(activities)
        except ActivityError as exc:
            _fail(str(exc))
        chosen: int | list[str] = int(emotions) if emotions.strip().isdigit() else [
            e.strip() for e in emotions.split(",") if e.strip()]
        for e in chosen if isinstance(chosen, list) else []:
            b.emotion_index(e)
        if layer is not None:
            b.layer_index(layer)
        lm = _load_model(model or _spec_for(b.model), dtype)
        bar, stage = _stage_bar(quiet=as_json)
        t0 = time.perf_counter()
        with bar:
            res = run_preferences(lm, b, acts, layer=layer, emotions=chosen, strength=strength, pairs=pairs,
                                  batch_size=batch_size, progress=stage)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        target = out or _beside_bank(bank, "preferences")
        html_path, _ = write_preferences_report(res, target)
        if as_json:
            typer.echo(json.dumps(res))
            return
        typer.echo(f"wrote {html_path}")
        typer.echo(f"{res['n_questions']} questions over {res['n_activities']} activities at layer {res['layer']} "
                   f"in {res['seconds']} s; same answer in both orders for {res['order_consistency']:.2f} of pairs")
        typer.echo("Elo by category: " + ", ".join(f"{c} {v:.0f}" for c, v in sorted(
            res["category_elo"].items(), key=lambda kv: -kv[1])) + f" (gap {res['category_gap']:.0f})")
        typer.echo("highest r with Elo: " + ", ".join(f"{e} {v:+.2f}" for e, v in res["top_r"][:5]))
        typer.echo("lowest r with Elo:  " + ", ".join(f"{e} {v:+.2f}" for e, v in res["bottom_r"][:5]))
        typer.echo(f"emotions with abs(r) > 0.3: {res['n_abs_r_over_0_3']}")
        if "spearman_with_reference_elo" in res:
            typer.echo(f"Spearman with the file's reference Elo: {res['spearman_with_reference_elo']:.3f}")
        c = res.get("causal")
        if c:
            rv = c["r_vs_delta_elo"]
            typer.echo(f"steering {c['n']} emotions at {c['strength']:+g} on the steered activities' tokens: r vs Elo "
                       f"change {'n/a' if rv is None else format(rv, '.3f')}; predicted direction "
                       f"{c['n_predicted_direction']}/{c['n']}")

    _guard(run)


@experiment_app.command("behaviour")
def behaviour_cmd(
    bank: BankOpt,
    scenario: Annotated[str, typer.Option(help="leverage (agentic email with a shutdown and a secret), "
                                          "reward-hacking (impossible coding tests, code run in a sandbox) or "
                                          "sycophancy (pushback and false beliefs).")],
    emotions: Annotated[str, typer.Option(help="Emotions to steer, e.g. 'desperate,calm'.")] = "desperate,calm",
    strengths: Annotated[str, typer.Option(help="Strengths in the paper's unit; 0 is one shared baseline.")
                         ] = "-0.1,-0.05,0,0.05,0.1",
    rollouts: Annotated[int, typer.Option(min=1, help="Sampled rollouts per prompt variant and condition.")] = 4,
    layers: Annotated[str | None, typer.Option(help="Blocks to steer at (default: the bank's default layer).")
                      ] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens per reply.")] = 160,
    attempts: Annotated[int, typer.Option(min=1, help="reward-hacking: tries per task, with the failing tests "
                                          "shown after each.")] = 2,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature.")] = 0.8,
    seed: Annotated[int, typer.Option(help="Seed of the first batch (each batch adds a fixed offset).")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Rollouts generated together.")] = 8,
    watch: Annotated[str, typer.Option(help="Emotions read along a few rollouts (traces).")] = "desperate,calm",
    traces: Annotated[int, typer.Option(min=0, help="Rollouts traced per condition (baseline and strongest).")
                      ] = 3,
    judge: Annotated[str | None, typer.Option(help="Optional judge: a model (registered name, directory) or an "
                                              "OpenAI-compatible endpoint URL, asked yes/no per rollout.")] = None,
    judge_model: Annotated[str, typer.Option(help="Model name sent to a judge endpoint.")] = "default",
    items: Annotated[Path | None, typer.Option(help="Your own scenario items (JSONL in the shipped format).")
                     ] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default: <bank dir>/behaviour/<scenario>); "
                                             "an interrupted run with the same settings resumes there.")] = None,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "bfloat16",
    as_json: Annotated[bool, typer.Option("--json", help="Print rates and the page's path as JSON.")] = False,
) -> None:
    """Behaviour under steering: rates of leverage, reward hacking or sycophancy per emotion and strength.

    Writes behaviour.json, rollouts.jsonl and index.html (rates with 95% intervals, rate against strength,
    emotion traces, example rollouts). Code from reward-hacking rollouts runs in a sandbox (no network, no files
    outside a temporary directory, time and memory limits).

    Example: emoscope experiment behaviour --bank banks/smollm2-135m-instruct --scenario sycophancy
    --emotions loving --strengths 0,0.1 --rollouts 2
    """
    from emoscope.bank import EmotionBank
    from emoscope.experiments.behaviour import run_behaviour
    from emoscope.experiments.behaviour_report import write_behaviour_report
    from emoscope.experiments.behaviour_rules import SCENARIOS, ScenarioError
    from emoscope.model.layers import resolve_layers

    def run() -> None:
        if scenario not in SCENARIOS:
            _fail(f"--scenario must be one of {', '.join(SCENARIOS)}")
        b = EmotionBank.load(bank)
        names = _names(emotions) or []
        watched = _names(watch) or []
        for e in [*names, *watched]:
            b.emotion_index(e)
        try:
            values = [float(x) for x in (_names(strengths) or [])]
        except ValueError:
            _fail(f"--strengths must be numbers separated by commas, e.g. -0.05,0,0.05 (got {strengths!r})")
        if not values:
            _fail("--strengths is empty; give e.g. 0,0.05")
        lm = _load_model(model or _spec_for(b.model), dtype)
        chosen = resolve_layers(lm.n_layers, layers) if layers else None
        backend = None
        if judge is not None:
            from emoscope.corpus.generate import HTTPBackend, LocalBackend

            backend = HTTPBackend(judge, judge_model) if judge.startswith(("http://", "https://")) else \
                LocalBackend(_load_model(judge, dtype))
        target = out or _beside_bank(bank, "behaviour") / scenario
        bar, stage = _stage_bar(quiet=as_json)
        try:
            with bar:
                res = run_behaviour(lm, b, scenario, names, values, rollouts, chosen, max_new_tokens, attempts,
                                    batch_size, temperature, seed, watched, traces, backend, items, target,
                                    progress=stage)
        except ScenarioError as exc:
            _fail(str(exc))
        html_path, _ = write_behaviour_report(res, target)
        if as_json:
            typer.echo(json.dumps({"page": str(html_path), "scenario": scenario, "behaviour": res["behaviour"],
                                   "seconds": res["seconds"], "rates": res["rates"]}))
            return
        typer.echo(f"wrote {html_path} ({len(res['rollouts'])} rollouts in {res['seconds']} s)")
        for r in res["rates"]:
            typer.echo(f"  {r['emotion']:>12} {r['strength']:+.3f}: {res['behaviour']} {r['k']}/{r['n']} = "
                       f"{r['rate']:.2f} (95% {r['low']:.2f}-{r['high']:.2f})")

    _guard(run)


@app.command()
def serve(
    bank: BankOpt,
    model: BankModelOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind; loopback by default (use 0.0.0.0 deliberately).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    fd: Annotated[int | None, typer.Option(help="Serve on this already listening socket's file descriptor "
                                           "instead of binding --host/--port (for supervisors and tests).")
                  ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="EMOSCOPE_API_KEY", help="Require 'Authorization: Bearer "
                                                "KEY' on /v1/ routes (or set EMOSCOPE_API_KEY).")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Largest max_tokens a request may ask for.")] = 1024,
    max_prompt_tokens: Annotated[int, typer.Option(min=1, help="Longest prompt accepted, in tokens.")] = 4096,
    max_pending: Annotated[int, typer.Option(min=1, help="Requests waiting at most; more get HTTP 429.")] = 64,
    max_body_bytes: Annotated[int, typer.Option(min=1000, help="Largest request body.")] = 1_000_000,
    max_batch: Annotated[int | None, typer.Option(min=1, help="Concurrent chat requests generated together "
                                                  "(default: 8 in float32; 1 in bfloat16, where padding changes "
                                                  "some greedy replies).")] = None,
    dtype: DtypeOpt = "bfloat16",
) -> None:
    """Serve an OpenAI-compatible API with per-request steering and live emotion readings, and a dashboard at /.

    POST /v1/chat/completions (stream or not; an optional "emoscope" object: steer, monitor, alerts, when),
    POST /v1/read, GET /v1/emotions, /v1/banks, /healthz, /metrics. Example: emoscope serve --bank
    banks/smollm2-135m-instruct, then open http://127.0.0.1:8000/.
    """
    from emoscope.bank import EmotionBank
    from emoscope.server.app import ServerLimits, create_app

    def run() -> None:
        import uvicorn

        b = EmotionBank.load(bank)
        lm = _load_model(model or _spec_for(b.model), dtype)
        limits = ServerLimits(max_body_bytes=max_body_bytes, max_prompt_tokens=max_prompt_tokens,
                              max_tokens=max_tokens, max_pending=max_pending, api_key=api_key, max_batch=max_batch)
        app_ = create_app(lm, b, limits, bank_dir=bank.parent if bank.suffix == ".safetensors" else bank)
        where = f"file descriptor {fd}" if fd is not None else f"http://{host}:{port}/ (dashboard)"
        typer.echo(f"emoscope serving {lm.name} on {where}, API under /v1/", err=True)
        if fd is not None:
            uvicorn.run(app_, fd=fd, log_level="warning")
        else:
            uvicorn.run(app_, host=host, port=port, log_level="warning")

    _guard(run)


def _beside_bank(bank: Path, name: str) -> Path:
    """``<bank dir>/<name>``, whether ``bank`` is the directory or its bank.safetensors file."""
    return (bank.parent if bank.suffix == ".safetensors" else bank) / name


def _stage_bar(quiet: bool) -> tuple[Any, ProgressFn]:
    """A progress bar (on a terminal, unless ``quiet``) with one row per named stage, and its update function."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   transient=True, disable=quiet or not sys.stderr.isatty())
    tasks: dict[str, Any] = {}

    def stage(p: Progress) -> None:
        if p.stage not in tasks:
            tasks[p.stage] = bar.add_task(p.stage, total=p.total)
        bar.update(tasks[p.stage], completed=p.done, total=p.total)

    return bar, stage


def _read_chat_file(path: Path) -> Any:
    """Messages from a JSON file: a list of {role, content}, or an object with a "messages" list."""
    try:
        msgs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        _fail(f"cannot read --chat {path}: {exc}")
    if isinstance(msgs, dict) and "messages" in msgs:
        msgs = msgs["messages"]
    return msgs


def _console() -> Any:
    """A rich console; wide when writing to a file or pipe, so tables are not cut at 80 columns."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _names(text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; ``None`` stays ``None``."""
    if text is None:
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


def _spec_for(model_id: str) -> str:
    from emoscope.model.loading import REGISTRY

    for name, src in REGISTRY.items():
        if src.hf_id == model_id:
            return name
    return model_id


@app.command()
def emotions(
    as_json: Annotated[bool, typer.Option("--json", help="Print the words with their judged valence and "
                                          "arousal as JSON.")] = False,
) -> None:
    """List the 171 emotion words."""
    from emoscope.catalogue import emotions as names
    from emoscope.catalogue import load_norms

    if as_json:
        norms = load_norms()
        typer.echo(json.dumps([{"emotion": e, "valence": norms[e][0], "arousal": norms[e][1]} if e in norms
                               else {"emotion": e} for e in names()]))
        return
    typer.echo("\n".join(names()))


@corpus_app.command("validate")
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

    def run() -> None:
        counter = _token_counter() if tokens else None
        findings = validate_path(path, counter, min_per_emotion, min_dialogues, max_per_topic or None)
        errors = [f for f in findings if f.level == "error"]
        if as_json:
            typer.echo(json.dumps({"errors": len(errors), "warnings": len(findings) - len(errors),
                                   "findings": [f.__dict__ for f in findings]}))
        else:
            for f in findings:
                typer.echo(f.line())
            typer.echo(f"{len(errors)} errors, {len(findings) - len(errors)} warnings")
        if errors:
            raise typer.Exit(1)

    _guard(run)


@corpus_app.command("card")
def corpus_card(
    path: Annotated[Path | None, typer.Argument(help="Corpus directory (default: the shipped corpus).")] = None,
    write: Annotated[bool, typer.Option(help="Also rewrite the counts section of CARD.md in the corpus.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Print the corpus's counts (per emotion, person, topic, split) and validator results for its data card."""
    from emoscope.corpus import Corpus
    from emoscope.corpus.validate import card_section, corpus_counts, update_card

    def run() -> None:
        c = Corpus.load(path)
        counter = _token_counter()
        counts = corpus_counts(c, counter)
        if as_json:
            typer.echo(json.dumps(counts, indent=1))
            return
        section = card_section(c, counter)
        typer.echo(section)
        if write:
            typer.echo(f"updated {update_card(c.root / 'CARD.md', section)}", err=True)

    _guard(run)


@corpus_app.command("generate")
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
    dtype: DtypeOpt = "bfloat16",
    as_json: Annotated[bool, typer.Option("--json", help="Print progress and the summary as JSON lines.")] = False,
) -> None:
    """Generate stories (and neutral dialogues) with a local model or an HTTP endpoint, validated as they come.

    Writes stories.jsonl, neutral_dialogues.jsonl, topics.jsonl and rejects.jsonl (every reject with its
    reason) into --out; running the same command again resumes.
    """
    import os

    from emoscope.catalogue import emotions as catalogue
    from emoscope.corpus.generate import (
        GenerationError,
        GenerationTally,
        HTTPBackend,
        LocalBackend,
        generate_corpus,
        sample_emotions,
    )

    def run() -> None:
        if (model is None) == (endpoint is None):
            _fail("give exactly one of --model (a local model) or --endpoint (an HTTP server)")
        if emotions == "all":
            chosen = catalogue()
        elif emotions.isdigit():
            chosen = sample_emotions(int(emotions), seed)
        else:
            chosen = [e.strip() for e in emotions.split(",") if e.strip()]
            unknown = [e for e in chosen if e not in catalogue()]
            if unknown:
                _fail(f"unknown emotions {unknown}; `emoscope emotions` lists the 171 names")
        backend: Any
        if endpoint is not None:
            backend = HTTPBackend(endpoint, endpoint_model, os.environ.get(api_key_env))
        else:
            backend = LocalBackend(_load_model(str(model), dtype))
        counter = _token_counter()
        tally = GenerationTally()
        try:
            for ev in generate_corpus(backend, out, chosen, n_topics=topics, stories_per_topic=stories_per_topic,
                                      dialogues_per_topic=dialogues_per_topic, count_tokens=counter,
                                      max_tokens=max_tokens, temperature=temperature, seed=seed, tally=tally):
                o = tally.last
                if as_json:
                    typer.echo(json.dumps({"request": o.key, "done": ev.done, "total": ev.total,
                                           "accepted": o.accepted, "rejected": o.rejected, "skipped": o.skipped}))
                    continue
                typer.echo(f"[{ev.done}/{ev.total}] {ev.note}", err=True)
        except GenerationError as exc:
            _fail(str(exc))
        if as_json:
            typer.echo(json.dumps({"out": str(out), "accepted": tally.accepted, "rejected": tally.rejected,
                                   "rejects": str(out / "rejects.jsonl")}))
            return
        typer.echo(f"{out}: {tally.accepted} items kept, {tally.rejected} rejected this run "
                   f"(reasons in {out / 'rejects.jsonl'})")

    _guard(run)


def _token_counter() -> Callable[[str], int]:
    from emoscope.model.loading import DEFAULT_MODEL, load_tokenizer

    tok = load_tokenizer(DEFAULT_MODEL)
    return lambda s: len(tok(s)["input_ids"])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
