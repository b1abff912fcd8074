"""A self-contained HTML page of a dataset scan: per emotion, the top snippets (peak token marked) and the
distribution of per-token scores, with a table of all emotions to choose from.

Example:
    >>> Path("scan.html").write_text(scan_html(result.to_dict()))  # doctest: +SKIP
"""

from __future__ import annotations

import html as html_lib
import json
from typing import Any

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{padding:14px 22px;background:#fff;border-bottom:1px solid #e3e6ea}
h1{font-size:18px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 8px}
.meta{color:#5b6473;font-size:13px}
main{display:grid;grid-template-columns:330px 1fr;gap:22px;padding:16px 22px}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px 12px}
#list{max-height:80vh;overflow:auto}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:2px 6px;text-align:right}
th:first-child,td:first-child{text-align:left}th{color:#5b6473;font-weight:600;cursor:pointer;position:sticky;top:0;background:#fff}
tr.row{cursor:pointer}tr.row:hover{background:#f1f4f8}tr.sel{background:#e3ecfb}
.snip{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13.5px;white-space:pre-wrap;
 border-bottom:1px solid #eef0f3;padding:8px 0}
.snip mark{background:#ff5a5a;color:#fff;border-radius:2px;padding:0 1px}
.snip .score{font:600 12px system-ui,sans-serif;color:#5b6473;margin-right:8px}
#hist rect{fill:#7b93c9}#hist text{font:11px system-ui,sans-serif;fill:#5b6473}
</style></head><body>
<header><h1>__TITLE__</h1><div class="meta" id="meta"></div></header>
<main>
<div class="card" id="list"><table><thead><tr><th data-k="emotion">emotion</th><th data-k="max">max</th>
<th data-k="p99">p99</th><th data-k="mean">mean</th></tr></thead><tbody id="rows"></tbody></table></div>
<div>
<div class="card"><h2 id="name"></h2><div class="meta" id="stats"></div>
<svg id="hist" width="760" height="170" role="img"></svg></div>
<div class="card" style="margin-top:16px"><h2>Top snippets (peak token marked)</h2><div id="snips"></div></div>
</div></main>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const $ = (id) => document.getElementById(id);
const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const f = (v) => v === null ? "–" : (v >= 0 ? "+" : "") + v.toFixed(2);
let sortKey = "max", current = 0;
function rows() {
  const order = D.emotions.map((e, i) => i).sort((a, b) => {
    const x = D.emotions[a][sortKey], y = D.emotions[b][sortKey];
    return sortKey === "emotion" ? (x < y ? -1 : 1) : (y ?? -1e9) - (x ?? -1e9);
  });
  $("rows").innerHTML = order.map(i => { const e = D.emotions[i];
    return `<tr class="row${i === current ? " sel" : ""}" data-i="${i}"><td>${esc(e.emotion)}</td><td>${f(e.max)}</td><td>${f(e.p99)}</td><td>${f(e.mean)}</td></tr>`; }).join("");
}
function show(i) {
  current = i; const e = D.emotions[i];
  $("name").textContent = e.emotion;
  const base = D.kind === "z" ? " · on the neutral dialogues the bank was built with: mean 0, spread 1 (z-scores)" : "";
  $("stats").textContent = `per-token ${D.kind}: mean ${f(e.mean)}, spread ${e.std.toFixed(2)}, median ${f(e.p50)}, 99th percentile ${f(e.p99)}, highest peak ${f(e.max)}${base}`;
  const svg = $("hist"), W = 760, H = 170, B = 20, n = e.counts.length, mx = Math.max(...e.counts, 1);
  const lo = D.bin_edges[0], hi = D.bin_edges[D.bin_edges.length - 1], x = (v) => 30 + (W - 40) * (v - lo) / (hi - lo);
  let parts = e.counts.map((c, k) => { const h = (H - B - 10) * c / mx;
    return `<rect x="${x(D.bin_edges[k]).toFixed(1)}" y="${(H - B - h).toFixed(1)}" width="${Math.max(x(D.bin_edges[k + 1]) - x(D.bin_edges[k]) - 1, 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${D.bin_edges[k].toFixed(2)} to ${D.bin_edges[k + 1].toFixed(2)}: ${c} tokens</title></rect>`; });
  parts.push(`<line x1="${x(0)}" x2="${x(0)}" y1="0" y2="${H - B}" stroke="#1d2330" stroke-dasharray="3,3"/>`);
  parts.push(`<text x="${x(lo)}" y="${H - 4}">${lo.toFixed(1)}</text><text x="${x(0) - 3}" y="${H - 4}">0</text><text x="${x(hi) - 24}" y="${H - 4}">${hi.toFixed(1)}</text>`);
  svg.innerHTML = parts.join("");
  $("snips").innerHTML = e.top.length ? e.top.map(s => `<div class="snip"><span class="score">${f(s.score)} · ${esc(String(s.id))} · token ${s.token}</span>${esc(s.before)}<mark>${esc(s.peak)}</mark>${esc(s.after)}</div>`).join("") : "<p class='meta'>no texts</p>";
  rows();
}
$("meta").textContent = `model ${D.model} · layer ${D.layer} · ${D.texts} texts, ${D.tokens} tokens` + (D.truncated_texts ? ` (${D.truncated_texts} cut at the token limit)` : "") + " · values outside the histogram's range are counted in its end bins";
$("rows").addEventListener("click", (ev) => { const tr = ev.target.closest("tr"); if (tr) show(+tr.dataset.i); });
document.querySelectorAll("th").forEach(th => th.addEventListener("click", () => { sortKey = th.dataset.k; rows(); }));
const start = D.emotions.map((e, i) => [e.max ?? -1e9, i]).sort((a, b) => b[0] - a[0])[0][1];
show(D.focus ?? start);
document.body.dataset.ready = "1";
</script></body></html>
"""


def scan_html(data: dict[str, Any], title: str = "emoscope scan", focus: str | None = None) -> str:
    """The page for :meth:`emoscope.scan.ScanResult.to_dict` output; ``focus`` is the emotion shown first."""
    d = dict(data)
    if focus is not None:
        names = [e["emotion"] for e in d["emotions"]]
        if focus not in names:
            raise ValueError(f"unknown emotion {focus!r}")
        d["focus"] = names.index(focus)
    blob = json.dumps(d, separators=(",", ":")).replace("</", "<\\/")
    return _PAGE.replace("__TITLE__", html_lib.escape(title)).replace("__DATA__", blob)
