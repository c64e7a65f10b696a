"""Builders the gateway tests share: tokens, signed webhooks, a switchable network, waiting."""

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import jwt
from standardwebhooks.webhooks import Webhook

from tests.commitments_helpers import new_event_id, promise

JWT_SECRET = "a-jwt-secret-for-the-gateway-tests-0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"the-gateway-tests-webhook-secret").decode()
HUBSPOT_SECRET = "the-gateway-tests-hubspot-app-secret"
Value = TypeVar("Value")


def bearer(*roles: str, sub: str = "ana@example.com") -> dict[str, str]:
    # A day: long past any test run, so tokens may be built once at import.
    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time()) + 86_400}
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, 'HS256')}"}


def signed_webhook(
    event: dict | bytes, event_id: str | None = None, *, secret: str = WEBHOOK_SECRET
) -> tuple[bytes, dict[str, str]]:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    event_id = event_id or new_event_id()
    moment = datetime.now(UTC)
    return body, {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, moment, body.decode()),
        "content-type": "application/json",
    }


async def post_webhook(
    gateway: httpx.AsyncClient, event: dict | bytes, event_id: str | None = None
) -> httpx.Response:
    body, headers = signed_webhook(event, event_id)
    return await gateway.post("/v1/webhooks/generic", content=body, headers=headers)


class Switch(httpx.AsyncBaseTransport):
    """A service's network: up (passes to the app) or down (connection refused)."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner, self.up = inner, True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up or self.inner is None:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


Answer = Callable[[httpx.Request], Awaitable[httpx.Response | None]]


class Intercepting(httpx.AsyncBaseTransport):
    """A service's network where `answer` sees every request first: what it answers stands
    in for the service's reply; None lets the service answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport, answer: Answer) -> None:
        self.inner, self.answer = inner, answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answered = await self.answer(request)
        return answered if answered is not None else await self.inner.handle_async_request(request)


async def eventually(
    probe: Callable[[], Awaitable[Value]],
    accept: Callable[[Value], bool],
    seconds: float = 15.0,
) -> Value:
    """Probes until `accept` holds (background work is asynchronous); fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not as expected after {seconds} s: {value!r}")
        await asyncio.sleep(0.05)


PM, CRM, VIEWER = bearer("pm"), bearer("crm", sub="crm-bot@example.com"), bearer("viewer")
ADMIN = bearer("admin", sub="admin@example.com")
TRIAGE = "triage"  # the default policy's review area for promises with no item area


async def reviewer(gateway, email: str = "ana@example.com", *areas: str, **fields) -> dict:
    """Puts `email` in the reviewers directory (by default: reviewing the triage area)."""
    body = {"areas": list(areas or [TRIAGE]), **fields}
    response = await gateway.put(f"/v1/reviewers/{email}", json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def roadmap_with_two_items(gateway) -> None:
    for tag in (
        {"slug": "enterprise-security", "name": "Enterprise security", "kind": "pillar"},
        {"slug": "on-prem", "name": "On-premises", "kind": "non_goal"},
    ):
        response = await gateway.post("/v1/roadmap/vision-tags", json=tag, headers=PM)
        assert response.status_code == 201, response.text
    for key, planned_end in (("RM-12", "2027-04-01"), ("RM-20", "2027-01-01")):
        item = {
            "key": key, "title": f"Item {key}", "status": "planned", "planned_end": planned_end,
            "confidence": "high", "vision_tags": ["enterprise-security"],
        }  # fmt: skip
        response = await gateway.post("/v1/roadmap/items", json=item, headers=PM)
        assert response.status_code == 201, response.text
        assert response.headers["Location"] == f"/v1/roadmap/items/{key}"


THREE_PROMISES = (
    promise("C-1", roadmap_item_key="RM-12", promised_by="2027-03-01"),  # before plan
    promise("C-2", roadmap_item_key="RM-20", promised_by="2027-06-01"),  # well after plan
    promise("C-3", kind="custom_work", summary="A fork for Acme", roadmap_item_key=None),
)


def statuses(answer: dict) -> dict[str, str]:
    return {c["external_id"]: c["review_status"] for c in answer["commitments"]}


async def commitment(gateway, commitment_id: str) -> dict:
    response = await gateway.get(f"/v1/commitments/{commitment_id}", headers=VIEWER)
    assert response.status_code == 200, response.text
    return response.json()


async def readiness(gateway, deal_id: str) -> dict:
    response = await gateway.get(f"/v1/deals/{deal_id}/readiness", headers=CRM)
    assert response.status_code == 200, response.text
    return response.json()
