"""Monitored generation (all emotions read at every token, plus an alert rule) against plain generation.

The same prompts are generated greedily three ways in one run, rotating which goes first: Hugging Face's own
``model.generate`` (the reference, outside emoscope), ``emoscope.model.generate.generate`` (emoscope's one decode
loop) and ``emoscope.monitor.monitor`` (the same loop, reading every emotion of the bank at its default layer and
checking the rule ``desperate>2.0``). All stop at the end of the reply, and the benchmark checks that they produce
the same tokens (monitoring changes nothing).

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
from emoscope.model.generate import generate, stop_ids
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
    stops = set(stop_ids(lm))

    def reference(ids: list[int]) -> list[int]:
        x = torch.tensor([ids])
        with torch.no_grad():
            out = lm.model.generate(input_ids=x, attention_mask=torch.ones_like(x),  # type: ignore[operator]
                                    max_new_tokens=args.tokens, do_sample=False, temperature=None, top_p=None,
                                    top_k=None, pad_token_id=int(lm.tokenizer.pad_token_id),
                                    eos_token_id=sorted(stops))
        row = out[0, len(ids):].tolist()
        return row[: next((i for i, tok in enumerate(row) if tok in stops), len(row))]

    def plain(ids: list[int]) -> list[int]:
        return generate(lm, [ids], args.tokens)[0]

    def monitored(ids: list[int]) -> list[int]:
        steps = list(monitor(lm, bank, ids, args.tokens, alerts=["desperate>2.0"]))
        return [s.token_id for s in steps if s.token_id not in stops]

    runs = {"transformers": reference, "plain": plain, "monitored": monitored}
    for fn in runs.values():  # warm-up
        fn(prompts[0])
    t = dict.fromkeys(runs, 0.0)
    n = dict.fromkeys(runs, 0)
    same = 0
    names = list(runs)
    for r in range(args.rounds):
        for k, ids in enumerate(prompts):
            out: dict[str, list[int]] = {}
            shift = (r * len(prompts) + k) % len(names)
            for name in names[shift:] + names[:shift]:
                t0 = time.perf_counter()
                out[name] = runs[name](ids)
                t[name] += time.perf_counter() - t0
                n[name] += len(out[name])
            same += out["transformers"] == out["plain"] == out["monitored"]
    speed = {k: n[k] / t[k] for k in t}
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model {lm.name} ({args.dtype}), {torch.get_num_threads()} threads, batch 1, greedy, {len(PROMPTS)} "
          f"prompts x {args.rounds} rounds, up to {args.tokens} new tokens; {len(bank.emotions)} emotions read at "
          f"layer {bank.default_layer} at every token, one alert rule")
    print(f"identical tokens (transformers = emoscope = monitored): {same}/{len(PROMPTS) * args.rounds} replies")
    print(f"transformers generate: {speed['transformers']:7.1f} tok/s ({n['transformers']} tokens)")
    print(f"emoscope generate:     {speed['plain']:7.1f} tok/s ({n['plain']} tokens)")
    print(f"monitored generation:  {speed['monitored']:7.1f} tok/s ({n['monitored']} tokens)")
    print(f"speed ratios: emoscope/transformers {speed['plain'] / speed['transformers']:.3f}, "
          f"monitored/transformers {speed['monitored'] / speed['transformers']:.3f}, "
          f"monitored/emoscope {speed['monitored'] / speed['plain']:.3f}")


if __name__ == "__main__":
    main()
