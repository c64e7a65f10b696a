"""The gate owed to a CRM deal, as the commitments service keeps it: owed on each change of
the gate, claimed by one caller at a time, settled by the version written, a change made
during a write still owed after it."""

from tests.commitments_helpers import crm_event, promise, send


async def hubspot_deal(commitments, *promises: dict, updated: int = 0) -> str:
    event = crm_event(*promises, updated=updated)
    event["deal"]["source"] = "hubspot"
    response = await send(commitments, event, source="hubspot")
    assert response.status_code == 200, response.text
    return response.json()["deal_id"]


async def claim(commitments) -> dict:
    response = await commitments.post(
        "/work/crm-writebacks/claims", json={"sources": ["hubspot"], "lease_seconds": 60}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def state(commitments, deal_id: str) -> dict:
    response = await commitments.get(f"/deals/{deal_id}/crm-writeback")
    assert response.status_code == 200, response.text
    return response.json()


def written(item: dict) -> dict:
    return {name: item[name] for name in ("deal_id", "version", "ready", "blocking_count")}


async def test_a_change_made_while_a_state_is_written_stays_owed(commitments):
    deal_id = await hubspot_deal(commitments, promise("C-1"))
    first = await claim(commitments)
    assert [(i["version"], i["ready"], i["blocking_count"]) for i in first["items"]] == [
        (1, False, 1)
    ]
    assert (await claim(commitments))["items"] == []  # leased: no other caller gets it

    await hubspot_deal(commitments, promise("C-1"), promise("C-2"), updated=1)
    settled = await commitments.post(
        "/work/crm-writebacks/settlements",
        json={"token": first["token"], "written": [written(first["items"][0])]},
    )

    assert settled.json() == {"settled": 1}
    after = await state(commitments, deal_id)
    assert (after["version"], after["written_version"]) == (2, 1)
    assert (after["written_ready"], after["written_blocking_count"]) == (False, 1)
    again = await claim(commitments)
    assert [(i["version"], i["blocking_count"]) for i in again["items"]] == [(2, 2)]


async def test_a_failed_write_is_put_off_with_its_reason_and_a_stale_token_settles_nothing(
    commitments,
):
    deal_id = await hubspot_deal(commitments, promise("C-1"))
    first = await claim(commitments)
    retry = {"id": deal_id, "reason": "HubSpot API rate limit reached", "delay_seconds": 3600}

    stale = await commitments.post(
        "/work/crm-writebacks/settlements", json={"token": "0" * 32, "retry": [retry]}
    )
    put_off = await commitments.post(
        "/work/crm-writebacks/settlements", json={"token": first["token"], "retry": [retry]}
    )

    assert stale.json() == {"settled": 0}
    assert put_off.json() == {"settled": 1}
    after = await state(commitments, deal_id)
    assert after["last_error"] == "HubSpot API rate limit reached"
    assert after["written_version"] == 0
    assert (await claim(commitments))["items"] == []  # due again in an hour, not now


async def test_a_generic_deal_owes_no_write_back(commitments):
    response = await send(commitments, crm_event(promise("C-1")))
    deal_id = response.json()["deal_id"]

    assert (await commitments.get(f"/deals/{deal_id}/crm-writeback")).status_code == 404
    assert (await claim(commitments))["items"] == []
