"""The policy's escalation and conditions that expire, run by the gateway's periodic round
(DEALGATE_ESCALATION_ACTION, DEALGATE_SIGNOFF_CHECK_INTERVAL_SECONDS), and reassignment
through /v1. On both databases."""

from datetime import timedelta

from kit.db import utcnow
from tests.commitments_helpers import crm_event, promise
from tests.conftest import Stack
from tests.gateway_helpers import (
    ADMIN,
    VIEWER,
    bearer,
    commitment,
    eventually,
    post_webhook,
    reviewer,
)

ANA, BEN = bearer("pm", sub="ana@example.com"), bearer("pm", sub="ben@example.com")
CUSTOM = promise("C-1", kind="custom_work", summary="A fork for Acme", roadmap_item_key=None)


async def flagged(gateway) -> str:
    answer = (await post_webhook(gateway, crm_event(CUSTOM))).json()
    [found] = answer["commitments"]
    assert found["review_status"] == "needs_signoff", answer
    return found["id"]


async def test_an_overdue_sign_off_is_rejected_by_the_policy_when_opted_in(
    commitments_db_url, roadmap_db_url
):
    stack = Stack(
        commitments_db_url,
        roadmap_db_url,
        signoff_check_interval_seconds=0.05,
        signoff_sla_hours=4,
        escalation_action="auto_reject",
    )
    async with stack.running() as gateway:
        commitment_id = await flagged(gateway)
        stack.commitments_app.state.clock = lambda: utcnow() + timedelta(hours=5)

        read = await eventually(
            lambda: commitment(gateway, commitment_id),
            lambda c: c["review_status"] == "rejected",
        )
        [decision] = read["decisions"]
        assert (decision["decided_by"], decision["role"]) == ("dealgate", "system")
        assert "SLA of 4 hours" in decision["comment"]
        audit = await gateway.get("/v1/decisions", headers=VIEWER)
        assert [d["decided_by"] for d in audit.json()["items"]] == ["dealgate"]


async def test_conditions_that_expire_reopen_the_approval(commitments_db_url, roadmap_db_url):
    stack = Stack(commitments_db_url, roadmap_db_url, signoff_check_interval_seconds=0.05)
    async with stack.running() as gateway:
        await reviewer(gateway)
        commitment_id = await flagged(gateway)
        until = (utcnow() + timedelta(days=30)).date().isoformat()
        approved = await gateway.post(
            f"/v1/commitments/{commitment_id}/decision",
            json={"decision": "approve", "comment": "For the pilot", "conditions": "Pilot only.",
                  "conditions_expire_on": until},
            headers=ANA,
        )  # fmt: skip
        assert approved.status_code == 200, approved.text
        assert approved.json()["decisions"][0]["conditions_expire_on"] == until

        stack.commitments_app.state.clock = lambda: utcnow() + timedelta(days=31)
        reopened = await eventually(
            lambda: commitment(gateway, commitment_id),
            lambda c: c["review_status"] == "needs_signoff",
        )
        assert reopened["reopen_reason"].startswith("The conditions of ana@example.com's")


async def test_an_expiry_needs_an_approvals_conditions(gateway):
    await reviewer(gateway)
    commitment_id = await flagged(gateway)

    refused = await gateway.post(
        f"/v1/commitments/{commitment_id}/decision",
        json={"decision": "approve", "comment": "ok", "conditions_expire_on": "2027-01-01"},
        headers=ANA,
    )

    assert refused.status_code == 422, refused.text
    assert (await commitment(gateway, commitment_id))["decisions"] == []


async def test_a_reviewer_reassigns_through_the_api(gateway):
    await reviewer(gateway)
    await reviewer(gateway, "ben@example.com", "billing")
    commitment_id = await flagged(gateway)

    handed = await gateway.post(
        f"/v1/commitments/{commitment_id}/reassignment",
        json={"assignee": "ben@example.com", "reason": "Ben owns Acme."},
        headers=ANA,
    )
    assert handed.status_code == 200, handed.text
    assert handed.json()["approval"]["assigned_to"] == "ben@example.com"
    assert handed.json()["comments"][0]["author"] == "ana@example.com"

    not_his = await gateway.post(
        f"/v1/commitments/{commitment_id}/reassignment",
        json={"assignee": "ana@example.com"},
        headers=bearer("pm", sub="cy@example.com"),
    )
    assert not_his.status_code == 403, not_his.text
    viewer = await gateway.post(
        f"/v1/commitments/{commitment_id}/reassignment",
        json={"assignee": "ana@example.com"},
        headers=VIEWER,
    )
    assert viewer.status_code == 403
    by_admin = await gateway.post(
        f"/v1/commitments/{commitment_id}/reassignment",
        json={"assignee": "ana@example.com"},
        headers=ADMIN,
    )
    assert by_admin.json()["approval"]["assigned_to"] == "ana@example.com"

    decided = await gateway.post(
        f"/v1/commitments/{commitment_id}/decision",
        json={"decision": "approve", "comment": "ok"},
        headers=BEN,
    )
    assert decided.status_code == 403, decided.text  # the turn went on to Ana
