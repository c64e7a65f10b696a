"""Working through a queue (issue 13): POST /v1/commitments/decisions decides up to 100
commitments, each taken or refused on its own. Through /v1, on both databases."""

import asyncio
import uuid

from tests.commitments_helpers import crm_event, promise
from tests.gateway_helpers import PM, VIEWER, commitment, post_webhook, reviewer

BULK = "/v1/commitments/decisions"


async def a_queue(gateway) -> dict[str, str]:
    """C-1..C-4 flagged on RM-12 (area identity), C-5 flagged on RM-30 (area billing). Ana
    reviews identity only. External id -> commitment id."""
    for key, area in (("RM-12", "identity"), ("RM-30", "billing")):
        item = {"key": key, "title": f"Item {key}", "status": "planned",
                "planned_end": "2027-04-01", "confidence": "high", "area": area}  # fmt: skip
        assert (await gateway.post("/v1/roadmap/items", json=item, headers=PM)).status_code == 201
    early = {"roadmap_item_key": "RM-12", "promised_by": "2027-03-01"}
    event = crm_event(
        *(promise(f"C-{n}", **early) for n in range(1, 5)),
        promise("C-5", roadmap_item_key="RM-30", promised_by="2027-03-01"),
    )
    answer = (await post_webhook(gateway, event)).json()
    await reviewer(gateway, "ana@example.com", "identity")
    return {c["external_id"]: c["id"] for c in answer["commitments"]}


async def test_each_item_is_answered_as_its_single_decision_would_be(gateway):
    ids = await a_queue(gateway)
    stale = (await commitment(gateway, ids["C-4"]))["version"]
    await gateway.post(
        f"/v1/commitments/{ids['C-4']}/decision",
        json={"decision": "approve", "comment": "earlier"},
        headers={**PM},
    )  # C-4 moves on: the ETag read before is stale, and it no longer awaits sign-off
    missing = str(uuid.uuid4())
    items = [
        {"commitment_id": ids["C-1"], "decision": "approve", "comment": "Pilot only"},
        {"commitment_id": ids["C-2"], "decision": "reject"},  # a rejection needs a comment
        {"commitment_id": ids["C-5"], "decision": "approve"},  # billing: not ana's
        {"commitment_id": ids["C-4"], "decision": "reject", "comment": "no",
         "if_match": f'"{stale}"'},
        {"commitment_id": ids["C-4"], "decision": "reject", "comment": "no"},  # decided
        {"commitment_id": missing, "decision": "approve"},
        {"commitment_id": ids["C-3"], "decision": "maybe"},
        {"commitment_id": ids["C-1"], "decision": "approve", "comment": "Pilot only"},  # again
    ]  # fmt: skip

    answer = await gateway.post(BULK, json={"items": items}, headers=PM)

    assert answer.status_code == 200, answer.text
    outcomes = answer.json()["items"]
    assert [o["commitment_id"] for o in outcomes] == [i["commitment_id"] for i in items]
    assert [o["status"] for o in outcomes] == [200, 422, 403, 412, 409, 404, 422, 200]
    approved = outcomes[0]["commitment"]
    assert approved["review_status"] == "approved"
    assert approved["decisions"][0]["comment"] == "Pilot only"
    assert outcomes[1]["problem"]["errors"][0]["field"].startswith("body.items.1")
    assert outcomes[2]["problem"]["status"] == 403
    assert "billing" in outcomes[2]["problem"]["detail"]
    assert all(o["commitment"] is None for o in outcomes[1:7])
    assert outcomes[6]["problem"]["errors"][0]["field"] == "body.items.6.decision"
    # The refused ones changed nothing; the repeated approval was recorded once.
    assert (await commitment(gateway, ids["C-1"]))["decisions"][0][
        "decided_by"
    ] == "ana@example.com"
    assert len((await commitment(gateway, ids["C-1"]))["decisions"]) == 1
    for name in ("C-2", "C-3", "C-5"):
        after = await commitment(gateway, ids[name])
        assert (after["review_status"], after["decisions"]) == ("needs_signoff", [])
    assert (await commitment(gateway, ids["C-4"]))["review_status"] == "approved"


async def test_a_repeated_batch_gives_the_state_of_one(gateway):
    ids = await a_queue(gateway)
    items = [
        {"commitment_id": ids["C-1"], "decision": "approve", "comment": "ok"},
        {"commitment_id": ids["C-2"], "decision": "reject", "comment": "not this year"},
    ]
    first = await gateway.post(BULK, json={"items": items}, headers=PM)
    again = await gateway.post(BULK, json={"items": items}, headers=PM)
    assert [o["status"] for o in first.json()["items"]] == [200, 200]
    assert [o["status"] for o in again.json()["items"]] == [200, 200]
    for name, status in (("C-1", "approved"), ("C-2", "rejected")):
        read = await commitment(gateway, ids[name])
        assert (read["review_status"], len(read["decisions"])) == (status, 1)


async def test_a_request_the_schema_refuses_decides_nothing(gateway):
    ids = await a_queue(gateway)
    good = {"commitment_id": ids["C-1"], "decision": "approve"}
    for body in (
        {"items": []},
        {"items": [good] * 101},
        {"items": [good, {"commitment_id": "C-2", "decision": "approve"}]},
        {"items": [good, {"decision": "approve"}]},
        {"items": [{**good, "decided_by": "someone@example.com"}]},
        {"items": [good], "dry_run": True},
    ):
        answer = await gateway.post(BULK, json=body, headers=PM)
        assert answer.status_code == 422, body
        assert answer.headers["content-type"] == "application/problem+json"
    assert (await commitment(gateway, ids["C-1"]))["review_status"] == "needs_signoff"
    assert (await gateway.post(BULK, json={"items": [good]}, headers=VIEWER)).status_code == 403


async def test_a_bulk_decision_and_a_single_one_on_the_same_promise_make_one_winner(gateway):
    ids = await a_queue(gateway)
    etag = (await gateway.get(f"/v1/commitments/{ids['C-1']}", headers=PM)).headers["ETag"]
    item = {"commitment_id": ids["C-1"], "decision": "approve", "comment": "bulk"}
    bulk, single = await asyncio.gather(
        gateway.post(BULK, json={"items": [{**item, "if_match": etag}]}, headers=PM),
        gateway.post(
            f"/v1/commitments/{ids['C-1']}/decision",
            json={"decision": "reject", "comment": "single"},
            headers={**PM, "If-Match": etag},
        ),
    )
    statuses = sorted([bulk.json()["items"][0]["status"], single.status_code])
    assert statuses[0] == 200
    assert statuses[1] in (409, 412)
    assert len((await commitment(gateway, ids["C-1"]))["decisions"]) == 1
