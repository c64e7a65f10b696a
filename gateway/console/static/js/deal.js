// A deal's closing gate (GET /v1/deals/{id}/readiness): may it close, and what blocks it.

import { api } from "./api.js";
import { h } from "./dom.js";
import { day, money, statusLabel } from "./format.js";

const RECHECK_WAIT_MS = 1500;
const RECHECKS = 20;

export async function renderDeal(view, id) {
  const [{ data: deal }, { data: listed }] = await Promise.all([
    api(`/deals/${id}`),
    api(`/commitments?deal_id=${id}&limit=200`),
  ]);
  document.title = `${deal.name} · Dealgate review console`;
  const summaries = new Map(listed.items.map((one) => [one.id, one.summary]));
  const gateBox = h("section", { "aria-labelledby": "gate-h", class: "gate" });
  view.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/queue" }, "Queue"), " › ", deal.name),
    h("h1", { tabindex: "-1" }, deal.name),
    h("dl", { class: "facts" },
      [["Account", deal.account], ["Amount", money(deal.amount, deal.currency)], ["Stage", statusLabel(deal.stage)],
        ["Expected close", day(deal.expected_close)], ["Owner", deal.owner || "none"], ["CRM", `${deal.source} ${deal.external_id}`]]
        .map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    gateBox,
    h("button", { type: "button", onclick: () => showGate(gateBox, id, summaries) }, "Check again"));
  await showGate(gateBox, id, summaries);
}

// The gate alone is read again (the deal and its promises' summaries do not change while a
// re-check runs), with one pending look at a time however often "Check again" is pressed.
async function showGate(box, id, summaries, rechecks = 0) {
  clearTimeout(box.recheck);
  const { data: gate } = await api(`/deals/${id}/readiness`);
  const pending = gate.blocking.some((one) => one.recheck_pending);
  box.className = `gate ${gate.ready ? "ready" : "held"}`;
  box.replaceChildren(
    h("h2", { id: "gate-h" }, gate.ready ? "Ready to close" : "Not ready to close"),
    gate.ready
      ? h("p", {}, "Every promise is cleared or approved.")
      : h("p", {}, `${gate.blocking.length} ${gate.blocking.length === 1 ? "promise holds" : "promises hold"} it.`),
    pending ? h("p", { class: "muted" }, "A decision or a roadmap change is being re-checked; this page looks again in a moment.") : null,
    gate.blocking.length ? h("ul", {}, gate.blocking.map((one) => h("li", {},
      h("a", { href: `#/commitments/${one.commitment_id}` }, summaries.get(one.commitment_id) || one.commitment_id),
      `: ${statusLabel(one.review_status)}${one.recheck_pending ? ", being re-checked" : ""}`,
      one.conflicts.length ? ` (${one.conflicts.map((c) => c.code).join(", ")})` : ""))) : null);
  if (pending && rechecks < RECHECKS) {
    box.recheck = setTimeout(() => {
      if (box.isConnected) showGate(box, id, summaries, rechecks + 1).catch(() => {});
    }, RECHECK_WAIT_MS);
  }
}
