"""Steered generation against plain generation, in one run.

The same prompts are generated greedily with and without steering (alternating which goes first), each for
exactly ``--tokens`` new tokens (so both produce the same number of tokens whatever the steering does). Steering
adds ``calm=+0.05,desperate=-0.05`` at the bank's default layer on every position.

    .venv/bin/python benchmarks/steer_speed.py [--bank banks/smollm2-135m-instruct] [--tokens 48] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from emoscope import EmotionBank, load_model
from emoscope.model.chat import encode_chat
from emoscope.model.loading import resolve_model_spec
from emoscope.steering import steer

PROMPTS = [
    "Write two sentences about a lighthouse keeper.",
    "My build failed again and the deadline is tonight. What should I check first?",
    "Explain what a hash table is in plain words.",
    "Suggest a name for a small bakery by the sea.",
    "How do I keep basil alive on a windowsill?",
    "Summarise the rules of chess for a child.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", default="banks/smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    bank = EmotionBank.load(args.bank)
    lm = load_model(resolve_model_spec(None, bank.model))
    encoded = [torch.tensor([encode_chat(lm.tokenizer, [{"role": "user", "content": p}]).ids]) for p in PROMPTS]
    kw = {"max_new_tokens": args.tokens, "min_new_tokens": args.tokens, "do_sample": False, "temperature": None,
          "top_p": None, "top_k": None, "pad_token_id": int(lm.tokenizer.pad_token_id)}

    def gen(ids: torch.Tensor) -> None:
        with torch.no_grad():
            lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)  # type: ignore[operator]

    gen(encoded[0])  # warm-up
    t_plain = t_steer = 0.0
    n = 0
    for r in range(args.rounds):
        for k, ids in enumerate(encoded):
            for which in ((0, 1) if (r + k) % 2 == 0 else (1, 0)):
                t = time.perf_counter()
                if which == 0:
                    gen(ids)
                    t_plain += time.perf_counter() - t
                else:
                    with steer(lm, bank, "calm=+0.05,desperate=-0.05"):
                        gen(ids)
                    t_steer += time.perf_counter() - t
            n += args.tokens
    plain, steered = n / t_plain, n / t_steer
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model {lm.name}, {torch.get_num_threads()} threads, batch 1, greedy, {len(PROMPTS)} prompts x "
          f"{args.rounds} rounds x {args.tokens} new tokens each way; steering at layer {bank.default_layer}")
    print(f"plain generation:   {plain:7.1f} tok/s")
    print(f"steered generation: {steered:7.1f} tok/s")
    print(f"steered costs {100 * (plain / steered - 1):+.1f} % time per token (ratio steered/plain speed "
          f"{steered / plain:.3f})")


if __name__ == "__main__":
    main()
