"""What a message says: an event turned into a notice with the reason a promise is at risk
(its conflicts and their evidence), rendered by slack.py and email.py. Pure: no I/O."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from kit.contracts.events import EventType

E = EventType
TITLES = {
    E.commitment_flagged: "Sign-off needed",
    E.commitment_reopened: "Sign-off needed again",
    E.commitment_approved: "Approved",
    E.commitment_rejected: "Rejected",
    E.commitment_needs_attention: "Fix in the CRM",
    E.commitment_info_requested: "A reviewer asks",
    E.commitment_answered: "Answered, awaiting sign-off",
    E.commitment_reassigned: "Reassigned to you: sign-off awaited",
    E.commitment_step_approved: "Your step is next: sign-off awaited",
    E.signoff_reminder: "Reminder: sign-off awaited",
    E.signoff_overdue: "Overdue: sign-off past its SLA",
}


@dataclass(frozen=True)
class Conflict:
    heading: str  # "date_before_plan (blocker)"
    message: str
    evidence: str  # "RM-12 · planned_end 2027-04-01 · promised_by 2027-03-01"


@dataclass(frozen=True)
class Notice:
    title: str  # "Sign-off needed: SSO with Okta"
    deal: str  # "Acme expansion (Acme Corp) · 250,000.00 USD · rep@example.com"
    promise: str  # "integration · promised by 2027-03-01 · roadmap item RM-12"
    conflicts: tuple[Conflict, ...]
    notes: tuple[str, ...]  # the reason it reopened, the decision, the due date
    link: str


def money(amount: str, currency: str) -> str:
    return f"{Decimal(amount):,.2f} {currency}"


def notice(kind: str, data: Mapping, gateway_url: str) -> Notice:
    deal, commitment = data["deal"], data["commitment"]
    who = f" · {deal['owner']}" if deal.get("owner") else ""
    promise = [commitment["kind"]]
    if commitment.get("promised_by"):
        promise.append(f"promised by {commitment['promised_by']}")
    if commitment.get("roadmap_item_key"):
        promise.append(f"roadmap item {commitment['roadmap_item_key']}")
    notes = []
    if kind == E.commitment_reopened and data.get("reason"):
        notes.append(data["reason"]["summary"])
        cause = data["reason"].get("cause") or {}
        if cause.get("kind") == "roadmap_changed" and cause.get("changes"):
            changed = ", ".join(change["key"] for change in cause["changes"])
            notes.append(f"What changed: the roadmap ({changed}).")
        elif cause.get("kind") == "crm_changed":
            notes.append("What changed: the CRM sent the promise changed.")
        elif cause.get("kind") == "roadmap_link":
            notes.append(f"What changed: a PM linked it to {cause.get('roadmap_item_key')}.")
        elif cause.get("kind") == "conditions_expired":
            notes.append("What changed: the approval's conditions expired.")
    if kind == E.commitment_needs_attention and commitment.get("crm_problem"):
        notes.append(f"The CRM's record cannot be read: {commitment['crm_problem']}")
    if data.get("comment"):
        comment = data["comment"]
        if comment["kind"] == "reassignment":
            said = f": {comment['body']}" if comment["body"] else "."
            notes.append(f"Reassigned to {comment['assignee']} by {comment['author']}{said}")
        else:
            asked = "Asked" if comment["kind"] == "question" else "Answered"
            notes.append(f"{asked} by {comment['author']}: {comment['body']}")
    if data.get("decision"):
        decision = data["decision"]
        said = f": {decision['comment']}" if decision.get("comment") else ""
        notes.append(f"{decision['decision'].capitalize()}d by {decision['decided_by']}{said}")
        if decision.get("conditions"):
            until = decision.get("conditions_expire_on")
            notes.append(
                f"Conditions: {decision['conditions']}" + (f" (until {until})" if until else "")
            )
    if "due_at" in data:
        notes.append(f"Awaiting sign-off since {data['awaiting_since']}; due {data['due_at']}.")
    return Notice(
        title=f"{TITLES[EventType(kind)]}: {commitment['summary']}",
        deal=f"{deal['name']} ({deal['account']}) · {money(deal['amount'], deal['currency'])}{who}",
        promise=" · ".join(promise),
        conflicts=tuple(_conflict(conflict) for conflict in commitment.get("conflicts", [])),
        notes=tuple(notes),
        link=f"{gateway_url.rstrip('/')}/v1/commitments/{commitment['id']}",
    )


def _conflict(conflict: Mapping) -> Conflict:
    evidence = conflict.get("evidence") or {}
    parts = [evidence["item_key"]] if evidence.get("item_key") else []
    for name in ("item_status", "planned_end", "promised_by", "confidence"):
        if evidence.get(name):
            parts.append(f"{name} {evidence[name]}")
    if evidence.get("tags"):
        parts.append("tags " + ", ".join(evidence["tags"]))
    if evidence.get("matches"):
        parts.append("closest items " + ", ".join(m["key"] for m in evidence["matches"][:3]))
    return Conflict(
        heading=f"{conflict['code']} ({conflict['severity']})",
        message=conflict["message"],
        evidence=" · ".join(parts),
    )
