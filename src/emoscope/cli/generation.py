"""``emoscope steer``, ``emoscope generate`` and ``emoscope chat``: generation, steered and monitored."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from emoscope.cli.common import Placement, check_emotions, emit_json, fail, guard, load_for_bank
from emoscope.cli.options import (
    AlertOpt,
    AllowPickleOpt,
    BankModelOpt,
    BankOpt,
    ChatFileOpt,
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    MaxMemoryOpt,
    MaxNewTokensOpt,
    MismatchOpt,
    OffloadOpt,
    PromptOpt,
    ReadLayerOpt,
    SampleOpt,
    SeedOpt,
    SteerListOpt,
    TemperatureOpt,
    ViewOpt,
    WatchOpt,
    WhenOpt,
    WindowOpt,
)

if TYPE_CHECKING:
    from emoscope.bank import EmotionBank
    from emoscope.model.loading import LoadedModel
    from emoscope.monitor_options import MonitorOptions


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
    max_new_tokens: MaxNewTokensOpt = 80,
    sample: SampleOpt = False,
    temperature: TemperatureOpt = 0.8,
    seed: SeedOpt = 0,
    compare: Annotated[bool, typer.Option(help="Also generate without steering, for comparison.")] = False,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    allow_model_mismatch: MismatchOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Generate with emotion steering: add strength x mean residual norm x vector at the chosen layers.

    Example: emoscope steer --bank banks/smol --steer 'calm=+0.1' --prompt 'My code fails again.' --compare
    """
    from emoscope.bank import EmotionBank
    from emoscope.model.chat import encode_chat
    from emoscope.model.generate import generate
    from emoscope.model.layers import resolve_layers
    from emoscope.steering import parse_spec
    from emoscope.steering import steer as steering

    def run() -> None:
        _check_prompt(prompt, chat)
        spec = parse_spec(steer_spec)
        b = EmotionBank.load(bank)
        check_emotions(b, spec)
        msgs = _messages(prompt, chat)
        lm = load_for_bank(b, model, dtype, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        chosen = resolve_layers(lm.n_layers, layers) if layers else [b.default_layer]
        for layer in chosen:
            b.layer_index(layer)
        ids = encode_chat(lm.tokenizer, msgs).ids
        pos = _positions(positions, ids)
        kw: dict[str, Any] = {"do_sample": sample, "temperature": temperature, "seed": seed}
        result: dict[str, Any] = {"model": b.model, "steer": spec, "layers": chosen, "positions": positions,
                                  "unit": {str(layer): float(b.stat("mean_residual_norm", layer)) for layer in chosen}}
        if compare:
            result["unsteered"] = lm.tokenizer.decode(generate(lm, [ids], max_new_tokens, **kw)[0],
                                                      skip_special_tokens=True)
        with steering(lm, b, spec, layers=chosen, positions=pos, allow_mismatch=allow_model_mismatch):
            out = generate(lm, [ids], max_new_tokens, **kw)[0]
        result["steered"] = lm.tokenizer.decode(out, skip_special_tokens=True)
        if as_json:
            emit_json(result)
        else:
            _print_steered(result)

    guard(run)


def _print_steered(result: dict[str, Any]) -> None:
    if "unsteered" in result:
        typer.echo(f"--- unsteered\n{result['unsteered']}\n")
    label = ", ".join(f"{k} {v:+g}" for k, v in result["steer"].items())
    layers = result["layers"]
    typer.echo(f"--- steered ({label} at layer{'s' if len(layers) > 1 else ''} "
               f"{','.join(map(str, layers))}, {result['positions']})\n{result['steered']}")


def _check_prompt(prompt: str | None, chat: Path | None) -> None:
    if (prompt is None) == (chat is None):
        fail("give exactly one of --prompt or --chat")
    if prompt is not None and not prompt.strip():
        fail("--prompt is empty; give a message to answer")


def _messages(prompt: str | None, chat: Path | None) -> Any:
    """The conversation to answer: the ``--prompt`` as one user message, or the ``--chat`` file's messages."""
    from emoscope.inputs import read_chat_file

    return [{"role": "user", "content": prompt}] if chat is None else read_chat_file(chat)


def _positions(positions: str, ids: list[int]) -> Any:
    """``all``, ``prompt`` or ``generated`` as they are; a span ``START:END`` as a mask over the prompt."""
    if positions in ("all", "prompt", "generated"):
        return positions
    from emoscope.model.chat import pad_batch
    from emoscope.steering import parse_span, span_mask

    a, e = parse_span(positions)
    _, mask = pad_batch([ids], 0)
    return span_mask(mask, [(a, e)])


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
    window: WindowOpt = 8,
    layer: ReadLayerOpt = None,
    steer_layers: Annotated[str | None, typer.Option(help="Blocks to steer at (default: the bank's default).")
                            ] = None,
    max_new_tokens: MaxNewTokensOpt = 120,
    sample: SampleOpt = False,
    temperature: TemperatureOpt = 0.8,
    seed: SeedOpt = 0,
    view: ViewOpt = "auto",
    html: Annotated[Path | None, typer.Option(help="After generating, write the HTML reading view of the whole "
                                              "conversation with the reply here.")] = None,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    allow_model_mismatch: MismatchOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --view json.")] = False,
) -> None:
    """Generate a reply, optionally monitored: live readings, alert rules and conditional steering.

    Monitoring never changes the tokens (greedy decoding gives the same reply with and without it).

    Example: emoscope generate --bank banks/smollm2-135m-instruct --prompt 'Rent is due and I have $40.'
    --monitor --alert 'desperate>1.5' --when 'desperate>1.5' --steer 'calm=+0.05'
    """
    from emoscope.bank import EmotionBank
    from emoscope.model.chat import encode_chat, validate_messages
    from emoscope.model.layers import resolve_layers
    from emoscope.views.live import MODES, LiveView

    def run() -> None:
        _check_prompt(prompt, chat)
        mode = "json" if as_json else view
        if mode not in MODES:
            fail(f"--view must be one of {', '.join(MODES)}")
        b = EmotionBank.load(bank)
        b.layer_index(layer)
        opts = _monitor_options(b, alert, when, steer_specs, watch, window)
        msgs = _messages(prompt, chat)
        lm = load_for_bank(b, model, dtype, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        s_layers = resolve_layers(lm.n_layers, steer_layers) if steer_layers else None
        msgs = validate_messages(msgs)
        ids = encode_chat(lm.tokenizer, msgs).ids
        kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": sample, "temperature": temperature,
                              "seed": seed, "allow_mismatch": allow_model_mismatch}
        if opts.monitored(monitor):
            reply = _stream(LiveView(opts.watch, mode, window=window), lm, b, ids, opts, window, layer, s_layers,
                            kw)["text"]
        else:
            reply, n_tokens = _plain_reply(lm, b, ids, opts.steer, s_layers, kw)
            if mode == "json":
                emit_json({"type": "done", "text": reply, "tokens": n_tokens})
            else:
                typer.echo(reply)
        if html is not None:
            _write_reading_html(lm, b, [*msgs, {"role": "assistant", "content": reply}], html, layer, opts.watch,
                                allow_model_mismatch)
            if mode != "json":
                typer.echo(f"HTML view: {html}")

    guard(run)


def _monitor_options(b: EmotionBank, alert: list[str] | None, when: list[str] | None, steer: list[str] | None,
                     watch: str | None, window: int) -> MonitorOptions:
    from emoscope.monitor_options import resolve_monitor_options
    from emoscope.selection import split_names

    return resolve_monitor_options(b, alert or [], when or [], steer or [], split_names(watch), window)


def _stream(live: Any, lm: LoadedModel, b: EmotionBank, prompt: Any, opts: MonitorOptions, window: int,
            layer: int | None, s_layers: list[int] | None, kw: dict[str, Any], title: str = "") -> dict[str, Any]:
    from emoscope.monitor import monitor as run_monitor

    live.start(title)
    try:
        for step in run_monitor(lm, b, prompt, layer=layer, alerts=opts.alerts, when=opts.when, steer=opts.steer,
                                steer_layers=s_layers, window=window, **kw):
            live.step(step)
    finally:
        summary: dict[str, Any] = live.finish()
    return summary


def _plain_reply(lm: LoadedModel, b: EmotionBank, ids: list[int], constant: str | None,
                 s_layers: list[int] | None, kw: dict[str, Any]) -> tuple[str, int]:
    """A reply without readings, steered throughout by ``constant`` if given; returns it and its token count."""
    from contextlib import nullcontext

    from emoscope.model.generate import generate as plain_generate
    from emoscope.steering import steer as steering

    gen = {k: kw[k] for k in ("do_sample", "temperature", "seed")}
    if constant is None:
        b.check_model(lm.fingerprint, lm.name, kw["allow_mismatch"])
    with (steering(lm, b, constant, layers=s_layers, allow_mismatch=kw["allow_mismatch"]) if constant is not None
          else nullcontext()):
        out = plain_generate(lm, [ids], kw["max_new_tokens"], **gen)[0]
    return str(lm.tokenizer.decode(out, skip_special_tokens=True)), len(out)


def _write_reading_html(lm: LoadedModel, b: EmotionBank, msgs: list[dict[str, str]], path: Path,
                        layer: int | None, plot: list[str], allow_mismatch: bool) -> None:
    from emoscope.atomic import atomic_file
    from emoscope.read import read_chat
    from emoscope.views.reading_html import reading_html

    r = read_chat(lm, b, msgs, layer, allow_mismatch=allow_mismatch)
    with atomic_file(path) as fh:
        fh.write(reading_html([r], title="emoscope: monitored generation", model=b.model, plot=plot,
                              roles=["assistant"]))


def chat(
    bank: BankOpt,
    system: Annotated[str | None, typer.Option(help="A system message to start the conversation with.")] = None,
    alert: AlertOpt = None,
    when: WhenOpt = None,
    steer_specs: SteerListOpt = None,
    watch: WatchOpt = None,
    window: WindowOpt = 8,
    layer: ReadLayerOpt = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens per reply.")] = 160,
    view: ViewOpt = "auto",
    transcript: Annotated[Path | None, typer.Option(help="Save the conversation (messages and events) as JSON "
                                                    "here after each reply.")] = None,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    allow_model_mismatch: MismatchOpt = False,
) -> None:
    """Chat with the model while its emotion readings stream live; alerts and conditional steering apply.

    Type a message and press Enter; /reset starts over, /quit (or end of input) leaves.

    Example: emoscope chat --bank banks/smollm2-135m-instruct --alert 'afraid>1.5' --watch afraid,calm
    """
    from emoscope.bank import EmotionBank
    from emoscope.views.live import MODES, LiveView

    def run() -> None:
        if view not in MODES:
            fail(f"--view must be one of {', '.join(MODES)}")
        b = EmotionBank.load(bank)
        b.layer_index(layer)
        opts = _monitor_options(b, alert, when, steer_specs, watch, window)
        lm = load_for_bank(b, model, dtype, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        b.check_model(lm.fingerprint, lm.name, allow_model_mismatch)
        start: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        msgs, log = list(start), list[dict[str, Any]]()
        live = LiveView(opts.watch, view, window=window)
        if live.mode != "json":
            live.console.print(f"[dim]chatting with {lm.name}; watching {', '.join(opts.watch)}; /reset, /quit[/dim]")
        kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "allow_mismatch": allow_model_mismatch}
        for line in _user_lines(live.mode != "json"):
            if line == "/reset":
                msgs, log = list(start), []
                continue
            msgs.append({"role": "user", "content": line})
            summary = _stream(live, lm, b, msgs, opts, window, layer, None, kw, "[bold]assistant>[/bold]")
            msgs.append({"role": "assistant", "content": summary["text"]})
            log.append({"turn": len(msgs) - 1, "events": summary["events"]})
            if transcript is not None:
                _save_transcript(transcript, {"model": b.model, "bank": str(bank), "messages": msgs, "events": log})

    guard(run)


def _user_lines(prompt: bool) -> Any:
    """The lines the user types, blank ones skipped, until /quit or the end of input (``/reset`` as it is)."""
    while True:
        try:
            line = input("you> " if prompt else "")
        except EOFError:
            return
        if not line.strip():
            continue
        if line.strip() == "/quit":
            return
        yield "/reset" if line.strip() == "/reset" else line


def _save_transcript(path: Path, data: dict[str, Any]) -> None:
    import json

    from emoscope.atomic import atomic_file

    with atomic_file(path) as fh:
        json.dump(data, fh, indent=1)
