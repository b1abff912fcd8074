"""The validation page's figures (matplotlib, inline PNG data URIs), drawn from ``metrics.json``'s content.

Example:
    >>> uris = validation_figures(metrics, figures)  # doctest: +SKIP
    >>> uris["sweep"].startswith("data:image/png;base64,")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from emoscope.report.figures import figure_uri, pyplot


def validation_figures(m: dict[str, Any], figures: dict[str, Any]) -> dict[str, str]:
    """Every figure of the validation page by name (data URIs); ``figures`` holds the arrays ``metrics`` lacks
    (``sim``, ``order``, ``pca_default``).

    Example:
        >>> sorted(validation_figures(metrics, figures))  # doctest: +SKIP
        ['auroc', 'curve', 'geo_layers', 'heatmap', 'numeric', 'pca', 'scenarios', 'sweep']
    """
    return {"sweep": _plot_sweep(m), "auroc": _plot_auroc(m), "curve": _plot_curve(m),
            "geo_layers": _plot_geo_layers(m), "pca": _plot_pca(m, figures), "heatmap": _plot_heatmap(m, figures),
            "scenarios": _plot_scenarios(m), "numeric": _plot_numeric(m)}


def _plot_sweep(m: dict[str, Any]) -> str:
    plt = pyplot()
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
    return figure_uri(fig)


def _plot_curve(m: dict[str, Any]) -> str:
    plt = pyplot()
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
    return figure_uri(fig)


def _plot_pca(m: dict[str, Any], figures: dict[str, Any]) -> str:
    plt = pyplot()
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
    return figure_uri(fig)


def _plot_geo_layers(m: dict[str, Any]) -> str:
    plt = pyplot()
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
    return figure_uri(fig)


def _plot_heatmap(m: dict[str, Any], figures: dict[str, Any]) -> str:
    plt = pyplot()
    sim = np.asarray(figures["sim"])
    order = figures["order"]
    names = m["geometry"]["structure"]["order"]
    fig, ax = plt.subplots(figsize=(13, 12))
    im = ax.imshow(sim[np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=4)
    ax.set_yticks(range(len(names)), names, fontsize=4)
    fig.colorbar(im, ax=ax, shrink=0.6, label="cosine similarity")
    return figure_uri(fig)


def _plot_scenarios(m: dict[str, Any]) -> str:
    plt = pyplot()
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
    return figure_uri(fig)


def _plot_numeric(m: dict[str, Any]) -> str:
    plt = pyplot()
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
    return figure_uri(fig)


def _plot_auroc(m: dict[str, Any]) -> str:
    plt = pyplot()
    vals = [v for v in m["heldout"]["default_layer"]["auroc"]["per_emotion"].values() if v is not None
            and math.isfinite(v)]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(vals, bins=20, color="#34495e")
    ax.axvline(0.5, color="grey", ls=":", label="chance 0.5")
    ax.set_xlabel("per-emotion AUROC (held-out)")
    ax.set_ylabel("emotions")
    ax.legend(fontsize=8)
    return figure_uri(fig)
