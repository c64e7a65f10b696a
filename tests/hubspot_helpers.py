"""A HubSpot account as the tests set it up: the simulator, the gateway connected to it,
and webhook batches shaped and signed as HubSpot's app webhooks are."""

import base64
import hashlib
import hmac
import itertools
import json
import time

from tests.conftest import Stack
from tests.gateway_helpers import HUBSPOT_SECRET, VIEWER
from tests.support.crm_simulators import (
    COMMITMENT_TYPE,
    HUBSPOT_TOKEN,
    PORTAL_ID,
    HubSpot,
)

URL = "http://test/v1/webhooks/hubspot"
_event_ids = itertools.count(1_000_001)


def hubspot_stack(commitments_db_url: str, roadmap_db_url: str, account: HubSpot, **settings):
    return Stack(
        commitments_db_url,
        roadmap_db_url,
        crm={"hubspot": account.transport()},
        hubspot_access_token=HUBSPOT_TOKEN,
        hubspot_portal_id=PORTAL_ID,
        hubspot_commitment_object=COMMITMENT_TYPE,
        crm_sync_interval_seconds=0.05,
        crm_retry_max_seconds=1,
        **settings,
    )


def an_account() -> HubSpot:
    """An account set up as `hubspot setup` leaves it, with one owner and one company."""
    account = HubSpot()
    account.set_up_commitment_object()
    account.set_up_deal_properties()
    account.owners["41000001"] = "rep@example.com"
    account.put("companies", "5001", name="Acme Corp")
    return account


def a_deal_with_two_promises(account: HubSpot, deal_id: str = "9001") -> None:
    account.put(
        "deals", deal_id,
        dealname="Acme via HubSpot", amount="90000", deal_currency_code="EUR",
        dealstage="contractsent", pipeline="default", closedate="2026-12-15T00:00:00Z",
        hs_lastmodifieddate="2026-11-20T09:59:00Z", hubspot_owner_id="41000001",
    )  # fmt: skip
    account.associate("deals", deal_id, "companies", "5001")
    for record, item, promised in (
        ("7001", "RM-12", "2027-03-01"),
        ("7002", "RM-20", "2027-06-01"),
    ):
        account.put(
            COMMITMENT_TYPE, record,
            kind="feature", summary=f"Item {item}", roadmap_item_key=item,
            promised_by=promised, tags="enterprise-security",
            hs_lastmodifieddate="2026-11-20T09:58:00Z",
        )  # fmt: skip
        account.associate("deals", deal_id, COMMITMENT_TYPE, record)


def event(subscription_type: str, object_id: str, **fields) -> dict:
    """One event of an app's webhook batch, as HubSpot's documentation shows it."""
    shaped = {
        "eventId": next(_event_ids), "subscriptionId": 2500, "portalId": PORTAL_ID,
        "appId": 1160452, "occurredAt": int(time.time() * 1000),
        "subscriptionType": subscription_type, "attemptNumber": 0,
        "objectId": int(object_id), "changeSource": "CRM",
    }  # fmt: skip
    if subscription_type.startswith("object."):
        shaped["objectTypeId"] = COMMITMENT_TYPE
    shaped.update(fields)
    return shaped


def signed(
    body: bytes, *, secret: str = HUBSPOT_SECRET, url: str = URL, age_ms: int = 0
) -> dict[str, str]:
    """Headers as HubSpot signs a request (v3), `age_ms` ago."""
    timestamp = str(int(time.time() * 1000) - age_ms)
    source = f"POST{url}{body.decode()}{timestamp}".encode()
    signature = base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest())
    return {
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


async def send_batch(gateway, events: list[dict]):
    body = json.dumps(events).encode()
    return await gateway.post("/v1/webhooks/hubspot", content=body, headers=signed(body))


async def the_deal(gateway, deal_id: str = "9001") -> dict | None:
    """The HubSpot deal as /v1 shows it, once Dealgate has it."""
    response = await gateway.get(
        "/v1/deals", params={"source": "hubspot", "external_id": deal_id}, headers=VIEWER
    )
    items = response.json()["items"]
    return items[0] if items else None


async def promises(gateway, deal_id: str = "9001") -> dict[str, str]:
    """Its commitments' review statuses, by their record ids."""
    deal = await the_deal(gateway, deal_id)
    if deal is None:
        return {}
    response = await gateway.get("/v1/commitments", params={"deal_id": deal["id"]}, headers=VIEWER)
    return {c["external_id"]: c["review_status"] for c in response.json()["items"]}


def evaluated(found: dict[str, str]) -> bool:
    return bool(found) and "received" not in found.values()


async def gate_shown(account: HubSpot, deal_id: str = "9001") -> tuple:
    """What the deal shows in HubSpot: (dealgate_ready, dealgate_blocking_count)."""
    deal = account.objects["0-3"].get(deal_id, {})
    return deal.get("dealgate_ready"), deal.get("dealgate_blocking_count")
