"""The validation report: a self-contained ``index.html`` (plots inline, opens offline) and ``metrics.json``.

Example:
    >>> paths = write_report(validate(lm, bank), "banks/smol/validation")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.atomic import atomic_file


def write_report(v: Any, out_dir: str | Path, command: str = "") -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``index.html`` into ``out_dir`` (each atomically); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = dict(v.metrics)
    if command:
        metrics["command"] = command
    return write_result_files(out, "metrics.json", metrics, render_html(metrics, v.figures))


def write_result_files(out_dir: str | Path, json_name: str, result: dict[str, Any], page: str) -> tuple[Path, Path]:
    """Write ``result`` as JSON (NaN as null) and ``page`` as ``index.html`` into ``out_dir``, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / json_name
    with atomic_file(jpath) as fh:
        json.dump(_clean(result), fh, indent=1, allow_nan=False)
        fh.write("\n")
    hpath = out / "index.html"
    with atomic_file(hpath) as fh:
        fh.write(page)
    return hpath, jpath


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and infinities become null, NumPy scalars become Python numbers."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, set | frozenset):
        return sorted(_clean(v) for v in x)
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# ----------------------------------------------------------------------------------------------------- plots


def _fig_to_img(fig: Any, alt: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _plot_sweep(m: dict[str, Any]) -> str:
    plt = _plt()
    h = m["heldout"]
    layers = [r["layer"] for r in h["per_layer"]]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.plot(layers, [r["top1"] for r in h["per_layer"]], "o-", label="top-1 (vectors)", color="#c0392b")
    ax.plot(layers, [r["top5"] for r in h["per_layer"]], "s-", label="top-5 (vectors)", color="#2c3e50")
    lex = h["lexical_baseline"]
    ax.axhline(lex["top1"], ls="--", color="#c0392b", alpha=0.5, label=f"top-1 TF-IDF words ({lex['top1']:.2f})")
    ax.axhline(lex["top5"], ls="--", color="#2c3e50", alpha=0.5, label=f"top-5 TF-IDF words ({lex['top5']:.2f})")
    ax.axhline(lex["chance_top5"], ls=":", color="grey", label=f"chance top-5 ({lex['chance_top5']:.3f})")
    sc = m["implicit_scenarios"]["per_layer"]
    nu = m["numeric_intensity"]["per_layer"]
    ax.plot(layers, [r["diagonal_hits"] / max(r["n"], 1) for r in sc], "^-", ms=3, color="#8e44ad", alpha=0.7,
            label="scenarios on diagonal (share)")
    ax.plot(layers, [r["sign_correct"] / max(r["n"], 1) for r in nu], "v-", ms=3, color="#d35400", alpha=0.7,
            label="numeric trends sign-correct (share)")
    if all("score" in r for r in h["per_layer"]):
        ax.plot(layers, [r["score"] for r in h["per_layer"]], "-", lw=2.5, color="#27ae60",
                label="default-layer criterion")
    ax.axvline(m["default_layer"]["chosen"], color="#27ae60", alpha=0.25, lw=8, label="default layer")
    ax.set_xlabel("layer (residual stream after block i)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    ax.grid(alpha=0.3)
    return _fig_to_img(fig, "held-out detection by layer")


def _plot_curve(m: dict[str, Any]) -> str:
    plt = _plt()
    pts = m["learning_curve"]["points"]
    x = [p["k"] for p in pts]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.errorbar(x, [p["top1"] for p in pts], yerr=[p["top1_sd"] for p in pts], fmt="o-", label="top-1",
                color="#c0392b", capsize=3)
    ax.errorbar(x, [p["top5"] for p in pts], yerr=[p["top5_sd"] for p in pts], fmt="s-", label="top-5",
                color="#2c3e50", capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [str(v) for v in x])
    ax.set_xlabel("training stories per emotion")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _fig_to_img(fig, "learning curve")


def _plot_pca(m: dict[str, Any], figures: dict[str, Any]) -> str:
    plt = _plt()
    from emoscope.catalogue import load_norms

    pts = figures["pca_default"]["scores"]
    ex = figures["pca_default"]["explained"]
    norms = load_norms()
    names = m["emotions"]
    val = [norms.get(e, (4.0, 4.0))[0] for e in names]
    fig, ax = plt.subplots(figsize=(10, 8))
    sc = ax.scatter(pts[:, 0], pts[:, 1], c=val, cmap="RdYlGn", vmin=1, vmax=7, s=18)
    for (x, y), e in zip(pts[:, :2], names, strict=False):
        ax.annotate(e, (x, y), fontsize=6, alpha=0.8, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel(f"PC1 ({ex[0] * 100:.1f} % of variance)")
    ax.set_ylabel(f"PC2 ({ex[1] * 100:.1f} % of variance)")
    fig.colorbar(sc, ax=ax, label="judged valence (1-7)")
    ax.grid(alpha=0.2)
    return _fig_to_img(fig, "PC1 x PC2 of the emotion vectors")


def _plot_geo_layers(m: dict[str, Any]) -> str:
    plt = _plt()
    rows = m["geometry"]["judged"]["per_layer"]
    layers = [r["layer"] for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for key, style, label in (("pc1_valence_r", "o-", "PC1 vs valence"), ("pc2_arousal_r", "s-", "PC2 vs arousal"),
                              ("loo_valence_r", "o--", "valence from top-10 PCs (leave-one-out)"),
                              ("loo_arousal_r", "s--", "arousal from top-10 PCs (leave-one-out)")):
        ax.plot(layers, [abs(r.get(key) or 0) for r in rows], style, label=label, ms=4)
    ax.axhline(0.81, color="grey", ls="--", lw=0.8, label="paper PC1-valence 0.81 (human)")
    ax.axhline(0.66, color="grey", ls=":", lw=0.8, label="paper PC2-arousal 0.66 (human)")
    ax.set_ylim(0, 1)
    ax.set_xlabel("layer")
    ax.set_ylabel("|Pearson r| (judged ratings)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
    ax.grid(alpha=0.3)
    return _fig_to_img(fig, "geometry by layer")


def _plot_heatmap(m: dict[str, Any], figures: dict[str, Any]) -> str:
    plt = _plt()
    sim = np.asarray(figures["sim"])
    order = figures["order"]
    names = m["geometry"]["structure"]["order"]
    fig, ax = plt.subplots(figsize=(13, 12))
    im = ax.imshow(sim[np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=4)
    ax.set_yticks(range(len(names)), names, fontsize=4)
    fig.colorbar(im, ax=ax, shrink=0.6, label="cosine similarity")
    return _fig_to_img(fig, "cosine similarity of the emotion vectors, clustered")


def _plot_scenarios(m: dict[str, Any]) -> str:
    plt = _plt()
    imp = m["implicit_scenarios"]["kinds"]["z"]
    mat = np.asarray(imp["matrix"])
    labels = [f"{lab} ({t})" for lab, t in zip(m["implicit_scenarios"]["labels"], m["implicit_scenarios"]["targets"],
                                                 strict=True)]
    fig, ax = plt.subplots(figsize=(8, max(4, 0.22 * len(labels))))
    lim = float(np.nanmax(np.abs(mat))) or 1.0
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(imp["emotions"])), imp["emotions"], rotation=60, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    for r, t in enumerate(m["implicit_scenarios"]["targets"]):
        c = imp["emotions"].index(t)
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="black", lw=1))
    fig.colorbar(im, ax=ax, label="z vs neutral")
    return _fig_to_img(fig, "implicit scenarios x emotions")


def _plot_numeric(m: dict[str, Any]) -> str:
    plt = _plt()
    nu = m["numeric_intensity"]
    tr = nu["kinds"]["z"]["trends"]
    temps = nu["templates"]
    cols = 4
    rows = math.ceil(len(temps) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    colours = {"afraid": "#8e44ad", "happy": "#f39c12", "sad": "#2980b9", "calm": "#27ae60"}
    for ax, t in zip(axes.flat, temps, strict=False):
        for row in (x for x in tr if x["template"] == t["id"]):
            ax.plot(range(len(t["values"])), row["curve"], "o-", ms=3, color=colours.get(row["emotion"]),
                    label=f"{row['emotion']} {row['rho']:+.2f}{'' if row['sign_correct'] else ' x'}")
        ax.set_xticks(range(len(t["values"])), [f"{v:g}" for v in t["values"]], fontsize=6, rotation=45)
        ax.set_title(f"{t['id']} ({t['unit']})", fontsize=8)
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(temps):]:
        ax.axis("off")
    fig.tight_layout()
    return _fig_to_img(fig, "numeric intensity templates")


def _plot_auroc(m: dict[str, Any]) -> str:
    plt = _plt()
    vals = [v for v in m["heldout"]["default_layer"]["auroc"]["per_emotion"].values() if v is not None
            and math.isfinite(v)]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(vals, bins=20, color="#34495e")
    ax.axvline(0.5, color="grey", ls=":", label="chance 0.5")
    ax.set_xlabel("per-emotion AUROC (held-out)")
    ax.set_ylabel("emotions")
    ax.legend(fontsize=8)
    return _fig_to_img(fig, "per-emotion AUROC")


# ------------------------------------------------------------------------------------------------------ page

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left} th{background:#f5f5f5} td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777;font-size:.9em} img{max-width:100%} details{margin:.5em 0} code{background:#f4f4f4;padding:0 3px}
.good{color:#1e8449;font-weight:600} .bad{color:#b03a2e;font-weight:600} .cards{display:flex;flex-wrap:wrap;gap:.8em}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em .9em;min-width:180px}
.card b{font-size:1.4em;display:block}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _f(x: Any, d: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{d}f}" if isinstance(x, float) else str(x)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(
        f'<td class="n">{_e(_f(c))}</td>' if isinstance(c, int | float) else f"<td>{_e(c)}</td>" for c in r)
        + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def render_html(m: dict[str, Any], figures: dict[str, Any]) -> str:
    """The report page as a string (every image inline as a data URI; no network needed)."""
    h = m["heldout"]
    dl = h["default_layer"]
    lex = h["lexical_baseline"]
    choice = m["default_layer"]
    geo = m["geometry"]["judged"]
    g_def = next(r for r in geo["per_layer"] if r["layer"] == choice["chosen"])
    lens = m["logit_lens"]
    imp_z = m["implicit_scenarios"]["kinds"]["z"]
    imp_c = m["implicit_scenarios"]["kinds"]["cosine"]
    nz = m["numeric_intensity"]["kinds"]["z"]
    nc = m["numeric_intensity"]["kinds"]["cosine"]
    parts: list[str] = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>emoscope validation: "
                        f"{_e(m['model'])}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>Validation of the emotion vectors of <code>{_e(m['model'])}</code></h1>")
    parts.append(f"<p class='muted'>{m['n_emotions']} emotions x {len(m['layers'])} layers; model fingerprint "
                 f"{_e(m['model_fingerprint'])}; corpus {_e(m['corpus_sha256'][:16])}; made {_e(m['created'])}"
                 + (f"; command <code>{_e(m['command'])}</code>" if m.get("command") else "") + "</p>")
    cards = [
        ("held-out top-1", f"{dl['top1']:.3f}", f"chance {dl['chance_top1']:.3f}; words {lex['top1']:.3f}"),
        ("held-out top-5", f"{dl['top5']:.3f}", f"chance {dl['chance_top5']:.3f}; words {lex['top5']:.3f}"),
        ("mean AUROC", f"{dl['auroc']['mean']:.3f}", "chance 0.5"),
        ("PC1 ~ valence r", f"{g_def.get('pc1_valence_r', float('nan')):+.2f}", "paper 0.81 (human)"),
        ("PC2 ~ arousal r", f"{g_def.get('pc2_arousal_r', float('nan')):+.2f}", "paper 0.66 (human)"),
        ("scenarios on diagonal", f"{imp_z['diagonal_hits']} / {imp_z['n']}",
         f"chance {imp_z['chance_hits']:.1f}"),
        ("numeric sign-correct", f"{nz['sign_correct']} / {nz['n_trends']}",
         f"chance {nz['chance_sign_correct']:.0f}"),
        ("own word in top-20 logits", f"{lens['own_word_in_top']} / {lens['n']}",
         f"chance {lens['chance_expected']:.2f}"),
    ]
    parts.append("<div class='cards'>" + "".join(
        f"<div class='card'>{_e(a)}<b>{_e(b)}</b><span class='muted'>{_e(c)}</span></div>" for a, b, c in cards)
        + "</div>")
    parts.append(f"<p>Figures at the default layer <b>{choice['chosen']}</b> unless a plot sweeps layers. Layer i is "
                 "the residual stream after decoder block i (0-based).</p>")

    # default layer
    parts.append("<h2>Default layer</h2>")
    parts.append(f"<p>Rule: {_e(choice['rule'])}. Chosen: <b>layer {choice['chosen']}</b> (criterion "
                 f"{_f(choice.get('chosen_score'))}, held-out top-5 {_f(choice['chosen_top5'])}, top-1 "
                 f"{_f(choice['chosen_top1'])}); runner-up: layer {_e(choice['runner_up'])} (criterion "
                 f"{_f(choice.get('runner_up_score'))}, top-5 {_f(choice['runner_up_top5'])}, top-1 "
                 f"{_f(choice['runner_up_top1'])}). The bank's previous default was layer {choice['previous']}. "
                 "The criterion is plotted in section 1. Scenarios and templates that choose the layer are also "
                 "scored at it, so their figures at the default layer are slightly optimistic; the per-layer "
                 "tables show every layer.</p>")

    # held-out detection
    parts.append("<h2>1. Held-out detection</h2>")
    parts.append(f"<p>{h['n_stories']} stories on {len(h['heldout_topics'] or [])} topics that no training story "
                 f"used ({h['n_train_stories']} training stories built the vectors). Scoring: {_e(h['scoring'])}; "
                 f"{m['n_emotions']}-way. A TF-IDF nearest-centroid classifier on the same split is the lexical "
                 "baseline: it shows whether the vectors beat counting words.</p>")
    parts.append(_table(["", "top-1", "top-5", "mean rank"], [
        [f"vectors, layer {dl['layer']}", dl["top1"], dl["top5"], dl["mean_rank"]],
        ["TF-IDF words (baseline)", lex["top1"], lex["top5"], lex["mean_rank"]],
        ["chance", dl["chance_top1"], dl["chance_top5"], dl["chance_mean_rank"]]]))
    parts.append(_plot_sweep(m))
    au = dl["auroc"]
    parts.append(f"<p>Per-emotion AUROC (one emotion vs the rest, on its own score): mean <b>{au['mean']:.3f}</b> "
                 "(chance 0.5). Worst 10: " + ", ".join(f"{_e(e)} {v:.2f}" for e, v in au["worst10"]) + ".</p>")
    parts.append(_plot_auroc(m))
    sc_l = m["implicit_scenarios"]["per_layer"]
    nu_l = m["numeric_intensity"]["per_layer"]
    parts.append("<details><summary>Every layer</summary>" + _table(
        ["layer", "top-1", "top-5", "mean rank", "scenarios on diagonal", "numeric sign-correct",
         "default-layer criterion"],
        [[r["layer"], r["top1"], r["top5"], r["mean_rank"], f"{s['diagonal_hits']} / {s['n']}",
          f"{u['sign_correct']} / {u['n']}", r.get("score")] for r, s, u in zip(h["per_layer"], sc_l, nu_l,
                                                                                 strict=True)]) + "</details>")

    # learning curve
    parts.append("<h2>2. Learning curve</h2><p>Held-out detection at the default layer with vectors built from k "
                 "training stories per emotion (mean and spread over random draws), from cached activations. A "
                 "curve still rising at the right says more stories would still help.</p>")
    parts.append(_plot_curve(m))
    parts.append(_table(["stories per emotion", "draws", "top-1", "top-5"], [
        [str(p["stories_per_emotion"]), p["draws"], p["top1"], p["top5"]] for p in m["learning_curve"]["points"]]))

    # geometry
    parts.append("<h2>3. Geometry</h2>")
    parts.append(f"<p>PCA of the {m['n_emotions']} vectors (centred). Correlations use {_e(geo['source'])}, "
                 f"n = {geo['n_rated']} words; judged valence vs arousal r = {_f(geo['valence_arousal_r'], 2)} "
                 "(the paper: -0.02). The paper's anchors are against human ratings (PC1-valence 0.81, "
                 "PC2-arousal 0.66 on 45 words) and its model-judged ratings (0.92 / 0.90 vs humans).</p>")
    ex = g_def["explained"]
    parts.append(_table(["at layer", "PC1 var", "PC2 var", "PC3 var", "PC1~valence", "PC2~arousal", "PC3~arousal",
                         "PC2~valence"],
                        [[choice["chosen"], ex[0], ex[1], ex[2] if len(ex) > 2 else None,
                          g_def.get("pc1_valence_r"), g_def.get("pc2_arousal_r"), g_def.get("pc3_arousal_r"),
                          g_def.get("pc2_valence_r")]]))
    bv, ba = g_def.get("best_pc_valence", {}), g_def.get("best_pc_arousal", {})
    parts.append(f"<p>Among the top 10 components, valence is carried best by PC{bv.get('pc')} (r = "
                 f"{_f(bv.get('r'), 2)}) and arousal by PC{ba.get('pc')} (r = {_f(ba.get('r'), 2)}); a linear "
                 f"read-out of those 10 components predicts the valence of words it was not fitted on with r = "
                 f"{_f(g_def.get('loo_valence_r'), 2)} and arousal with r = {_f(g_def.get('loo_arousal_r'), 2)} "
                 "(leave-one-out).</p>")
    user = m["geometry"].get("user")
    if user:
        u = next(r for r in user["per_layer"] if r["layer"] == choice["chosen"])
        parts.append(f"<p>User norms ({_e(user['source'])}, n = {user['n_rated']}): PC1~valence "
                     f"{_f(u.get('pc1_valence_r'), 3)}, PC2~arousal {_f(u.get('pc2_arousal_r'), 3)}.</p>")
    parts.append(_plot_geo_layers(m))
    parts.append(_plot_pca(m, figures))
    parts.append("<h3>Cosine similarity, ordered by average-linkage clustering</h3>")
    parts.append(_plot_heatmap(m, figures))
    st = m["geometry"]["structure"]
    parts.append(f"<h3>k-means, k = {len(st['clusters'])}</h3>")
    parts.append(_table(["cluster", "size", "members"],
                        [[i + 1, len(c), ", ".join(c)] for i, c in enumerate(st["clusters"])]))
    parts.append("<details><summary>Nearest neighbours of every emotion (cosine)</summary>" + _table(
        ["emotion", "neighbours"],
        [[e, ", ".join(f"{n} {s:.2f}" for n, s in nb)] for e, nb in st["neighbours"].items()]) + "</details>")

    # logit lens
    parts.append("<h2>4. Logit lens</h2>")
    parts.append(f"<p>Each vector through the final norm and the unembedding ({lens['vocab']:,} tokens). "
                 f"<b>{lens['own_word_in_top']} of {lens['n']}</b> emotions find their own word's first sub-token "
                 f"(with or without a leading space) among their top {lens['window']} tokens; chance expects "
                 f"{lens['chance_expected']:.2f}. The reproduction criterion V1 asks for at least 20 of 171.</p>")
    picks = [e for e in ("happy", "sad", "afraid", "calm", "desperate", "angry", "loving", "proud", "guilty",
                         "nervous", "surprised", "inspired") if e in lens["per_emotion"]]
    parts.append(_table(["emotion", "top 10 tokens", "bottom 10 tokens", "own rank"],
                        [[e, " | ".join(lens["per_emotion"][e]["top"]), " | ".join(lens["per_emotion"][e]["bottom"]),
                          lens["per_emotion"][e]["own_rank"]] for e in picks]))
    parts.append("<details><summary>All emotions</summary>" + _table(
        ["emotion", "top 10 tokens", "bottom 10 tokens", "own rank"],
        [[e, " | ".join(d["top"]), " | ".join(d["bottom"]), d["own_rank"]] for e, d in lens["per_emotion"].items()])
        + "</details>")
    parts.append("<details><summary>Own word in top 20, by layer</summary>" + _table(
        ["layer", "emotions"], [[r["layer"], r["own_word_in_top"]] for r in lens["per_layer"]]) + "</details>")

    # implicit scenarios
    isc = m["implicit_scenarios"]
    parts.append("<h2>5. Implicit scenarios</h2>")
    parts.append(f"<p>{imp_z['n']} user messages ({_e(isc['source'])}) that imply an emotion without naming it, read "
                 "at the start of the Assistant turn (the last token of the chat template's generation prompt). "
                 f"Among the {len(imp_z['emotions'])} scenario emotions and among all {m['n_emotions']}.</p>")
    parts.append(_table(["score", "on diagonal", "chance", "mean rank in set", "chance", "mean rank of all",
                         "chance", "in top 5 of all"],
                        [[k, d["diagonal_hits"], d["chance_hits"], d["mean_rank_in_set"], d["chance_rank_in_set"],
                          d["mean_rank_all"], d["chance_rank_all"], d["top5_all"]] for k, d in
                         (("z vs neutral", imp_z), ("cosine (the paper's)", imp_c))]))
    parts.append("<p class='muted'>Reproduction criteria for the paper's 12 scenarios: V3 at least 8 of 12 on the "
                 "diagonal, V4 mean rank at most 3 among 12. Run <code>emoscope validate --scenarios FILE</code> "
                 "with a TSV in the paper's form to compare.</p>")
    parts.append(_plot_scenarios(m))

    # numeric
    parts.append("<h2>6. Numeric intensity</h2>")
    parts.append(f"<p>{len(m['numeric_intensity']['templates'])} templates in which only a number changes, read at "
                 "the start of the Assistant turn for afraid, happy, sad and calm; Spearman rho along the number "
                 "against the expected direction.</p>")
    parts.append(_table(["score", "trends", "sign-correct", "chance", "sign-correct and abs(rho) > 0.7",
                         "abs(rho) > 0.7 (any sign)", "chance"],
                        [[k, d["n_trends"], d["sign_correct"], d["chance_sign_correct"], d["strong_correct"],
                          d["strong_any"], d["chance_strong_any"]] for k, d in
                         (("z vs neutral", nz), ("cosine", nc))]))
    parts.append("<p class='muted'>Reproduction criteria (24 trends): V5 at least 17 sign-correct, V6 at least 12 "
                 "with abs(rho) > 0.7. An x in a legend marks a wrong sign.</p>")
    parts.append(_plot_numeric(m))

    # anchors
    parts.append("<h2>Anchors</h2>" + _table(["figure", "value", "source"], [
        [k, v["value"], v["source"]] for k, v in m["anchors"].items()]))
    parts.append("<p class='muted'>Every figure above is in <code>metrics.json</code> beside this page.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
