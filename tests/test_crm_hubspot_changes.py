"""What HubSpot changes after the first fetch: deletions withdraw, a custom pipeline's won
stage closes the deal, bad batches are refused or recorded with their reason, a workflow
body never resets what it does not carry, and the write-back waits out HubSpot's limits."""

import json

import pytest

from tests.conftest import SERVICE_TOKEN
from tests.gateway_helpers import PM, VIEWER, eventually, reviewer, roadmap_with_two_items
from tests.hubspot_helpers import (
    a_deal_with_two_promises,
    an_account,
    evaluated,
    event,
    gate_shown,
    hubspot_stack,
    promises,
    send_batch,
    signed,
    the_deal,
)
from tests.support.clients import client_of
from tests.support.crm_simulators import COMMITMENT_TYPE, Fault


@pytest.fixture
def account():
    return an_account()


@pytest.fixture
def stack(commitments_db_url, roadmap_db_url, account):
    return hubspot_stack(commitments_db_url, roadmap_db_url, account)


@pytest.fixture
async def gateway(stack):
    async with stack.running() as client:
        yield client


async def a_gated_deal(gateway, account) -> None:
    await roadmap_with_two_items(gateway)
    a_deal_with_two_promises(account)
    await send_batch(gateway, [event("deal.creation", "9001")])
    assert await eventually(lambda: promises(gateway), evaluated) == {
        "7001": "needs_signoff", "7002": "cleared"
    }  # fmt: skip


async def notifications(stack, status: str) -> list[dict]:
    async with client_of(stack.commitments_app, SERVICE_TOKEN) as service:
        response = await service.get(
            "/crm-notifications", params={"source": "hubspot", "status": status}
        )
    return response.json()["items"]


async def test_a_deleted_commitment_record_withdraws_its_promise_and_opens_the_gate(
    gateway, account
):
    await a_gated_deal(gateway, account)

    account.delete(COMMITMENT_TYPE, "7001")
    await send_batch(gateway, [event("object.deletion", "7001")])

    found = await eventually(
        lambda: promises(gateway), lambda found: found.get("7001") == "withdrawn"
    )
    assert found == {"7001": "withdrawn", "7002": "cleared"}
    await eventually(lambda: gate_shown(account), lambda gate: gate == ("true", "0"))


async def test_a_deleted_deal_withdraws_every_promise(gateway, account):
    await a_gated_deal(gateway, account)

    account.delete("deals", "9001")
    await send_batch(gateway, [event("deal.deletion", "9001")])

    assert await eventually(
        lambda: promises(gateway), lambda found: set(found.values()) == {"withdrawn"}
    ) == {"7001": "withdrawn", "7002": "withdrawn"}


async def test_a_custom_pipelines_won_stage_closes_the_deal_and_records_the_breach(
    gateway, account
):
    account.add_pipeline(
        "123456789", [("123456790", False, 0.5), ("123456791", True, 1.0), ("123456792", True, 0.0)]
    )
    await a_gated_deal(gateway, account)

    account.put("deals", "9001", pipeline="123456789", dealstage="123456791",
                hs_lastmodifieddate="2026-11-21T09:00:00Z")  # fmt: skip
    await send_batch(
        gateway,
        [event("deal.propertyChange", "9001", propertyName="dealstage", propertyValue="123456791")],
    )

    await eventually(lambda: the_deal(gateway), lambda found: found["stage"] == "closed_won")
    summary = (await gateway.get("/v1/reports/summary", headers=VIEWER)).json()
    assert summary["breaches"][0]["breaches"] == 1  # closed while 7001 awaited sign-off


async def test_a_batch_from_another_portal_is_422_and_stores_nothing(stack, gateway, account):
    a_deal_with_two_promises(account)

    answer = await send_batch(gateway, [event("deal.creation", "9001", portalId=99999)])

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body.0.portalId"
    assert await notifications(stack, "pending") == []
    assert await notifications(stack, "done") == []


async def test_an_object_dealgate_does_not_read_is_kept_as_ignored_with_the_reason(stack, gateway):
    answer = await send_batch(gateway, [event("contact.creation", "123")])

    assert answer.json() == {"taken": 1, "duplicates": 0}
    (ignored,) = await notifications(stack, "ignored")
    assert "0-1" in ignored["reason"]
    assert "contact.creation" in ignored["reason"]


async def test_a_record_that_cannot_be_read_needs_attention_and_holds_the_deal(gateway, account):
    await a_gated_deal(gateway, account)
    await eventually(lambda: gate_shown(account), lambda gate: gate == ("false", "1"))

    account.put(COMMITMENT_TYPE, "7002", kind="featur", hs_lastmodifieddate="2026-11-21T09:00:00Z")
    await send_batch(gateway, [event("object.propertyChange", "7002", propertyName="kind")])

    found = await eventually(
        lambda: promises(gateway), lambda found: found.get("7002") == "needs_attention"
    )
    assert found == {"7001": "needs_signoff", "7002": "needs_attention"}
    deal = await the_deal(gateway)
    listed = (await gateway.get(
        "/v1/commitments", params={"deal_id": deal["id"], "review_status": "needs_attention"},
        headers=VIEWER,
    )).json()["items"]  # fmt: skip
    assert "kind" in listed[0]["crm_problem"]
    assert "feature" in listed[0]["crm_problem"]
    assert listed[0]["summary"] == "Item RM-20"  # what was held stands
    await eventually(lambda: gate_shown(account), lambda gate: gate == ("false", "2"))

    account.put(COMMITMENT_TYPE, "7002", kind="feature", hs_lastmodifieddate="2026-11-21T10:00:00Z")
    await send_batch(gateway, [event("object.propertyChange", "7002", propertyName="kind")])

    assert await eventually(
        lambda: promises(gateway), lambda found: found.get("7002") == "cleared"
    ) == {"7001": "needs_signoff", "7002": "cleared"}


async def _summary(gateway, deal_id: str, external_id: str) -> str:
    response = await gateway.get("/v1/commitments", params={"deal_id": deal_id}, headers=VIEWER)
    return next(c["summary"] for c in response.json()["items"] if c["external_id"] == external_id)


async def test_the_write_back_waits_out_rate_limits_and_writes_each_state_once(gateway, account):
    account.fail_next(
        Fault(status=429, retry_after="0.3", path_contains="/objects/deals/9001"),
        Fault(status=429, retry_after="6", path_contains="/objects/deals/9001"),
    )
    await a_gated_deal(gateway, account)
    await reviewer(gateway)

    await eventually(lambda: gate_shown(account), lambda gate: gate == ("false", "1"), seconds=20)
    flagged = next(
        c
        for c in (await gateway.get("/v1/commitments", headers=VIEWER)).json()["items"]
        if c["review_status"] == "needs_signoff"
    )
    await gateway.post(
        f"/v1/commitments/{flagged['id']}/decision",
        json={"decision": "approve", "comment": "ok"},
        headers=PM,
    )
    await eventually(lambda: gate_shown(account), lambda gate: gate == ("true", "0"))
    written = [p["dealgate_ready"] for p in account.deal_patches("9001")]
    assert written[-2:] == ["false", "true"]
    assert written.count("true") == 1


async def test_a_workflow_body_without_amount_keeps_the_deals_amount(gateway):
    first = {"hs_object_id": "9100", "dealname": "Acme", "dealstage": "contractsent",
             "amount": "90000", "deal_currency_code": "EUR", "account_name": "Acme Corp",
             "hs_lastmodifieddate": "1795168740000"}  # fmt: skip
    later = {"hs_object_id": "9100", "dealname": "Acme", "dealstage": "contractsent",
             "hs_lastmodifieddate": "1795168800000"}  # fmt: skip
    for body in (first, later):
        raw = json.dumps(body).encode()
        answer = await gateway.post("/v1/webhooks/hubspot", content=raw, headers=signed(raw))
        assert answer.status_code == 200, answer.text

    deal = await the_deal(gateway, "9100")
    assert (deal["amount"], deal["currency"], deal["account"]) == ("90000.00", "EUR", "Acme Corp")
    assert deal["crm_updated_at"] == "2026-11-20T10:00:00Z"
