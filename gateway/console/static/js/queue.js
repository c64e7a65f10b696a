// The PM's queue: what awaits sign-off, oldest first, with its deal, amount, conflicts and
// evidence; and deciding several at once (POST /v1/commitments/decisions).

import { api } from "./api.js";
import { announce, h, problemBox } from "./dom.js";
import { conflictItem } from "./evidence.js";
import { count, hours, money } from "./format.js";

const PAGE = 100;

export async function renderQueue(view) {
  document.title = "Queue · Dealgate review console";
  const state = { items: [], cursor: null, report: null };
  await loadPage(state);
  const body = h("tbody");
  const more = h("button", { type: "button", class: "quiet", onclick: async () => {
    more.disabled = true;
    await loadPage(state);
    body.replaceChildren(...state.items.map(row));
    more.disabled = false;
    more.hidden = !state.cursor;
    announce(`${state.items.length} promises shown.`);
  } }, "Show older promises");
  more.hidden = !state.cursor;
  body.append(...state.items.map(row));
  const outcome = h("div", { class: "outcome", "aria-live": "polite" });
  const selectAll = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select every promise shown",
    onchange: () => body.querySelectorAll("input[name=selected]").forEach((box) => { box.checked = selectAll.checked; }) });
  const report = state.report;
  const form = h("form", { class: "bulk", onsubmit: (event) => decideSelected(event, form, outcome, view) },
    h("table", { class: "queue" },
      h("caption", {}, `${count(report.awaiting, "promise")} awaiting sign-off; ${report.past_sla} past the ${report.sla_hours}-hour SLA.`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, selectAll),
        ["Promise", "Deal", "Amount", "Conflicts and evidence", "Waiting"].map((name) => h("th", { scope: "col" }, name)))),
      body),
    more,
    state.items.length ? bulkFields() : null,
    outcome);
  view.replaceChildren(
    h("h1", { tabindex: "-1" }, "Awaiting sign-off"),
    state.items.length ? form : h("p", {}, "Nothing awaits sign-off."));
}

async function loadPage(state) {
  const cursor = state.cursor ? `&cursor=${encodeURIComponent(state.cursor)}` : "";
  // Each item carries its conflicts with their evidence: one request a page.
  const { data: report } = await api(`/reports/aging?limit=${PAGE}${cursor}`);
  state.report = report;
  state.cursor = report.next_cursor;
  state.items.push(...report.items);
}

// Each cell's content in one box: on a phone the cell is a grid of its label and that box.
const cell = (label, ...content) => h("td", { "data-label": label }, h("div", {}, content));

function row(item) {
  const codes = item.conflict_codes;
  return h("tr", {},
    cell("Select", h("input", { type: "checkbox", name: "selected", value: item.commitment_id, "aria-label": `Select ${item.summary}` })),
    cell("Promise", h("a", { href: `#/commitments/${item.commitment_id}` }, item.summary), h("span", { class: "muted" }, ` ${item.external_id}`),
      item.reviewers_due?.length ? h("span", { class: "muted block" }, `Awaits ${item.reviewers_due.join(", ")}`) : null),
    cell("Deal", h("a", { href: `#/deals/${item.deal_id}` }, item.deal_name),
      item.deal_owner ? h("span", { class: "muted block" }, item.deal_owner) : null),
    cell("Amount", item.deal_amount ? money(item.deal_amount, item.currency) : "unknown"),
    cell("Conflicts",
      h("ul", { class: "codes" }, codes.map((code) => h("li", {}, h("code", {}, code)))),
      item.conflicts.length ? h("details", {}, h("summary", {}, "Evidence"), h("ul", { class: "conflicts" }, item.conflicts.map(conflictItem))) : null),
    cell("Waiting", hours(item.age_hours),
      item.past_sla ? h("span", { class: "tag overdue" }, "past SLA") : null));
}

function bulkFields() {
  return h("fieldset", {},
    h("legend", {}, "Decide the selected promises"),
    h("div", { class: "choices" },
      h("label", {}, h("input", { type: "radio", name: "decision", value: "approve", checked: true }), " Approve"),
      h("label", {}, h("input", { type: "radio", name: "decision", value: "reject" }), " Reject")),
    h("label", { for: "bulk-comment" }, "Comment (a rejection needs one)"),
    h("textarea", { id: "bulk-comment", name: "comment", rows: 2 }),
    h("button", { type: "submit", class: "primary" }, "Decide the selected"));
}

async function decideSelected(event, form, outcome, view) {
  event.preventDefault();
  const chosen = [...form.querySelectorAll("input[name=selected]:checked")];
  if (!chosen.length) {
    outcome.replaceChildren(h("p", { role: "alert" }, "Select at least one promise first."));
    return;
  }
  const decision = form.elements.decision.value;
  const comment = form.elements.comment.value.trim();
  const summaries = new Map(chosen.map((box) => [box.value, box.getAttribute("aria-label").replace(/^Select /, "")]));
  try {
    const { data } = await api("/commitments/decisions", { method: "POST", body: {
      items: chosen.map((box) => ({ commitment_id: box.value, decision, comment })),
    } });
    const done = data.items.filter((item) => item.status === 200).length;
    outcome.replaceChildren(
      h("p", { class: "done" }, `${done} of ${data.items.length} decided.`),
      h("ul", {}, data.items.map((item) => h("li", {}, `${summaries.get(item.commitment_id)}: `,
        item.status === 200 ? `${item.commitment.review_status.replaceAll("_", " ")}` : `${item.status}, ${item.problem?.detail || item.problem?.title}`))),
      h("button", { type: "button", onclick: () => renderQueue(view).then(() => view.querySelector("h1").focus()) }, "Show the queue again"));
    announce(`${done} of ${data.items.length} decided.`);
  } catch (error) {
    outcome.replaceChildren(problemBox(error));
  }
}
