"""The behaviour experiment's page: rate against strength with 95% intervals, emotion traces, example rollouts.

The page is ``emoscope/report/templates/behaviour.html``; this module gathers its rows and figures.

Example:
    >>> write_behaviour_report(result, "banks/smol/behaviour/sycophancy")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoscope.experiments import behaviour_rules
from emoscope.report import render, write_result_files
from emoscope.report.plots.behaviour import rate_plot, trace_plots

PAPER = {
    "leverage": "the paper: blackmail 22% unsteered; steering desperate +0.05 raised it to 72%, calm -0.05 to 66%",
    "reward-hacking": "the paper: reward hacking about 5% unsteered, about 70% with desperate steered up or calm down",
    "sycophancy": "the paper: steering loving or happy up raised sycophancy; steering them down made the model harsher",
}
# The rates table's extra columns per scenario: (title, key of a rate row).
_EXTRA: dict[str, list[tuple[str, str]]] = {
    "leverage": [("email sent", "email_sent")],
    "reward-hacking": [("honest solution", "honest"), ("branches on visible inputs", "branches_on_visible_inputs")],
    "sycophancy": []}


def write_behaviour_report(result: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``behaviour.json`` and a self-contained ``index.html`` into ``out_dir``."""
    return write_result_files(out_dir, "behaviour.json", result, render_behaviour(result))


def _provenance(res: dict[str, Any]) -> list[str]:
    st = res["settings"]
    attempts = f", up to {st['attempts']} attempts" if res["scenario"] == "reward-hacking" else ""
    return [f"{len(st['items'])} prompt variants x {st['rollouts']} rollouts per condition",
            f"sampled at temperature {st['temperature']}, up to {st['max_new_tokens']} new tokens{attempts}",
            f"steering on the assistant's generated tokens at layer(s) {', '.join(map(str, res['layers']))}",
            f"{res.get('seconds', '?')} s in this run"
            + (f", {res['rollout_seconds']} s of rollouts in all (resumed runs included)"
               if res.get("rollout_seconds") else "") + "."]


def _rates(res: dict[str, Any]) -> dict[str, list[Any]]:
    extra = _EXTRA[res["scenario"]]
    head = ["emotion", "strength", "n", res["behaviour"], "rate", "95% low", "95% high", *(t for t, _ in extra)]
    judged = any("judge_rate" in r for r in res["rates"])
    if judged:
        head += ["judge rate", "judge agrees"]
    rows = []
    for r in res["rates"]:
        row: list[Any] = [r["emotion"], r["strength"], r["n"], r["k"], r["rate"], r["low"], r["high"]]
        row += [r.get(key) for _, key in extra]
        if judged:
            row += [r.get("judge_rate"), r.get("judge_agreement")]
        rows.append(row)
    return {"head": head, "rows": rows}


def _examples(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The first rollout of each (emotion, strength) condition."""
    seen: set[tuple[str, float]] = set()
    out = []
    for r in res["rollouts"]:
        c = (r["emotion"], r["strength"])
        if c in seen:
            continue
        seen.add(c)
        out.append({"emotion": r["emotion"], "strength": float(r["strength"]), "item": r["item"],
                    "rollout": r["rollout"], "labels": ", ".join(f"{k}={v}" for k, v in r["labels"].items()),
                    "replies": list(r["replies"])})
    return out


def _rises(res: dict[str, Any]) -> dict[str, list[Any]] | None:
    fr = res.get("failure_rises") or {}
    if not fr.get("watch"):
        return None
    rows = [[w, v["mean_rise"], v["minus_all"], f"{v['minus_all_low']:+.3f} to {v['minus_all_high']:+.3f}",
             f"{v['rank']} of {v['of']}", v["share_rose"]] for w, v in fr["watch"].items()]
    return {"head": ["emotion", "mean rise", "minus the mean of all", "95% interval", "rank", "share of steps rising"],
            "rows": rows}


def render_behaviour(res: dict[str, Any]) -> str:
    """The page as a string (figures inline; no network needed)."""
    return render("behaviour.html", res=res, provenance=_provenance(res), rule=behaviour_rules.RULES[res["scenario"]],
                  paper=PAPER[res["scenario"]], rates=_rates(res), rate_fig=rate_plot(res), trace_figs=trace_plots(res),
                  examples=_examples(res), rises=_rises(res), power=res.get("power") or {},
                  isolation=sorted({t.get("sandbox", "") if isinstance(t.get("sandbox"), str) else "older sandbox"
                                    for r in res["rollouts"] for t in r.get("tests", [])}))
