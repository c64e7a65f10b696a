"""The examples the OpenAPI documents show for the answers that are built of other answers
(a commitment with its deal, evaluation, decisions and chain; a page of items), written
once here and composed, so a deal or a conflict reads the same wherever it appears. A test
checks every example against its schema."""

from typing import Any

from pydantic import BaseModel

COMMITMENT_ID = "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10"
DEAL_ID = "5d2b1c7e-9f10-4c55-9a53-0b8e8c1e2d4f"
EVALUATION_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
DECISION_ID = "4e0f9b1c-7a2d-4b3e-9c8f-6d5a4b3c2e1f"

DEAL = {
    "id": DEAL_ID, "source": "generic", "external_id": "D-1001", "name": "Acme expansion",
    "account": "Acme Corp", "amount": "250000.00", "currency": "USD", "stage": "open",
    "expected_close": "2026-12-15", "owner": "rep@example.com",
    "crm_updated_at": "2026-11-20T09:59:00Z", "created_at": "2026-11-20T10:00:01Z",
    "updated_at": "2026-11-20T10:00:01Z",
}  # fmt: skip
CONFLICT = {
    "code": "date_before_plan", "severity": "blocker", "needs_signoff": True,
    "message": "Promised by 2027-03-01; RM-12 is planned for 2027-04-01.",
    "evidence": {"item_key": "RM-12", "planned_end": "2027-04-01",
                 "promised_by": "2027-03-01", "tags": ["enterprise-security"]},
}  # fmt: skip
COMMITMENT_LISTED = {
    "id": COMMITMENT_ID, "deal_id": DEAL_ID, "external_id": "C-1", "kind": "feature",
    "summary": "SSO with Okta by 1 March", "roadmap_item_key": "RM-12", "link_source": "crm",
    "promised_by": "2027-03-01", "tags": ["enterprise-security"],
    "review_status": "approved", "reopen_reason": None, "crm_problem": None,
    "status_changed_at": "2026-11-20T11:30:00Z", "version": 3, "conflicts": [CONFLICT],
}  # fmt: skip
EVALUATION = {
    "id": EVALUATION_ID, "commitment_version": 2, "conflicts": [CONFLICT],
    "roadmap_item_versions": {"RM-12": 4}, "policy_version": "default-1",
    "fingerprint": "3f9a6c0e5b2d4a18c7e1f0b9d8a7c6e5f4d3c2b1a09f8e7d6c5b4a3928170605",
    "review_status": "needs_signoff", "reopened": False, "review_area": "identity",
    "approval_rule": None, "approval_chain": [
        {"name": "area", "approvers": [], "require": "any"},
    ],
    "evaluated_at": "2026-11-20T10:00:02Z",
}  # fmt: skip
DECISION = {
    "id": DECISION_ID, "evaluation_id": EVALUATION_ID, "decision": "approve",
    "comment": "Fine for the pilot.", "conditions": "Pilot only.",
    "conditions_expire_on": None, "decided_by": "ana@example.com", "role": "pm",
    "on_behalf_of": None, "step": "area", "decided_at": "2026-11-20T11:30:00Z",
    "lapsed_at": None, "lapse_cause": None,
}  # fmt: skip
CHAIN = {
    "rule": None, "complete": True, "next_step": None, "next_approvers": [],
    "assigned_to": None,
    "steps": [{
        "name": "area", "require": "any", "approvers": [], "status": "approved", "awaiting": [],
        "approvals": [{"decided_by": "ana@example.com", "on_behalf_of": None, "role": "pm",
                       "decided_at": "2026-11-20T11:30:00Z", "evaluation_id": EVALUATION_ID}],
    }],
}  # fmt: skip
COMMITMENT_READ = {
    **COMMITMENT_LISTED, "deal": DEAL, "evaluation": EVALUATION, "evaluations": [EVALUATION],
    "decisions": [DECISION], "approval": CHAIN, "comments": [],
}  # fmt: skip
READINESS = {
    "deal_id": DEAL_ID, "ready": False,
    "blocking": [{"commitment_id": COMMITMENT_ID, "review_status": "needs_signoff",
                  "conflicts": [CONFLICT], "recheck_pending": False}],
}  # fmt: skip


def page_examples(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """`json_schema_extra` of a page (`items`, `next_cursor`): one page holding the first
    example of its item's model."""
    item = model.model_fields["items"].annotation.__args__[0]  # type: ignore[union-attr]
    examples = (item.model_config.get("json_schema_extra") or {}).get("examples")  # type: ignore[union-attr]
    if not examples:
        raise TypeError(f"{item.__name__} has no example for {model.__name__} to show")
    page: dict[str, Any] = {"items": examples[:1]}
    if "next_cursor" in model.model_fields:
        page["next_cursor"] = None
    schema["examples"] = [page]
