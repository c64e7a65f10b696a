"""Reading deals and commitments: filters, keyset pages, the closing gate."""

import pytest
from sqlalchemy import text

from kit.db import request_connection
from tests.commitments_helpers import (
    conflict,
    crm_event,
    decide,
    evaluated,
    item_changed,
    promise,
    slip,
    take,
)


async def pages(client, path: str, **params) -> list[list[str]]:
    """Every page of a list, as ids, following next_cursor."""
    found, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(path, params=query)).json()
        found.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def test_deals_filter_by_source_and_external_id_stage_and_owner(commitments):
    await take(commitments, crm_event(deal="D-1", owner="ana@example.com"))
    await take(commitments, crm_event(deal="D-2", stage="closed_won", owner="bo@example.com"))
    hubspot = crm_event(deal="D-1")
    hubspot["deal"]["source"] = "hubspot"
    await commitments.put("/crm-events/hubspot/evt-hs", json=hubspot)

    async def external_ids(**params) -> list[tuple[str, str]]:
        items = (await commitments.get("/deals", params=params)).json()["items"]
        return sorted((deal["source"], deal["external_id"]) for deal in items)

    assert await external_ids(source="generic", external_id="D-1") == [("generic", "D-1")]
    assert await external_ids(external_id="D-1") == [("generic", "D-1"), ("hubspot", "D-1")]
    assert await external_ids(stage="closed_won") == [("generic", "D-2")]
    assert await external_ids(owner="bo@example.com") == [("generic", "D-2")]


async def test_deal_pages_cover_every_deal_once(commitments):
    for n in range(5):
        await take(commitments, crm_event(deal=f"D-{n}"))

    found = await pages(commitments, "/deals", limit=2)

    assert [len(page) for page in found] == [2, 2, 1]
    ids = [deal_id for page in found for deal_id in page]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


async def test_commitments_filter_by_status_deal_item_conflict_code_and_owner(commitments):
    first = await take(
        commitments,
        crm_event(
            promise("C-1", roadmap_item_key="RM-12"),
            promise("C-2", roadmap_item_key="RM-3"),
            deal="D-1",
            owner="ana@example.com",
        ),
    )
    second = await take(commitments, crm_event(promise("C-1"), deal="D-2", owner="bo@example.com"))
    ids = {c["external_id"]: c["id"] for c in first["commitments"]}
    await evaluated(commitments, ids["C-1"], slip("2027-04-01"))
    await evaluated(commitments, ids["C-2"], conflict("item_declined", item="RM-3"))
    await decide(commitments, ids["C-2"], "reject", comment="Declined item")

    async def listed(**params) -> set[str]:
        response = await commitments.get("/commitments", params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    other = second["commitments"][0]["id"]
    assert await listed(review_status="needs_signoff") == {ids["C-1"]}
    assert await listed(review_status=["rejected", "received"]) == {ids["C-2"], other}
    assert await listed(deal_id=second["deal_id"]) == {other}
    assert await listed(roadmap_item_key="RM-3") == {ids["C-2"]}
    assert await listed(conflict_code="date_before_plan") == {ids["C-1"]}
    assert await listed(owner="bo@example.com") == {other}
    assert await listed(owner="ana@example.com", review_status="rejected") == {ids["C-2"]}


async def test_commitment_pages_cover_every_commitment_once(commitments):
    await take(commitments, crm_event(*(promise(f"C-{n}") for n in range(7))))

    found = await pages(commitments, "/commitments", limit=3)

    assert [len(page) for page in found] == [3, 3, 1]
    assert len({commitment for page in found for commitment in page}) == 7


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 201},
        {"limit": 0},
        {"review_status": "pending"},
        {"conflict_code": "nope"},
        {"cursor": "not-an-id"},
        {"owner": "not-an-email"},
        {"unknown": "1"},
    ],
)
async def test_bad_list_queries_are_422(commitments, query):
    response = await commitments.get("/commitments", params=query)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_readiness_lists_what_blocks_with_its_conflicts(commitments):
    answer = await take(commitments, crm_event(promise("C-1"), promise("C-2"), promise("C-3")))
    ids = {c["external_id"]: c["id"] for c in answer["commitments"]}
    await evaluated(commitments, ids["C-1"])
    await evaluated(commitments, ids["C-2"], slip("2027-04-01"))

    readiness = (await commitments.get(f"/deals/{answer['deal_id']}/readiness")).json()

    assert readiness["deal_id"] == answer["deal_id"]
    assert readiness["ready"] is False
    assert [(b["commitment_id"], b["review_status"]) for b in readiness["blocking"]] == [
        (ids["C-2"], "needs_signoff"),
        (ids["C-3"], "received"),
    ]
    assert [c["code"] for c in readiness["blocking"][0]["conflicts"]] == ["date_before_plan"]


async def test_a_deal_is_ready_when_all_that_is_not_withdrawn_is_cleared_or_approved(
    commitments,
):
    answer = await take(commitments, crm_event(promise("C-1"), promise("C-2"), promise("C-3")))
    ids = {c["external_id"]: c["id"] for c in answer["commitments"]}
    await evaluated(commitments, ids["C-1"])
    await evaluated(commitments, ids["C-2"], slip("2027-04-01"))
    await decide(commitments, ids["C-2"])
    await take(commitments, crm_event(promise("C-1"), promise("C-2"), updated=1))

    readiness = (await commitments.get(f"/deals/{answer['deal_id']}/readiness")).json()

    assert readiness == {"deal_id": answer["deal_id"], "ready": True, "blocking": []}


async def test_a_commitment_owed_a_recheck_blocks_its_deal_until_evaluated_again(commitments):
    answer = await take(commitments, crm_event(promise("C-1", roadmap_item_key="RM-12")))
    commitment_id = answer["commitments"][0]["id"]
    deal = answer["deal_id"]
    await evaluated(commitments, commitment_id)
    ready = (await commitments.get(f"/deals/{deal}/readiness")).json()

    marked = await commitments.post("/work/rechecks", json={"changes": [item_changed("RM-12")]})
    owed = (await commitments.get(f"/deals/{deal}/readiness")).json()
    at_risk = (await commitments.get("/reports/summary")).json()["revenue_at_risk"]
    await evaluated(commitments, commitment_id)
    settled = (await commitments.get(f"/deals/{deal}/readiness")).json()

    assert ready["ready"] is True
    assert marked.json() == {"marked": 1}
    assert owed["ready"] is False
    assert owed["blocking"] == [
        {
            "commitment_id": commitment_id,
            "review_status": "cleared",
            "conflicts": [],
            "recheck_pending": True,
        }
    ]
    assert at_risk == [{"currency": "USD", "deals": 1, "amount": "250000.00"}]
    assert settled == {"deal_id": deal, "ready": True, "blocking": []}


async def test_readiness_of_an_unknown_deal_is_404(commitments):
    response = await commitments.get("/deals/00000000-0000-4000-8000-000000000000/readiness")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_read_sees_one_state_even_while_a_write_lands(commitments_app, commitments):
    """A GET is one snapshot: the ETag and the history it lists agree."""
    answer = await take(commitments, crm_event(promise("C-1")))
    commitment_id = answer["commitments"][0]["id"]

    class GetRequest:
        method = "GET"
        app = commitments_app

    reads = request_connection(GetRequest())
    connection = await anext(reads)
    before = (await connection.execute(text("SELECT count(*) FROM evaluations"))).scalar()
    await evaluated(commitments, commitment_id, conflict("custom_work", item=None))
    after = (await connection.execute(text("SELECT count(*) FROM evaluations"))).scalar()
    await reads.aclose()

    assert before == after == 0


async def test_readiness_by_the_crms_own_id_is_the_same_gate(commitments):
    answer = await take(commitments, crm_event(promise("C-1"), deal="D-77"))
    by_id = (await commitments.get(f"/deals/{answer['deal_id']}/readiness")).json()
    found = await commitments.get(
        "/deals/readiness", params={"source": "generic", "external_id": "D-77"}
    )
    assert found.status_code == 200
    assert found.json() == by_id
    elsewhere = await commitments.get(
        "/deals/readiness", params={"source": "hubspot", "external_id": "D-77"}
    )
    assert elsewhere.status_code == 404
    assert "D-77 from hubspot" in elsewhere.json()["detail"]
    missing = await commitments.get("/deals/readiness", params={"source": "generic"})
    assert missing.status_code == 422
