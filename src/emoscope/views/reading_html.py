"""A self-contained HTML page of readings (no network, no external files).

Each token is tinted by the chosen emotion, red for positive and blue for negative, full colour at the 99th
percentile of absolute score over the counted tokens of that text (as in the paper). Hovering a token shows its
top 5 emotions; a picker chooses the emotion; a line plot follows chosen emotions along the text; several texts
get a text picker. Tokens of roles that do not count, and the first token (no context, an attention sink), are
shown grey and left out of the scale.

Example:
    >>> html = reading_html([reading], title="My chat")  # doctest: +SKIP
    >>> Path("reading.html").write_text(html)  # doctest: +SKIP
"""

from __future__ import annotations

import html as html_lib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from emoscope.readings import Reading
from emoscope.views.terminal import strongest

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{padding:14px 22px;background:#fff;border-bottom:1px solid #e3e6ea;position:sticky;top:0;z-index:2}
h1{font-size:18px;margin:0 0 6px}
.meta{color:#5b6473;font-size:13px}
.controls{display:flex;gap:18px;align-items:center;flex-wrap:wrap;margin-top:8px;font-size:14px}
.controls select{font:inherit;padding:2px 4px}
main{padding:16px 22px;max-width:1100px}
#text{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:14px 16px;white-space:pre-wrap;
 font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:14px;line-height:1.9}
.tok{border-radius:2px;cursor:default}
.tok.off{color:#9aa1ad}
.tok.hl{outline:2px solid #1d2330}
.turn{display:block;margin-top:8px;font:600 12px system-ui,sans-serif;color:#5b6473;text-transform:uppercase}
#tip{position:fixed;display:none;background:#1d2330;color:#fff;padding:8px 10px;border-radius:6px;font-size:13px;
 pointer-events:none;z-index:5;min-width:180px;box-shadow:0 4px 14px rgba(0,0,0,.25)}
#tip table{border-collapse:collapse}#tip td{padding:1px 6px 1px 0}#tip td.v{text-align:right}
#tip .head{color:#b9c2d0;margin-bottom:4px}
.legend{display:inline-flex;align-items:center;gap:6px;font-size:13px;color:#5b6473}
.bar{width:120px;height:10px;border-radius:2px;background:linear-gradient(90deg,#2626ff,#fff,#ff2626)}
#plotbox{margin-top:18px;background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px 12px}
#plot text{font:11px system-ui,sans-serif;fill:#5b6473}
#plotlegend span{margin-right:14px;font-size:13px}
#plotpick{min-width:220px}
</style></head><body>
<header><h1>__TITLE__</h1><div class="meta" id="meta"></div>
<div class="controls">
 <label id="itemlabel">text <select id="item"></select></label>
 <label>tint by <select id="emotion"></select></label>
 <span class="legend"><span id="lo"></span><span class="bar"></span><span id="hi"></span></span>
</div></header>
<main>
<div id="text"></div>
<div id="plotbox"><div class="controls" style="margin:0 0 6px">
 <label>plot <select id="plotpick" multiple size="4"></select></label>
 <span class="meta">ctrl/cmd-click to choose several; hover a token for its top 5 emotions</span></div>
 <div id="plotlegend"></div><svg id="plot" width="1000" height="230" role="img"></svg></div>
</main>
<div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const COLORS = ["#d62728","#1f77b4","#2ca02c","#9467bd","#ff7f0e","#8c564b","#e377c2","#17becf"];
const $ = (id) => document.getElementById(id);
let item = 0;
function counted(it, t) {
  if (t === 0 && it.tokens.length > 1) return false;  // the first token carries no context (attention sink)
  return !it.roles || D.roles === null || D.roles.includes(it.roles[t]);
}
function series(it, e) { return it.scores.map(r => r[e]); }
function scaleOf(it, e) {
  const v = [];
  it.scores.forEach((r, t) => { if (counted(it, t) && isFinite(r[e])) v.push(Math.abs(r[e])); });
  if (!v.length) return 1;
  v.sort((a, b) => a - b);
  const pos = 0.99 * (v.length - 1), lo = Math.floor(pos), hi = Math.ceil(pos);
  return Math.max(v[lo] + (v[hi] - v[lo]) * (pos - lo), 1e-9);
}
function colour(v, s) {
  const a = Math.min(Math.abs(v) / s, 1), f = Math.round(255 * (1 - 0.85 * a));
  return v >= 0 ? `rgb(255,${f},${f})` : `rgb(${f},${f},255)`;
}
function top5(row) {
  return row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
}
function fill(sel, names, chosen) {
  sel.innerHTML = "";
  names.forEach((n, i) => { const o = document.createElement("option"); o.value = i; o.textContent = n;
    o.selected = chosen.includes(i); sel.appendChild(o); });
}
function renderText() {
  const it = D.items[item], e = +$("emotion").value, s = scaleOf(it, e), box = $("text");
  box.innerHTML = "";
  $("lo").textContent = (-s).toFixed(2); $("hi").textContent = "+" + s.toFixed(2);
  let turn = null;
  it.tokens.forEach((tok, t) => {
    if (it.turns && it.turns[t] !== turn) {
      turn = it.turns[t];
      const h = document.createElement("span"); h.className = "turn"; h.textContent = it.roles[t];
      box.appendChild(h);
    }
    const sp = document.createElement("span");
    sp.className = "tok"; sp.textContent = tok; sp.dataset.t = t;
    if (counted(it, t)) sp.style.background = colour(it.scores[t][e], s); else sp.classList.add("off");
    box.appendChild(sp);
  });
}
function renderPlot() {
  const it = D.items[item], svg = $("plot"), W = svg.clientWidth || 1000, H = 230, L = 40, R = 10, T = 10, B = 24;
  const chosen = Array.from($("plotpick").selectedOptions).map(o => +o.value);
  const n = it.tokens.length;
  let lo = 0, hi = 0;
  chosen.forEach(e => series(it, e).forEach((v, t) => {
    if (counted(it, t) && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }));
  if (hi - lo < 1e-9) { hi = 1; lo = -1; }
  let a = 0, b = n - 1;  // the plot spans the counted tokens
  while (a < n - 1 && !counted(it, a)) a++;
  while (b > a && !counted(it, b)) b--;
  const x = (t) => L + (W - L - R) * (b > a ? (t - a) / (b - a) : 0.5), y = (v) => T + (H - T - B) * (hi - v) / (hi - lo);
  const parts = [`<line x1="${L}" x2="${W - R}" y1="${y(0)}" y2="${y(0)}" stroke="#c9ced6"/>`,
    `<text x="4" y="${y(hi) + 4}">${hi.toFixed(1)}</text>`, `<text x="4" y="${y(lo)}">${lo.toFixed(1)}</text>`,
    `<text x="4" y="${y(0) + 4}">0</text>`, `<text x="${L}" y="${H - 6}">token ${a}</text>`,
    `<text x="${W - R - 60}" y="${H - 6}">token ${b}</text>`];
  if (it.turns) it.turns.forEach((tr, t) => { if (t > a && t <= b && tr !== it.turns[t - 1])
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${T}" y2="${H - B}" stroke="#e3e6ea" stroke-dasharray="3,3"/>`); });
  const legend = [];
  chosen.forEach((e, k) => {
    const c = COLORS[k % COLORS.length];
    let d = "", pen = "M";  // uncounted tokens are gaps in the line
    series(it, e).forEach((v, t) => {
      if (!counted(it, t) || !isFinite(v)) { pen = "M"; return; }
      d += `${pen}${x(t).toFixed(1)},${y(v).toFixed(1)} `; pen = "L";
    });
    parts.push(`<path class="line" data-emotion="${D.emotions[e]}" fill="none" stroke="${c}" stroke-width="1.6" d="${d}"/>`);
    legend.push(`<span style="color:${c}">&#9632; ${D.emotions[e]}</span>`);
  });
  parts.push(`<line id="cursor" x1="0" x2="0" y1="${T}" y2="${H - B}" stroke="#1d2330" visibility="hidden"/>`);
  svg.innerHTML = parts.join("");
  $("plotlegend").innerHTML = legend.join("");
  svg.dataset.x = JSON.stringify([L, W - R, a, b]);
}
function showTip(ev) {
  const sp = ev.target.closest(".tok"); if (!sp) return;
  const it = D.items[item], t = +sp.dataset.t, tip = $("tip");
  const rows = top5(it.scores[t]).map(([v, i]) =>
    `<tr><td>${D.emotions[i]}</td><td class="v">${v >= 0 ? "+" : ""}${v.toFixed(2)}</td></tr>`).join("");
  const who = it.roles ? ` · ${it.roles[t]}` : "";
  tip.innerHTML = `<div class="head">token ${t}${who}: ${JSON.stringify(it.tokens[t]).replace(/</g, "&lt;")}</div><table>${rows}</table>`;
  tip.style.display = "block";
  tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 220) + "px";
  tip.style.top = (ev.clientY + 14) + "px";
  document.querySelectorAll(".tok.hl").forEach(s => s.classList.remove("hl")); sp.classList.add("hl");
  const [x0, x1, a, b] = JSON.parse($("plot").dataset.x || "[0,0,0,0]"), c = $("cursor");
  if (c && t >= a && t <= b) { const cx = x0 + (x1 - x0) * (b > a ? (t - a) / (b - a) : 0.5);
    c.setAttribute("x1", cx); c.setAttribute("x2", cx); c.setAttribute("visibility", "visible"); }
  else if (c) c.setAttribute("visibility", "hidden");
}
function hideTip() { $("tip").style.display = "none"; }
function init() {
  const meta = [`model ${D.model}`, `layer ${D.layer}`, `${D.kind === "z" ? "z-scores against the neutral baseline" : D.kind}`];
  if (D.roles) meta.push(`counting ${D.roles.join(", ")} tokens`);
  $("meta").textContent = meta.join(" · ");
  const itemSel = $("item");
  D.items.forEach((it, i) => { const o = document.createElement("option"); o.value = i; o.textContent = it.title; itemSel.appendChild(o); });
  if (D.items.length < 2) $("itemlabel").style.display = "none";
  fill($("emotion"), D.emotions, [D.tint]);
  fill($("plotpick"), D.emotions, D.plot);
  itemSel.onchange = () => { item = +itemSel.value; renderText(); renderPlot(); };
  $("emotion").onchange = renderText;
  $("plotpick").onchange = renderPlot;
  $("text").addEventListener("mouseover", showTip);
  $("text").addEventListener("mouseleave", hideTip);
  renderText(); renderPlot();
  document.body.dataset.ready = "1";
}
init();
</script></body></html>
"""


def reading_html(readings: Sequence[Reading], title: str = "emoscope reading", model: str = "",
                 tint: str | None = None, plot: Sequence[str] = (), roles: Sequence[str] | None = None,
                 titles: Sequence[str] | None = None, decimals: int = 3) -> str:
    """The page as a string. ``tint``: the emotion to colour by (default: the strongest on the first text);
    ``plot``: emotions drawn in the line plot (default: the three strongest on the first text); ``roles``:
    the roles whose tokens count (default: all)."""
    if not readings:
        raise ValueError("nothing to show: no readings")
    first = readings[0]
    names = first.emotions
    keep = first.keep(roles)
    peak = (first.scores[keep] if keep.any() else first.scores).max(0)
    tint_name = tint or strongest(first, roles)
    plot_names = list(plot) or [names[i] for i in np.argsort(-peak)[:3]]
    for n in [tint_name, *plot_names]:
        if n not in names:
            raise ValueError(f"unknown emotion {n!r}")
    items: list[dict[str, Any]] = []
    for i, r in enumerate(readings):
        d: dict[str, Any] = {"title": titles[i] if titles else f"text {i + 1}", "tokens": r.tokens,
                             "roles": r.roles, "turns": r.turns,
                             "scores": np.round(np.nan_to_num(r.scores), decimals).tolist()}
        items.append(d)
    data = {"model": model, "layer": first.layer, "kind": first.kind, "emotions": names,
            "roles": list(roles) if roles else None, "tint": names.index(tint_name),
            "plot": [names.index(n) for n in plot_names], "items": items}
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _PAGE.replace("__TITLE__", html_lib.escape(title)).replace("__DATA__", blob)
