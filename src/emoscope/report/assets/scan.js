"use strict";
// The scan page: the emotions' table (click a header to sort, a row to show), a histogram, the top snippets.
// Every name and text from the data is escaped with esc() before it goes into HTML.
const D = JSON.parse(document.getElementById("data").textContent);
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
$("rows").addEventListener("click", (ev) => { const tr = ev.target.closest("tr"); if (tr) show(+tr.dataset.i); });
document.querySelectorAll("th").forEach(th => th.addEventListener("click", () => { sortKey = th.dataset.k; rows(); }));
const start = D.emotions.map((e, i) => [e.max ?? -1e9, i]).sort((a, b) => b[0] - a[0])[0][1];
show(D.focus ?? start);
document.body.dataset.ready = "1";
