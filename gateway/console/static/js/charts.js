// Horizontal bar charts as plain inline SVG, each with its text alternative: a title and
// a description for assistive technology, and the same figures as a table.

import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
let counter = 0;

function s(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// rows: [{label, values: [number per series], text: "what the row says in words"}]
// series: [{name}], at most four. Bars of a chart share one scale, so a chart must never
// mix currencies.
export function barChart({ title, description, series, rows, format = String }) {
  const id = `chart-${++counter}`;
  // Drawn at its own size on a laptop, scaled down a little on a phone, so the text stays legible.
  const labelWidth = 140, width = 460, barHeight = 16, gap = 10;
  const rowHeight = series.length * barHeight + gap;
  const height = Math.max(rows.length * rowHeight + gap, 40);
  const most = Math.max(1, ...rows.flatMap((row) => row.values));
  const scale = (width - labelWidth - 105) / most;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": `${id}-title ${id}-desc`, class: "chart",
  });
  svg.append(s("title", { id: `${id}-title` }, title), s("desc", { id: `${id}-desc` }, description));
  rows.forEach((row, index) => {
    const top = gap + index * rowHeight;
    svg.append(s("text", { x: labelWidth - 8, y: top + (series.length * barHeight) / 2 + 4, "text-anchor": "end", class: "chart-label" }, row.label));
    row.values.forEach((value, position) => {
      const y = top + position * barHeight;
      svg.append(s("rect", { x: labelWidth, y, width: Math.max(value * scale, value ? 2 : 0), height: barHeight - 2, class: `bar series-${position}` }));
      svg.append(s("text", { x: labelWidth + value * scale + 6, y: y + barHeight - 4, class: "chart-value" }, format(value)));
    });
  });
  const legend = series.length > 1
    ? h("ul", { class: "legend", "aria-hidden": "true" }, series.map((one, position) => h("li", {}, h("span", { class: `swatch series-${position}` }), one.name)))
    : null;
  const table = h("table", {},
    h("caption", { class: "visually-hidden" }, title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Item"), series.map((one) => h("th", { scope: "col" }, one.name)), h("th", { scope: "col" }, "In words"))),
    h("tbody", {}, rows.map((row) => h("tr", {}, h("th", { scope: "row" }, row.label), row.values.map((value) => h("td", {}, format(value))), h("td", {}, row.text || "")))));
  return h("figure", { class: "chart-figure" },
    h("figcaption", {}, title),
    svg, legend,
    h("details", {}, h("summary", {}, "Show the figures as a table"), table));
}
