"use strict";
// The reading page: tint the text by one emotion, a tooltip of a token's top 5, a line plot of chosen emotions.
// Every name and token from the data is put in the page as text or escaped with esc().
const D = JSON.parse(document.getElementById("data").textContent);
const COLORS = ["#d62728","#1f77b4","#2ca02c","#9467bd","#ff7f0e","#8c564b","#e377c2","#17becf"];
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
    const c = COLORS[k % COLORS.length], name = esc(D.emotions[e]);
    let d = "", pen = "M";  // uncounted tokens are gaps in the line
    series(it, e).forEach((v, t) => {
      if (!counted(it, t) || !isFinite(v)) { pen = "M"; return; }
      d += `${pen}${x(t).toFixed(1)},${y(v).toFixed(1)} `; pen = "L";
    });
    parts.push(`<path class="line" data-emotion="${name}" fill="none" stroke="${c}" stroke-width="1.6" d="${d}"/>`);
    legend.push(`<span style="color:${c}">&#9632; ${name}</span>`);
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
    `<tr><td>${esc(D.emotions[i])}</td><td class="v">${v >= 0 ? "+" : ""}${v.toFixed(2)}</td></tr>`).join("");
  const who = it.roles ? ` · ${esc(it.roles[t])}` : "";
  tip.innerHTML = `<div class="head">token ${t}${who}: ${esc(JSON.stringify(it.tokens[t]))}</div><table>${rows}</table>`;
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
