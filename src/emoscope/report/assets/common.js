"use strict";
// Shared by the interactive pages: element lookup, HTML escaping, the red/blue tint of a score.
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
  .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
// Full colour at |v| >= s: red for positive, blue for negative.
function colour(v, s) {
  const a = Math.min(Math.abs(v) / s, 1), f = Math.round(255 * (1 - 0.85 * a));
  return v >= 0 ? `rgb(255,${f},${f})` : `rgb(${f},${f},255)`;
}
