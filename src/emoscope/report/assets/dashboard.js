"use strict";
// The dashboard: Read (a token heatmap), Chat (streamed replies, live gauges, steering sliders), Explore (the map).
// Names and texts from the configuration or the API are escaped with esc() before they go into HTML.
const C = JSON.parse(document.getElementById("config").textContent);
let EMOTIONS = [], reading = null, history = [];
document.querySelectorAll("nav button[data-tab]").forEach(b => b.onclick = () => {
  document.querySelectorAll("nav button").forEach(x => x.classList.toggle("on", x === b));
  document.querySelectorAll("section").forEach(s => s.classList.toggle("on", s.id === "tab-" + b.dataset.tab));
  if (b.dataset.tab === "explore") drawMap();
});
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
    top.map(([v, i]) => `<div>${esc(EMOTIONS[i])} ${v >= 0 ? "+" : ""}${v.toFixed(2)}</div>`).join("");
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
const byEmotion = (sel, e) => [...document.querySelectorAll(sel)].find(x => x.dataset.emotion === e);
C.steerable.forEach(e => {
  const n = esc(e);
  $("gauges").insertAdjacentHTML("beforeend", `<div class="gauge" data-emotion="${n}"><div class="row"><span>${n}</span><span class="val">0.00</span></div><div class="track"><div class="zero"></div><div class="bar"></div></div></div>`);
  $("sliders").insertAdjacentHTML("beforeend", `<div><div class="row"><span>${n}</span><span class="sv" data-emotion="${n}">0.00</span></div><input class="slider" type="range" min="-0.2" max="0.2" step="0.01" value="0" data-emotion="${n}"></div>`);
});
document.querySelectorAll(".slider").forEach(s => s.oninput = () =>
  byEmotion(".sv", s.dataset.emotion).textContent = (+s.value).toFixed(2));
function setGauge(e, v) {
  const g = byEmotion(".gauge", e); if (!g) return;
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
    let k; while ((k = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, k).trim(); buf = buf.slice(k + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const d = JSON.parse(line.slice(6)), delta = d.choices[0].delta.content || "";
      reply += delta; out.textContent = reply;
      const em = d.emoscope; if (em) { Object.entries(em.token.watch || {}).forEach(([e, v]) => setGauge(e, v));
        em.events.forEach(ev => $("alerts").insertAdjacentHTML("beforeend", `<div class="alert">${esc(ev.action)} ${esc(ev.change)}: ${esc(ev.rule)} at token ${esc(ev.step)}</div>`)); }
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
  svg.innerHTML = d.emotions.map((e, i) => `<circle cx="${X(xs[i]).toFixed(1)}" cy="${Y(ys[i]).toFixed(1)}" r="4" fill="#2f6fdf" data-i="${i}"><title>${esc(e)}</title></circle><text x="${(X(xs[i]) + 5).toFixed(1)}" y="${(Y(ys[i]) + 3).toFixed(1)}">${esc(e)}</text>`).join("");
  $("map-meta").textContent = `PCA of the ${d.emotions.length} vectors at layer ${d.layer}: PC1 ${(100 * d.explained[0]).toFixed(1)}% (x), PC2 ${(100 * d.explained[1]).toFixed(1)}% (y) of the variance`;
  svg.onclick = (ev) => { const c = ev.target.closest("circle"); if (!c) return; const i = +c.dataset.i;
    $("near").textContent = `${d.emotions[i]}: nearest ${d.nearest[i].join(", ")}`; };
}
fetch("/v1/emotions").then(r => r.json()).then(d => {
  EMOTIONS = d.emotions.map(x => x.emotion);
  $("emotion").innerHTML = EMOTIONS.map((e, i) => `<option value="${i}">${esc(e)}</option>`).join("");
  document.body.dataset.ready = "1";
});
