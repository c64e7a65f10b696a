"""The closing gate never lies, even for a moment: once a roadmap write has been answered,
every readiness read and every breach check already reflects it, on each database."""

import asyncio
import time

from tests.commitments_helpers import crm_event, promise
from tests.conftest import SERVICE_TOKEN, Stack
from tests.gateway_helpers import (
    CRM,
    PM,
    VIEWER,
    eventually,
    post_webhook,
    readiness,
    reviewer,
    roadmap_with_two_items,
)
from tests.support.clients import client_of

ON_TIME = "2027-04-01"  # RM-12's plan: the promise (2027-06-01) is well after it
SLIPPED = "2027-07-01"  # past the promise: date_before_plan
READERS = 4


async def ready_deal(gateway) -> str:
    await roadmap_with_two_items(gateway)
    answer = await post_webhook(
        gateway, crm_event(promise("C-1", roadmap_item_key="RM-12", promised_by="2027-06-01"))
    )
    deal = answer.json()["deal_id"]
    await eventually(lambda: readiness(gateway, deal), lambda gate: gate["ready"])
    return deal


async def plan(gateway, planned_end: str) -> None:
    response = await gateway.patch(
        "/v1/roadmap/items/RM-12", json={"planned_end": planned_end}, headers=PM
    )
    assert response.status_code == 200, response.text


async def test_readiness_read_right_after_a_slip_is_answered_never_says_ready(gateway):
    deal = await ready_deal(gateway)
    reads: list[tuple[float, bool]] = []  # (when the read began, what it answered)
    slips: list[tuple[float, float]] = []  # (the slip answered, the pull-in sent)
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            began = time.monotonic()
            reads.append((began, (await readiness(gateway, deal))["ready"]))

    readers = [asyncio.create_task(reader()) for _ in range(READERS)]
    try:
        for _ in range(6):
            await plan(gateway, SLIPPED)
            answered = time.monotonic()
            right_after = await readiness(gateway, deal)
            assert right_after["ready"] is False
            assert (
                right_after["blocking"][0]["recheck_pending"]
                or right_after["blocking"][0]["review_status"] == "needs_signoff"
            )
            await eventually(
                lambda: readiness(gateway, deal),
                lambda gate: (
                    gate["blocking"] and gate["blocking"][0]["review_status"] == "needs_signoff"
                ),
            )
            pull_in = time.monotonic()
            slips.append((answered, pull_in))
            await plan(gateway, ON_TIME)
            await eventually(lambda: readiness(gateway, deal), lambda gate: gate["ready"])
    finally:
        stop.set()
        await asyncio.gather(*readers)

    lies = [
        began
        for began, ready in reads
        if ready and any(answered <= began < pull_in for answered, pull_in in slips)
    ]
    assert lies == []
    assert len(reads) > 20


async def test_a_close_right_after_a_slip_is_answered_is_a_breach(stack, gateway):
    deal = await ready_deal(gateway)
    stack.feed_network.up = False  # the gateway's own marking must be enough

    await plan(gateway, SLIPPED)
    closing = await post_webhook(
        gateway,
        crm_event(
            promise("C-1", roadmap_item_key="RM-12", promised_by="2027-06-01"),
            stage="closed_won",
            updated=1,
        ),
    )

    assert closing.status_code == 200, closing.text
    summary = (await gateway.get("/v1/reports/summary", headers=VIEWER)).json()
    assert summary["breaches"][0]["breaches"] == 1
    assert (await gateway.get(f"/v1/deals/{deal}/readiness", headers=CRM)).json()["ready"] is False


async def test_a_tag_turning_non_goal_is_reflected_at_once(stack, gateway):
    deal = await ready_deal(gateway)
    stack.feed_network.up = False  # the gateway's own marking must be enough

    turned = await gateway.patch(
        "/v1/roadmap/vision-tags/enterprise-security", json={"kind": "non_goal"}, headers=PM
    )
    gate = await readiness(gateway, deal)
    renamed = await gateway.patch(
        "/v1/roadmap/vision-tags/on-prem", json={"name": "On premises"}, headers=PM
    )

    assert turned.status_code == 200, turned.text
    assert gate["ready"] is False
    assert renamed.status_code == 200
    settled = await eventually(
        lambda: readiness(gateway, deal),
        lambda gate: gate["blocking"] and not gate["blocking"][0]["recheck_pending"],
    )
    assert "non_goal" in [c["code"] for c in settled["blocking"][0]["conflicts"]]


async def test_the_change_feed_marks_nothing_the_gateway_marked_as_it_wrote(stack, gateway):
    deal = await ready_deal(gateway)
    stack.feed_network.up = False
    await plan(gateway, SLIPPED)
    await eventually(
        lambda: readiness(gateway, deal),
        lambda gate: gate["blocking"] and not gate["blocking"][0]["recheck_pending"],
    )
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with client_of(stack.roadmap_app, SERVICE_TOKEN) as roadmap:
        log = (await roadmap.get("/changes", params={"after": 0})).json()["changes"]

    redelivered = await gateway.post(
        "/internal/roadmap-changes", json={"changes": log}, headers=service
    )
    unseen = {**log[-1], "id": log[-1]["id"] + 1, "new_version": log[-1]["new_version"] + 1}
    newer = await gateway.post(
        "/internal/roadmap-changes", json={"changes": [unseen]}, headers=service
    )

    assert [c["key"] for c in log if c["entity"] == "roadmap_item"][-1] == "RM-12"
    assert redelivered.json() == {"marked": 0}
    assert newer.json() == {"marked": 1}


async def test_an_approval_landing_on_an_evaluation_under_way_opens_the_gate_soon_after(
    commitments_db_url, roadmap_db_url
):
    stack = Stack(commitments_db_url, roadmap_db_url, sweep_interval_seconds=30)
    async with stack.running() as gateway, client_of(stack.commitments_app, SERVICE_TOKEN) as svc:
        await roadmap_with_two_items(gateway)
        await reviewer(gateway)
        answer = await post_webhook(
            gateway, crm_event(promise("C-1", roadmap_item_key="RM-12", promised_by="2027-03-01"))
        )
        commitment_id, deal = answer.json()["commitments"][0]["id"], answer.json()["deal_id"]
        # Another replica's evaluation of it is under way: marked and claimed, not recorded.
        await svc.post("/work/rechecks", json={"commitment_ids": [commitment_id]})
        claimed = await svc.post("/work/claims", json={"commitment_ids": [commitment_id]})
        assert len(claimed.json()["items"]) == 1

        approved = await gateway.post(
            f"/v1/commitments/{commitment_id}/decision",
            json={"decision": "approve", "comment": "fine"},
            headers=PM,
        )
        held = await readiness(gateway, deal)

        assert approved.status_code == 200, approved.text
        assert held["blocking"][0]["recheck_pending"] is True
        # Evaluated again at once (the sweep runs every 30 s here): the gate opens.
        await eventually(lambda: readiness(gateway, deal), lambda gate: gate["ready"], seconds=5)


async def test_repeating_a_delete_whose_marking_failed_still_holds_the_gate(stack, gateway):
    deal = await ready_deal(gateway)
    stack.feed_network.up = False  # the gateway's own marking must be enough
    stack.commitments_network.up = False

    first = await gateway.delete("/v1/roadmap/items/RM-12", headers=PM)
    stack.commitments_network.up = True
    repeated = await eventually(
        lambda: gateway.delete("/v1/roadmap/items/RM-12", headers=PM),
        lambda response: response.status_code != 503,
    )
    gate = await readiness(gateway, deal)

    assert first.status_code == 503
    assert "saved" in first.json()["detail"]
    assert repeated.status_code == 404
    assert gate["ready"] is False
    settled = await eventually(
        lambda: readiness(gateway, deal),
        lambda gate: gate["blocking"] and not gate["blocking"][0]["recheck_pending"],
    )
    assert "unknown_item" in [c["code"] for c in settled["blocking"][0]["conflicts"]]


async def test_a_crm_checks_the_gate_by_its_own_deal_id(gateway):
    deal = await ready_deal(gateway)
    query = {"source": "generic", "external_id": "D-1001"}
    by_crm_id = await gateway.get("/v1/deals/readiness", params=query, headers=CRM)
    assert by_crm_id.status_code == 200
    assert by_crm_id.json() == await readiness(gateway, deal)
    unknown = await gateway.get(
        "/v1/deals/readiness", params={**query, "external_id": "nope"}, headers=CRM
    )
    assert unknown.status_code == 404
    assert (await gateway.get("/v1/deals/readiness", params=query)).status_code == 401
