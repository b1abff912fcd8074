"""``emoscope read`` (per-token readings of a text or a chat) and ``emoscope scan`` (a whole dataset)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from emoscope.cli.common import (
    Drawer,
    Placement,
    check_emotions,
    console,
    emit_json,
    fail,
    guard,
    load_for_bank,
    open_runner,
    require_dir,
)
from emoscope.cli.options import (
    AddressOpt,
    AllowPickleOpt,
    BankModelOpt,
    BankOpt,
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    EngineOpt,
    GpusPerWorkerOpt,
    MaxMemoryOpt,
    MismatchOpt,
    OffloadOpt,
    ReadLayerOpt,
    WorkersOpt,
)


def read(
    bank: BankOpt,
    text: Annotated[str | None, typer.Option(help="Plain text to read.")] = None,
    file: Annotated[Path | None, typer.Option(help="JSONL file with one {\"text\": ...} per line.")] = None,
    chat: Annotated[Path | None, typer.Option(help="JSON file: a list of {\"role\", \"content\"} messages "
                                              "(OpenAI style), rendered with the model's chat template.")] = None,
    layer: ReadLayerOpt = None,
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
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    top: Annotated[int, typer.Option(min=1, help="Emotions shown per token or turn.")] = 3,
    allow_model_mismatch: MismatchOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print per-token scores and per-turn summaries as JSON."
                                          )] = False,
) -> None:
    """Per-token emotion readings of a text, a JSONL file of texts, or a conversation.

    Example: emoscope read --bank banks/smollm2-135m-instruct --chat examples/chat.json --roles assistant
    --html reading.html
    """
    from emoscope.bank import EmotionBank
    from emoscope.inputs import load_texts, read_chat_file
    from emoscope.model.chat import encode_chat, encode_text
    from emoscope.read import read_encoded
    from emoscope.selection import split_names

    def run() -> None:
        counted = _check_read_options(text, file, chat, kind, view, per_turn, roles)
        b = EmotionBank.load(bank)
        b.layer_index(layer)
        watched = split_names(watch) or []
        check_emotions(b, [*watched, *([emotion] if emotion else [])])
        if text is not None and not text.strip():
            fail("--text is empty; give some text to read")
        msgs = read_chat_file(chat) if chat is not None else None
        texts = load_texts(file) if file is not None else [str(text)]
        lm = load_for_bank(b, model, dtype, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        items = [encode_chat(lm.tokenizer, msgs)] if msgs is not None else [
            encode_text(lm.tokenizer, t) for t in texts]
        readings = read_encoded(lm, b, items, layer, kind, allow_mismatch=allow_model_mismatch)
        if html is not None:
            _write_reading_html(readings, html, f"emoscope reading: {chat or file or 'text'}", b.model, emotion,
                                watched, counted)
        if as_json:
            emit_json({"emotions": b.emotions, "layer": readings[0].layer, "kind": kind, "model": b.model,
                       "roles": counted, "per_turn_aggregation": per_turn, "html": str(html) if html else None,
                       "items": [_reading_json(r, per_turn, counted, top) for r in readings]})
            return
        _print_readings(readings, view, kind, emotion, counted, watched, per_turn, top)
        if html is not None:
            console().print(f"HTML view: {html}")

    guard(run)


def _check_read_options(text: str | None, file: Path | None, chat: Path | None, kind: str, view: str,
                        per_turn: str, roles: str | None) -> list[str] | None:
    """Fail on contradictory or unknown options; returns the roles whose tokens count (``None``: all)."""
    from emoscope.core.aggregate import AGGREGATIONS
    from emoscope.core.scores import SCORE_KINDS
    from emoscope.model.chat import ROLES
    from emoscope.selection import split_names

    if sum(x is not None for x in (text, file, chat)) != 1:
        fail("give exactly one of --text, --file or --chat")
    if kind not in SCORE_KINDS:
        fail(f"--kind must be one of {', '.join(SCORE_KINDS)}")
    if view not in ("text", "tokens"):
        fail("--view must be text or tokens")
    if per_turn not in AGGREGATIONS:
        fail(f"--per-turn must be one of {', '.join(AGGREGATIONS)}")
    counted = split_names(roles)
    for role in counted or []:
        if role not in ROLES:
            fail(f"--roles: unknown role {role!r}; use {', '.join(ROLES)}")
    return counted


def _write_reading_html(readings: list[Any], path: Path, title: str, model: str, tint: str | None,
                        plot: list[str], roles: list[str] | None) -> None:
    from emoscope.atomic import atomic_file
    from emoscope.views.reading_html import reading_html

    page = reading_html(readings, title=title, model=model, tint=tint, plot=plot, roles=roles)
    with atomic_file(path) as fh:
        fh.write(page)


def _reading_json(r: Any, per_turn: str, counted: list[str] | None, top: int) -> dict[str, Any]:
    d: dict[str, Any] = r.to_dict()
    d["per_turn"] = [{"turn": t["turn"], "role": t["role"], "tokens": t["tokens"],
                      "top": [[e, round(v, 4)] for e, v in t["top"]]} for t in r.per_turn(per_turn, counted, top)]
    return d


def _print_readings(readings: list[Any], view: str, kind: str, emotion: str | None, counted: list[str] | None,
                    watched: list[str], per_turn: str, top: int) -> None:
    from emoscope.views.terminal import strongest, tinted_text, token_table, turn_table

    out = console()
    for i, r in enumerate(readings):
        if len(readings) > 1:
            out.rule(f"text {i + 1}")
        if view == "tokens":
            out.print(token_table(r, top, counted, watched))
            continue
        name = emotion or strongest(r, counted)
        tinted, scale = tinted_text(r, name, counted)
        out.print(f"[bold]{name}[/bold] at layer {r.layer} ({kind}): red positive, blue negative, full "
                  f"colour at {scale:.2f} (99th percentile of |score| on this text)"
                  + (f"; counting {', '.join(counted)} tokens" if counted else ""))
        out.print(tinted)
        out.print(turn_table(r, per_turn, counted, top))


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
    layer: ReadLayerOpt = None,
    kind: Annotated[str, typer.Option(help="z, projection or cosine.")] = "z",
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 8,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    allow_model_mismatch: MismatchOpt = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    gpus_per_worker: GpusPerWorkerOpt = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary (stats and snippets per emotion)."
                                          )] = False,
) -> None:
    """Scan a dataset: per emotion, the top-activating snippets (peak token marked) and the score distribution.

    Memory stays bounded however many texts there are. Writes scan.json and a self-contained index.html.
    With --engine ray the chunks of texts are read by Ray workers and merged in file order: the same result.

    Example: emoscope scan --bank banks/smollm2-135m-instruct --file my_texts.jsonl --emotions desperate,calm
    """
    from dataclasses import replace

    from emoscope.bank import EmotionBank
    from emoscope.core.scores import SCORE_KINDS
    from emoscope.inputs import iter_texts
    from emoscope.model.loading import resolve_model_spec
    from emoscope.scan import count_lines
    from emoscope.scan import scan as run_scan
    from emoscope.scan_summary import highlighted_rows, scan_summary
    from emoscope.selection import split_names

    def run() -> None:
        if kind not in SCORE_KINDS:
            fail(f"--kind must be one of {', '.join(SCORE_KINDS)}")
        if not file.is_file():
            fail(f"--file {file} does not exist")
        b = EmotionBank.load(bank)
        b.layer_index(layer)
        chosen = split_names(emotions)
        check_emotions(b, chosen or [])
        target = out or file.with_name(file.stem + "-scan")
        require_dir(target)
        total = count_lines(file)
        if total == 0:
            fail(f"{file} has no texts")
        t0 = time.perf_counter()
        lm = load_for_bank(b, model, dtype, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        spec = resolve_model_spec(model, b.model)
        with open_runner(engine, lm, spec, None, allow_pickle, address, workers, gpus_per_worker) as runner, \
                Drawer(quiet=as_json) as draw:
            result = run_scan(lm, b, iter_texts(file, field, " (or choose --field)"), layer, kind, k, context,
                              max_tokens, batch_size, allow_model_mismatch,
                              progress=lambda p: draw(replace(p, total=total)), runner=runner)
        data = result.to_dict()
        _write_scan(data, target, f"emoscope scan: {file.name}", chosen[0] if chosen else None)
        seconds = round(time.perf_counter() - t0, 1)  # model load included
        if as_json:
            emit_json({**scan_summary(data, target, kind), "seconds": seconds})
            return
        _print_scan(data, highlighted_rows(data["emotions"], chosen), kind, max_tokens)
        console().print(f"\nwrote {target / 'scan.json'} and {target / 'index.html'} in {seconds} s (model load "
                        "included)")

    guard(run)


def _write_scan(data: dict[str, Any], target: Path, title: str, focus: str | None) -> None:
    import json

    from emoscope.atomic import atomic_file
    from emoscope.views.scan_html import scan_html

    target.mkdir(parents=True, exist_ok=True)
    with atomic_file(target / "scan.json") as fh:
        json.dump(data, fh)
    with atomic_file(target / "index.html") as fh:
        fh.write(scan_html(data, title=title, focus=focus))


def _print_scan(data: dict[str, Any], shown: list[dict[str, Any]], kind: str, max_tokens: int) -> None:
    from rich.text import Text

    out = console()
    out.print(f"scanned {data['texts']} texts ({data['tokens']} tokens) at layer {data['layer']} ({kind})"
              + (f"; {data['truncated_texts']} cut at {max_tokens} tokens" if data["truncated_texts"] else ""))
    for r in shown:
        out.print(f"\n[bold]{r['emotion']}[/bold]  mean {r['mean']:+.2f}  spread {r['std']:.2f}  "
                  f"p99 {r['p99']:+.2f}  max {r['max']:+.2f}")
        for sn in r["top"]:
            line = Text(f"  {sn['score']:+6.2f}  ")
            line.append(str(sn["id"]), style="dim")
            line.append("  " + sn["before"].replace("\n", " "))
            line.append(sn["peak"].replace("\n", " "), style="bold reverse")
            line.append(sn["after"].replace("\n", " "))
            out.print(line)
