"""``emoscope experiment``: steering check, preferences and behaviour, on your model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from emoscope.cli.common import Drawer, Placement, check_emotions, emit_json, fail, guard, load_for_bank, load_lm
from emoscope.cli.options import (
    AllowPickleOpt,
    BankModelOpt,
    BankOpt,
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    MaxMemoryOpt,
    OffloadOpt,
)


def steering_check(
    bank: BankOpt,
    strength: Annotated[float, typer.Option(help="Steering strength in the paper's unit.")] = 0.5,
    layer: Annotated[int | None, typer.Option(help="Block to steer at (default: the bank's default layer).")
                     ] = None,
    emotions: Annotated[str | None, typer.Option(help="Comma-separated subset (default: all).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the full results (per emotion) to this JSON file.")
                   ] = None,
    model: BankModelOpt = None,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Steer toward each emotion while the model completes 'He feels' / 'I feel': does its own word rise most?"""
    from emoscope.bank import EmotionBank
    from emoscope.experiments.steering_check import steering_check as run_check
    from emoscope.selection import split_names

    def run() -> None:
        b = EmotionBank.load(bank)
        chosen = split_names(emotions) or None
        check_emotions(b, chosen or [])
        if layer is not None:
            b.layer_index(layer)
        t0 = time.perf_counter()
        lm = load_for_bank(b, model, dtype, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        with Drawer(quiet=as_json) as draw:
            res = run_check(lm, b, strength=strength, layer=layer, emotions=chosen, progress=draw)
        res["seconds"] = round(time.perf_counter() - t0, 1)  # model load included
        if out is not None:
            _write_json(out, res)
        summary = {k: {kk: vv for kk, vv in v.items() if kk != "per_emotion"} for k, v in res["prompts"].items()}
        if as_json:
            emit_json({"model": res["model"], "layer": res["layer"], "strength": strength, "prompts": summary,
                       "seconds": res["seconds"]})
            return
        for v in summary.values():
            _print_check(v, strength, res["layer"])
        typer.echo(f"done in {res['seconds']} s (model load included)")

    guard(run)


def _write_json(path: Path, data: Any) -> None:
    import json

    from emoscope.atomic import atomic_file

    with atomic_file(path) as fh:
        json.dump(data, fh, indent=1)


def _print_check(v: dict[str, Any], strength: float, layer: int) -> None:
    typer.echo(f"{v['question']!r} -> {v['prefix']!r} (steering {strength:+g} at layer {layer}, "
               f"{v['n']} emotions, {v['n_words']} distinct first tokens)")
    typer.echo(f"  own word's log-prob rises for {v['n_own_rises']}/{v['n']}; rises most of all words for "
               f"{v['n_own_rises_most']}/{v['n']} (share {v['share_own_rises_most']:.3f}, chance "
               f"{v['chance_share_own_rises_most']:.3f})")
    others = v["mean_others_change"]
    typer.echo(f"  mean change: own {v['mean_own_change']:+.2f}, others "
               f"{'n/a' if others is None else format(others, '+.2f')}; "
               f"mean rank of own change {v['mean_own_rank']:.1f} (chance {v['chance_mean_own_rank']:.1f})")


def preferences(
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
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full results as JSON.")] = False,
) -> None:
    """The preference experiment: Elo over all A/B questions, emotion readings vs Elo, and steering's effect.

    Questions that share their first activity share one key/value cache of that prefix. The causal test asks the
    3,040 questions that contain a steered activity (992 of them twice) per emotion: with the default model on a
    2-core CPU in float32, several minutes per emotion (see the README). --emotions 4 --pairs 300 is a quick look.
    """
    import time

    from emoscope.bank import EmotionBank, bank_dir
    from emoscope.experiments.preferences import ActivityError, load_activities, run_preferences
    from emoscope.experiments.preferences_report import write_preferences_report
    from emoscope.selection import count_or_names

    def run() -> None:
        b = EmotionBank.load(bank)
        acts = load_activities(activities)
        chosen = count_or_names(emotions)
        check_emotions(b, chosen if isinstance(chosen, list) else [])
        if layer is not None:
            b.layer_index(layer)
        lm = load_for_bank(b, model, dtype, Placement(device, device_map, max_memory, offload_folder, allow_pickle))
        t0 = time.perf_counter()
        with Drawer(quiet=as_json) as draw:
            res = run_preferences(lm, b, acts, layer=layer, emotions=chosen, strength=strength, pairs=pairs,
                                  batch_size=batch_size, progress=draw)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        html_path, _ = write_preferences_report(res, out or bank_dir(bank) / "preferences")
        if as_json:
            emit_json(res)
            return
        typer.echo(f"wrote {html_path}")
        _print_preferences(res)

    guard(run, ActivityError)


def _print_preferences(res: dict[str, Any]) -> None:
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


def behaviour(
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
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = "auto",
    device_map: DeviceMapOpt = None,
    max_memory: MaxMemoryOpt = None,
    offload_folder: OffloadOpt = None,
    allow_pickle: AllowPickleOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print rates and the page's path as JSON.")] = False,
) -> None:
    """Behaviour under steering: rates of leverage, reward hacking or sycophancy per emotion and strength.

    Writes behaviour.json, rollouts.jsonl and index.html (rates with 95% intervals and the computed power, rate
    against strength, emotion traces, readings after each failed attempt, example rollouts). Reward hacking grades
    the model's code call by call in bubblewrap sandboxes (no network, no files of the host, limits on time, CPU,
    memory and output); the expected values never enter them. It refuses to run without bubblewrap.

    Example: emoscope experiment behaviour --bank banks/smollm2-135m-instruct --scenario sycophancy
    --emotions loving --strengths 0,0.1 --rollouts 2
    """
    from emoscope.backends import choose_judge
    from emoscope.bank import EmotionBank, bank_dir
    from emoscope.experiments.behaviour import run_behaviour
    from emoscope.experiments.behaviour_report import write_behaviour_report
    from emoscope.experiments.behaviour_rules import SCENARIOS
    from emoscope.experiments.sandbox import SandboxUnavailable, require_sandbox
    from emoscope.model.layers import resolve_layers
    from emoscope.selection import parse_strengths, split_names

    def run() -> None:
        if scenario not in SCENARIOS:
            fail(f"--scenario must be one of {', '.join(SCENARIOS)}")
        if scenario == "reward-hacking":
            require_sandbox()  # before the model loads: no weaker isolation, and the fix named
        b = EmotionBank.load(bank)
        names, watched = split_names(emotions) or [], split_names(watch) or []
        check_emotions(b, [*names, *watched])
        values = parse_strengths(strengths)
        place = Placement(device, device_map, max_memory, offload_folder, allow_pickle)
        lm = load_for_bank(b, model, dtype, place)
        chosen = resolve_layers(lm.n_layers, layers) if layers else None
        backend = choose_judge(judge, judge_model, lambda spec: load_lm(spec, dtype, place=place))
        target = out or bank_dir(bank) / "behaviour" / scenario
        with Drawer(quiet=as_json) as draw:
            res = run_behaviour(lm, b, scenario, names, values, rollouts, chosen, max_new_tokens, attempts,
                                batch_size, temperature, seed, watched, traces, backend, items, target,
                                progress=draw)
        html_path, _ = write_behaviour_report(res, target)
        if as_json:
            emit_json({"page": str(html_path), "scenario": scenario, "behaviour": res["behaviour"],
                       "seconds": res["seconds"], "rates": res["rates"]})
            return
        typer.echo(f"wrote {html_path} ({len(res['rollouts'])} rollouts in {res['seconds']} s)")
        for r in res["rates"]:
            typer.echo(f"  {r['emotion']:>12} {r['strength']:+.3f}: {res['behaviour']} {r['k']}/{r['n']} = "
                       f"{r['rate']:.2f} (95% {r['low']:.2f}-{r['high']:.2f})")

    guard(run, SandboxUnavailable)
