"""The events Dealgate sends, in the gateway's OpenAPI document as OpenAPI 3.1 `webhooks`:
one operation per event type, its body the event's envelope with an example. Receivers
subscribe through /v1/webhook-subscriptions; the commitments service sends."""

from fastapi import FastAPI

from kit.contracts.events import ENVELOPES, EVENT_DESCRIPTIONS, EventType

DELIVERY = """\
Delivered by POST with Standard Webhooks headers: `webhook-id` (the event id; deduplicate
on it, a delivery may come twice), `webhook-timestamp` and `webhook-signature` (HMAC-SHA256
with the subscription's `whsec_…` secret; two signatures during a secret rotation). Any 2xx
acknowledges; anything else, or no answer in time, is retried with backoff. A deal's events
arrive in the order they happened."""


def document_events(app: FastAPI) -> None:
    for kind, envelope in ENVELOPES.items():
        receiver = _receiver(kind, envelope)
        app.webhooks.add_api_route(
            kind.value,
            receiver,
            methods=["POST"],
            operation_id=receiver.__name__,
            summary=EVENT_DESCRIPTIONS[kind],
            description=DELIVERY,
            tags=["events"],
            status_code=204,
            responses={204: {"description": "Acknowledged: any 2xx will do."}},
        )


def _receiver(kind: EventType, envelope: type):
    async def receive(event: envelope) -> None:  # type: ignore[valid-type]
        """Never called: it documents what a subscriber receives."""

    receive.__name__ = kind.value.replace(".", "_")
    return receive
