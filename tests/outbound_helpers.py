"""A webhook receiver as a subscriber would run one: it verifies every delivery with the
`standardwebhooks` library, deduplicates on `webhook-id`, and can be made to fail."""

from dataclasses import dataclass, field

import httpx
from standardwebhooks import Webhook

RECEIVER_URL = "http://127.0.0.1:9/hooks/dealgate"


@dataclass
class Receiver:
    """`secrets`: what it verifies with (any one must match). `answer`: the status it gives
    while it is up; `up = False` refuses connections."""

    secrets: list[str] = field(default_factory=list)
    up: bool = True
    answer: int = 204
    events: list[dict] = field(default_factory=list)  # each once, in arrival order
    deliveries: list[httpx.Request] = field(default_factory=list)  # every one that came

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        self.deliveries.append(request)
        body = request.content.decode()
        verified = None
        for secret in self.secrets:
            try:
                verified = Webhook(secret).verify(body, dict(request.headers))
                break
            except Exception:
                continue
        assert verified is not None, "a delivery that no secret verifies"
        assert request.headers["webhook-id"] == verified["id"]
        if self.answer < 300 and verified["id"] not in {event["id"] for event in self.events}:
            self.events.append(verified)
        return httpx.Response(self.answer)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]


async def subscribe(client: httpx.AsyncClient, receiver: Receiver, *types: str, **extra) -> dict:
    body = {"url": RECEIVER_URL, "event_types": list(types) or ALL_TYPES, **extra}
    response = await client.post("/webhook-subscriptions", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    receiver.secrets.append(created["secret"])
    return created


async def drain(app, rounds: int = 50) -> None:
    """Dispatches until a round finds nothing to claim."""
    for _ in range(rounds):
        if await app.state.dispatcher.dispatch_once() == 0:
            return
    raise AssertionError("deliveries still owed after many rounds")


ALL_TYPES = [
    "commitment.flagged",
    "commitment.reopened",
    "commitment.approved",
    "commitment.rejected",
    "commitment.cleared",
    "commitment.withdrawn",
    "commitment.needs_attention",
    "commitment.info_requested",
    "commitment.answered",
    "commitment.reassigned",
    "commitment.step_approved",
    "deal.gate_changed",
    "deal.breach_recorded",
    "signoff.reminder",
    "signoff.overdue",
]
