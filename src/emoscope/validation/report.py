"""The validation report: a self-contained ``index.html`` (plots inline, opens offline) and ``metrics.json``.

The page is ``emoscope/report/templates/validation.html``; this module only gathers its tables' rows.

Example:
    >>> paths = write_report(validate(lm, bank), "banks/smol/validation")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoscope.report import render, write_result_files
from emoscope.report.plots.validation import validation_figures

__all__ = ["render_html", "write_report", "write_result_files"]

_LENS_PICKS = ("happy", "sad", "afraid", "calm", "desperate", "angry", "loving", "proud", "guilty", "nervous",
               "surprised", "inspired")


def write_report(v: Any, out_dir: str | Path, command: str = "") -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``index.html`` into ``out_dir`` (each atomically); returns their paths."""
    metrics = dict(v.metrics)
    if command:
        metrics["command"] = command
    return write_result_files(out_dir, "metrics.json", metrics, render_html(metrics, v.figures))


def _cards(m: dict[str, Any], g_def: dict[str, Any]) -> list[tuple[str, str, str]]:
    dl, lex = m["heldout"]["default_layer"], m["heldout"]["lexical_baseline"]
    imp_z, nz = m["implicit_scenarios"]["kinds"]["z"], m["numeric_intensity"]["kinds"]["z"]
    lens = m["logit_lens"]
    return [
        ("held-out top-1", f"{dl['top1']:.3f}", f"chance {dl['chance_top1']:.3f}; words {lex['top1']:.3f}"),
        ("held-out top-5", f"{dl['top5']:.3f}", f"chance {dl['chance_top5']:.3f}; words {lex['top5']:.3f}"),
        ("mean AUROC", f"{dl['auroc']['mean']:.3f}", "chance 0.5"),
        ("PC1 ~ valence r", f"{g_def.get('pc1_valence_r', float('nan')):+.2f}", "paper 0.81 (human)"),
        ("PC2 ~ arousal r", f"{g_def.get('pc2_arousal_r', float('nan')):+.2f}", "paper 0.66 (human)"),
        ("scenarios on diagonal", f"{imp_z['diagonal_hits']} / {imp_z['n']}", f"chance {imp_z['chance_hits']:.1f}"),
        ("numeric sign-correct", f"{nz['sign_correct']} / {nz['n_trends']}",
         f"chance {nz['chance_sign_correct']:.0f}"),
        ("own word in top-20 logits", f"{lens['own_word_in_top']} / {lens['n']}",
         f"chance {lens['chance_expected']:.2f}"),
    ]


def _lens_row(e: str, d: dict[str, Any]) -> list[Any]:
    return [e, " | ".join(d["top"]), " | ".join(d["bottom"]), d["own_rank"]]


def _words(m: dict[str, Any], layer: int) -> dict[str, Any]:
    """The style audit's rows: lexical axes, style statistics by family, and per layer what the words explain."""
    a = m.get("style_audit")
    if not a:
        return {"audit": None}
    lex = [[c["pc"], ex, " ".join(c["positive_words"][:6]), " ".join(c["negative_words"][:6]), c.get("r_valence"),
            c.get("r_arousal")] for c, ex in zip(a["lexical"]["components"], a["lexical"]["explained"], strict=False)]
    style = [[s + (" (flagged)" if s in a["flagged"] else ""), r.get("eta_squared"), r.get("p"), r.get("r_valence"),
              r.get("r_arousal")] for s, r in a["style"].items()]
    layers = [[r["layer"], r["pc1_r_lexical_pc1"], r["pc1_max_abs_r_lexical"], r["pc1_words_r2"], r["chance_r2"],
               r.get("pc1_r_valence"), r.get("pc1_r_valence_beyond_words")] for r in a.get("layers", [])]
    at = next((r for r in a.get("layers", []) if r["layer"] == layer), None)
    return {"audit": a, "audit_lex": lex, "audit_style": style, "audit_layers": layers, "audit_at": at}


def page_context(m: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    """The template's data: ``m`` itself, the default layer's rows picked out, every table's rows, the figures."""
    h = m["heldout"]
    dl, lex = h["default_layer"], h["lexical_baseline"]
    choice = m["default_layer"]
    geo = m["geometry"]["judged"]
    g_def = next(r for r in geo["per_layer"] if r["layer"] == choice["chosen"])
    user = m["geometry"].get("user")
    lens = m["logit_lens"]
    isc, nu = m["implicit_scenarios"], m["numeric_intensity"]
    st = m["geometry"]["structure"]
    ex = g_def["explained"]
    return {
        "m": m, "h": h, "dl": dl, "choice": choice, "geo": geo, "g_def": g_def, "lens": lens,
        "imp_z": isc["kinds"]["z"], "user": user,
        "user_def": next(r for r in user["per_layer"] if r["layer"] == choice["chosen"]) if user else None,
        "provenance": [f"{m['n_emotions']} emotions x {len(m['layers'])} layers",
                       f"model fingerprint {m['model_fingerprint']}", f"corpus {m['corpus_sha256'][:16]}",
                       f"made {m['created']}"],
        "cards": _cards(m, g_def),
        "detection": [[f"vectors, layer {dl['layer']}", dl["top1"], dl["top5"], dl["mean_rank"]],
                      ["TF-IDF words (baseline)", lex["top1"], lex["top5"], lex["mean_rank"]],
                      ["chance", dl["chance_top1"], dl["chance_top5"], dl["chance_mean_rank"]]],
        "every_layer": [[r["layer"], r["top1"], r["top5"], r["mean_rank"], f"{s['diagonal_hits']} / {s['n']}",
                         f"{u['sign_correct']} / {u['n']}", r.get("score")]
                        for r, s, u in zip(h["per_layer"], isc["per_layer"], nu["per_layer"], strict=True)],
        "curve": [[str(p["stories_per_emotion"]), p["draws"], p["top1"], p["top5"]]
                  for p in m["learning_curve"]["points"]],
        "pca_row": [[choice["chosen"], ex[0], ex[1], ex[2] if len(ex) > 2 else None, g_def.get("pc1_valence_r"),
                     g_def.get("pc2_arousal_r"), g_def.get("pc3_arousal_r"), g_def.get("pc2_valence_r")]],
        "best_valence": g_def.get("best_pc_valence", {}), "best_arousal": g_def.get("best_pc_arousal", {}),
        "clusters": [[i + 1, len(c), ", ".join(c)] for i, c in enumerate(st["clusters"])],
        "neighbours": [[e, ", ".join(f"{n} {s:.2f}" for n, s in nb)] for e, nb in st["neighbours"].items()],
        "lens_picks": [_lens_row(e, lens["per_emotion"][e]) for e in _LENS_PICKS if e in lens["per_emotion"]],
        "lens_all": [_lens_row(e, d) for e, d in lens["per_emotion"].items()],
        "lens_layers": [[r["layer"], r["own_word_in_top"]] for r in lens["per_layer"]],
        "scenarios": [[k, d["diagonal_hits"], d["chance_hits"], d["mean_rank_in_set"], d["chance_rank_in_set"],
                       d["mean_rank_all"], d["chance_rank_all"], d["top5_all"]]
                      for k, d in (("z vs neutral", isc["kinds"]["z"]),
                                   ("cosine (the paper's)", isc["kinds"]["cosine"]))],
        "numeric": [[k, d["n_trends"], d["sign_correct"], d["chance_sign_correct"], d["strong_correct"],
                     d["strong_any"], d["chance_strong_any"]]
                    for k, d in (("z vs neutral", nu["kinds"]["z"]), ("cosine", nu["kinds"]["cosine"]))],
        "anchors": [[k, v["value"], v["source"]] for k, v in m["anchors"].items()],
        **_words(m, choice["chosen"]),
        "fig": validation_figures(m, figures),
    }


def render_html(m: dict[str, Any], figures: dict[str, Any]) -> str:
    """The report page as a string (every image inline as a data URI; no network needed)."""
    return render("validation.html", **page_context(m, figures))
