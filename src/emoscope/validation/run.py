"""The validation run: every measurement of the report, on one model, one bank and one corpus.

Example:
    >>> result = validate(lm, bank)          # doctest: +SKIP
    >>> result.metrics["heldout"]["default_layer"]["top1"]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from emoscope.bank import BankError, EmotionBank
from emoscope.catalogue import load_norms, ratings_info
from emoscope.core.lexical import TfidfCentroid
from emoscope.core.recipe import NeutralStats, Recipe
from emoscope.core.stats import detection_summary, ranks_of_truth
from emoscope.corpus import Corpus
from emoscope.extraction import StoryMeans, iter_corpus_means, iter_neutral_moments
from emoscope.model.chat import encode_chat
from emoscope.model.loading import LoadedModel
from emoscope.model.passes import last_token_states
from emoscope.model.unembed import first_token_ids, unembed
from emoscope.progress import Progress, ProgressFn
from emoscope.read import check_bank
from emoscope.validation import analysis as A
from emoscope.validation.stimuli import load_scenarios, load_templates


@dataclass
class Validation:
    """What :func:`validate` measured: ``metrics`` (JSON-ready) and arrays the HTML report plots."""

    metrics: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)


def check_split(bank: EmotionBank, corpus: Corpus) -> None:
    """Refuse a bank whose vectors may have seen the held-out stories of ``corpus``."""
    mode = bank.split.get("mode")
    if mode != "train":
        raise BankError(f"this bank was built from split {mode!r}, so its vectors saw the held-out stories; "
                        "re-extract with the default --split train to validate it")
    if bank.corpus_sha256 and bank.corpus_sha256 != corpus.sha256():
        raise BankError(f"this bank was built from another corpus (sha256 {bank.corpus_sha256[:12]}) than "
                        f"{corpus.root}; pass the bank's own corpus with --corpus")
    recorded = bank.split.get("heldout_topics")
    if recorded is not None and corpus.heldout_topics is not None and sorted(recorded) != sorted(
            corpus.heldout_topics):
        raise BankError("the bank's recorded held-out topics differ from the corpus's split; re-extract the bank")
    if not corpus.heldout_stories():
        raise BankError(f"{corpus.root} has no held-out stories to validate on")


def last_token_acts(lm: LoadedModel, texts: list[str], layers: list[int], batch_size: int = 16
                    ) -> NDArray[np.float32]:
    """Residual stream at the start of the Assistant turn for each user message, ``[N, L, D]``.

    Each text becomes a one-message conversation rendered with the model's chat template and its generation
    prompt; the last token is the read-out point.
    """
    items = [encode_chat(lm.tokenizer, [{"role": "user", "content": t}]).ids for t in texts]
    return last_token_states(lm, items, layers, batch_size)


def validate(lm: LoadedModel, bank: EmotionBank, corpus: Corpus | None = None, norms_path: str | None = None,
             scenarios_path: str | None = None, templates_path: str | None = None, batch_size: int | None = None,
             draws: int = 5, shard_dir: Path | None = None, progress: ProgressFn | None = None,
             allow_mismatch: bool = False, heldout: Corpus | None = None) -> Validation:
    """Run every validation measurement; see the report's sections for what each one means.

    ``heldout``: take the held-out stories from this corpus instead of the bank's own (for example the unmatched
    v1 stories for a bank built from the matched v2 design); none of its held-out topics may have built the bank.
    """
    corpus = corpus or Corpus.load()
    check_bank(lm, bank, allow_mismatch)
    check_split(bank, corpus)
    emotions = bank.emotions
    if corpus.emotions() != emotions:
        raise BankError("the corpus's emotions differ from the bank's; pass the bank's own corpus with --corpus")
    source = heldout or corpus
    if heldout is not None:
        if heldout.emotions() != emotions:
            raise BankError("the held-out corpus's emotions differ from the bank's")
        seen = {s.topic_id for s in corpus.train_stories()} & {s.topic_id for s in heldout.heldout_stories()}
        if seen:
            raise BankError(f"held-out topics {sorted(seen)[:3]} also built the bank; choose another held-out set")
        if not heldout.heldout_stories():
            raise BankError(f"{heldout.root} has no held-out stories")
    scenarios = load_scenarios(scenarios_path, emotions)
    templates = load_templates(templates_path, emotions)
    user_norms = load_norms(norms_path) if norms_path else None
    recipe = Recipe.from_dict(bank.recipe)
    bs = int(batch_size or bank.recipe.get("batch_size", 16))
    def note(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(Progress(stage, done, total))

    def means_of(stories: list[Any], prefix: str, source: Corpus = corpus) -> StoryMeans:
        result: StoryMeans | None = None
        for ev in iter_corpus_means(lm, source, stories, bank.layers, recipe, bs, shard_dir, stage=prefix,
                                    prefix=prefix):
            if isinstance(ev, Progress):
                note(prefix, ev.done, ev.total)
            else:
                result = ev
        assert result is not None
        return result

    train = corpus.train_stories() if recipe.split == "train" else list(corpus.stories)
    held = source.heldout_stories()
    held_means = means_of(held, "heldout", source).means
    chooser = corpus.layer_stories()  # stories on topics kept for the layer choice, used for nothing else
    chooser_means = means_of(chooser, "layer choice").means if chooser else None
    train_means = means_of(train, "stories").means
    neutral: dict[str, Any] | None = None
    for nev in iter_neutral_moments(lm, corpus, bank.layers, recipe, bs, shard_dir):
        if isinstance(nev, Progress):
            note("neutral", nev.done, nev.total)
        else:
            neutral = nev
    assert neutral is not None

    index = {e: i for i, e in enumerate(emotions)}
    truth = np.array([index[s.emotion] for s in held])
    train_labels = np.array([index[s.emotion] for s in train])
    n = len(emotions)

    # Read-outs at the start of the Assistant turn, at every layer: implicit scenarios and numeric templates
    note("scenarios", 0, 1)
    sc_acts = last_token_acts(lm, [r["user_text"] for r in scenarios], bank.layers)
    targets = [r["target_emotion"] for r in scenarios]
    note("scenarios", 1, 1)
    note("numeric", 0, 1)
    texts, tids, vals = [], [], []
    for t in templates:
        for v in t.values:
            texts.append(t.render(v))
            tids.append(t.id)
            vals.append(v)
    nu_acts = last_token_acts(lm, texts, bank.layers)
    expected = {t.id: t.expected for t in templates}
    note("numeric", 1, 1)

    # 1. held-out detection, scenario hits and numeric signs at every layer; the default layer by rule
    note("detection", 0, 1)
    per_layer = A.heldout_by_layer(held_means, truth, bank)
    choose_rows = per_layer if chooser_means is None else A.heldout_by_layer(
        chooser_means, np.array([index[s.emotion] for s in chooser]), bank)
    sc_layers = []
    nu_layers = []
    for k, lay in enumerate(bank.layers):
        sc = A.scenario_matrix(sc_acts[:, k], targets, bank, lay, "z")
        nu = A.numeric_trends(nu_acts[:, k], tids, vals, expected, bank, lay, "z")
        sc_layers.append({"layer": lay, "diagonal_hits": sc["diagonal_hits"], "n": sc["n"]})
        nu_layers.append({"layer": lay, "sign_correct": nu["sign_correct"], "strong_correct": nu["strong_correct"],
                          "n": nu["n_trends"]})
        for rows in {id(per_layer): per_layer, id(choose_rows): choose_rows}.values():
            rows[k]["score"] = A.layer_score(rows[k], sc["diagonal_hits"], sc["n"], len(sc["emotions"]),
                                             nu["sign_correct"], nu["n_trends"])
    choice = A.choose_default_layer(choose_rows, lm.n_layers)
    choice["chosen_on"] = (f"{len(chooser)} stories on {len(corpus.layer_topics)} topics kept for the layer choice "
                           "and used for nothing else" if chooser else
                           "the held-out stories themselves (the corpus names no layer-choice topics), so held-out "
                           "figures at the chosen layer are optimistic")
    choice["previous"] = bank.default_layer
    layer = choice["chosen"]
    k_def = bank.layer_index(layer)
    s_def = A.centred_scores(held_means[:, k_def], bank, layer)
    lex = TfidfCentroid.fit([s.text for s in train], train_labels.tolist(), n)
    lex_ranks = ranks_of_truth(lex.scores([s.text for s in held]), truth)
    held_out = {"n_stories": len(held), "n_train_stories": len(train),
               "heldout_topics": sorted(source.heldout_topics or []),
               "heldout_corpus": [p["corpus"] for p in source.story_sets()],
               "scoring": "projection of the story's mean residual (from token "
                          f"{recipe.token_skip}) minus the bank's story mean", "per_layer": per_layer,
               "default_layer": {**detection_summary(ranks_of_truth(s_def, truth), n), "layer": layer,
                                 "auroc": A.per_emotion_auroc(s_def, truth, emotions)},
               "lexical_baseline": {"method": "TF-IDF nearest centroid over words (min df 2), same split",
                                    **detection_summary(lex_ranks, n)}}
    note("detection", 1, 1)

    # 2. learning curve at the default layer, from cached activations
    note("learning curve", 0, 1)
    stats = NeutralStats(count=np.asarray(neutral["count"])[k_def : k_def + 1],
                         total=np.asarray(neutral["total"])[k_def : k_def + 1],
                         gram=np.asarray(neutral["gram"])[k_def : k_def + 1])
    curve = A.learning_curve(train_means[:, k_def], train_labels, held_means[:, k_def], truth, stats, recipe, n,
                             draws=draws)
    note("learning curve", 1, 1)

    # 3. geometry
    note("geometry", 0, 1)
    geo = A.geometry(bank, load_norms(), "shipped model-judged ratings (" + ratings_info()["source"][:80] + "...)")
    geo_user = A.geometry(bank, user_norms, f"user norms {norms_path}") if user_norms is not None else None
    struct = A.structure(bank, layer)
    from emoscope.validation.style_audit import audit as style_audit

    words = style_audit([(s.emotion, s.text) for s in train], emotions, load_norms(),
                        {lay: bank.matrix(lay) for lay in bank.layers}, bank.emotions, permutations=1000)
    words.pop("style_by_emotion", None)
    note("geometry", 1, 1)

    # 4. logit lens
    note("logit lens", 0, len(bank.layers))
    own = [first_token_ids(lm.tokenizer, e) for e in emotions]

    def decode(t: int) -> str:
        return str(lm.tokenizer.decode([t]))

    lens_counts = []
    lens_default: dict[str, Any] = {}
    for k, lay in enumerate(bank.layers):
        logits = unembed(lm, bank.vectors[k])
        res = A.logit_lens(logits, emotions, own, decode if lay == layer else _blank)
        lens_counts.append({"layer": lay, "own_word_in_top": res["own_word_in_top"]})
        if lay == layer:
            lens_default = res
        note("logit lens", k + 1, len(bank.layers))
    lens_default["per_layer"] = lens_counts

    # 5. implicit scenarios and 6. numeric intensity at the default layer
    implicit: dict[str, Any] = {"source": scenarios_path or "shipped (36 scenarios, 3 for each of 12 emotions)",
                                "labels": [r["label"] for r in scenarios], "targets": targets, "kinds": {},
                                "per_layer": sc_layers}
    numeric: dict[str, Any] = {"source": templates_path or "shipped (8 templates x 8 values)",
                               "templates": [{"id": t.id, "template": t.template, "values": t.values,
                                              "unit": t.unit} for t in templates], "kinds": {},
                               "per_layer": nu_layers}
    for kind in ("z", "cosine"):
        implicit["kinds"][kind] = A.scenario_matrix(sc_acts[:, k_def], targets, bank, layer, kind)
        numeric["kinds"][kind] = A.numeric_trends(nu_acts[:, k_def], tids, vals, expected, bank, layer, kind)

    metrics: dict[str, Any] = {
        "model": bank.model, "model_fingerprint": bank.model_fingerprint, "bank_emoscope_version":
        bank.emoscope_version, "corpus_sha256": bank.corpus_sha256, "recipe": bank.recipe,
        "layers": bank.layers, "n_emotions": n, "emotions": emotions,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "default_layer": choice, "heldout": held_out, "learning_curve": {"layer": layer, "points": curve},
        "geometry": {"judged": geo, "user": geo_user,
                     "structure": {k: v for k, v in struct.items() if not k.startswith("_")}},
        "style_audit": words,
        "logit_lens": lens_default, "implicit_scenarios": implicit, "numeric_intensity": numeric,
        "anchors": A.ANCHORS,
    }
    figures = {"sim": struct["_sim"], "order": struct["_order_idx"], "pca_default": _pca_points(bank, layer)}
    return Validation(metrics=metrics, figures=figures)


def _pca_points(bank: EmotionBank, layer: int) -> dict[str, Any]:
    from emoscope.core.geometry import pca

    p = pca(bank.matrix(layer), k=3)
    return {"scores": p.scores, "explained": p.explained}


def _blank(_token: int) -> str:
    return ""
