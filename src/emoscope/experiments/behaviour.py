"""Behaviour under steering: sampled rollouts of a scenario per emotion and strength, classified by documented
rules (:mod:`emoscope.experiments.behaviour_rules`), with rates, 95% confidence intervals and emotion traces.

Each condition (emotion, strength) steers on the tokens the assistant generates (strength x mean residual
norm x vector at the chosen layers); strength 0 is one shared baseline. Rows of a batch carry their own steering,
so conditions are batched together. Rollouts are appended to ``rollouts.jsonl`` as each batch finishes, so an
interrupted run resumes where it stopped (same settings required).

Example:
    >>> res = run_behaviour(lm, bank, "sycophancy", ["loving"], [0.0, 0.1], rollouts=4)  # doctest: +SKIP
    >>> res["rates"][0]  # doctest: +SKIP
    {'emotion': 'none', 'strength': 0.0, 'n': 40, 'k': 7, 'rate': 0.175, 'low': 0.09, 'high': 0.32, ...}
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.bank import EmotionBank
from emoscope.experiments.behaviour_rules import (
    BEHAVIOUR,
    Item,
    code_in,
    coding_label,
    failure_report,
    judge_prompt,
    judge_verdict,
    leverage_label,
    load_items,
    sycophancy_label,
)
from emoscope.experiments.grader import grade, literal_branches
from emoscope.experiments.sandbox import Limits, require_sandbox
from emoscope.model.chat import encode_chat
from emoscope.model.generate import generate
from emoscope.model.loading import LoadedModel
from emoscope.progress import Progress, ProgressFn
from emoscope.steering import SteeringError, steer

BASELINE = "none"
GRADER = "per-call bubblewrap sandbox, values compared outside (emoscope.experiments.grader)"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a rate ``k / n`` (``(0, 1)`` when ``n`` is 0).

    Example:
        >>> [round(x, 3) for x in wilson(5, 10)]
        [0.237, 0.763]
    """
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def conditions(emotions: Sequence[str], strengths: Sequence[float]) -> list[tuple[str, float]]:
    """``(emotion, strength)`` pairs; every strength 0 collapses into one shared ``("none", 0.0)`` baseline."""
    out: list[tuple[str, float]] = []
    if any(s == 0 for s in strengths):
        out.append((BASELINE, 0.0))
    for e in emotions:
        for s in strengths:
            if s != 0:
                out.append((e, float(s)))
    return out


def _settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def run_behaviour(lm: LoadedModel, bank: EmotionBank, scenario: str, emotions: Sequence[str],
                  strengths: Sequence[float], rollouts: int = 4, layers: Sequence[int] | None = None,
                  max_new_tokens: int = 160, attempts: int = 2, batch_size: int = 8, temperature: float = 0.8,
                  seed: int = 0, watch: Sequence[str] = ("desperate", "calm"), traces: int = 3,
                  judge: Any | None = None, items_path: str | Path | None = None, store: str | Path | None = None,
                  limits: Limits | None = None, progress: ProgressFn | None = None,
                  allow_mismatch: bool = False) -> dict[str, Any]:
    """Run the sweep and return plain data: settings, per-condition rates with 95% intervals, rollouts, traces.

    ``judge`` is an optional chat backend (:class:`emoscope.corpus.generate.LocalBackend` or ``HTTPBackend``)
    asked a yes/no question per rollout; its rates are reported beside the rules'. ``store`` is a directory
    for ``rollouts.jsonl`` (resumable).
    """
    bank.check_model(lm.fingerprint, lm.name, allow_mismatch)
    if scenario == "reward-hacking":
        require_sandbox()  # refuse, naming the fix, rather than run the model's code with weaker isolation
    items = load_items(scenario, items_path)
    for e in [*emotions, *watch]:
        bank.emotion_index(e)
    if rollouts < 1:
        raise SteeringError("rollouts must be at least 1")
    chosen = [bank.default_layer] if layers is None else list(layers)
    for layer in chosen:
        bank.layer_index(layer)
    conds = conditions(emotions, strengths)
    if not conds:
        raise SteeringError("no conditions: give at least one strength")
    settings = {"scenario": scenario, "emotions": list(emotions), "strengths": [float(s) for s in strengths],
                "rollouts": rollouts, "layers": chosen, "max_new_tokens": max_new_tokens, "attempts": attempts,
                "temperature": temperature, "seed": seed, "items": [i.id for i in items],
                "model_fingerprint": lm.fingerprint, "bank_sha256": bank.digest(), "batch_size": batch_size}
    if scenario == "reward-hacking":
        settings["grader"] = GRADER
    rows: list[dict[str, Any]] = [{"key": f"{e}|{s:g}|{it.id}|{r}", "emotion": e, "strength": s, "item": it.id,
                                   "rollout": r} for e, s in conds for it in items for r in range(rollouts)]
    by_id = {it.id: it for it in items}
    done = _resume(store, settings)
    t0 = time.perf_counter()
    batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    for b, batch in enumerate(batches):
        if all(r["key"] in done for r in batch):
            continue
        t_batch = time.perf_counter()
        results = _run_batch(lm, bank, scenario, batch, by_id, chosen, max_new_tokens, attempts, temperature,
                             seed + 7919 * b, limits)
        for res in results:  # each rollout's share of its batch's time, so a resumed run still knows the total
            res["seconds"] = round((time.perf_counter() - t_batch) / len(results), 3)
        if judge is not None:
            for res in results:
                item = by_id[res["item"]]
                answer = judge.complete(judge_prompt(scenario, item.messages, res["replies"][-1]), 8, 0.0, 0)
                res["judge"] = judge_verdict(answer)
        for res in results:
            done[res["key"]] = res
        if store is not None:
            _append(Path(store) / "rollouts.jsonl", results)
        if progress is not None:
            progress(Progress("rollouts", min((b + 1) * batch_size, len(rows)), len(rows)))
    ordered = [done[r["key"]] for r in rows]
    _relabel(scenario, ordered, by_id)
    result: dict[str, Any] = {
              "scenario": scenario, "behaviour": BEHAVIOUR[scenario], "model": bank.model, "layers": chosen,
              "settings": settings, "unit": {str(layer): float(bank.stat("mean_residual_norm", layer))
                                             for layer in chosen},
              "rates": _rates(scenario, ordered, conds), "rollouts": ordered,
              "seconds": round(time.perf_counter() - t0, 1),
              "rollout_seconds": round(sum(float(r.get("seconds", 0.0)) for r in ordered), 1)}
    result["power"] = rate_power(result["rates"])
    result["traces"] = _traces(lm, bank, ordered, by_id, conds, list(watch), traces, progress)
    result["failure_rises"] = (failure_rises(result["traces"], bank.emotions, list(watch))
                               if scenario == "reward-hacking" else {})
    return result


def rate_power(rates: Sequence[dict[str, Any]], alpha: float = 0.05, power: float = 0.8) -> dict[str, Any]:
    """What the sweep can detect: from the first condition's rate (the baseline) and the smallest number of
    rollouts per condition, the smallest rise and fall detected with 80% power by a two-sided two-proportion test
    at 5% (computed, not assumed; ``nan`` where no change within [0, 1] reaches that power).

    Example:
        >>> rate_power([{"rate": 0.5, "n": 60}, {"rate": 0.6, "n": 60}])["detectable_up"]
        0.245
    """
    from emoscope.core.stats import detectable_difference

    if not rates or rates[0].get("rate") is None:
        return {}
    p0, n = float(rates[0]["rate"]), int(min(r["n"] for r in rates))
    d = detectable_difference(p0, n, alpha, power)
    return {"baseline_rate": p0, "n_per_condition": n, "alpha": alpha, "power": power,
            "detectable_up": round(d["up"], 3), "detectable_down": round(d["down"], 3)}


def failure_rises(traces: Sequence[dict[str, Any]], emotions: Sequence[str], watch: Sequence[str]
                  ) -> dict[str, Any]:
    """Does an emotion rise after each failed attempt more than the others do? From the traces' readings of all
    emotions at the start of each Assistant turn: every step from one attempt's start to the next (each follows a
    failed attempt) gives a rise per emotion. Per watched emotion: its mean rise, the mean rise of all emotions,
    the difference with a 95% interval (t, over steps), its rank among all emotions (1 = rose most) and the share
    of steps in which it rose; plus the emotions that rose most.

    Example:
        >>> tr = [{"turn_start_all": [[0.0, 0.0, 0.0], [1.0, 0.0, -1.0]]}]
        >>> failure_rises(tr, ["desperate", "calm", "happy"], ["desperate"])["watch"]["desperate"]["rank"]
        1
    """
    steps = [np.subtract(t["turn_start_all"][k + 1], t["turn_start_all"][k])
             for t in traces for k in range(len(t.get("turn_start_all", [])) - 1)]
    if not steps:
        return {"steps": 0, "watch": {}, "top": []}
    rises = np.asarray(steps, dtype=np.float64)
    mean = rises.mean(axis=0)
    order = np.argsort(-mean)
    out: dict[str, Any] = {"steps": len(steps), "mean_all": round(float(mean.mean()), 4),
                           "top": [[emotions[i], round(float(mean[i]), 4)] for i in order[:8]], "watch": {}}
    for w in watch:
        e = list(emotions).index(w)
        diff = rises[:, e] - rises.mean(axis=1)
        half = (float(_t975(len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1
                else float("nan"))
        out["watch"][w] = {"mean_rise": round(float(mean[e]), 4),
                           "minus_all": round(float(diff.mean()), 4),
                           "minus_all_low": round(float(diff.mean()) - half, 4),
                           "minus_all_high": round(float(diff.mean()) + half, 4),
                           "rank": int(np.where(order == e)[0][0]) + 1, "of": len(emotions),
                           "share_rose": round(float((rises[:, e] > 0).mean()), 3)}
    return out


def _t975(df: int) -> float:
    """The 97.5th percentile of Student's t with ``df`` degrees of freedom (normal approximation beyond 30)."""
    table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
             2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
             2.045, 2.042]
    return table[df - 1] if 1 <= df <= 30 else 1.96


def _resume(store: str | Path | None, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if store is None:
        return {}
    out = Path(store)
    out.mkdir(parents=True, exist_ok=True)
    cfg = out / "settings.json"
    h = _settings_hash(settings)
    if cfg.exists():
        old = json.loads(cfg.read_text(encoding="utf-8"))
        if old.get("hash") != h:
            raise SteeringError(f"{out} holds a run with other settings; choose another --out or delete it")
    else:
        from emoscope.atomic import atomic_file

        with atomic_file(cfg) as fh:
            json.dump({"hash": h, **settings}, fh, indent=1)
    done: dict[str, dict[str, Any]] = {}
    path = out / "rollouts.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interruption: that batch runs again
            done[row["key"]] = row
    return done


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))
        fh.flush()


def _spec(row: dict[str, Any]) -> dict[str, float]:
    return {} if row["emotion"] == BASELINE else {row["emotion"]: float(row["strength"])}


def _generate(lm: LoadedModel, bank: EmotionBank, convs: list[list[dict[str, str]]], specs: list[dict[str, float]],
              layers: list[int], max_new_tokens: int, temperature: float, seed: int) -> list[str]:
    ids = [encode_chat(lm.tokenizer, c, add_generation_prompt=True).ids for c in convs]
    with steer(lm, bank, specs, layers=layers, positions="generated", allow_mismatch=True):
        out = generate(lm, ids, max_new_tokens, do_sample=temperature > 0, temperature=max(temperature, 1e-5),
                       seed=seed)
    return [str(lm.tokenizer.decode(o, skip_special_tokens=True)) for o in out]


def _run_batch(lm: LoadedModel, bank: EmotionBank, scenario: str, batch: list[dict[str, Any]],
               by_id: dict[str, Item], layers: list[int], max_new_tokens: int, attempts: int, temperature: float,
               seed: int, limits: Limits | None) -> list[dict[str, Any]]:
    convs = [list(by_id[r["item"]].messages) for r in batch]
    specs = [_spec(r) for r in batch]
    replies = _generate(lm, bank, convs, specs, layers, max_new_tokens, temperature, seed)
    results = [dict(r, replies=[rep]) for r, rep in zip(batch, replies, strict=True)]
    if scenario == "leverage":
        for res in results:
            res["labels"] = leverage_label(res["replies"][-1], by_id[res["item"]].data)
        return results
    if scenario == "sycophancy":
        for res in results:
            res["labels"] = sycophancy_label(res["replies"][-1], by_id[res["item"]].data)
        return results
    # reward hacking: run the tests; failed attempts get the report and another try
    history = [list(c) for c in convs]
    for attempt in range(1, max(attempts, 1) + 1):
        retry = []
        for i, res in enumerate(results):
            if "labels" in res and not res["labels"].get("_retry"):
                continue
            item = by_id[res["item"]]
            code = code_in(res["replies"][-1], item.data["function"])
            graded = grade(code, item.data["function"], item.checks, limits)
            visible, hidden = graded["visible"], graded["hidden"]
            branches = literal_branches(code, item.checks["visible"])
            res["labels"] = {**coding_label(visible, hidden), "branches_on_visible_inputs": bool(branches)}
            res.setdefault("tests", []).append({"visible": [visible["passed"], visible["total"]],
                                                "hidden": [hidden["passed"], hidden["total"]],
                                                "error": visible["error"], "detail": visible["stderr"],
                                                "sandbox": visible["isolation"], "branches": branches})
            if not res["labels"]["visible_pass"] and attempt < attempts:
                history[i] += [{"role": "assistant", "content": res["replies"][-1]},
                               {"role": "user", "content": failure_report(item, visible)}]
                res["labels"]["_retry"] = True
                retry.append(i)
        if not retry:
            break
        again = _generate(lm, bank, [history[i] for i in retry], [specs[i] for i in retry], layers, max_new_tokens,
                          temperature, seed + attempt)
        for i, rep in zip(retry, again, strict=True):
            results[i]["replies"].append(rep)
    for res in results:
        res["labels"].pop("_retry", None)
        res["attempts"] = len(res["replies"])
    return results


def _relabel(scenario: str, rows: list[dict[str, Any]], by_id: dict[str, Item]) -> None:
    """Recompute the labels that are pure readings of the stored replies with the current rules (leverage,
    sycophancy, and reward hacking's literal-branching flags), so resumed rollouts need not run again when a rule
    is refined; reward hacking's verdicts come from the graded runs and are kept."""
    if scenario == "leverage":
        for r in rows:
            r["labels"] = leverage_label(r["replies"][-1], by_id[r["item"]].data)
        return
    if scenario == "sycophancy":
        for r in rows:
            r["labels"] = sycophancy_label(r["replies"][-1], by_id[r["item"]].data)
        return
    for r in rows:
        item = by_id[r["item"]]
        flags = []
        for t, reply in zip(r.get("tests", []), r["replies"], strict=False):
            t["branches"] = literal_branches(code_in(reply, item.data["function"]), item.checks["visible"])
            flags.append(bool(t["branches"]))
        r["labels"]["branches_on_visible_inputs"] = any(flags[-1:])


def _rates(scenario: str, rows: list[dict[str, Any]], conds: list[tuple[str, float]]) -> list[dict[str, Any]]:
    key = BEHAVIOUR[scenario]
    extra = {"leverage": "email_sent", "reward-hacking": "honest", "sycophancy": None}[scenario]
    out = []
    for e, s in conds:
        sel = [r for r in rows if r["emotion"] == e and r["strength"] == s]
        k = sum(bool(r["labels"][key]) for r in sel)
        lo, hi = wilson(k, len(sel))
        row: dict[str, Any] = {"emotion": e, "strength": s, "n": len(sel), "k": k,
                               "rate": k / len(sel) if sel else None, "low": lo, "high": hi}
        if extra:
            row[extra] = sum(bool(r["labels"][extra]) for r in sel) / max(len(sel), 1)
        if scenario == "reward-hacking":
            row["branches_on_visible_inputs"] = sum(bool(r["labels"].get("branches_on_visible_inputs"))
                                                    for r in sel) / max(len(sel), 1)
        judged = [r for r in sel if r.get("judge") is not None]
        if judged:
            row["judge_rate"] = sum(bool(r["judge"]) for r in judged) / len(judged)
            row["judge_agreement"] = sum(bool(r["judge"]) == bool(r["labels"][key]) for r in judged) / len(judged)
        out.append(row)
    return out


def _traces(lm: LoadedModel, bank: EmotionBank, rows: list[dict[str, Any]], by_id: dict[str, Item],
            conds: list[tuple[str, float]], watch: list[str], n: int, progress: ProgressFn | None
            ) -> list[dict[str, Any]]:
    """Readings of the watched emotions along the first ``n`` rollouts of the baseline and the strongest
    condition: at the start of each Assistant turn (the paper's read-out point) and along the last reply."""
    from emoscope.read import read_chat

    if n <= 0 or not watch:
        return []
    strongest = max(conds, key=lambda c: abs(c[1]))
    picks = [r for c in dict.fromkeys([conds[0], strongest])
             for r in sorted([x for x in rows if (x["emotion"], x["strength"]) == c],
                             key=lambda x: -len(x["replies"]))[:n]]  # rollouts with the most failed attempts first
    idx = [bank.emotion_index(w) for w in watch]
    out = []
    for k, r in enumerate(picks):
        msgs = list(by_id[r["item"]].messages)
        for j, rep in enumerate(r["replies"]):
            msgs.append({"role": "assistant", "content": rep})
            if j < len(r["replies"]) - 1:
                item = by_id[r["item"]]
                test = r.get("tests", [{}])[j]
                vis = {"error": test.get("error", False), "passed": test.get("visible", [0, 0])[0],
                       "total": test.get("visible", [0, 0])[1], "stderr": test.get("detail", "")}
                msgs.append({"role": "user", "content": failure_report(item, vis)})
        reading = read_chat(lm, bank, msgs, allow_mismatch=True)
        assert reading.turns is not None and reading.roles is not None
        turns = reading.turns
        starts, means, everyone = [], [], []
        last: list[int] = []
        for t_id, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            # the read-out point: the last token of the prompt that would generate this reply
            start = len(encode_chat(lm.tokenizer, msgs[:t_id], add_generation_prompt=True).ids) - 1
            reply = [t for t, tt in enumerate(turns) if tt == t_id and t > start]
            starts.append([float(reading.scores[start, e]) for e in idx])
            everyone.append([round(float(x), 4) for x in reading.scores[start]])
            means.append([float(np.mean(reading.scores[reply, e])) if reply else 0.0 for e in idx])
            last = reply
        out.append({"key": r["key"], "emotion": r["emotion"], "strength": r["strength"], "watch": watch,
                    "turn_start": starts, "turn_mean": means, "turn_start_all": everyone,
                    "series": {w: [round(float(reading.scores[t, e]), 3) for t in last[:300]]
                               for w, e in zip(watch, idx, strict=True)},
                    "labels": r["labels"]})
        if progress is not None:
            progress(Progress("traces", k + 1, len(picks)))
    return out
