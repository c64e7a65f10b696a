// Which view the address's fragment names (#/queue, #/commitments/<id>, #/deals/<id>,
// #/reports). A fragment not starting with "#/" (the skip link's #main) is left alone.

import { h, problemBox } from "./dom.js";

let routes = [];
let current = 0;

export function startRouter(main, table) {
  routes = table;
  window.addEventListener("hashchange", () => show(main));
  show(main);
}

async function show(main) {
  const hash = location.hash || "#/queue";
  if (!hash.startsWith("#/")) return;
  const found = routes.map(([pattern, view]) => [hash.match(pattern), view]).find(([match]) => match);
  for (const link of document.querySelectorAll(".top nav a")) {
    if (hash === link.getAttribute("href")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = h("div", { class: "view", "aria-busy": "true" }, h("p", {}, "Loading…"));
  const mine = ++current;
  main.replaceChildren(view);
  try {
    if (!found) throw new Error(`Nothing is found at ${hash}.`);
    const [match, render] = found;
    await render(view, ...match.slice(1));
  } catch (error) {
    if (mine !== current) return;
    view.replaceChildren(h("h1", { tabindex: "-1" }, "This page could not be shown"), problemBox(error));
  }
  if (mine !== current) return;
  view.removeAttribute("aria-busy");
  // A new page: move focus to its heading, as a page load would for a screen reader.
  view.querySelector("h1")?.focus();
}
