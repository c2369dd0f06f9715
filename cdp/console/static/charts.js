// Line charts drawn as inline SVG: no library, no network.
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
export const COLORS = ["#3457d5", "#e07a1f", "#1f7a4d", "#c0362c", "#7a3fd5", "#14879c"];

function s(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// series: [{name, points: [number...]}], all of the same length; labels: x labels (first/last shown).
export function lineChart(title, series, labels = []) {
  const width = 600;
  const height = 160;
  const pad = { l: 44, r: 8, t: 8, b: 18 };
  const n = Math.max(2, ...series.map((x) => x.points.length));
  const max = Math.max(1, ...series.flatMap((x) => x.points));
  const x = (i) => pad.l + (i * (width - pad.l - pad.r)) / (n - 1);
  const y = (v) => height - pad.b - (v * (height - pad.t - pad.b)) / max;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.append(s("title", {}, title));
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    svg.append(s("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }));
    svg.append(s("text", { x: 2, y: y(v) + 3 }, v >= 100 ? Math.round(v).toLocaleString() : v.toFixed(1)));
  }
  if (labels.length) {
    svg.append(s("text", { x: pad.l, y: height - 4 }, labels[0]));
    svg.append(s("text", { x: width - pad.r, y: height - 4, "text-anchor": "end" }, labels[labels.length - 1]));
  }
  series.forEach((line, k) => {
    if (!line.points.length) return;
    const d = line.points.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
    svg.append(s("path", { d, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 2 }));
  });
  const legend = h(
    "div",
    { class: "legend" },
    series.map((line, k) => h("span", {}, h("i", { style: `background:${COLORS[k % COLORS.length]}` }), line.name)),
  );
  return h("div", { class: "chart" }, h("h2", {}, title), svg, legend);
}
