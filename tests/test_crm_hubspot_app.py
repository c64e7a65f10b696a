"""HubSpot as a HubSpot app connects it: webhook batches stored and answered at once, the
deals they name fetched from HubSpot's API (here its simulator) and evaluated, the gate
written back to the deal, with no JSON typed by anyone."""

import pytest

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
    the_deal,
)
from tests.support.crm_simulators import Fault


@pytest.fixture
def account():
    return an_account()


@pytest.fixture
async def gateway(commitments_db_url, roadmap_db_url, account):
    async with hubspot_stack(commitments_db_url, roadmap_db_url, account).running() as client:
        yield client


async def test_a_new_deal_with_two_records_is_evaluated_gated_approved_and_opened(gateway, account):
    await roadmap_with_two_items(gateway)
    await reviewer(gateway)
    a_deal_with_two_promises(account)

    answer = await send_batch(
        gateway,
        [event("deal.creation", "9001"),
         event("object.creation", "7001"), event("object.creation", "7002")],
    )  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"taken": 3, "duplicates": 0}
    deal = await eventually(lambda: the_deal(gateway), lambda found: found is not None)
    assert (deal["name"], deal["amount"], deal["currency"]) == (
        "Acme via HubSpot",
        "90000.00",
        "EUR",
    )
    assert (deal["owner"], deal["account"], deal["stage"]) == (
        "rep@example.com",
        "Acme Corp",
        "open",
    )
    assert deal["expected_close"] == "2026-12-15"
    statuses = await eventually(lambda: promises(gateway), evaluated)
    assert statuses == {"7001": "needs_signoff", "7002": "cleared"}
    await eventually(
        lambda: _last_patch(account, "9001"), lambda patch: patch.get("dealgate_ready") == "false"
    )
    patch = await _last_patch(account, "9001")
    assert patch["dealgate_blocking_count"] == "1"
    assert patch["dealgate_url"].endswith(f"/v1/deals/{deal['id']}/readiness")

    flagged = (await gateway.get(
        "/v1/commitments", params={"deal_id": deal["id"], "review_status": "needs_signoff"},
        headers=VIEWER,
    )).json()["items"][0]  # fmt: skip
    decided = await gateway.post(
        f"/v1/commitments/{flagged['id']}/decision",
        json={"decision": "approve", "comment": "RM-12 can be pulled in"},
        headers=PM,
    )
    assert decided.status_code == 200, decided.text

    # What the deal shows in HubSpot (the request logged may still be on its way).
    await eventually(lambda: gate_shown(account), lambda shown: shown == ("true", "0"))
    # Each state once: false, then true.
    assert [p["dealgate_ready"] for p in account.deal_patches("9001")] == ["false", "true"]


async def _last_patch(account, deal_id: str) -> dict:
    patches = account.deal_patches(deal_id)
    return patches[-1] if patches else {}


async def test_a_batch_sent_again_stores_nothing_new_and_events_of_one_deal_make_one_fetch(
    gateway, account
):
    await roadmap_with_two_items(gateway)
    a_deal_with_two_promises(account)
    batch = [
        event("deal.creation", "9001"),
        event("deal.propertyChange", "9001", propertyName="amount", propertyValue="90000"),
        event("deal.propertyChange", "9001", propertyName="dealname", propertyValue="Acme"),
    ]

    first = await send_batch(gateway, batch)
    again = await send_batch(gateway, [{**e, "attemptNumber": 1} for e in batch])

    assert first.json() == {"taken": 3, "duplicates": 0}
    assert again.json() == {"taken": 0, "duplicates": 3}
    await eventually(lambda: promises(gateway), evaluated)
    deal_reads = account.calls_to("POST", "/crm/v3/objects/deals/batch/read")
    assert len(deal_reads) == 1
    assert deal_reads[0]["inputs"] == [{"id": "9001"}]


async def test_rate_limits_and_faults_delay_the_fetch_and_lose_nothing(gateway, account):
    await roadmap_with_two_items(gateway)
    a_deal_with_two_promises(account)
    account.fail_next(
        Fault(status=429, retry_after="0.2", path_contains="/batch/read"),
        Fault(status=502, path_contains="/batch/read"),
        Fault(timeout=True, path_contains="/associations"),
        Fault(status=503, path_contains="/pipelines"),
    )

    answer = await send_batch(gateway, [event("deal.creation", "9001")])

    assert answer.status_code == 200
    statuses = await eventually(lambda: promises(gateway), evaluated)
    assert statuses == {"7001": "needs_signoff", "7002": "cleared"}
    assert not account.faults  # every fault was met on the way


async def test_an_api_that_stays_down_keeps_the_notification_until_it_answers(gateway, account):
    a_deal_with_two_promises(account)
    account.fail_next(*(Fault(status=503, path_contains="/crm/") for _ in range(12)))

    answer = await send_batch(gateway, [event("deal.creation", "9001")])

    assert answer.status_code == 200
    deal = await eventually(lambda: the_deal(gateway), lambda found: found is not None, seconds=30)
    assert deal["external_id"] == "9001"
