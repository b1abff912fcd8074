"""Monitored generation (all emotions read at every token, plus an alert rule) against plain generation.

The same prompts are generated greedily both ways in one run, alternating which goes first: plain is
``emoscope.model.generate.generate`` (Hugging Face ``generate``); monitored is ``emoscope.monitor.monitor``
reading every emotion of the bank at its default layer and checking the rule ``desperate>2.0``. Both stop at
the end of the reply, and the benchmark checks that they produce the same tokens (monitoring changes nothing).

    .venv/bin/python benchmarks/monitor_speed.py [--bank banks/smollm2-135m-instruct] [--tokens 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from emoscope import EmotionBank, load_model
from emoscope.model.chat import encode_chat
from emoscope.model.generate import generate
from emoscope.monitor import monitor

PROMPTS = [
    "Write two sentences about a lighthouse keeper.",
    "My build failed again and the deadline is tonight. What should I check first?",
    "Explain what a hash table is in plain words.",
    "I've been applying for jobs for eight months and rent is due Friday. What do I do?",
    "How do I keep basil alive on a windowsill?",
    "Summarise the rules of chess for a child.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", default="banks/smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=64, help="maximum new tokens per reply")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dtype", default="bfloat16")
    args = ap.parse_args()
    bank = EmotionBank.load(args.bank)
    from emoscope.model.loading import resolve_model_spec

    lm = load_model(resolve_model_spec(None, bank.model), dtype=args.dtype)
    prompts = [encode_chat(lm.tokenizer, [{"role": "user", "content": p}]).ids for p in PROMPTS]

    def plain(ids: list[int]) -> list[int]:
        return generate(lm, [ids], args.tokens)[0]

    def monitored(ids: list[int]) -> list[int]:
        steps = list(monitor(lm, bank, ids, args.tokens, alerts=["desperate>2.0"]))
        return [s.token_id for s in steps if s.token_id not in stops]

    from emoscope.model.generate import stop_ids

    stops = set(stop_ids(lm))
    plain(prompts[0])  # warm-up
    monitored(prompts[0])
    t = {"plain": 0.0, "monitored": 0.0}
    n = {"plain": 0, "monitored": 0}
    same = 0
    for r in range(args.rounds):
        for k, ids in enumerate(prompts):
            out: dict[str, list[int]] = {}
            for name in (("plain", "monitored") if (r + k) % 2 == 0 else ("monitored", "plain")):
                t0 = time.perf_counter()
                out[name] = plain(ids) if name == "plain" else monitored(ids)
                t[name] += time.perf_counter() - t0
                n[name] += len(out[name])
            same += out["plain"] == out["monitored"]
    speed = {k: n[k] / t[k] for k in t}
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model {lm.name} ({args.dtype}), {torch.get_num_threads()} threads, batch 1, greedy, {len(PROMPTS)} "
          f"prompts x {args.rounds} rounds, up to {args.tokens} new tokens; {len(bank.emotions)} emotions read at "
          f"layer {bank.default_layer} at every token, one alert rule")
    print(f"identical tokens with and without monitoring: {same}/{len(PROMPTS) * args.rounds} replies")
    print(f"plain generation:     {speed['plain']:7.1f} tok/s ({n['plain']} tokens)")
    print(f"monitored generation: {speed['monitored']:7.1f} tok/s ({n['monitored']} tokens)")
    print(f"monitoring costs {100 * (speed['plain'] / speed['monitored'] - 1):+.1f} % time per token (ratio "
          f"monitored/plain speed {speed['monitored'] / speed['plain']:.3f})")


if __name__ == "__main__":
    main()
