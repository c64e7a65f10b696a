// The reports as charts: revenue at risk (per currency, never summed across them), the
// promise ledger by roadmap item, and sign-off aging (waits now, and the weekly trend).

import { api } from "./api.js";
import { h, problemBox } from "./dom.js";
import { barChart } from "./charts.js";
import { count, day, hours, money, statusLabel } from "./format.js";

export async function renderReports(view) {
  document.title = "Reports · Dealgate review console";
  // Each report on its own: one that fails shows its problem, the others still draw.
  const [risk, ledger, aging, trend] = await Promise.all([
    drawn(api("/reports/summary").then((answer) => revenueAtRisk(answer.data))),
    drawn(api("/reports/ledger?limit=20").then((answer) => promiseLedger(answer.data))),
    drawn(api("/reports/aging?limit=200").then((answer) => waits(answer.data))),
    drawn(api("/reports/trend").then((answer) => weekly(answer.data))),
  ]);
  view.replaceChildren(
    h("h1", { tabindex: "-1" }, "Reports"),
    section("risk-h", "Revenue at risk", risk),
    section("ledger-h", "Promise ledger", ledger),
    section("aging-h", "Sign-off aging", aging, trend));
}

const drawn = (promise) => promise.catch((error) => problemBox(error));
const section = (id, title, ...content) => h("section", { "aria-labelledby": id, class: "report" }, h("h2", { id }, title), content);

function revenueAtRisk(summary) {
  if (!summary.revenue_at_risk.length) return h("p", {}, "No open deal is held at the gate.");
  return summary.revenue_at_risk.map((risk) => {
    const rows = summary.by_status.filter((one) => one.currency === risk.currency).map((one) => ({
      label: statusLabel(one.review_status),
      values: [Number(one.deal_amount)],
      text: `${money(one.deal_amount, one.currency)} in ${one.deals} deals, ${one.commitments} promises`,
    }));
    return barChart({
      title: `${risk.currency}: ${money(risk.amount, risk.currency)} at risk in ${count(risk.deals, "deal")}`,
      description: `Deal amounts in ${risk.currency} by the review status of their promises. ${rows.map((row) => `${row.label}: ${row.text}.`).join(" ")}`,
      series: [{ name: `Deal amount (${risk.currency})` }],
      rows,
      format: (value) => money(value, risk.currency),
    });
  });
}

function promiseLedger(ledger) {
  if (!ledger.items.length) return h("p", {}, "No promise is linked to a roadmap item.");
  const perCurrency = (list) => list.map((one) => `${money(one.amount, one.currency)} (${one.deals} deals)`).join(", ") || "nothing";
  const rows = ledger.items.map((item) => ({
    label: item.roadmap_item_key,
    values: [item.promises, item.deals],
    text: `At stake ${perCurrency(item.at_stake)}; blocked ${perCurrency(item.blocked)}; earliest promised ${day(item.earliest_promised_by)}`,
  }));
  return barChart({
    title: "Promises and deals by roadmap item",
    description: rows.map((row) => `${row.label}: ${row.values[0]} promises in ${row.values[1]} deals. ${row.text}.`).join(" "),
    series: [{ name: "Promises" }, { name: "Deals" }],
    rows,
  });
}

function waits(aging) {
  const sla = aging.sla_hours;
  const buckets = [
    [`under ${sla / 2} h`, (age) => age < sla / 2],
    [`${sla / 2} to ${sla} h`, (age) => age >= sla / 2 && age < sla],
    [`past the ${sla} h SLA`, (age) => age >= sla],
  ];
  const rows = buckets.map(([label, within]) => {
    const waiting = aging.items.filter((item) => within(item.age_hours)).length;
    return { label, values: [waiting], text: count(waiting, "promise") };
  });
  const oldest = aging.oldest_age_hours === null ? "" : ` The oldest has waited ${hours(aging.oldest_age_hours)}.`;
  return barChart({
    title: `Waiting for sign-off now: ${count(aging.awaiting, "promise")}, ${aging.past_sla} past the SLA`,
    description: `${rows.map((row) => `${row.label}: ${row.text}.`).join(" ")}${oldest}${aging.next_cursor ? " Counted over the oldest 200." : ""}`,
    series: [{ name: "Promises" }],
    rows,
  });
}

function weekly(trend) {
  if (!trend.weeks.length) return h("p", {}, "No week has any sign-off yet.");
  const rows = trend.weeks.map((week) => ({
    label: week.week_start,
    values: [week.flagged, week.approved, week.rejected],
    text: `${week.received} received, ${week.reopened} reopened, median ${week.median_hours_to_decision === null ? "none" : hours(week.median_hours_to_decision)} to a decision`,
  }));
  return barChart({
    title: "Flagged, approved and rejected, by week (the week's Monday)",
    description: rows.map((row) => `week of ${row.label}: ${row.values[0]} flagged, ${row.values[1]} approved, ${row.values[2]} rejected; ${row.text}.`).join(" "),
    series: [{ name: "Flagged" }, { name: "Approved" }, { name: "Rejected" }],
    rows,
  });
}
