// One promise: its deal, roadmap item, conflicts, approval chain and thread; approve,
// reject or ask a question, guarded by the ETag it was read at (If-Match).

import { api } from "./api.js";
import { announce, fill, h, problemBox } from "./dom.js";
import { conflictItem } from "./evidence.js";
import { count, dateTime, day, money, statusLabel } from "./format.js";

const DECIDABLE = new Set(["needs_signoff", "info_requested"]);
const DONE = { approve: "Approved", reject: "Rejected", ask: "Question sent" };

export async function renderCommitment(view, id, notice = null) {
  const { data: commitment, etag } = await api(`/commitments/${id}`);
  const item = commitment.roadmap_item_key ? await roadmapItem(commitment.roadmap_item_key) : null;
  show(view, commitment, etag, item, notice);
}

async function roadmapItem(key) {
  try {
    return (await api(`/roadmap/items/${encodeURIComponent(key)}`)).data;
  } catch (error) {
    if (error.status === 404) return { key, missing: true };
    throw error;
  }
}

function show(view, commitment, etag, item, notice) {
  document.title = `${commitment.summary} · Dealgate review console`;
  const deal = commitment.deal;
  fill(view,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/queue" }, "Queue"), " › ", h("a", { href: `#/deals/${deal.id}` }, deal.name)),
    h("h1", { tabindex: "-1" }, commitment.summary),
    notice,
    h("dl", { class: "facts" },
      fact("Status", h("span", { class: `status ${commitment.review_status}` }, statusLabel(commitment.review_status))),
      fact("Deal", h("a", { href: `#/deals/${deal.id}` }, `${deal.name} (${deal.account})`)),
      fact("Amount", money(deal.amount, deal.currency)),
      fact("Owner", deal.owner || "none"),
      fact("Kind", statusLabel(commitment.kind)),
      fact("Promised by", day(commitment.promised_by)),
      fact("Roadmap item", itemText(commitment, item)),
      commitment.reopen_reason ? fact("Reopened because", commitment.reopen_reason) : null),
    h("div", { class: "columns" },
      h("section", { "aria-labelledby": "conflicts-h" },
        h("h2", { id: "conflicts-h" }, "Conflicts"),
        commitment.conflicts.length ? h("ul", { class: "conflicts" }, commitment.conflicts.map(conflictItem)) : h("p", {}, "None.")),
      h("section", { "aria-labelledby": "chain-h" },
        h("h2", { id: "chain-h" }, "Approval chain"),
        chain(commitment.approval))),
    DECIDABLE.has(commitment.review_status) ? decisionForm(view, commitment, etag) : null,
    h("section", { "aria-labelledby": "thread-h" },
      h("h2", { id: "thread-h" }, "History"),
      thread(commitment)));
}

const fact = (name, value) => [h("dt", {}, name), h("dd", {}, value)];

function itemText(commitment, item) {
  if (!item) return "not linked";
  if (item.missing) return `${item.key} (not on the roadmap)`;
  return `${item.key}: ${item.title}, ${statusLabel(item.status)}, planned end ${day(item.planned_end)}, ${item.confidence} confidence${item.owner ? `, owner ${item.owner}` : ""}`;
}

function chain(approval) {
  if (!approval) return h("p", {}, "No approval chain: nothing needs sign-off.");
  return h("ol", { class: "chain" }, approval.steps.map((step) => h("li", {},
    h("p", {}, h("strong", {}, step.name), " ", h("span", { class: `status ${step.status}` }, step.status)),
    h("p", { class: "muted" }, `${step.require === "all" ? "Each of" : "One of"}: ${step.approvers.join(", ") || "the area's reviewers"}`),
    step.approvals.map((one) => h("p", {}, `Approved by ${one.decided_by} on ${dateTime(one.decided_at)}`)))));
}

// Evaluations carry no time of their own: listed apart, in their order. Decisions and the
// thread's comments are dated, so they read as one conversation.
function thread(commitment) {
  const evaluations = commitment.evaluations.map((evaluation) =>
    `Policy ${evaluation.policy_version}: ${count(evaluation.conflicts.length, "conflict")}, ${statusLabel(evaluation.review_status)}${evaluation.review_area ? ` (reviewed by the ${evaluation.review_area} area)` : ""}`);
  const said = [
    ...commitment.decisions.map((decision) => ({
      at: decision.decided_at,
      text: `${decision.decided_by}${decision.on_behalf_of ? ` for ${decision.on_behalf_of}` : ""} ${decision.decision === "approve" ? "approved" : "rejected"}${decision.step ? ` (${decision.step})` : ""}${decision.comment ? `: “${decision.comment}”` : ""}${decision.conditions ? ` Conditions: ${decision.conditions}` : ""}${decision.lapsed_at ? ` (lapsed: ${statusLabel(decision.lapse_cause)})` : ""}`,
    })),
    ...commitment.comments.map((comment) => ({
      at: comment.created_at,
      text: `${comment.author} ${comment.kind === "question" ? "asked" : comment.kind === "answer" ? "answered" : comment.kind === "recall" ? "recalled a decision" : `reassigned it to ${comment.assignee}`}${comment.body ? `: “${comment.body}”` : ""}`,
    })),
  ].sort((a, b) => a.at.localeCompare(b.at));
  return [
    h("h3", {}, "Decisions and comments"),
    said.length
      ? h("ol", { class: "thread" }, said.map((entry) => h("li", {}, h("time", { datetime: entry.at }, dateTime(entry.at)), " ", entry.text)))
      : h("p", {}, "None yet."),
    h("h3", {}, "Evaluations, oldest first"),
    evaluations.length ? h("ol", { class: "thread" }, evaluations.map((text) => h("li", {}, text))) : h("p", {}, "Not evaluated yet."),
  ];
}

function decisionForm(view, commitment, etag) {
  const result = h("div", { class: "outcome" });
  const form = h("form", { class: "decide", onsubmit: (event) => decide(event, view, commitment, etag, form, result) },
    h("h2", {}, "Decide"),
    h("label", { for: "comment" }, "Comment"),
    h("textarea", { id: "comment", name: "comment", rows: 3, "aria-describedby": "comment-hint" }),
    h("p", { id: "comment-hint", class: "muted" }, "A rejection needs a comment; a question is this comment, sent to the rep."),
    h("label", { for: "conditions" }, "Conditions (approvals only, optional)"),
    h("input", { id: "conditions", name: "conditions", type: "text" }),
    h("div", { class: "actions" },
      h("button", { type: "submit", name: "action", value: "approve", class: "primary" }, "Approve"),
      h("button", { type: "submit", name: "action", value: "reject", class: "danger" }, "Reject"),
      h("button", { type: "submit", name: "action", value: "ask" }, "Ask a question")),
    result);
  return form;
}

async function decide(event, view, commitment, etag, form, result) {
  event.preventDefault();
  const action = event.submitter?.value;
  const comment = form.elements.comment.value.trim();
  const conditions = form.elements.conditions.value.trim();
  const [path, body] = action === "ask"
    ? [`/commitments/${commitment.id}/questions`, { question: comment }]
    : [`/commitments/${commitment.id}/decision`, { decision: action, comment, ...(action === "approve" && conditions ? { conditions } : {}) }];
  const buttons = form.querySelectorAll("button");
  buttons.forEach((button) => { button.disabled = true; });
  try {
    await api(path, { method: "POST", body, etag });
  } catch (error) {
    buttons.forEach((button) => { button.disabled = false; });
    const reload = error.status === 412
      ? h("button", { type: "button", onclick: () => renderCommitment(view, commitment.id).then(() => view.querySelector("h1").focus()) }, "Show the latest version")
      : null;
    result.replaceChildren(problemBox(error, reload));
    result.querySelector("[role=alert]")?.focus?.();
    return;
  }
  const notice = h("div", { class: "done" },
    h("p", {}, `${DONE[action]}. `, h("a", { href: `#/deals/${commitment.deal.id}` }, "See whether the deal may close")));
  await renderCommitment(view, commitment.id, notice);
  announce(`${DONE[action]}.`);
  view.querySelector(".done a").focus();
}
