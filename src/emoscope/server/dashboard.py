"""The dashboard served at ``/``: read a text as a token heatmap, chat with live gauges and steering sliders,
explore the bank's map. One self-contained page (no assets fetched from the internet) talking to the API.

Example:
    >>> html = dashboard_html("HuggingFaceTB/SmolLM2-135M-Instruct", 21, report=True)  # doctest: +SKIP
"""

from __future__ import annotations

import html as html_lib
import json

STEERABLE = ("calm", "desperate", "happy", "afraid", "loving")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>emoscope</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#fff;border-bottom:1px solid #e3e6ea;padding:10px 20px;display:flex;gap:22px;align-items:center}
header h1{font-size:18px;margin:0}.meta{color:#5b6473;font-size:13px}
nav button{font:inherit;border:0;background:none;padding:6px 10px;border-radius:5px;cursor:pointer;color:#5b6473}
nav button.on{background:#e3ecfb;color:#1d2330}
section{display:none;padding:16px 20px;max-width:1150px}section.on{display:block}
textarea,input[type=text]{font:inherit;width:100%;box-sizing:border-box;border:1px solid #ccd2da;border-radius:6px;padding:8px}
button.go{font:inherit;background:#2f6fdf;color:#fff;border:0;border-radius:6px;padding:6px 14px;cursor:pointer;margin-top:6px}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:12px 14px;margin-top:12px}
#read-out{white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:14px;line-height:1.9}
.tok{border-radius:2px}.tok.off{color:#9aa1ad}
#tip{position:fixed;display:none;background:#1d2330;color:#fff;padding:8px 10px;border-radius:6px;font-size:13px;pointer-events:none;z-index:5}
#chat-wrap{display:grid;grid-template-columns:1fr 300px;gap:18px}
#chat-log{min-height:240px;max-height:60vh;overflow:auto}
.msg{margin:6px 0;padding:8px 10px;border-radius:8px;white-space:pre-wrap}.msg.user{background:#e3ecfb}.msg.assistant{background:#f1f2f4}
.gauge{margin:6px 0}.gauge .track{position:relative;height:10px;background:#eef0f3;border-radius:5px}
.gauge .bar{position:absolute;top:0;height:10px;border-radius:5px}.gauge .zero{position:absolute;left:50%;top:-2px;width:1px;height:14px;background:#9aa1ad}
.slider{width:100%}.row{display:flex;justify-content:space-between;font-size:13px}
.alert{color:#b03a2e;font-size:13px}
#map text{font:10px system-ui,sans-serif;fill:#5b6473}#map circle{cursor:pointer}
</style></head><body>
<header><h1>emoscope</h1><span class="meta">__MODEL__ · readings at layer __LAYER__ (z against neutral text)</span>
<nav><button data-tab="read" class="on">Read</button><button data-tab="chat">Chat</button><button data-tab="explore">Explore</button>__REPORT__</nav></header>
<section id="tab-read" class="on">
<textarea id="read-text" rows="4" placeholder="Paste a text to read">I have applied to sixty jobs and heard nothing back. Rent is due on Friday.</textarea>
<button class="go" id="read-go">Read</button>
<label class="meta" style="margin-left:12px">tint by <select id="emotion"></select></label>
<div class="card"><div id="read-out" class="meta">Readings appear here; hover a token for its top 5 emotions.</div></div>
</section>
<section id="tab-chat"><div id="chat-wrap"><div>
<div class="card" id="chat-log"></div>
<input type="text" id="chat-input" placeholder="Write a message and press Enter">
<button class="go" id="chat-send">Send</button> <button class="go" id="chat-reset" style="background:#5b6473">New chat</button>
<div id="alerts"></div></div>
<div><div class="card"><b>Readings</b> <span class="meta">(z, this token)</span><div id="gauges"></div></div>
<div class="card"><b>Steer the next reply</b> <span class="meta">(paper units)</span><div id="sliders"></div></div></div></div>
</section>
<section id="tab-explore"><div class="card"><div class="meta" id="map-meta"></div>
<svg id="map" width="1000" height="600"></svg><div id="near" class="meta">Click an emotion for its nearest neighbours.</div></div></section>
<div id="tip"></div>
<script id="config" type="application/json">__CONFIG__</script>
<script>
"use strict";
const C = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
let EMOTIONS = [], reading = null, history = [];
const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
document.querySelectorAll("nav button[data-tab]").forEach(b => b.onclick = () => {
  document.querySelectorAll("nav button").forEach(x => x.classList.toggle("on", x === b));
  document.querySelectorAll("section").forEach(s => s.classList.toggle("on", s.id === "tab-" + b.dataset.tab));
  if (b.dataset.tab === "explore") drawMap();
});
function colour(v, s) { const a = Math.min(Math.abs(v) / s, 1), f = Math.round(255 * (1 - 0.85 * a));
  return v >= 0 ? `rgb(255,${f},${f})` : `rgb(${f},${f},255)`; }
function scaleOf(e) { const v = reading.scores.slice(1).map(r => Math.abs(r[e])).sort((a, b) => a - b);
  if (!v.length) return 1; return Math.max(v[Math.floor(0.99 * (v.length - 1))], 1e-9); }
function renderRead() {
  if (!reading) return;
  const e = +$("emotion").value, s = scaleOf(e), box = $("read-out");
  box.innerHTML = ""; box.classList.remove("meta");
  reading.tokens.forEach((t, i) => { const sp = document.createElement("span"); sp.className = "tok"; sp.textContent = t;
    sp.dataset.t = i; if (i === 0 && reading.tokens.length > 1) sp.classList.add("off"); else sp.style.background = colour(reading.scores[i][e], s);
    box.appendChild(sp); });
}
$("read-out").addEventListener("mouseover", (ev) => { const sp = ev.target.closest(".tok"); if (!sp || !reading) return;
  const t = +sp.dataset.t, row = reading.scores[t], top = row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
  const tip = $("tip"); tip.innerHTML = `<div>token ${t}: ${esc(JSON.stringify(reading.tokens[t]))}</div>` +
    top.map(([v, i]) => `<div>${EMOTIONS[i]} ${v >= 0 ? "+" : ""}${v.toFixed(2)}</div>`).join("");
  tip.style.display = "block"; tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 14) + "px"; });
$("read-out").addEventListener("mouseleave", () => $("tip").style.display = "none");
$("emotion").onchange = renderRead;
$("read-go").onclick = async () => {
  $("read-out").textContent = "reading…";
  const r = await fetch("/v1/read", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({text: $("read-text").value, scores: true})});
  const d = await r.json();
  if (!r.ok) { $("read-out").textContent = d.error.message; return; }
  reading = d;
  if ($("emotion").dataset.auto !== "0") {  // tint by the strongest emotion of this text
    let best = 0, bv = -1e9; d.scores.slice(1).forEach(row => row.forEach((v, i) => { if (v > bv) { bv = v; best = i; } }));
    $("emotion").value = best;
  }
  renderRead();
};
$("emotion").addEventListener("change", () => $("emotion").dataset.auto = "0");
// ---- chat
C.steerable.forEach(e => {
  $("gauges").insertAdjacentHTML("beforeend", `<div class="gauge" data-emotion="${e}"><div class="row"><span>${e}</span><span class="val">0.00</span></div><div class="track"><div class="zero"></div><div class="bar"></div></div></div>`);
  $("sliders").insertAdjacentHTML("beforeend", `<div><div class="row"><span>${e}</span><span class="sv" data-emotion="${e}">0.00</span></div><input class="slider" type="range" min="-0.2" max="0.2" step="0.01" value="0" data-emotion="${e}"></div>`);
});
document.querySelectorAll(".slider").forEach(s => s.oninput = () =>
  document.querySelector(`.sv[data-emotion="${s.dataset.emotion}"]`).textContent = (+s.value).toFixed(2));
function setGauge(e, v) {
  const g = document.querySelector(`.gauge[data-emotion="${e}"]`); if (!g) return;
  g.querySelector(".val").textContent = (v >= 0 ? "+" : "") + v.toFixed(2);
  const bar = g.querySelector(".bar"), w = Math.min(Math.abs(v) / 4, 1) * 50;
  bar.style.left = (v >= 0 ? 50 : 50 - w) + "%"; bar.style.width = w + "%"; bar.style.background = v >= 0 ? "#e05252" : "#5271e0";
  g.dataset.value = v;
}
function addMsg(role, text) { const d = document.createElement("div"); d.className = "msg " + role; d.textContent = text;
  $("chat-log").appendChild(d); $("chat-log").scrollTop = 1e9; return d; }
$("chat-reset").onclick = () => { history = []; $("chat-log").innerHTML = ""; $("alerts").innerHTML = ""; };
async function send() {
  const text = $("chat-input").value.trim(); if (!text) return;
  $("chat-input").value = ""; history.push({role: "user", content: text}); addMsg("user", text);
  const steer = {}; document.querySelectorAll(".slider").forEach(s => { if (+s.value !== 0) steer[s.dataset.emotion] = +s.value; });
  const out = addMsg("assistant", "");
  const r = await fetch("/v1/chat/completions", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({messages: history, stream: true, max_tokens: C.max_tokens,
                          emoscope: {steer, monitor: C.steerable, alerts: C.alerts}})});
  if (!r.ok) { out.textContent = (await r.json()).error.message; return; }
  const reader = r.body.getReader(), dec = new TextDecoder(); let buf = "", reply = "";
  for (;;) {
    const {value, done} = await reader.read(); if (done) break;
    buf += dec.decode(value, {stream: true});
    let k; while ((k = buf.indexOf("\\n\\n")) >= 0) {
      const line = buf.slice(0, k).trim(); buf = buf.slice(k + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const d = JSON.parse(line.slice(6)), delta = d.choices[0].delta.content || "";
      reply += delta; out.textContent = reply;
      const em = d.emoscope; if (em) { Object.entries(em.token.watch || {}).forEach(([e, v]) => setGauge(e, v));
        em.events.forEach(ev => $("alerts").insertAdjacentHTML("beforeend", `<div class="alert">${ev.action} ${ev.change}: ${esc(ev.rule)} at token ${ev.step}</div>`)); }
    }
  }
  history.push({role: "assistant", content: reply});
}
$("chat-send").onclick = send;
$("chat-input").addEventListener("keydown", (ev) => { if (ev.key === "Enter") send(); });
// ---- explore
let mapDone = false;
async function drawMap() {
  if (mapDone) return; mapDone = true;
  const d = await (await fetch("/v1/bank/map")).json(), svg = $("map"), W = 1000, H = 600;
  const xs = d.xy.map(p => p[0]), ys = d.xy.map(p => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const X = (v) => 30 + (W - 60) * (v - x0) / (x1 - x0 || 1), Y = (v) => H - 30 - (H - 60) * (v - y0) / (y1 - y0 || 1);
  svg.innerHTML = d.emotions.map((e, i) => `<circle cx="${X(xs[i]).toFixed(1)}" cy="${Y(ys[i]).toFixed(1)}" r="4" fill="#2f6fdf" data-i="${i}"><title>${e}</title></circle><text x="${(X(xs[i]) + 5).toFixed(1)}" y="${(Y(ys[i]) + 3).toFixed(1)}">${e}</text>`).join("");
  $("map-meta").textContent = `PCA of the ${d.emotions.length} vectors at layer ${d.layer}: PC1 ${(100 * d.explained[0]).toFixed(1)}% (x), PC2 ${(100 * d.explained[1]).toFixed(1)}% (y) of the variance`;
  svg.onclick = (ev) => { const c = ev.target.closest("circle"); if (!c) return; const i = +c.dataset.i;
    $("near").textContent = `${d.emotions[i]}: nearest ${d.nearest[i].join(", ")}`; };
}
fetch("/v1/emotions").then(r => r.json()).then(d => {
  EMOTIONS = d.emotions.map(x => x.emotion);
  $("emotion").innerHTML = EMOTIONS.map((e, i) => `<option value="${i}">${e}</option>`).join("");
  document.body.dataset.ready = "1";
});
</script></body></html>
"""


def dashboard_html(model: str, layer: int, report: bool = False, max_tokens: int = 120,
                   steerable: list[str] | None = None, alerts: list[str] | None = None) -> str:
    """The page as a string: ``steerable`` emotions get a gauge and a slider; ``alerts`` go with every chat."""
    config = {"steerable": list(steerable or STEERABLE), "max_tokens": max_tokens, "alerts": list(alerts or [])}
    link = '<a href="/report" style="margin-left:8px">Validation report</a>' if report else ""
    return (_PAGE.replace("__MODEL__", html_lib.escape(model)).replace("__LAYER__", str(layer))
            .replace("__REPORT__", link).replace("__CONFIG__", json.dumps(config).replace("</", "<\\/")))
