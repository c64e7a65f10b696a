// A deal's closing gate (GET /v1/deals/{id}/readiness): may it close, and what blocks it.

import { api } from "./api.js";
import { h } from "./dom.js";
import { day, money, statusLabel } from "./format.js";

const RECHECK_WAIT_MS = 1500;
const RECHECKS = 20;

export async function renderDeal(view, id, rechecks = 0) {
  const [{ data: deal }, { data: gate }, { data: listed }] = await Promise.all([
    api(`/deals/${id}`),
    api(`/deals/${id}/readiness`),
    api(`/commitments?deal_id=${id}&limit=200`),
  ]);
  document.title = `${deal.name} · Dealgate review console`;
  const summaries = new Map(listed.items.map((one) => [one.id, one.summary]));
  const pending = gate.blocking.some((one) => one.recheck_pending);
  view.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/queue" }, "Queue"), " › ", deal.name),
    h("h1", { tabindex: "-1" }, deal.name),
    h("dl", { class: "facts" },
      [["Account", deal.account], ["Amount", money(deal.amount, deal.currency)], ["Stage", statusLabel(deal.stage)],
        ["Expected close", day(deal.expected_close)], ["Owner", deal.owner || "none"], ["CRM", `${deal.source} ${deal.external_id}`]]
        .map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    h("section", { "aria-labelledby": "gate-h", class: `gate ${gate.ready ? "ready" : "held"}` },
      h("h2", { id: "gate-h" }, gate.ready ? "Ready to close" : "Not ready to close"),
      gate.ready
        ? h("p", {}, "Every promise is cleared or approved.")
        : h("p", {}, `${gate.blocking.length} ${gate.blocking.length === 1 ? "promise holds" : "promises hold"} it.`),
      pending ? h("p", { class: "muted" }, "A decision or a roadmap change is being re-checked; this page looks again in a moment.") : null,
      gate.blocking.length ? h("ul", {}, gate.blocking.map((one) => h("li", {},
        h("a", { href: `#/commitments/${one.commitment_id}` }, summaries.get(one.commitment_id) || one.commitment_id),
        `: ${statusLabel(one.review_status)}${one.recheck_pending ? ", being re-checked" : ""}`,
        one.conflicts.length ? ` (${one.conflicts.map((c) => c.code).join(", ")})` : ""))) : null),
    h("button", { type: "button", onclick: () => renderDeal(view, id) }, "Check again"));
  if (pending && rechecks < RECHECKS) {
    setTimeout(() => {
      if (view.isConnected) renderDeal(view, id, rechecks + 1).catch(() => {});
    }, RECHECK_WAIT_MS);
  }
}
