// A conflict as a reviewer reads it: its code, severity, message and the evidence.

import { h } from "./dom.js";

const shown = (value) => (Array.isArray(value) ? value.map((one) => (typeof one === "object" ? JSON.stringify(one) : one)).join(", ") : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value));

export function conflictItem(conflict) {
  const evidence = Object.entries(conflict.evidence || {}).filter(([, value]) => value !== null && value !== undefined && !(Array.isArray(value) && !value.length));
  return h("li", { class: "conflict" },
    h("p", {}, h("span", { class: `tag ${conflict.severity}` }, conflict.severity), " ", h("code", {}, conflict.code)),
    h("p", {}, conflict.message),
    evidence.length ? h("dl", { class: "evidence" }, evidence.map(([name, value]) => [h("dt", {}, name.replaceAll("_", " ")), h("dd", {}, shown(value))])) : null);
}
