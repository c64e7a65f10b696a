"""The evaluation work queue: claims with leases, re-checks that are never lost."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kit.db import create_engine, utcnow
from services.commitments.app import create_app
from services.commitments.tables import commitments as commitments_table
from tests.commitments_helpers import (
    conflict,
    crm_event,
    decide,
    evaluate,
    evaluated,
    first_commitment,
    item_changed,
    new_event_id,
    promise,
    read,
    send,
    slip,
    tag_changed,
    take,
)
from tests.conftest import SERVICE_TOKEN, commitments_settings
from tests.support.clients import client_of, running


async def claim(client, **request) -> list[dict]:
    response = await client.post("/work/claims", json=request)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def expire_leases(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(commitments_table)
                .where(commitments_table.c.claim_token.is_not(None))
                # As if the lease ran out a moment ago: due again since then, as its claim said.
                .values(
                    claimed_until=utcnow() - timedelta(seconds=1),
                    work_due_at=utcnow() - timedelta(seconds=1),
                )
            )
    finally:
        await engine.dispose()


async def test_a_claim_takes_due_work_once_until_its_lease_runs_out(
    commitments, commitments_db_url
):
    await take(commitments, crm_event(promise("C-1"), promise("C-2")))

    first = await claim(commitments, limit=10, lease_seconds=60)
    second = await claim(commitments)
    await expire_leases(commitments_db_url)
    after_expiry = await claim(commitments)

    assert sorted(item["external_id"] for item in first) == ["C-1", "C-2"]
    assert len({item["claim_token"] for item in first}) == 1
    assert second == []
    assert {item["id"] for item in after_expiry} == {item["id"] for item in first}


async def test_new_work_stays_the_receiving_gateways_for_the_handoff_grace(commitments_db_url):
    app = create_app(commitments_settings(commitments_db_url, handoff_grace_seconds=30))
    async with running(app, SERVICE_TOKEN) as client:
        commitment_id = await first_commitment(client, crm_event(promise("C-1")))
        swept_before = await claim(client)
        by_id = await claim(client, commitment_ids=[commitment_id])
        settled = await evaluate(client, commitment_id, claim=by_id[0])
        assert settled.status_code == 200, settled.text
        relinked = await client.put(
            f"/commitments/{commitment_id}/roadmap-link", json={"roadmap_item_key": "RM-40"}
        )
        assert relinked.status_code == 200, relinked.text
        swept_after_link = await claim(client)
        by_id_after_link = await claim(client, commitment_ids=[commitment_id])

    assert swept_before == []
    assert [item["id"] for item in by_id] == [commitment_id]
    assert swept_after_link == []
    assert [item["id"] for item in by_id_after_link] == [commitment_id]


async def test_a_claim_takes_at_most_its_limit_oldest_first(commitments):
    await take(commitments, crm_event(promise("C-1"), deal="D-1"))
    await take(commitments, crm_event(promise("C-1"), deal="D-2"))

    first = await claim(commitments, limit=1)
    second = await claim(commitments, limit=1)

    deals = (await commitments.get("/deals")).json()["items"]
    by_deal = {deal["id"]: deal["external_id"] for deal in deals}
    assert [by_deal[item["deal_id"]] for item in first + second] == ["D-1", "D-2"]


async def test_recording_the_evaluation_settles_the_work(commitments):
    commitment_id = await first_commitment(commitments)
    (claimed,) = await claim(commitments)

    await evaluate(commitments, commitment_id, claim=claimed)

    assert await claim(commitments) == []


async def test_a_claim_can_be_limited_to_named_commitments_or_items(commitments):
    answer = await take(
        commitments,
        crm_event(promise("C-1"), promise("C-2", roadmap_item_key="RM-3"), promise("C-3")),
    )
    ids = {c["external_id"]: c["id"] for c in answer["commitments"]}

    named = await claim(commitments, commitment_ids=[ids["C-3"]])
    by_item = await claim(commitments, roadmap_item_keys=["RM-3"])

    assert [item["external_id"] for item in named] == ["C-3"]
    assert [item["external_id"] for item in by_item] == ["C-2"]


async def test_a_roadmap_change_marks_rechecks_by_item_and_by_tag(commitments):
    answer = await take(
        commitments,
        crm_event(
            promise("C-1", roadmap_item_key="RM-12", tags=[]),
            promise("C-2", roadmap_item_key="RM-3", tags=["on-prem"]),
            promise("C-3", roadmap_item_key="RM-4", tags=[]),
            promise("C-4", roadmap_item_key="RM-12", tags=[]),
        ),
    )
    for item in answer["commitments"]:
        await evaluated(commitments, item["id"])
    await take(
        commitments,
        crm_event(
            promise("C-1", roadmap_item_key="RM-12", tags=[]),
            promise("C-2", roadmap_item_key="RM-3", tags=["on-prem"]),
            promise("C-3", roadmap_item_key="RM-4", tags=[]),
            updated=1,
        ),
    )  # C-4 withdrawn: nothing to re-check

    marked = await commitments.post(
        "/work/rechecks", json={"changes": [item_changed("RM-12"), tag_changed("on-prem")]}
    )

    assert marked.json() == {"marked": 2}
    due = await claim(commitments)
    assert sorted(item["external_id"] for item in due) == ["C-1", "C-2"]
    assert {item["review_status"] for item in due} == {"cleared"}


async def test_a_recheck_marked_during_an_evaluation_is_not_lost(commitments):
    commitment_id = await first_commitment(commitments)
    (claimed,) = await claim(commitments)

    # The roadmap changes while the gateway is still evaluating with the old item.
    await commitments.post("/work/rechecks", json={"changes": [item_changed("RM-12")]})
    await evaluate(commitments, commitment_id, claim=claimed)

    (again,) = await claim(commitments)
    assert again["id"] == commitment_id
    assert again["work_generation"] == claimed["work_generation"] + 1


async def test_an_unreachable_roadmap_keeps_the_work_due_after_a_pause(
    commitments, commitments_db_url
):
    commitment_id = await first_commitment(commitments)
    (claimed,) = await claim(commitments)

    recorded_at = utcnow()
    await evaluate(commitments, commitment_id, claim=claimed, outcome="roadmap_unreachable")

    engine = create_engine(commitments_db_url)
    try:
        async with engine.begin() as connection:
            due = await connection.scalar(select(commitments_table.c.work_due_at))
            assert due >= recorded_at + timedelta(seconds=1)  # pausing before the next try
            await connection.execute(
                update(commitments_table).values(work_due_at=utcnow() - timedelta(seconds=1))
            )
    finally:
        await engine.dispose()
    (retry,) = await claim(commitments)
    assert retry["review_status"] == "evaluation_pending"


async def pause_longer(db_url: str, commitment_id: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(commitments_table)
                .where(commitments_table.c.id == commitment_id)
                .values(work_due_at=utcnow() + timedelta(seconds=30))
            )
    finally:
        await engine.dispose()


async def test_the_roadmaps_return_ends_the_pauses_but_not_the_hand_off_grace(
    commitments_db_url,
):
    app = create_app(commitments_settings(commitments_db_url, handoff_grace_seconds=30))
    async with running(app, SERVICE_TOKEN) as client:
        await take(client, crm_event(promise("C-1")))
        paused_id = await first_commitment(client)
        (claimed,) = await claim(client, commitment_ids=[paused_id])
        await evaluate(client, paused_id, claim=claimed, outcome="roadmap_unreachable")
        await pause_longer(commitments_db_url, paused_id)  # as after many failed attempts
        await take(client, crm_event(promise("C-9"), deal="D-2002"))  # fresh, in its grace

        assert await claim(client) == []  # the one pausing, the other the gateway's own
        (retried,) = await claim(client, retry_waiting=True)

        assert retried["id"] == paused_id
        assert await claim(client, retry_waiting=True) == []


def record_of(claimed: dict, *conflicts: dict) -> dict:
    return {
        "commitment_id": claimed["id"],
        "claim_token": claimed["claim_token"],
        "evaluated_version": claimed["version"],
        "work_generation": claimed["work_generation"],
        "conflicts": list(conflicts),
    }


async def test_a_batch_of_evaluations_is_recorded_except_those_whose_claim_lapsed(
    commitments, commitments_db_url
):
    await take(commitments, crm_event(promise("C-1"), promise("C-2"), promise("C-3")))
    c1, c2, c3 = await claim(commitments, limit=10)
    await expire_leases(commitments_db_url)
    (c2_again,) = await claim(commitments, commitment_ids=[c2["id"]])  # another replica

    batch = [record_of(c3, conflict("custom_work")), record_of(c1), record_of(c2)]
    response = await commitments.post("/work/evaluations", json={"items": batch})
    repeated = await commitments.post("/work/evaluations", json={"items": batch})

    assert response.status_code == 200, response.text
    answered = response.json()["items"]
    assert [a["commitment_id"] for a in answered] == [c3["id"], c1["id"], c2["id"]]
    assert [a["recorded"] for a in answered] == [True, True, False]
    assert [a["review_status"] for a in answered] == ["needs_signoff", "cleared", "received"]
    assert "claim" in answered[2]["reason"]
    assert (await read(commitments, c2["id"]))["review_status"] == "received"
    assert c2_again["claim_token"] != c2["claim_token"]
    # A repeat (the answer was lost) finds the claims released and records nothing more.
    assert [a["recorded"] for a in repeated.json()["items"]] == [False, False, False]
    assert len((await read(commitments, c3["id"]))["evaluations"]) == 1


async def test_a_commitment_named_twice_in_a_batch_is_recorded_once(commitments):
    await take(commitments, crm_event(promise("C-1")))
    (claimed,) = await claim(commitments)

    twice = {"items": [record_of(claimed, conflict("custom_work")), record_of(claimed)]}
    response = await commitments.post("/work/evaluations", json=twice)

    assert response.status_code == 200, response.text
    assert [a["recorded"] for a in response.json()["items"]] == [True, False]
    commitment = await read(commitments, claimed["id"])
    assert commitment["review_status"] == "needs_signoff"
    assert len(commitment["evaluations"]) == 1


async def test_a_roadmap_change_is_marked_once_per_version_however_often_it_comes(
    commitments,
):
    await take(
        commitments,
        crm_event(
            promise("C-1", roadmap_item_key="RM-12"),
            promise("C-2", roadmap_item_key="RM-20"),
            promise("C-3", roadmap_item_key="RM-30", tags=["on-prem"]),
        ),
    )
    for claimed in await claim(commitments, limit=10):
        await evaluate(commitments, claimed["id"], claim=claimed)

    async def mark(*changes: dict) -> int:
        response = await commitments.post("/work/rechecks", json={"changes": list(changes)})
        assert response.status_code == 200, response.text
        owed = await claim(commitments, limit=10)
        for claimed in owed:  # settle them, so the next mark shows on its own
            await evaluate(commitments, claimed["id"], claim=claimed)
        assert response.json()["marked"] == len(owed)
        return len(owed)

    item = {"entity": "roadmap_item", "key": "RM-12"}
    assert await mark({**item, "version": 4}) == 1
    assert await mark({**item, "version": 4}) == 0  # the feed bringing what was marked
    assert await mark({**item, "version": 3}) == 0  # an older state: already overtaken
    assert await mark({**item, "version": 5}) == 1
    assert await mark({**item, "version": None}) == 1  # a delete: always
    assert await mark({**item, "version": None}) == 1
    tag = {"entity": "vision_tag", "key": "on-prem", "version": 2, "item_keys": ["RM-20"]}
    assert await mark(tag) == 2  # its carrier C-3, and C-2 through its item
    assert await mark(tag) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"entity": "roadmap_item", "key": "on-prem", "version": 1},
        {"entity": "vision_tag", "key": "RM-12", "version": 1},
        {"entity": "roadmap_item", "key": "RM-12", "version": 1, "item_keys": ["RM-1"]},
        {"entity": "roadmap_item", "key": "RM-12", "version": 0},
    ],
)
async def test_a_change_mark_that_does_not_fit_is_422(commitments, change):
    response = await commitments.post("/work/rechecks", json={"changes": [change]})

    assert response.status_code == 422, response.text


async def test_replicas_claiming_at_once_never_share_a_commitment(commitments_app, commitments):
    await take(commitments, crm_event(*(promise(f"C-{n}") for n in range(30))))

    async def replica():
        async with client_of(commitments_app, SERVICE_TOKEN) as client:
            return await claim(client, limit=4)

    claims = await asyncio.gather(*(replica() for _ in range(10)))

    ids = [item["id"] for found in claims for item in found]
    assert len(ids) == len(set(ids)) == 30


async def test_only_the_claims_holder_records_and_a_lapsed_claim_can_be_taken_over(
    commitments, commitments_db_url
):
    commitment_id = await first_commitment(commitments)
    (slow,) = await claim(commitments)
    await expire_leases(commitments_db_url)
    (taker,) = await claim(commitments)

    late = await evaluate(commitments, commitment_id, claim=slow)
    current = await evaluate(commitments, commitment_id, claim=taker)

    assert late.status_code == 409
    assert "claim" in late.json()["detail"]
    assert current.status_code == 200
    assert current.json()["review_status"] == "cleared"


async def test_work_whose_claim_lapsed_waits_behind_work_already_due(commitments):
    """An evaluation that keeps failing (or a replica that keeps dying) cannot starve the rest."""
    await take(commitments, crm_event(promise("C-1"), deal="D-1"))
    await take(commitments, crm_event(promise("C-1"), deal="D-2"))
    (first,) = await claim(commitments, limit=1, lease_seconds=1)
    await asyncio.sleep(1.1)  # the lease runs out

    (second,) = await claim(commitments, limit=1)
    (third,) = await claim(commitments, limit=1)

    assert second["id"] != first["id"]
    assert third["id"] == first["id"]


async def test_a_recheck_does_not_free_a_commitment_still_claimed(commitments):
    commitment_id = await first_commitment(commitments)
    (claimed,) = await claim(commitments)

    await commitments.post("/work/rechecks", json={"commitment_ids": [commitment_id]})

    assert await claim(commitments) == []
    recorded = await evaluate(commitments, commitment_id, claim=claimed)
    assert recorded.status_code == 200
    (again,) = await claim(commitments)  # the re-check is still owed after that evaluation
    assert again["work_generation"] == claimed["work_generation"] + 1


async def test_a_decision_during_an_evaluation_makes_it_evaluate_again(commitments):
    commitment_id = await first_commitment(commitments)
    await evaluated(commitments, commitment_id, slip("2027-04-01"))
    await commitments.post("/work/rechecks", json={"changes": [item_changed("RM-12")]})
    (claimed,) = await claim(commitments)

    await decide(commitments, commitment_id)
    response = await evaluate(commitments, commitment_id, claim=claimed)
    (again,) = await claim(commitments)  # at once, not when the first lease ends

    assert response.status_code == 409
    assert again["id"] == commitment_id
    assert again["review_status"] == "approved"
    assert (await evaluate(commitments, commitment_id, slip("2027-04-01"), claim=again)).json()[
        "review_status"
    ] == "approved"


async def test_rechecks_and_crm_events_on_one_deal_at_once_all_succeed(
    commitments_app, commitments
):
    """Both lock the deal's commitments in id order: no deadlock, no 5xx."""
    many = [promise(f"C-{n}", roadmap_item_key="RM-12") for n in range(12)]
    await take(commitments, crm_event(*many))

    async def crm_edit(minute: int):
        edited = [promise(f"C-{n}", summary=f"v{minute}") for n in reversed(range(12))]
        async with client_of(commitments_app, SERVICE_TOKEN) as client:
            return await client.put(
                f"/crm-events/generic/evt-edit-{minute}", json=crm_event(*edited, updated=minute)
            )

    async def recheck():
        async with client_of(commitments_app, SERVICE_TOKEN) as client:
            return await client.post("/work/rechecks", json={"changes": [item_changed("RM-12")]})

    answers = await asyncio.gather(
        *(crm_edit(minute) if minute % 2 else recheck() for minute in range(1, 21))
    )

    assert [response.status_code for response in answers] == [200] * 20


async def test_an_event_taken_with_a_claim_answers_its_commitments_claimed_once(commitments):
    """What a gateway evaluating at once asks for: the event's owed commitments claimed in
    the event's own transaction; a re-delivery claims none while those claims hold, and a
    stale event claims nothing."""
    event, event_id = crm_event(promise("C-1"), promise("C-2"), updated=5), new_event_id()
    lease = {"claim_lease_seconds": 60}

    first = await commitments.put(f"/crm-events/generic/{event_id}", json=event, params=lease)
    again = await commitments.put(f"/crm-events/generic/{event_id}", json=event, params=lease)
    stale = await commitments.put(
        f"/crm-events/generic/{new_event_id()}", json=crm_event(promise("C-3")), params=lease
    )
    unclaimed = await send(commitments, crm_event(promise("C-1"), promise("C-2"), updated=6))

    taken = first.json()
    assert first.status_code == 200, first.text
    assert sorted(c["external_id"] for c in taken["claimed"]) == ["C-1", "C-2"]
    assert {c["id"] for c in taken["claimed"]} == {c["id"] for c in taken["commitments"]}
    assert all(len(c["claim_token"]) == 32 for c in taken["claimed"])
    assert await claim(commitments, limit=10) == []  # held by the caller, not due to others
    assert again.json()["status"] == "duplicate"
    assert again.json()["claimed"] == []
    assert stale.json()["status"] == "stale"
    assert stale.json()["claimed"] == []
    assert unclaimed.json()["claimed"] == []  # only when asked


async def test_a_claim_with_an_event_is_bounded_like_any_lease(commitments):
    event = crm_event(promise("C-1"))
    for lease in ("0", "3601", "soon"):
        response = await commitments.put(
            f"/crm-events/generic/{new_event_id()}",
            json=event,
            params={"claim_lease_seconds": lease},
        )

        assert response.status_code == 422, response.text
    assert (await commitments.get("/deals")).json()["items"] == []  # nothing was taken
