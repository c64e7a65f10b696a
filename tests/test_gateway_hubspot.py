"""The HubSpot webhook: signed with X-HubSpot-Signature-v3, a deal's properties turned into
the canonical event, taken once per state of the deal."""

import json
import time

import pytest

from tests.conftest import Stack
from tests.gateway_helpers import VIEWER, roadmap_with_two_items
from tests.hubspot_helpers import signed


def hubspot_deal(**overrides) -> dict:
    commitments = [
        {"external_id": "C-1", "kind": "feature", "summary": "SSO with Okta",
         "roadmap_item_key": "RM-12", "promised_by": "2027-03-01",
         "tags": ["enterprise-security"]},
        {"external_id": "C-2", "kind": "feature", "summary": "Item RM-20",
         "roadmap_item_key": "RM-20", "promised_by": "2027-06-01",
         "tags": ["enterprise-security"]},
    ]  # fmt: skip
    properties = {
        "hs_object_id": "9001",
        "dealname": "Acme via HubSpot",
        "dealstage": "contractsent",
        "amount": "120000",
        "deal_currency_code": "EUR",
        "closedate": "1797292800000",  # 2026-12-15 as epoch milliseconds
        "hs_lastmodifieddate": "1795168740000",  # 2026-11-20T09:59:00Z
        "owner_email": "rep@example.com",
        "account_name": "Acme Corp",
        "dealgate_commitments": json.dumps(commitments),
    }
    properties.update(overrides)
    return properties


async def send(gateway, properties: dict, **signing):
    body = json.dumps(properties).encode()
    return await gateway.post("/v1/webhooks/hubspot", content=body, headers=signed(body, **signing))


async def deals(gateway) -> list[dict]:
    return (await gateway.get("/v1/deals", headers=VIEWER)).json()["items"]


async def test_a_signed_hubspot_deal_is_taken_and_its_promises_evaluated(gateway):
    await roadmap_with_two_items(gateway)

    response = await send(gateway, hubspot_deal())

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "accepted"
    assert {c["external_id"]: c["review_status"] for c in answer["commitments"]} == {
        "C-1": "needs_signoff", "C-2": "cleared"
    }  # fmt: skip
    (deal,) = await deals(gateway)
    assert (deal["source"], deal["external_id"], deal["stage"]) == ("hubspot", "9001", "open")
    assert deal["amount"] == "120000.00"
    assert (deal["currency"], deal["account"]) == ("EUR", "Acme Corp")
    assert deal["expected_close"] == "2026-12-15"
    assert deal["crm_updated_at"] == "2026-11-20T09:59:00Z"


async def test_hubspots_nested_properties_form_is_read_too(gateway):
    nested = {"objectId": 9002, "properties": {
        name: {"value": value} for name, value in hubspot_deal(hs_object_id=None).items()
        if value is not None
    }}  # fmt: skip

    response = await send(gateway, nested)

    assert response.status_code == 200, response.text
    assert (await deals(gateway))[0]["external_id"] == "9002"


async def test_the_same_state_sent_again_is_a_duplicate_and_a_later_one_applies(gateway):
    first = await send(gateway, hubspot_deal())
    again = await send(gateway, hubspot_deal())
    won = await send(
        gateway, hubspot_deal(dealstage="closedwon", hs_lastmodifieddate="1795168800000")
    )

    assert again.json() == {**first.json(), "status": "duplicate"}
    assert won.json()["status"] == "accepted"
    (deal,) = await deals(gateway)
    assert deal["stage"] == "closed_won"
    summary = (await gateway.get("/v1/reports/summary", headers=VIEWER)).json()
    assert summary["breaches"][0]["breaches"] == 1  # closed while C-1 awaited sign-off


async def test_a_lost_deal_withdraws_its_promises(gateway):
    await send(gateway, hubspot_deal())

    lost = await send(
        gateway, hubspot_deal(dealstage="closedlost", hs_lastmodifieddate="1795168800000")
    )

    assert lost.status_code == 200, lost.text
    assert {c["review_status"] for c in lost.json()["commitments"]} == {"withdrawn"}
    assert (await deals(gateway))[0]["stage"] == "closed_lost"


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "another-hubspot-app-secret"},
        {"age_ms": 6 * 60 * 1000},
        {"age_ms": -6 * 60 * 1000},
        {"url": "http://test/v1/webhooks/generic"},
    ],
    ids=["other-secret", "six-minutes-old", "six-minutes-ahead", "other-uri"],
)
async def test_a_bad_signature_is_401_and_writes_nothing(gateway, signing):
    response = await send(gateway, hubspot_deal(), **signing)

    assert response.status_code == 401
    assert await deals(gateway) == []


async def test_missing_signature_headers_are_401(gateway):
    response = await gateway.post("/v1/webhooks/hubspot", json=hubspot_deal())

    assert response.status_code == 401


async def test_a_timestamp_that_is_not_ascii_digits_is_401(gateway):
    body = json.dumps(hubspot_deal()).encode()
    headers = {**signed(body), "X-HubSpot-Request-Timestamp": "²".encode("latin-1")}

    response = await gateway.post("/v1/webhooks/hubspot", content=body, headers=headers)

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dealname": ""}, "body.dealname"),
        ({"hs_lastmodifieddate": "yesterday"}, "body.hs_lastmodifieddate"),
        ({"dealgate_commitments": "[not json"}, "body.dealgate_commitments"),
        (
            {"dealgate_commitments": '[{"external_id": "C-1", "kind": "wish"}]'},
            "event.commitments.0.kind",
        ),
        ({"amount": "12.345"}, "event.deal.amount"),
        ({"hs_lastmodifieddate": "99999999999999999999"}, "body.hs_lastmodifieddate"),
        ({"closedate": "²"}, "body.closedate"),
        ({"hs_object_id": "\uff11\uff12\uff13"}, "body.hs_object_id"),  # full-width digits
        ({"hs_object_id": "9" * 190}, "body.hs_object_id"),
        ({"dealstage": ["closedwon"]}, "body.dealstage"),  # a structure where a value belongs
        ({"dealgate_commitments": "[" * 100_000 + "]" * 100_000}, "body.dealgate_commitments"),
        ({"hs_lastmodifieddate": "253402300799000"}, "body.hs_lastmodifieddate"),  # 9999-12-31
    ],
)
async def test_a_signed_deal_that_makes_no_valid_event_is_422(gateway, overrides, field):
    response = await send(gateway, hubspot_deal(**overrides))

    assert response.status_code == 422, response.text
    fields = [error["field"] for error in response.json()["errors"]]
    assert field in fields
    assert await deals(gateway) == []


async def test_a_signed_body_nested_too_deeply_is_422(gateway):
    body = b"[" * 100_000 + b"]" * 100_000

    response = await gateway.post("/v1/webhooks/hubspot", content=body, headers=signed(body))

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"


async def test_a_modification_time_two_hours_ahead_is_refused_and_the_deal_is_not_frozen(gateway):
    await send(gateway, hubspot_deal())
    now_ms = int(time.time() * 1000)

    ahead = await send(gateway, hubspot_deal(hs_lastmodifieddate=str(now_ms + 2 * 3600 * 1000)))
    lost = await send(
        gateway, hubspot_deal(dealstage="closedlost", hs_lastmodifieddate=str(now_ms))
    )

    assert ahead.status_code == 422, ahead.text
    assert ahead.json()["errors"][0]["field"] == "body.hs_lastmodifieddate"
    assert lost.status_code == 200, lost.text
    assert lost.json()["status"] == "accepted"
    assert (await deals(gateway))[0]["stage"] == "closed_lost"


async def test_behind_a_proxy_the_public_url_is_what_hubspot_signed(
    commitments_db_url, roadmap_db_url
):
    stack = Stack(commitments_db_url, roadmap_db_url, public_url="https://dealgate.example.com")
    async with stack.running() as gateway:
        public = "https://dealgate.example.com/v1/webhooks/hubspot"
        by_public_uri = await send(gateway, hubspot_deal(), url=public)
        by_internal_uri = await send(gateway, hubspot_deal(hs_object_id="9003"))

    assert by_public_uri.status_code == 200, by_public_uri.text
    assert by_internal_uri.status_code == 401
