"""Preference questions: full forward passes against shared-prefix key/value caching, in one run.

The questions starting with the first ``--groups`` activities (63 each) are answered both ways, alternating
which goes first per group; the margins must agree, and the speeds are printed with their ratio.

    .venv/bin/python benchmarks/preference_speed.py [--bank banks/smollm2-135m-instruct] [--groups 4] [--dtype float32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from emoscope import EmotionBank, load_model
from emoscope.experiments.preferences import (
    encode_question,
    groups_by_first,
    load_activities,
    pair_list,
    preference_margins,
    shared_prefix_margins,
)
from emoscope.model.loading import resolve_model_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", default="banks/smollm2-135m-instruct")
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    bank = EmotionBank.load(args.bank)
    lm = load_model(resolve_model_spec(None, bank.model), dtype=args.dtype)
    acts = load_activities()
    plist = pair_list(len(acts))
    groups = groups_by_first(plist)[: args.groups]
    t_full = t_cached = 0.0
    n_q = n_tok = 0
    worst = 0.0
    for g, group in enumerate(groups):
        items = [encode_question(lm.tokenizer, acts[plist[k][0]].text, acts[plist[k][1]].text)[0] for k in group]
        n_q += len(items)
        n_tok += sum(len(e.ids) for e in items)
        for which in ((0, 1) if g % 2 == 0 else (1, 0)):
            t = time.perf_counter()
            if which == 0:
                full = preference_margins(lm, items, batch_size=args.batch_size)
                t_full += time.perf_counter() - t
            else:
                cached = shared_prefix_margins(lm, items, [list(range(len(items)))], batch_size=args.batch_size)
                t_cached += time.perf_counter() - t
        worst = max(worst, float(np.max(np.abs(full - cached))))
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model {lm.name}, {n_q} questions ({n_tok:,} tokens) in {len(groups)} groups sharing their first activity")
    print(f"full forward passes:      {n_q / t_full:6.1f} questions/s")
    print(f"shared-prefix KV caching: {n_q / t_cached:6.1f} questions/s")
    print(f"speed-up {t_full / t_cached:.2f}x; largest margin difference {worst:.2e} ({args.dtype})")
    print(f"at this speed all 4,032 questions take {4032 / (n_q / t_cached) / 60:.1f} min, and the causal test "
          f"about {4032 / (n_q / t_cached) / 60:.1f} min per emotion (3,040 questions with a steered activity, "
          "992 of them asked twice)")


if __name__ == "__main__":
    main()
