"""Events out through the gateway: admins manage webhook subscriptions at /v1, a CRM's
webhook and a PM's decision reach a subscriber signed and in order, and the gateway's
document carries every event's shape."""

import asyncio
import io
from datetime import timedelta

import pytest

from gateway.listen import listen, one_line
from kit.contracts.events import EXAMPLE_DATA, EventType
from kit.db import utcnow
from tests.commitments_helpers import crm_event
from tests.conftest import Stack
from tests.gateway_helpers import (
    PM,
    THREE_PROMISES,
    VIEWER,
    bearer,
    eventually,
    post_webhook,
    reviewer,
    roadmap_with_two_items,
)
from tests.outbound_helpers import ALL_TYPES, RECEIVER_URL, Receiver
from tests.support.processes import free_port

ADMIN = bearer("admin", sub="root@example.com")


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def stack(commitments_db_url: str, roadmap_db_url: str, receiver: Receiver) -> Stack:
    return Stack(commitments_db_url, roadmap_db_url, outbound=receiver.transport)


async def test_only_an_admin_manages_subscriptions(stack):
    async with stack.running() as gateway:
        body = {"url": RECEIVER_URL, "event_types": ["deal.gate_changed"]}
        for headers in (PM, VIEWER):
            refused = await gateway.post("/v1/webhook-subscriptions", json=body, headers=headers)
            assert refused.status_code == 403
        assert (await gateway.post("/v1/webhook-subscriptions", json=body)).status_code == 401
        created = await gateway.post("/v1/webhook-subscriptions", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
        subscription = created.json()
        assert created.headers["Location"] == f"/v1/webhook-subscriptions/{subscription['id']}"
        assert subscription["secret"].startswith("whsec_")
        listed = (await gateway.get("/v1/webhook-subscriptions", headers=ADMIN)).json()
        assert [item["id"] for item in listed["items"]] == [subscription["id"]]
        assert listed["items"][0]["secret"] is None
        assert (await gateway.get("/v1/webhook-subscriptions", headers=PM)).status_code == 403
        path = f"/v1/webhook-subscriptions/{subscription['id']}"
        patched = await gateway.patch(path, json={"enabled": False}, headers=ADMIN)
        assert patched.json()["status"] == "disabled"
        bad = await gateway.post(
            "/v1/webhook-subscriptions",
            json={"url": "http://192.168.1.10/x", "event_types": ["deal.gate_changed"]},
            headers=ADMIN,
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "body.url"
        assert (await gateway.delete(path, headers=ADMIN)).status_code == 204
        assert (await gateway.get(path, headers=ADMIN)).status_code == 404


async def test_a_deal_and_its_decision_reach_the_subscriber_signed_and_in_order(stack, receiver):
    async with stack.running() as gateway:
        await roadmap_with_two_items(gateway)
        await reviewer(gateway)
        created = await gateway.post(
            "/v1/webhook-subscriptions",
            json={"url": RECEIVER_URL, "event_types": ALL_TYPES},
            headers=ADMIN,
        )
        receiver.secrets.append(created.json()["secret"])
        answer = (await post_webhook(gateway, crm_event(*THREE_PROMISES))).json()
        deal_id = answer["deal_id"]

        def settled(events: list[dict]) -> bool:
            return sum(e["type"].startswith("commitment.") for e in events) == 3

        await eventually(lambda: _events(receiver), settled)
        flagged = [e for e in receiver.events if e["type"] == "commitment.flagged"]
        assert {e["data"]["commitment"]["external_id"] for e in flagged} == {"C-1", "C-3"}
        for event in flagged:
            commitment = event["data"]["commitment"]
            decided = await gateway.post(
                f"/v1/commitments/{commitment['id']}/decision",
                json={"decision": "approve", "comment": "ok"},
                headers=PM,
            )
            assert decided.status_code == 200, decided.text
        await eventually(
            lambda: _events(receiver),
            lambda events: (
                events[-1]["type"] == "deal.gate_changed"
                and events[-1]["data"]["readiness"]["ready"]
            ),
        )
        types = receiver.types()
        assert types[0] == "deal.gate_changed"  # first known, before any evaluation
        assert types.count("commitment.approved") == 2
        assert all(e["data"]["deal"]["id"] == deal_id for e in receiver.events)
        occurred = [e["occurred_at"] for e in receiver.events]
        assert occurred == sorted(occurred)
        # A round's attempts are recorded once it is sent: the last may still be on its way.
        logged = await eventually(
            lambda: _deliveries_log(gateway, created.json()["id"]),
            lambda items: len(items) == len(receiver.deliveries),
        )
        assert {item["outcome"] for item in logged} == {"delivered"}


async def _deliveries_log(gateway, subscription_id: str) -> list[dict]:
    log = await gateway.get(
        f"/v1/webhook-subscriptions/{subscription_id}/deliveries", headers=ADMIN
    )
    return log.json()["items"]


async def _events(receiver: Receiver) -> list[dict]:
    return list(receiver.events)


async def test_the_document_carries_every_event_shape_with_an_example(stack):
    async with stack.running() as gateway:
        document = (await gateway.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert sorted(document["webhooks"]) == sorted(ALL_TYPES)
    schemas = document["components"]["schemas"]
    for kind, path_item in document["webhooks"].items():
        body = path_item["post"]["requestBody"]["content"]["application/json"]["schema"]
        shape = schemas[body["$ref"].rsplit("/", 1)[1]]
        assert shape["properties"]["type"]["const"] == kind
        assert shape["examples"][0]["type"] == kind
        assert set(shape["required"]) >= {"id", "type", "occurred_at", "data"}


async def test_the_gateway_asks_for_overdue_sign_offs_under_its_policy(
    commitments_db_url, roadmap_db_url, receiver
):
    stack = Stack(
        commitments_db_url,
        roadmap_db_url,
        outbound=receiver.transport,
        signoff_check_interval_seconds=0.05,
        signoff_sla_hours=4,
        signoff_reminder_fractions="0.25",
    )
    async with stack.running() as gateway:
        await roadmap_with_two_items(gateway)
        created = await gateway.post(
            "/v1/webhook-subscriptions",
            json={"url": RECEIVER_URL, "event_types": ["signoff.reminder", "signoff.overdue"]},
            headers=ADMIN,
        )
        receiver.secrets.append(created.json()["secret"])
        await post_webhook(gateway, crm_event(*THREE_PROMISES[:1]))
        await eventually(
            lambda: gateway.get("/v1/commitments?review_status=needs_signoff", headers=PM),
            lambda response: len(response.json()["items"]) == 1,
        )
        stack.commitments_app.state.clock = lambda: utcnow() + timedelta(hours=1.5)
        await eventually(lambda: _events(receiver), lambda events: len(events) == 1)
        stack.commitments_app.state.clock = lambda: utcnow() + timedelta(hours=5)
        await eventually(lambda: _events(receiver), lambda events: len(events) == 2)
        assert receiver.types() == ["signoff.reminder", "signoff.overdue"]
        assert receiver.events[0]["data"]["fraction"] == 0.25
        assert receiver.events[1]["data"]["sla_hours"] == 4


def test_one_line_per_event_says_who_what_and_why():
    def line(kind):
        return one_line(
            {"id": "evt_1", "type": kind, "occurred_at": "2026-11-21T09:30:00Z",
             "data": EXAMPLE_DATA[EventType(kind)]}
        )  # fmt: skip

    assert line("commitment.flagged") == (
        "2026-11-21T09:30:00Z  commitment.flagged     "
        "Acme expansion · C-1 SSO with Okta · date_before_plan"
    )
    assert "Not covered by the approval" in line("commitment.reopened")
    assert line("commitment.approved").endswith("by ana@example.com")
    assert line("commitment.reassigned").endswith("to ben@example.com by ana@example.com")
    assert line("deal.gate_changed").endswith("Acme expansion: ready → not ready (1 blocking)")
    assert "1 promises not signed off" in line("deal.breach_recorded")
    assert "due 2026-11-22T10:00:02Z" in line("signoff.overdue")


async def test_listen_prints_each_event_once_in_one_line_and_unsubscribes(
    commitments_db_url, roadmap_db_url
):
    stack = Stack(commitments_db_url, roadmap_db_url)  # deliveries over real loopback
    out = io.StringIO()
    token = ADMIN["Authorization"].removeprefix("Bearer ")
    async with stack.running() as gateway:
        await roadmap_with_two_items(gateway)
        listening = asyncio.create_task(listen(gateway, token, port=free_port(), out=out))
        await eventually(_text_of(out), lambda text: "listening on" in text)
        await post_webhook(gateway, crm_event(*THREE_PROMISES))
        await eventually(_text_of(out), lambda text: text.count("Z  commitment.flagged") == 2)
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        lines = out.getvalue().splitlines()
        assert "unsubscribed" in lines
        assert any("deal.gate_changed" in line and "unknown → not ready" in line for line in lines)
        assert any("C-3 A fork for Acme" in line and "custom_work" in line for line in lines)
        listed = await gateway.get("/v1/webhook-subscriptions", headers=ADMIN)
        assert listed.json()["items"] == []


def _text_of(out: io.StringIO):
    async def text() -> str:
        return out.getvalue()

    return text


async def test_an_unreadable_record_is_announced_as_needing_attention(stack, receiver):
    async with stack.running() as gateway:
        created = await gateway.post(
            "/v1/webhook-subscriptions",
            json={"url": RECEIVER_URL, "event_types": ["commitment.needs_attention"]},
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        receiver.secrets.append(created.json()["secret"])
        event = crm_event()
        event["unreadable"] = [{"external_id": "C-9", "problem": "kind: 'wish' is not a kind"}]

        answer = await post_webhook(gateway, event)

        assert answer.status_code == 200, answer.text
        statuses = {c["external_id"]: c["review_status"] for c in answer.json()["commitments"]}
        assert statuses["C-9"] == "needs_attention"
        (told,) = await eventually(lambda: _events(receiver), lambda events: len(events) == 1)
        assert told["type"] == "commitment.needs_attention"
        commitment = told["data"]["commitment"]
        assert commitment["crm_problem"] == "kind: 'wish' is not a kind"
        assert commitment["summary"] == "Unreadable in the CRM: kind: 'wish' is not a kind"
        assert told["data"]["gate"]["ready"] is False
