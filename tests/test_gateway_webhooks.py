"""The generic CRM webhook: only a correctly signed, well-formed event is taken, exactly
once; re-deliveries answer `duplicate`, older events `stale`; bad input writes nothing."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook

from gateway.app import create_app
from tests.commitments_helpers import crm_event, new_event_id, promise
from tests.conftest import Stack, gateway_settings
from tests.gateway_helpers import (
    THREE_PROMISES,
    VIEWER,
    WEBHOOK_SECRET,
    eventually,
    post_webhook,
    roadmap_with_two_items,
    signed_webhook,
    statuses,
)
from tests.support.clients import running


async def deals(gateway) -> list[dict]:
    response = await gateway.get("/v1/deals", headers=VIEWER)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


async def test_a_bad_signature_is_refused_and_writes_nothing(gateway):
    body, headers = signed_webhook(crm_event())
    headers["webhook-signature"] = "v1,bm90IHRoZSBzaWduYXR1cmU="

    response = await gateway.post("/v1/webhooks/generic", content=body, headers=headers)

    problem(response, 401)
    assert await deals(gateway) == []


async def test_a_signature_over_other_bytes_is_refused(gateway):
    body, headers = signed_webhook(crm_event())
    tampered = body.replace(b"250000.00", b"1.00")

    response = await gateway.post("/v1/webhooks/generic", content=tampered, headers=headers)

    problem(response, 401)
    assert await deals(gateway) == []


async def test_a_timestamp_more_than_five_minutes_old_is_refused(gateway):
    body = json.dumps(crm_event()).encode()
    moment = datetime.now(UTC) - timedelta(minutes=6)
    headers = {
        "webhook-id": "msg_old",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(WEBHOOK_SECRET).sign("msg_old", moment, body.decode()),
        "content-type": "application/json",
    }

    response = await gateway.post("/v1/webhooks/generic", content=body, headers=headers)

    problem(response, 401)
    assert await deals(gateway) == []


async def test_missing_signature_headers_are_refused(gateway):
    response = await gateway.post("/v1/webhooks/generic", json=crm_event())

    problem(response, 401)


async def test_a_signed_but_malformed_event_is_422_per_field_and_writes_nothing(gateway):
    event = crm_event(promise(kind="wish"))
    event["deal"]["amount"] = 12.5
    event["surprise"] = True

    response = await post_webhook(gateway, event)

    fields = {error["field"] for error in problem(response, 422)["errors"]}
    assert {"body.commitments.0.kind", "body.deal.amount", "body.surprise"} <= fields
    assert await deals(gateway) == []


async def test_signed_bytes_that_are_not_json_are_422(gateway):
    response = await post_webhook(gateway, b"{not json")

    problem(response, 422)


async def test_an_event_from_another_source_is_refused_here(gateway):
    event = crm_event()
    event["deal"]["source"] = "hubspot"

    response = await post_webhook(gateway, event)

    assert problem(response, 422)["errors"][0]["field"] == "body.deal.source"


def ahead(seconds: float) -> str:
    """A time `seconds` ahead of this machine's clock, as a CRM would write it."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def test_a_deal_time_far_ahead_is_refused_and_the_deal_is_not_frozen(gateway):
    await post_webhook(gateway, crm_event(promise("C-1")))
    far_ahead = crm_event(promise("C-1"), promise("C-2"))
    far_ahead["deal"]["updated_at"] = far_ahead["occurred_at"] = "9999-12-31T23:59:59Z"
    two_hours_ahead = crm_event(promise("C-1"), promise("C-2"))
    two_hours_ahead["occurred_at"] = ahead(2 * 3600)
    lost = crm_event(promise("C-1"), stage="closed_lost", updated_at=ahead(0))
    lost["occurred_at"] = lost["deal"]["updated_at"]

    refused = [await post_webhook(gateway, event) for event in (far_ahead, two_hours_ahead)]
    listed = await gateway.get("/v1/commitments", headers=VIEWER)
    taken = await post_webhook(gateway, lost)

    fields = [problem(response, 422)["errors"][0]["field"] for response in refused]
    assert fields == ["body.deal.updated_at", "body.occurred_at"]
    assert [c["external_id"] for c in listed.json()["items"]] == ["C-1"]  # nothing written
    assert taken.json()["status"] == "accepted", taken.text
    assert statuses(taken.json()) == {"C-1": "withdrawn"}


async def test_a_deal_time_just_inside_the_allowed_clock_skew_is_taken(gateway):
    event = crm_event(updated_at=ahead(3600 - 120))
    event["occurred_at"] = event["deal"]["updated_at"]

    response = await post_webhook(gateway, event)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"


async def test_the_allowed_clock_skew_is_a_setting(commitments_db_url, roadmap_db_url):
    event = crm_event(updated_at=ahead(120))
    stack = Stack(commitments_db_url, roadmap_db_url, max_clock_skew_seconds=60)
    async with stack.running() as gateway:
        response = await post_webhook(gateway, event)

    assert problem(response, 422)["errors"][0]["field"] == "body.deal.updated_at"


async def test_only_a_json_body_is_taken(gateway):
    body, headers = signed_webhook(crm_event())
    del headers["content-type"]

    refused = [
        await gateway.post(
            "/v1/webhooks/generic", content=body, headers={**headers, **content_type}
        )
        for content_type in (
            {"content-type": "text/plain"},
            {"content-type": "application/xml"},
            {},
        )
    ]
    unsigned = await gateway.post(
        "/v1/webhooks/generic", content=body, headers={"content-type": "text/plain"}
    )
    taken = await gateway.post(
        "/v1/webhooks/generic",
        content=body,
        headers={**headers, "content-type": "application/json; charset=utf-8"},
    )

    for response in (*refused, unsigned):  # the media type is checked first: it reveals nothing
        assert "application/json" in problem(response, 415)["detail"]
    assert taken.status_code == 200, taken.text
    assert len(await deals(gateway)) == 1


async def test_an_oversized_body_is_413(gateway):
    event = crm_event(promise(summary="x" * 2000))
    event["commitments"] = [promise(f"C-{n}", summary="x" * 2000) for n in range(600)]

    response = await post_webhook(gateway, event)

    problem(response, 413)
    assert await deals(gateway) == []


async def test_a_redelivery_answers_duplicate_with_the_deal_as_it_stands(gateway):
    await roadmap_with_two_items(gateway)
    event_id = new_event_id()
    first = (await post_webhook(gateway, crm_event(*THREE_PROMISES), event_id)).json()

    # Re-signed with a fresh timestamp, even with other content: the same event.
    again = await post_webhook(gateway, crm_event(promise("C-9"), updated=9), event_id)

    assert again.status_code == 200, again.text
    assert again.json() == {**first, "status": "duplicate"}
    assert len(await deals(gateway)) == 1


async def test_concurrent_redeliveries_give_one_deal_and_one_acceptance(gateway):
    await roadmap_with_two_items(gateway)
    body, headers = signed_webhook(crm_event(*THREE_PROMISES))

    answers = await asyncio.gather(
        *(gateway.post("/v1/webhooks/generic", content=body, headers=headers) for _ in range(8))
    )

    assert {response.status_code for response in answers} == {200}
    outcomes = sorted(response.json()["status"] for response in answers)
    assert outcomes == ["accepted"] + ["duplicate"] * 7
    assert len(await deals(gateway)) == 1
    listed = await gateway.get("/v1/commitments", headers=VIEWER)
    assert len(listed.json()["items"]) == 3


async def test_an_older_event_is_stale_and_changes_nothing(gateway):
    await roadmap_with_two_items(gateway)
    await post_webhook(gateway, crm_event(*THREE_PROMISES, updated=10))

    older = await post_webhook(gateway, crm_event(THREE_PROMISES[0], updated=5))

    assert older.status_code == 200
    assert older.json()["status"] == "stale"
    assert "withdrawn" not in statuses(older.json()).values()


async def test_a_webhook_with_the_commitments_service_down_is_503_with_retry_after(stack, gateway):
    stack.commitments_network.up = False
    began = time.monotonic()

    response = await post_webhook(gateway, crm_event())

    assert problem(response, 503)
    assert int(response.headers["Retry-After"]) >= 1
    assert time.monotonic() - began < 5


async def test_a_redelivery_finishes_an_evaluation_the_first_left_undone(
    commitments_db_url, roadmap_db_url
):
    stack = Stack(commitments_db_url, roadmap_db_url, sweep_interval_seconds=0)
    async with stack.running() as gateway:
        await roadmap_with_two_items(gateway)
        event_id = new_event_id()

        stack.roadmap_network.up = False
        first = await post_webhook(gateway, crm_event(*THREE_PROMISES), event_id)
        stack.roadmap_network.up = True
        again = await post_webhook(gateway, crm_event(*THREE_PROMISES), event_id)

    assert first.status_code == 200, first.text  # taken, though not evaluated yet
    assert set(statuses(first.json()).values()) == {"evaluation_pending"}
    assert again.json()["status"] == "duplicate"
    assert statuses(again.json()) == {
        "C-1": "needs_signoff", "C-2": "cleared", "C-3": "needs_signoff"
    }  # fmt: skip


async def test_a_service_that_accepts_but_never_answers_is_a_quick_503():
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = create_app(
        gateway_settings(
            sweep_interval_seconds=0,
            commitments_url=f"http://127.0.0.1:{port}",
            upstream_read_timeout_seconds=0.2,
        )
    )
    try:
        async with running(app) as gateway:
            began = time.monotonic()
            response = await asyncio.wait_for(gateway.get("/v1/deals", headers=VIEWER), 10)
            took = time.monotonic() - began
    finally:
        server.close()

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert took < 5  # three tries of 0.2 s and their backoff, not the 30 s hang


async def test_an_event_larger_than_evaluated_at_once_is_answered_taken_then_evaluated(
    commitments_db_url, roadmap_db_url
):
    """A deal with more promises than `DEALGATE_EVALUATE_AT_ONCE_MAX` is answered as soon
    as it is taken, and evaluated just after by the gateway that took it (no sweep here)."""
    stack = Stack(
        commitments_db_url, roadmap_db_url, sweep_interval_seconds=0, evaluate_at_once_max=2
    )
    async with stack.running() as gateway:
        await roadmap_with_two_items(gateway)
        large = await post_webhook(gateway, crm_event(*THREE_PROMISES))
        small = await post_webhook(gateway, crm_event(*THREE_PROMISES[:2], deal="D-2002"))

        async def listed() -> dict[str, str]:
            found = await gateway.get(
                "/v1/commitments", params={"deal_id": large.json()["deal_id"]}, headers=VIEWER
            )
            return {c["external_id"]: c["review_status"] for c in found.json()["items"]}

        settled = await eventually(listed, lambda seen: "received" not in seen.values())

    assert large.status_code == 200, large.text
    assert set(statuses(large.json()).values()) == {"received"}
    assert settled == {"C-1": "needs_signoff", "C-2": "cleared", "C-3": "needs_signoff"}
    assert statuses(small.json()) == {"C-1": "needs_signoff", "C-2": "cleared"}
