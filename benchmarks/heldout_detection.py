"""Held-out detection preview: does each held-out story's activation rank its own emotion first?

Held-out stories are on 20 topics no training story uses. Each story's residual stream is averaged from token 50
(as in the recipe), centred on the bank's training story mean, and projected on the 171 vectors; the true
emotion's rank among 171 is reported per layer with chance levels. (The full validation report is a later issue.)

    .venv/bin/python benchmarks/heldout_detection.py --bank banks/smollm2-135m-instruct [--layers 5,10,15,20,25,29]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from emoscope import EmotionBank, load_model
from emoscope.corpus import Corpus
from emoscope.extraction import length_batches
from emoscope.model.chat import encode_text, pad_batch
from emoscope.model.hooks import position_ids, record
from emoscope.model.layers import resolve_layers
from emoscope.model.loading import resolve_model_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", default="banks/smollm2-135m-instruct")
    ap.add_argument("--layers", default="5,10,15,20,25,29")
    args = ap.parse_args()
    bank = EmotionBank.load(args.bank)
    lm = load_model(resolve_model_spec(None, bank.model))
    layers = resolve_layers(lm.n_layers, args.layers)
    corpus = Corpus.load()
    held = corpus.heldout_stories()
    skip = int(bank.recipe.get("token_skip", 50))
    ids = [encode_text(lm.tokenizer, s.text).ids for s in held]
    means = {layer: np.zeros((len(held), lm.d_model)) for layer in layers}
    for batch in length_batches([len(x) for x in ids], 32):
        i, m = pad_batch([ids[k] for k in batch], int(lm.tokenizer.pad_token_id))
        out = record(lm, i, m, layers, token_weights=((position_ids(m) >= skip) & (m > 0)).float())
        for layer in layers:
            means[layer][batch] = out[layer].numpy()
    truth = np.array([bank.emotions.index(s.emotion) for s in held])
    n = len(bank.emotions)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{len(held)} held-out stories, {n} emotions; chance: top-1 {1 / n:.3f}, top-5 {5 / n:.3f}, "
          f"mean rank {(n + 1) / 2:.1f}")
    for layer in layers:
        idx = bank.layer_index(layer)
        s = (means[layer] - bank.stats["story_mean"][idx]) @ bank.matrix(layer).T
        rank = (s > s[np.arange(len(s)), truth][:, None]).sum(1) + 1
        print(f"layer {layer:2d}: top-1 {np.mean(rank == 1):.3f}  top-5 {np.mean(rank <= 5):.3f}  "
              f"mean rank {rank.mean():5.1f}")


if __name__ == "__main__":
    main()
