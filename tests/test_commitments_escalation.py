"""Issue 13 at the commitments service: reassignment, the policy's escalation of an overdue
sign-off, conditions that expire, and events that name who may decide now (the reviewers
directory). On both databases."""

from datetime import timedelta

import pytest

from kit.db import utcnow
from tests.commitments_helpers import crm_event, decide, evaluate, read, slip, take
from tests.gateway_helpers import TRIAGE
from tests.outbound_helpers import drain, subscribe

CHAIN = [
    {"name": "area reviewer"},
    {"name": "product lead", "approvers": ["lead@example.com"]},
]


@pytest.fixture
async def outbound(outbound):
    """The service and its receiver (conftest), with three reviewers in the directory."""
    _, client, _ = outbound
    for email, body in (
        ("ana@example.com", {"areas": [TRIAGE], "escalation_contact": "boss@example.com"}),
        ("ben@example.com", {"areas": ["billing"]}),
        ("lead@example.com", {"areas": ["leads"], "escalation_contact": "cpo@example.com"}),
    ):
        assert (await client.put(f"/reviewers/{email}", json=body)).status_code == 201
    return outbound


async def flagged(client, deal: str = "D-1", **evaluation) -> str:
    commitment_id = (await take(client, crm_event(deal=deal)))["commitments"][0]["id"]
    await evaluated_with(client, commitment_id, **evaluation)
    return commitment_id


async def evaluated_with(client, commitment_id: str, **fields) -> None:
    response = await evaluate(client, commitment_id, slip("2027-04-01"), **fields)
    assert response.status_code == 200, response.text


async def comment(client, commitment_id: str, **body):
    return await client.post(f"/commitments/{commitment_id}/comments", json=body)


async def alerts(app, client, hours: float, action: str = "notify") -> int:
    app.state.clock = lambda: utcnow() + timedelta(hours=hours)
    response = await client.post(
        "/work/signoff-alerts",
        json={"sla_hours": 48, "reminder_fractions": [0.5], "overdue_action": action},
    )
    assert response.status_code == 200, response.text
    return response.json()["sent"]


async def expire(app, client, days: int) -> int:
    app.state.clock = lambda: utcnow() + timedelta(days=days)
    response = await client.post("/work/condition-expiries", json={})
    assert response.status_code == 200, response.text
    return response.json()["moved"]


# Reassignment ------------------------------------------------------------------------------


async def test_a_reviewer_hands_the_turn_to_another_who_may_then_decide(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, "commitment.reassigned")
    commitment_id = await flagged(client)

    handed = await comment(
        client, commitment_id, kind="reassignment", body="Ben owns this account.",
        assignee="ben@example.com", author="ana@example.com", role="pm",
    )  # fmt: skip
    assert handed.status_code == 200, handed.text
    read_now = await read(client, commitment_id)
    assert read_now["review_status"] == "needs_signoff"
    assert read_now["approval"]["assigned_to"] == "ben@example.com"
    assert read_now["approval"]["next_approvers"] == ["ben@example.com", "ana@example.com"]
    [thread] = read_now["comments"]
    assert (thread["kind"], thread["assignee"]) == ("reassignment", "ben@example.com")

    await drain(app)
    [event] = receiver.events
    assert event["type"] == "commitment.reassigned"
    assert event["data"]["reviewers"][0] == "ben@example.com"
    assert event["data"]["comment"]["body"] == "Ben owns this account."

    # Ben reviews billing, not triage: only the reassignment lets him decide.
    approved = await client.post(
        f"/commitments/{commitment_id}/decisions",
        json={"decision": "approve", "comment": "ok", "decided_by": "ben@example.com",
              "role": "pm"},
    )  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert (await read(client, commitment_id))["review_status"] == "approved"


async def test_who_may_reassign_and_to_whom(outbound):
    _, client, _ = outbound
    commitment_id = await flagged(client)
    body = {"kind": "reassignment", "assignee": "ben@example.com", "role": "pm"}

    stranger = await comment(client, commitment_id, author="ben@example.com", **body)
    assert stranger.status_code == 403, stranger.text
    nobody = await comment(
        client, commitment_id, **{**body, "assignee": "who@example.com"}, author="ana@example.com"
    )
    assert nobody.status_code == 422, nobody.text
    assert nobody.json()["errors"][0]["field"] == "assignee"
    no_assignee = await comment(
        client, commitment_id, kind="reassignment", author="ana@example.com", role="pm"
    )
    assert no_assignee.status_code == 422
    assert (await read(client, commitment_id))["comments"] == []  # nothing written

    assert (await decide(client, commitment_id)).status_code == 200
    settled = await comment(client, commitment_id, author="ana@example.com", **body)
    assert settled.status_code == 409, settled.text


async def test_the_same_reassignment_again_writes_nothing_more(outbound):
    _, client, _ = outbound
    commitment_id = await flagged(client)
    body = {"kind": "reassignment", "assignee": "ben@example.com", "author": "ana@example.com",
            "role": "pm"}  # fmt: skip

    first = await comment(client, commitment_id, **body)
    again = await comment(client, commitment_id, **body)

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["version"] == again.json()["version"]
    assert len((await read(client, commitment_id))["comments"]) == 1


# Escalation of an overdue sign-off -------------------------------------------------------


async def test_overdue_by_default_tells_the_escalation_contacts_and_changes_nothing(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, "signoff.overdue")
    commitment_id = await flagged(client)

    assert await alerts(app, client, 49) == 1
    await drain(app)
    [overdue] = receiver.events
    assert overdue["data"]["reviewers"] == ["ana@example.com"]
    assert overdue["data"]["escalation_contacts"] == ["boss@example.com"]
    read_now = await read(client, commitment_id)
    assert (read_now["review_status"], read_now["decisions"]) == ("needs_signoff", [])


async def test_overdue_may_reassign_to_the_escalation_contact(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, "commitment.reassigned")
    commitment_id = await flagged(client)

    assert await alerts(app, client, 49, action="reassign") == 1
    read_now = await read(client, commitment_id)
    assert read_now["approval"]["assigned_to"] == "boss@example.com"
    [thread] = read_now["comments"]
    assert (thread["author"], thread["role"]) == ("dealgate", "system")
    assert "overdue" in thread["body"]
    await drain(app)
    assert receiver.types() == ["commitment.reassigned"]
    assert await alerts(app, client, 100, action="reassign") == 0  # once per evaluation


async def test_overdue_may_approve_every_step_left_as_the_system(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, "commitment.approved")
    commitment_id = await flagged(client, approval_rule="two-step", approval_chain=CHAIN)

    assert await alerts(app, client, 49, action="auto_approve") == 1

    read_now = await read(client, commitment_id)
    assert read_now["review_status"] == "approved"
    assert [(d["decided_by"], d["role"], d["step"]) for d in read_now["decisions"]] == [
        ("dealgate", "system", "area reviewer"),
        ("dealgate", "system", "product lead"),
    ]
    assert all("overdue" in d["comment"] for d in read_now["decisions"])
    await drain(app)
    assert receiver.types() == ["commitment.approved"]


async def test_overdue_may_reject_as_the_system(outbound):
    app, client, _ = outbound
    commitment_id = await flagged(client)

    assert await alerts(app, client, 49, action="auto_reject") == 1

    read_now = await read(client, commitment_id)
    assert read_now["review_status"] == "rejected"
    assert read_now["decisions"][0]["decided_by"] == "dealgate"


async def test_an_unknown_escalation_is_refused(outbound):
    _, client, _ = outbound
    response = await client.post(
        "/work/signoff-alerts", json={"sla_hours": 48, "overdue_action": "auto_delete"}
    )
    assert response.status_code == 422


# Conditions that expire --------------------------------------------------------------------


async def approve_with_expiry(client, commitment_id: str, by: str, until: str, **extra):
    body = {"decision": "approve", "comment": "ok", "conditions": "Pilot only.",
            "conditions_expire_on": until, "decided_by": by, "role": "pm", **extra}  # fmt: skip
    return await client.post(f"/commitments/{commitment_id}/decisions", json=body)


async def test_an_approval_whose_conditions_expire_reopens_with_that_reason(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, "commitment.reopened")
    commitment_id = await flagged(client)
    until = (utcnow() + timedelta(days=10)).date().isoformat()
    approved = await approve_with_expiry(client, commitment_id, "ana@example.com", until)
    assert approved.status_code == 200, approved.text

    assert await expire(app, client, 9) == 0
    assert await expire(app, client, 10) == 1
    assert await expire(app, client, 11) == 0  # lapsed once

    read_now = await read(client, commitment_id)
    assert read_now["review_status"] == "needs_signoff"
    assert read_now["reopen_reason"] == (
        f"The conditions of ana@example.com's approval expired on {until}: Pilot only."
    )
    [decision] = read_now["decisions"]
    assert (decision["lapse_cause"], decision["conditions_expire_on"]) == (
        "conditions_expired", until
    )  # fmt: skip
    await drain(app)
    [reopened] = receiver.events
    assert reopened["data"]["reason"]["cause"]["kind"] == "conditions_expired"
    assert reopened["data"]["reviewers"] == ["ana@example.com"]
    again = await approve_with_expiry(client, commitment_id, "ana@example.com", until, comment="x")
    assert again.status_code == 200  # the lapsed approval no longer stands: it may be given anew


async def test_an_expired_step_approval_asks_that_step_again(outbound):
    app, client, _ = outbound
    commitment_id = await flagged(client, approval_rule="two-step", approval_chain=CHAIN)
    until = (utcnow() + timedelta(days=3)).date().isoformat()
    assert (
        await approve_with_expiry(client, commitment_id, "ana@example.com", until)
    ).status_code == 200
    assert (await read(client, commitment_id))["approval"]["next_step"] == "product lead"

    assert await expire(app, client, 3) == 1

    read_now = await read(client, commitment_id)
    assert read_now["review_status"] == "needs_signoff"
    assert read_now["approval"]["next_step"] == "area reviewer"


async def test_an_expired_approval_that_no_longer_stands_just_lapses(outbound):
    app, client, _ = outbound
    commitment_id = await flagged(client)
    until = (utcnow() + timedelta(days=3)).date().isoformat()
    await approve_with_expiry(client, commitment_id, "ana@example.com", until)
    recalled = await comment(
        client, commitment_id, kind="recall", author="ana@example.com", role="pm"
    )
    assert recalled.status_code == 200, recalled.text

    assert await expire(app, client, 5) == 0
    assert (await read(client, commitment_id))["decisions"][0]["lapse_cause"] == "recalled"


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "reject", "comment": "no", "conditions": "x"},
        {"decision": "approve", "comment": "ok"},  # no conditions to expire
    ],
)
async def test_only_an_approvals_conditions_can_expire(outbound, body):
    _, client, _ = outbound
    commitment_id = await flagged(client)
    response = await client.post(
        f"/commitments/{commitment_id}/decisions",
        json={**body, "conditions_expire_on": "2027-01-01", "decided_by": "ana@example.com",
              "role": "pm"},
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert (await read(client, commitment_id))["decisions"] == []


# The next step is asked ----------------------------------------------------------------------


async def test_a_step_approved_asks_the_next_steps_approvers(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, "commitment.step_approved", "commitment.approved")
    commitment_id = await flagged(client, approval_rule="two-step", approval_chain=CHAIN)

    assert (await decide(client, commitment_id)).status_code == 200  # ana, the area's
    await drain(app)
    [asked] = receiver.events
    assert asked["type"] == "commitment.step_approved"
    assert asked["data"]["reviewers"] == ["lead@example.com"]
    assert (asked["data"]["decision"]["decided_by"], asked["data"]["decision"]["step"]) == (
        "ana@example.com", "area reviewer"
    )  # fmt: skip

    assert (await decide(client, commitment_id, by="lead@example.com")).status_code == 200
    await drain(app)
    assert receiver.types() == ["commitment.step_approved", "commitment.approved"]


# Review of the chain rules -------------------------------------------------------------------

ALL = [{"name": "leads", "approvers": ["lead@example.com", "ben@example.com"], "require": "all"}]


async def test_a_step_needing_each_of_its_approvers_cannot_be_handed_to_one(outbound):
    _, client, _ = outbound
    commitment_id = await flagged(client, approval_rule="all", approval_chain=ALL)

    handed = await comment(
        client, commitment_id, kind="reassignment", assignee="ana@example.com",
        author="lead@example.com", role="pm",
    )  # fmt: skip

    assert handed.status_code == 409, handed.text
    assert (await read(client, commitment_id))["comments"] == []


async def test_only_an_approver_of_the_turn_hands_it_over_and_only_for_that_turn(outbound):
    _, client, _ = outbound
    commitment_id = await flagged(client, approval_rule="two-step", approval_chain=CHAIN)
    body = {"kind": "reassignment", "assignee": "ben@example.com", "role": "pm"}

    later = await comment(client, commitment_id, author="lead@example.com", **body)
    assert later.status_code == 403, later.text  # the lead's step is not the turn

    assert (
        await comment(client, commitment_id, author="ana@example.com", **body)
    ).status_code == 200
    assert (await decide(client, commitment_id, by="ben@example.com")).status_code == 200
    read_now = await read(client, commitment_id)
    assert read_now["approval"]["next_step"] == "product lead"
    assert read_now["approval"]["assigned_to"] is None  # that turn is over


async def test_recalling_again_after_deciding_again_recalls_again(outbound):
    _, client, _ = outbound
    commitment_id = await flagged(client, approval_rule="two-step", approval_chain=CHAIN)
    recall = {"kind": "recall", "author": "ana@example.com", "role": "pm"}

    for _ in range(2):
        assert (await decide(client, commitment_id)).status_code == 200
        assert (await read(client, commitment_id))["approval"]["next_step"] == "product lead"
        assert (await comment(client, commitment_id, **recall)).status_code == 200
        assert (await read(client, commitment_id))["approval"]["next_step"] == "area reviewer"

    assert [d["lapse_cause"] for d in (await read(client, commitment_id))["decisions"]] == [
        "recalled", "recalled"
    ]  # fmt: skip


async def test_an_expired_approval_beside_another_that_still_holds_moves_nothing(outbound):
    app, client, _ = outbound
    commitment_id = await flagged(client, approval_rule="all", approval_chain=ALL)
    until = (utcnow() + timedelta(days=3)).date().isoformat()
    await approve_with_expiry(client, commitment_id, "lead@example.com", until)
    assert (await decide(client, commitment_id, by="ben@example.com")).status_code == 200
    assert (await read(client, commitment_id))["review_status"] == "approved"

    assert await expire(app, client, 4) == 1  # lead's half of the step lapsed: asked again
    read_now = await read(client, commitment_id)
    assert read_now["review_status"] == "needs_signoff"
    assert read_now["approval"]["steps"][0]["awaiting"] == ["lead@example.com"]


async def test_an_expired_approval_that_no_longer_counts_moves_nothing(outbound):
    """Lead approved a plan of 1 April until a day; the item slipped, and Ben approved the
    slip with no end. Lead's approval no longer covers anything: its expiry lapses it alone."""
    app, client, _ = outbound
    any_of = [{"name": "leads", "approvers": ["lead@example.com", "ben@example.com"]}]
    chain = {"approval_rule": "any", "approval_chain": any_of}
    commitment_id = await flagged(client, **chain)
    until = (utcnow() + timedelta(days=3)).date().isoformat()
    await approve_with_expiry(client, commitment_id, "lead@example.com", until)
    slipped = await evaluate(client, commitment_id, slip("2027-05-01"), **chain)
    assert slipped.json()["review_status"] == "needs_signoff"
    assert (await decide(client, commitment_id, by="ben@example.com")).status_code == 200

    assert await expire(app, client, 4) == 0
    read_now = await read(client, commitment_id)
    assert read_now["review_status"] == "approved"
    assert [d["lapse_cause"] for d in read_now["decisions"]] == ["conditions_expired", None]


async def test_an_approver_stood_in_for_at_one_step_approves_no_other(outbound):
    _, client, _ = outbound
    away = {"from": "2026-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z",
            "delegate": "ben@example.com"}  # fmt: skip
    put = await client.put(
        "/reviewers/lead@example.com", json={"areas": ["leads"], "out_of_office": away}
    )
    assert put.status_code == 200, put.text
    two = [{"name": "first", "approvers": ["lead@example.com"]},
           {"name": "second", "approvers": ["lead@example.com", "cpo@example.com"]}]  # fmt: skip
    commitment_id = await flagged(client, approval_rule="two", approval_chain=two)

    stood_in = await decide(client, commitment_id, by="ben@example.com")
    assert stood_in.status_code == 200, stood_in.text
    again = await decide(client, commitment_id, by="lead@example.com", comment="second")
    assert again.status_code == 403, again.text
    assert "approved the step 'first'" in again.json()["detail"]
