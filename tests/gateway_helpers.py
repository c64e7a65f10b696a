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

from tests.commitments_helpers import new_event_id

JWT_SECRET = "a-jwt-secret-for-the-gateway-tests-0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"the-gateway-tests-webhook-secret").decode()
Value = TypeVar("Value")


def bearer(*roles: str, sub: str = "ana@example.com") -> dict[str, str]:
    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time()) + 600}
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
