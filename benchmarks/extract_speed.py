"""Extraction speed against the physical limit, in one run.

For every batch of the shipped corpus (the same batches extraction uses), this times, alternately on the same
batch, (a) a bare full forward pass of the model (all blocks, final norm and vocabulary logits, no hooks) and
(b) emoscope's extraction pass (all layers recorded and reduced in hooks, no logits). It then runs the whole
default extraction (stories, neutral dialogues, recipe, bank) from an empty shard cache and reports its time.

    .venv/bin/python benchmarks/extract_speed.py [--dtype bfloat16] [--batch-size 16] [--limit N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from emoscope.corpus import Corpus
from emoscope.extraction import extract, length_batches
from emoscope.model.chat import encode_text, pad_batch
from emoscope.model.loading import load_model
from emoscope.model.passes import story_means


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--limit", type=int, default=0, help="Only the first N batches for the paired timing.")
    ap.add_argument("--skip-full-run", action="store_true", help="Skip the end-to-end extraction timing.")
    args = ap.parse_args()

    load_model(args.model, dtype=args.dtype)  # builds the weight cache on a first run
    t = time.perf_counter()
    lm = load_model(args.model, dtype=args.dtype)
    load_s = time.perf_counter() - t
    corpus = Corpus.load()
    stories = corpus.train_stories()
    ids = [encode_text(lm.tokenizer, s.text).ids for s in stories]
    batches = length_batches([len(x) for x in ids], args.batch_size)
    if args.limit:
        batches = batches[: args.limit]
    layers = list(range(lm.n_layers))
    pad = int(lm.tokenizer.pad_token_id)
    t_full = t_ext = 0.0
    n_tok = 0
    with torch.no_grad():  # warm-up
        i, m = pad_batch([ids[k] for k in batches[0]], pad)
        lm.model(input_ids=i, attention_mask=m)
        story_means(lm, [ids[k] for k in batches[0]], layers, 50)
    for b, batch in enumerate(batches):
        i, m = pad_batch([ids[k] for k in batch], pad)
        n_tok += int(m.sum())
        order = (0, 1) if b % 2 == 0 else (1, 0)  # alternate which goes first
        for which in order:
            t = time.perf_counter()
            if which == 0:
                with torch.no_grad():
                    lm.model(input_ids=i, attention_mask=m)
                t_full += time.perf_counter() - t
            else:
                story_means(lm, [ids[k] for k in batch], layers, 50)
                t_ext += time.perf_counter() - t
    full, ext = n_tok / t_full, n_tok / t_ext
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model {lm.name}, {args.dtype}, {torch.get_num_threads()} threads, {len(batches)} batches of "
          f"{args.batch_size}, {n_tok:,} story tokens")
    print(f"model load from the cache: {load_s:.2f} s")
    print(f"bare full forward (all blocks + logits):     {full:8,.0f} tok/s")
    print(f"extraction pass ({len(layers)} layers, reduced in hooks): {ext:8,.0f} tok/s")
    print(f"ratio extraction / full forward:              {ext / full:8.2f}x")
    if not args.skip_full_run:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            bank = extract(lm, corpus, batch_size=args.batch_size, shard_dir=Path(tmp))
            total = time.perf_counter() - t
        print(f"whole default extraction ({len(bank.emotions)} emotions x {len(bank.layers)} layers, "
              f"{bank.split['n_stories']} stories + {bank.split['n_dialogues']} dialogues): {total:.0f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
