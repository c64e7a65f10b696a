"""The whole story through the public API, the three apps in-process on each database: a
signed webhook, the rules, the closing gate, PM decisions, a roadmap slip reopening an
approval, and a roadmap outage that loses nothing."""

import asyncio
import json

import httpx

from tests.commitments_helpers import crm_event
from tests.gateway_helpers import (
    PM,
    THREE_PROMISES,
    VIEWER,
    Intercepting,
    bearer,
    commitment,
    eventually,
    post_webhook,
    readiness,
    reviewer,
    roadmap_with_two_items,
    statuses,
)


async def test_a_deal_from_webhook_to_sign_off_to_a_slip_that_reopens(gateway):
    await roadmap_with_two_items(gateway)
    for pm in ("ana@example.com", "bo@example.com"):
        await reviewer(gateway, pm)

    response = await post_webhook(gateway, crm_event(*THREE_PROMISES))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "accepted"
    assert statuses(answer) == {"C-1": "needs_signoff", "C-2": "cleared", "C-3": "needs_signoff"}
    ids = {c["external_id"]: c["id"] for c in answer["commitments"]}
    first = await commitment(gateway, ids["C-1"])
    assert [c["code"] for c in first["conflicts"]] == ["date_before_plan"]
    assert first["conflicts"][0]["evidence"]["planned_end"] == "2027-04-01"

    gate = await readiness(gateway, answer["deal_id"])
    assert gate["ready"] is False
    assert {b["commitment_id"] for b in gate["blocking"]} == {ids["C-1"], ids["C-3"]}

    etag = (await gateway.get(f"/v1/commitments/{ids['C-1']}", headers=PM)).headers["ETag"]
    approved = await gateway.post(
        f"/v1/commitments/{ids['C-1']}/decision",
        json={"decision": "approve", "comment": "GA slips are fine", "conditions": "Pilot"},
        headers={**PM, "If-Match": etag},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["review_status"] == "approved"
    assert approved.json()["decisions"][0]["decided_by"] == "ana@example.com"
    assert approved.headers["ETag"] != etag
    rejected = await gateway.post(
        f"/v1/commitments/{ids['C-3']}/decision",
        json={"decision": "reject", "comment": "We do not fork"},
        headers=bearer("pm", sub="bo@example.com"),
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["decisions"][0]["decided_by"] == "bo@example.com"
    gate = await readiness(gateway, answer["deal_id"])
    assert [b["commitment_id"] for b in gate["blocking"]] == [ids["C-3"]]

    # The CRM drops the rejected promise: the deal may close.
    dropped = await post_webhook(gateway, crm_event(*THREE_PROMISES[:2], updated=5))
    assert statuses(dropped.json())["C-3"] == "withdrawn"
    assert (await readiness(gateway, answer["deal_id"]))["ready"] is True

    # RM-12 slips past what was approved: the approval no longer covers it.
    slipped = await gateway.patch(
        "/v1/roadmap/items/RM-12", json={"planned_end": "2027-05-01"}, headers=PM
    )
    assert slipped.status_code == 200, slipped.text
    reopened = await eventually(
        lambda: commitment(gateway, ids["C-1"]), lambda c: c["review_status"] == "needs_signoff"
    )
    assert reopened["reopen_reason"]
    assert reopened["conflicts"][0]["evidence"]["planned_end"] == "2027-05-01"
    assert (await readiness(gateway, answer["deal_id"]))["ready"] is False
    assert (await commitment(gateway, ids["C-2"]))["review_status"] == "cleared"


async def test_with_the_roadmap_down_the_event_is_taken_and_evaluated_once_it_is_back(
    stack, gateway
):
    await roadmap_with_two_items(gateway)
    stack.roadmap_network.up = False

    response = await post_webhook(gateway, crm_event(*THREE_PROMISES))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(statuses(answer).values()) == {"evaluation_pending"}
    gate = await readiness(gateway, answer["deal_id"])
    assert gate["ready"] is False

    stack.roadmap_network.up = True

    async def all_statuses() -> dict[str, str]:
        listed = await gateway.get(
            "/v1/commitments", params={"deal_id": answer["deal_id"]}, headers=VIEWER
        )
        return {c["external_id"]: c["review_status"] for c in listed.json()["items"]}

    settled = await eventually(all_statuses, lambda s: "evaluation_pending" not in s.values())
    assert settled == {"C-1": "needs_signoff", "C-2": "cleared", "C-3": "needs_signoff"}


async def test_a_roadmap_that_answers_but_cannot_be_read_does_not_spin_the_queue(stack, gateway):
    await roadmap_with_two_items(gateway)
    claims: list[dict] = []

    async def recording_claims(request: httpx.Request) -> None:
        if request.url.path == "/work/claims":
            claims.append(json.loads(await request.aread()))

    async def unreadable_items(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/items/batch":
            return None
        return httpx.Response(500, json={"type": "x", "title": "Boom", "status": 500})

    network = stack.commitments_network
    network.inner = Intercepting(network.inner, recording_claims)
    stack.roadmap_network.inner = Intercepting(stack.roadmap_network.inner, unreadable_items)

    answer = (await post_webhook(gateway, crm_event(THREE_PROMISES[0]))).json()
    await asyncio.sleep(3)  # fifteen sweep intervals

    assert statuses(answer) == {"C-1": "evaluation_pending"}
    assert claims  # the sweep went on claiming, paused work aside
    assert not any(body.get("retry_waiting") for body in claims)
    assert stack.gateway_app.state.roadmap.breaker.is_open is False
