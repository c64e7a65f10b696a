"""Taking CRM events: exactly once, in the CRM's order, withdrawals, lost deals, breaches."""

import asyncio

import pytest
from sqlalchemy import func, select

from kit.db import create_engine
from services.commitments.tables import breaches, commitments, deals, inbox
from tests.commitments_helpers import (
    conflict,
    crm_event,
    decide,
    evaluate,
    evaluated,
    item_changed,
    new_event_id,
    promise,
    send,
    slip,
    take,
)
from tests.conftest import SERVICE_TOKEN
from tests.support.clients import client_of


async def count_rows(db_url: str, table) -> int:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(func.count()).select_from(table))).scalar()
    finally:
        await engine.dispose()


async def deal_state(client, deal_id: str) -> dict:
    deal = (await client.get(f"/deals/{deal_id}")).json()
    listed = (await client.get("/commitments", params={"deal_id": deal_id})).json()["items"]
    keep = ("external_id", "kind", "summary", "roadmap_item_key", "promised_by", "tags",
            "review_status")  # fmt: skip
    return {
        "deal": {k: v for k, v in deal.items() if k not in ("created_at", "updated_at")},
        "commitments": sorted(
            ({k: item[k] for k in keep} for item in listed), key=lambda c: c["external_id"]
        ),
    }


async def test_a_new_deal_is_accepted_with_its_commitments_received(commitments):
    answer = await take(commitments, crm_event(promise("C-1"), promise("C-2", kind="date")))

    assert answer["status"] == "accepted"
    assert [(c["external_id"], c["review_status"]) for c in answer["commitments"]] == [
        ("C-1", "received"),
        ("C-2", "received"),
    ]
    deal = (await commitments.get(f"/deals/{answer['deal_id']}")).json()
    assert deal["amount"] == "250000.00"
    assert deal["stage"] == "open"
    assert deal["crm_updated_at"] == "2026-11-20T09:00:00Z"


async def test_a_redelivery_answers_the_first_outcome_and_writes_nothing(
    commitments, commitments_db_url
):
    first = await take(commitments, crm_event(), "evt-once")
    inbox_rows = await count_rows(commitments_db_url, inbox)

    # Re-signed or altered, the same event id is the same event.
    again = await take(commitments, crm_event(promise(summary="Changed"), updated=5), "evt-once")

    assert again == {**first, "status": "duplicate"}
    assert await count_rows(commitments_db_url, inbox) == inbox_rows
    listed = (await commitments.get("/commitments")).json()["items"]
    assert [item["summary"] for item in listed] == ["SSO with Okta"]


async def test_a_redelivery_names_the_first_commitments_as_they_stand_now(commitments):
    first = await take(commitments, crm_event(), "evt-then")
    commitment_id = first["commitments"][0]["id"]
    await evaluated(commitments, commitment_id, slip("2027-04-01"))

    again = await take(commitments, crm_event(), "evt-then")

    assert again["status"] == "duplicate"
    assert again["deal_id"] == first["deal_id"]
    assert again["commitments"] == [
        {"id": commitment_id, "external_id": "C-1", "review_status": "needs_signoff"}
    ]


async def test_the_same_event_id_from_another_source_is_another_event(commitments):
    await take(commitments, crm_event(), "evt-7")
    hubspot = crm_event(deal="HS-1")
    hubspot["deal"]["source"] = "hubspot"

    response = await send(commitments, hubspot, "evt-7", source="hubspot")

    assert response.json()["status"] == "accepted"


async def test_an_event_from_another_source_than_its_deal_is_refused(commitments):
    response = await send(commitments, crm_event(), source="hubspot")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.deal.source"
    assert (await commitments.get("/deals")).json()["items"] == []


async def test_an_event_older_than_the_stored_deal_is_stale_and_changes_nothing(commitments):
    newer = await take(
        commitments, crm_event(promise(summary="SSO with Okta and Azure"), updated=10)
    )
    before = await deal_state(commitments, newer["deal_id"])

    older = await take(commitments, crm_event(promise(), name="Old name", updated=5))

    assert older["status"] == "stale"
    assert older["deal_id"] == newer["deal_id"]
    assert await deal_state(commitments, newer["deal_id"]) == before


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (2, 0, 1)])
async def test_any_delivery_order_ends_in_the_state_of_the_ordered_one(commitments, order):
    """The deal and its live promises end the same; a promise the CRM had already dropped
    when its events arrived late is simply never recorded (it never blocks either way)."""
    history = [
        crm_event(promise("C-1"), promise("C-2"), updated=0),
        crm_event(promise("C-1", promised_by="2027-06-01"), promise("C-2"), updated=1),
        crm_event(promise("C-1", promised_by="2027-06-01"), updated=2, amount="300000.00"),
    ]
    for index in order:
        answer = await take(commitments, history[index])

    state = await deal_state(commitments, answer["deal_id"])
    assert state["deal"]["amount"] == "300000.00"
    live = [c for c in state["commitments"] if c["review_status"] != "withdrawn"]
    assert [(c["external_id"], c["review_status"], c["promised_by"]) for c in live] == [
        ("C-1", "received", "2027-06-01")
    ]
    readiness = (await commitments.get(f"/deals/{answer['deal_id']}/readiness")).json()
    assert [blocking["review_status"] for blocking in readiness["blocking"]] == ["received"]


async def test_a_snapshot_withdraws_what_it_no_longer_lists_and_a_partial_event_does_not(
    commitments,
):
    await take(commitments, crm_event(promise("C-1"), promise("C-2"), promise("C-3")))

    partial = await take(
        commitments, crm_event(promise("C-1", summary="New"), snapshot=False, updated=1)
    )
    assert {c["external_id"]: c["review_status"] for c in partial["commitments"]} == {
        "C-1": "received", "C-2": "received", "C-3": "received",
    }  # fmt: skip

    full = await take(commitments, crm_event(promise("C-2"), updated=2))
    assert {c["external_id"]: c["review_status"] for c in full["commitments"]} == {
        "C-1": "withdrawn", "C-2": "received", "C-3": "withdrawn",
    }  # fmt: skip


async def test_a_lost_deal_withdraws_every_commitment_even_new_ones(commitments):
    await take(commitments, crm_event(promise("C-1")))

    lost = await take(
        commitments, crm_event(promise("C-2"), stage="closed_lost", updated=1, snapshot=False)
    )

    assert {c["external_id"]: c["review_status"] for c in lost["commitments"]} == {
        "C-1": "withdrawn", "C-2": "withdrawn",
    }  # fmt: skip
    claimable = (await commitments.post("/work/claims", json={})).json()["items"]
    assert claimable == []


async def test_a_withdrawn_commitment_sent_again_comes_back_for_evaluation(commitments):
    await take(commitments, crm_event(promise("C-1"), promise("C-2")))
    await take(commitments, crm_event(promise("C-1"), updated=1))

    back = await take(commitments, crm_event(promise("C-1"), promise("C-2"), updated=2))

    assert {c["external_id"]: c["review_status"] for c in back["commitments"]} == {
        "C-1": "received", "C-2": "received",
    }  # fmt: skip


async def test_closing_won_while_not_ready_is_recorded_as_a_breach_once(
    commitments, commitments_db_url
):
    answer = await take(commitments, crm_event(promise("C-1")))

    await take(commitments, crm_event(promise("C-1"), stage="closed_won", updated=1))
    await take(commitments, crm_event(promise("C-1"), stage="closed_won", updated=2))

    assert await count_rows(commitments_db_url, breaches) == 1
    summary = (await commitments.get("/reports/summary")).json()
    assert summary["breaches"] == [
        {"currency": "USD", "deals": 1, "amount": "250000.00", "breaches": 1}
    ]
    assert answer["deal_id"]


async def test_closing_won_when_ready_is_no_breach(commitments, commitments_db_url):
    answer = await take(commitments, crm_event(promise("C-1")))
    commitment_id = answer["commitments"][0]["id"]
    assert (await evaluate(commitments, commitment_id)).status_code == 200

    await take(commitments, crm_event(promise("C-1"), stage="closed_won", updated=1))

    assert await count_rows(commitments_db_url, breaches) == 0


async def test_closing_won_while_a_promise_owes_a_recheck_is_a_breach(
    commitments, commitments_db_url
):
    answer = await take(commitments, crm_event(promise("C-1", roadmap_item_key="RM-12")))
    await evaluated(commitments, answer["commitments"][0]["id"])
    await commitments.post("/work/rechecks", json={"changes": [item_changed("RM-12")]})

    closing = await take(
        commitments,
        crm_event(promise("C-1", roadmap_item_key="RM-12"), stage="closed_won", updated=1),
    )

    assert closing["commitments"][0]["review_status"] == "cleared"
    assert await count_rows(commitments_db_url, breaches) == 1


async def test_a_promise_changed_in_the_closing_event_was_never_signed_off(
    commitments, commitments_db_url
):
    answer = await take(commitments, crm_event(promise("C-1")))
    commitment_id = answer["commitments"][0]["id"]
    await evaluate(commitments, commitment_id)

    closing = await take(
        commitments,
        crm_event(promise("C-1", promised_by="2027-01-15"), stage="closed_won", updated=1),
    )

    assert closing["commitments"][0]["review_status"] == "received"
    assert await count_rows(commitments_db_url, breaches) == 1


async def test_a_storm_of_one_event_delivered_fifty_times_at_once_is_taken_once(
    commitments_app, commitments_db_url
):
    event = crm_event(promise("C-1"), promise("C-2"))
    event_id = new_event_id()

    async def deliver():
        async with client_of(commitments_app, SERVICE_TOKEN) as client:
            return await send(client, event, event_id)

    answers = await asyncio.gather(*(deliver() for _ in range(50)))

    assert {response.status_code for response in answers} == {200}
    statuses = [response.json()["status"] for response in answers]
    assert sorted(statuses) == ["accepted"] + ["duplicate"] * 49
    assert len({response.json()["deal_id"] for response in answers}) == 1
    assert await count_rows(commitments_db_url, inbox) == 1
    assert await count_rows(commitments_db_url, deals) == 1
    assert await count_rows(commitments_db_url, commitments) == 2


async def test_different_events_for_one_new_deal_at_once_make_one_deal(
    commitments_app, commitments_db_url
):
    async def deliver(minute: int):
        async with client_of(commitments_app, SERVICE_TOKEN) as client:
            return await send(client, crm_event(promise("C-1"), updated=minute))

    answers = await asyncio.gather(*(deliver(minute) for minute in range(10)))

    assert {response.status_code for response in answers} == {200}
    assert await count_rows(commitments_db_url, deals) == 1
    assert await count_rows(commitments_db_url, commitments) == 1
    async with client_of(commitments_app, SERVICE_TOKEN) as client:
        deal = (await client.get("/deals")).json()["items"][0]
    assert deal["crm_updated_at"] == "2026-11-20T09:09:00Z"


async def test_a_malformed_event_is_refused_and_writes_nothing(commitments, commitments_db_url):
    event = crm_event()
    event["deal"]["amount"] = 250000.5

    response = await send(commitments, event)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert await count_rows(commitments_db_url, inbox) == 0


async def test_events_with_the_same_crm_time_are_ordered_by_their_own_time(commitments):
    later = crm_event(promise(summary="Second"), updated=3)
    later["occurred_at"] = "2026-11-20T09:03:30Z"
    earlier = crm_event(promise(summary="First"), updated=3)

    await take(commitments, later)
    answer = await take(commitments, earlier)

    assert answer["status"] == "stale"
    listed = (await commitments.get("/commitments")).json()["items"]
    assert [item["summary"] for item in listed] == ["Second"]


async def test_a_new_deal_owner_follows_into_lists_and_reports(commitments):
    answer = await take(commitments, crm_event(promise("C-1"), owner="ana@example.com"))
    commitment_id = answer["commitments"][0]["id"]
    await evaluate(commitments, commitment_id, conflict("custom_work", item=None))

    await take(commitments, crm_event(promise("C-1"), owner="bo@example.com", updated=1))

    by_owner = (await commitments.get("/reports/conflicts")).json()["by_owner"]
    assert [group["key"] for group in by_owner] == ["bo@example.com"]
    listed = (await commitments.get("/commitments", params={"owner": "bo@example.com"})).json()
    assert [item["id"] for item in listed["items"]] == [commitment_id]


async def test_a_changed_promise_loses_its_evaluation_until_evaluated_again(commitments):
    answer = await take(commitments, crm_event(promise("C-1")))
    commitment_id = answer["commitments"][0]["id"]
    await evaluate(commitments, commitment_id, conflict("custom_work", item=None))

    await take(commitments, crm_event(promise("C-1", summary="Changed"), updated=1))

    changed = (await commitments.get(f"/commitments/{commitment_id}")).json()
    assert (changed["review_status"], changed["evaluation"], changed["conflicts"]) == (
        "received",
        None,
        [],
    )
    assert len(changed["evaluations"]) == 1  # the history stays
    assert (await commitments.get("/reports/conflicts")).json()["by_code"] == []


async def test_a_decision_and_a_crm_edit_at_once_each_count_once(commitments_app, commitments):
    """Whatever order they land in, neither overwrites the other: every write that answered
    2xx moved the version by one."""
    for round_number in range(5):
        deal = f"D-race-{round_number}"
        answer = await take(commitments, crm_event(promise("C-1"), deal=deal))
        commitment_id = answer["commitments"][0]["id"]
        await evaluate(commitments, commitment_id, conflict("custom_work", item=None))
        before = (await commitments.get(f"/commitments/{commitment_id}")).json()["version"]

        async def approve(commitment_id=commitment_id):
            async with client_of(commitments_app, SERVICE_TOKEN) as client:
                return await decide(client, commitment_id)

        async def edit(deal=deal):
            edited = crm_event(promise("C-1", summary="Edited"), deal=deal, updated=1)
            async with client_of(commitments_app, SERVICE_TOKEN) as client:
                return await send(client, edited)

        decision, edited = await asyncio.gather(approve(), edit())

        after = (await commitments.get(f"/commitments/{commitment_id}")).json()
        assert edited.status_code == 200
        assert decision.status_code in (200, 409)
        assert after["version"] == before + 1 + (decision.status_code == 200)
        assert after["review_status"] == "received"
        assert after["summary"] == "Edited"
