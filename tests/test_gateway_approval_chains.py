"""Approval chains (issue 13): the policy's rules choose a flagged promise's chain from what
the deal and the promise are; steps approve in order, or in parallel where all must; a
reject at any step rejects; a reopening asks again only the steps whose approvals no longer
cover. Through /v1, on both databases."""

import asyncio

import pytest

from tests.commitments_helpers import crm_event, promise
from tests.conftest import Stack
from tests.gateway_helpers import (
    ADMIN,
    PM,
    VIEWER,
    bearer,
    commitment,
    eventually,
    post_webhook,
    readiness,
    reviewer,
)

ANA, BEN = bearer("pm", sub="ana@example.com"), bearer("pm", sub="ben@example.com")
LEAD, CPO = bearer("pm", sub="lead@example.com"), bearer("pm", sub="cpo@example.com")
RULES = [
    {"name": "large-deals", "when": {"min_amount": {"USD": "100000"}},
     "steps": [{"name": "area reviewer"},
               {"name": "product lead", "approvers": ["lead@example.com", "cpo@example.com"]}]},
    {"name": "custom-work", "when": {"kinds": ["custom_work"]},
     "steps": [{"name": "leads", "approvers": ["lead@example.com", "cpo@example.com"],
                "require": "all"}]},
]  # fmt: skip
CUSTOM = promise("C-1", kind="custom_work", summary="A fork for Acme", roadmap_item_key=None)


@pytest.fixture
async def gateway(commitments_db_url: str, roadmap_db_url: str):
    async with Stack(commitments_db_url, roadmap_db_url, approval_rules=RULES).running() as client:
        await reviewer(client, "ana@example.com", "triage", "identity")
        yield client


async def flagged(gateway, *promises: dict, **deal: object) -> tuple[str, str]:
    answer = (await post_webhook(gateway, crm_event(*(promises or [CUSTOM]), **deal))).json()
    [found] = answer["commitments"]
    assert found["review_status"] == "needs_signoff", answer
    return answer["deal_id"], found["id"]


async def decide(gateway, commitment_id: str, headers: dict, decision: str = "approve", **body):
    return await gateway.post(
        f"/v1/commitments/{commitment_id}/decision",
        json={"decision": decision, "comment": body.pop("comment", "fine"), **body},
        headers=headers,
    )


async def test_a_large_deal_goes_through_its_chain_in_order(gateway):
    deal_id, commitment_id = await flagged(gateway)  # 250,000 USD: "large-deals"
    chain = (await commitment(gateway, commitment_id))["approval"]
    assert chain["rule"] == "large-deals"
    assert [s["name"] for s in chain["steps"]] == ["area reviewer", "product lead"]
    assert [s["status"] for s in chain["steps"]] == ["awaiting", "pending"]
    assert (chain["next_step"], chain["next_approvers"]) == ("area reviewer", ["ana@example.com"])

    early = await decide(gateway, commitment_id, LEAD)
    assert early.status_code == 409, early.text
    assert "'area reviewer'" in early.json()["detail"]

    first = await decide(gateway, commitment_id, ANA)
    assert first.status_code == 200, first.text
    assert first.json()["review_status"] == "needs_signoff"  # the chain is not complete
    assert first.json()["approval"]["next_step"] == "product lead"
    assert first.json()["approval"]["next_approvers"] == ["lead@example.com", "cpo@example.com"]
    assert (await readiness(gateway, deal_id))["ready"] is False

    retried = await decide(gateway, commitment_id, ANA)  # the same request again: a retry
    assert (retried.status_code, retried.json()["version"]) == (200, first.json()["version"])
    twice = await decide(gateway, commitment_id, ANA, comment="and the second step too")
    assert twice.status_code == 403, twice.text
    assert (
        "approved the step 'area reviewer' of this promise's chain already"
        in (twice.json()["detail"])
    )
    stranger = await decide(gateway, commitment_id, BEN)
    assert stranger.status_code == 403, stranger.text

    last = await decide(gateway, commitment_id, LEAD)
    assert last.status_code == 200, last.text
    read = last.json()
    assert read["review_status"] == "approved"
    assert read["approval"]["complete"] is True
    assert read["approval"]["next_step"] is None
    assert [s["status"] for s in read["approval"]["steps"]] == ["approved", "approved"]
    assert [d["step"] for d in read["decisions"]] == ["area reviewer", "product lead"]
    assert (await readiness(gateway, deal_id))["ready"] is True

    audit = await gateway.get("/v1/decisions", headers=VIEWER)
    assert [(d["decided_by"], d["step"]) for d in audit.json()["items"]] == [
        ("ana@example.com", "area reviewer"), ("lead@example.com", "product lead")
    ]  # fmt: skip


async def test_a_parallel_step_waits_for_each_of_its_approvers(gateway):
    # In euros no amount rule applies: custom work asks both leads, in any order.
    _, commitment_id = await flagged(gateway, currency="EUR")
    chain = (await commitment(gateway, commitment_id))["approval"]
    assert chain["rule"] == "custom-work"
    assert chain["next_approvers"] == ["lead@example.com", "cpo@example.com"]
    not_named = await decide(gateway, commitment_id, ANA)
    assert not_named.status_code == 403, not_named.text

    cpo = await decide(gateway, commitment_id, CPO)
    assert cpo.status_code == 200, cpo.text
    step = cpo.json()["approval"]["steps"][0]
    assert (step["status"], step["awaiting"]) == ("awaiting", ["lead@example.com"])
    assert cpo.json()["review_status"] == "needs_signoff"

    lead = await decide(gateway, commitment_id, LEAD)
    assert lead.json()["review_status"] == "approved"


async def test_a_delegate_stands_in_at_a_named_step(gateway):
    await reviewer(
        gateway, "lead@example.com", "leads",
        out_of_office={"from": "2026-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z",
                       "delegate": "ben@example.com"},
    )  # fmt: skip
    _, commitment_id = await flagged(gateway)
    await decide(gateway, commitment_id, ANA)

    stood_in = await decide(gateway, commitment_id, BEN)
    assert stood_in.status_code == 200, stood_in.text
    [_, second] = stood_in.json()["decisions"]
    assert (second["decided_by"], second["on_behalf_of"]) == ("ben@example.com", "lead@example.com")
    assert stood_in.json()["review_status"] == "approved"


async def test_a_reject_at_any_step_rejects(gateway):
    deal_id, commitment_id = await flagged(gateway)
    await decide(gateway, commitment_id, ANA)

    rejected = await decide(gateway, commitment_id, LEAD, "reject", comment="Not this quarter")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["review_status"] == "rejected"
    steps = rejected.json()["approval"]["steps"]
    assert [s["status"] for s in steps] == ["approved", "rejected"]
    assert rejected.json()["approval"]["next_step"] is None
    assert (await readiness(gateway, deal_id))["ready"] is False

    # An approver of a later step may reject before its turn too.
    _, other = await flagged(gateway, deal="D-2")
    early = await decide(gateway, other, LEAD, "reject", comment="No forks")
    assert (early.status_code, early.json()["review_status"]) == (200, "rejected")


async def test_an_admin_completes_the_step_whose_turn_it_is(gateway):
    _, commitment_id = await flagged(gateway)

    first = await decide(gateway, commitment_id, ADMIN)
    assert first.json()["approval"]["next_step"] == "product lead"
    second = await decide(gateway, commitment_id, bearer("admin", sub="root@example.com"))
    assert second.json()["review_status"] == "approved"


async def test_a_step_approval_may_be_recalled_and_that_step_is_asked_again(gateway):
    _, commitment_id = await flagged(gateway)
    approved = (await decide(gateway, commitment_id, ANA)).json()

    recalled = await gateway.post(
        f"/v1/commitments/{commitment_id}/recall", json={"reason": "wrong deal"}, headers=ANA
    )
    assert recalled.status_code == 200, recalled.text
    read = recalled.json()
    assert read["review_status"] == "needs_signoff"
    assert read["approval"]["next_step"] == "area reviewer"
    assert read["decisions"][0]["lapsed_at"] is not None
    assert read["version"] > approved["version"]

    nothing_left = await gateway.post(
        f"/v1/commitments/{commitment_id}/recall", json={"reason": "again?"}, headers=ANA
    )
    assert nothing_left.status_code == 409, nothing_left.text
    assert (await decide(gateway, commitment_id, ANA)).json()["approval"]["next_step"] == (
        "product lead"
    )


async def test_a_reopening_asks_again_only_the_steps_whose_approval_no_longer_covers(gateway):
    item = {
        "key": "RM-12", "title": "SSO", "status": "planned", "planned_end": "2027-04-01",
        "confidence": "high", "area": "identity",
    }  # fmt: skip
    assert (await gateway.post("/v1/roadmap/items", json=item, headers=PM)).status_code == 201
    on_rm12 = promise("C-1", roadmap_item_key="RM-12", promised_by="2027-03-01")
    _, commitment_id = await flagged(gateway, on_rm12)

    async def planned(end: str) -> dict:
        moved = await gateway.patch(
            "/v1/roadmap/items/RM-12", json={"planned_end": end}, headers=PM
        )
        assert moved.status_code == 200, moved.text
        return await eventually(
            lambda: commitment(gateway, commitment_id),
            lambda c: c["conflicts"][0]["evidence"]["planned_end"] == end,
        )

    await decide(gateway, commitment_id, ANA)  # on a plan of 1 April
    pulled_in = await planned("2027-03-15")  # better news: her approval still covers
    assert pulled_in["approval"]["next_step"] == "product lead"
    assert (await decide(gateway, commitment_id, LEAD)).json()["review_status"] == "approved"

    # Back to 1 April: a slip past what the lead approved (15 March), not past Ana's.
    reopened = await planned("2027-04-01")
    assert reopened["review_status"] == "needs_signoff"
    assert reopened["reopen_reason"]
    steps = reopened["approval"]["steps"]
    assert [s["status"] for s in steps] == ["approved", "awaiting"]
    assert [a["decided_by"] for a in steps[0]["approvals"]] == ["ana@example.com"]
    assert (await decide(gateway, commitment_id, LEAD)).json()["review_status"] == "approved"


async def test_concurrent_approvals_of_one_step_give_one_winner(gateway):
    """Both leads approve the one-of-them step at once: one approval completes the chain,
    the other finds nothing left to approve (409)."""
    _, commitment_id = await flagged(gateway)
    await decide(gateway, commitment_id, ANA)

    answers = await asyncio.gather(
        decide(gateway, commitment_id, LEAD), decide(gateway, commitment_id, CPO)
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    read = await commitment(gateway, commitment_id)
    assert read["review_status"] == "approved"
    assert len(read["decisions"]) == 2
    [winner] = [a for a in answers if a.status_code == 200]
    assert read["decisions"][1]["decided_by"] == winner.json()["decisions"][1]["decided_by"]


async def test_without_a_rule_that_holds_one_area_reviewer_decides(gateway):
    small = promise("C-2", kind="feature", roadmap_item_key=None, summary="Audit log export")
    _, other = await flagged(gateway, small, amount="5000.00", deal="D-10")
    chain = (await commitment(gateway, other))["approval"]
    assert (chain["rule"], [s["name"] for s in chain["steps"]]) == (None, ["area reviewer"])
    assert (await decide(gateway, other, ANA)).json()["review_status"] == "approved"


async def test_approval_rules_the_gateway_cannot_use_are_refused_at_start():
    from pydantic import ValidationError

    from tests.conftest import gateway_settings

    for rules in (
        [{"name": "x", "steps": []}],
        [{"name": "x", "steps": [{"name": "a"}, {"name": "A"}]}],
        [{"name": "x", "steps": [{"name": "a", "require": "all"}]}],
        [{"name": "x", "when": {"min_amount": {"usd": "1"}}, "steps": [{"name": "a"}]}],
        [{"name": "x", "when": {"conflict_codes": ["date_befor_plan"]}, "steps": [{"name": "a"}]}],
        [{"name": "x", "steps": [{"name": "a"}]}, {"name": "X", "steps": [{"name": "a"}]}],
    ):
        with pytest.raises(ValidationError):
            gateway_settings(approval_rules=rules)
