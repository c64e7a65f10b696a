"""Who may decide (issue 13): the reviewers directory, decisions scoped to a reviewer's
areas, and delegation while a reviewer is out of office. Through /v1, on both databases."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.commitments_helpers import crm_event, promise
from tests.conftest import Stack
from tests.gateway_helpers import (
    ADMIN,
    PM,
    VIEWER,
    bearer,
    commitment,
    post_webhook,
    reviewer,
)

BEN = bearer("pm", sub="ben@example.com")


def moment(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


async def flagged_promises(gateway) -> dict[str, str]:
    """Two flagged promises: C-1 on RM-12 (area "identity"), C-2 custom work (no item, so the
    triage area). External id -> commitment id."""
    item = {
        "key": "RM-12", "title": "SSO", "status": "planned", "planned_end": "2027-04-01",
        "confidence": "high", "area": "identity",
    }  # fmt: skip
    assert (await gateway.post("/v1/roadmap/items", json=item, headers=PM)).status_code == 201
    event = crm_event(
        promise("C-1", roadmap_item_key="RM-12", promised_by="2027-03-01"),
        promise("C-2", kind="custom_work", summary="A fork for Acme", roadmap_item_key=None),
    )
    answer = (await post_webhook(gateway, event)).json()
    assert {c["review_status"] for c in answer["commitments"]} == {"needs_signoff"}
    return {c["external_id"]: c["id"] for c in answer["commitments"]}


async def approve(gateway, commitment_id: str, headers: dict) -> object:
    return await gateway.post(
        f"/v1/commitments/{commitment_id}/decision",
        json={"decision": "approve", "comment": "fine"},
        headers=headers,
    )


# The directory ---------------------------------------------------------------------------


async def test_an_admin_keeps_the_directory_and_everyone_may_read_it(gateway):
    body = {"areas": ["identity", "Security"], "escalation_contact": "lead@example.com"}
    created = await gateway.put("/v1/reviewers/ana@example.com", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/v1/reviewers/ana@example.com"
    assert created.headers["ETag"] == '"1"'
    assert created.json()["email"] == "ana@example.com"
    assert created.json()["out_of_office"] is None

    again = await gateway.put("/v1/reviewers/ana@example.com", json=body, headers=ADMIN)
    assert (again.status_code, again.json()["version"]) == (200, 1)  # a retry: nothing new
    await reviewer(gateway, "bo@example.com", "billing")
    await reviewer(gateway, "cy@example.com", "SECURITY")

    listed = await gateway.get("/v1/reviewers", headers=VIEWER)
    assert [r["email"] for r in listed.json()["items"]] == [
        "ana@example.com", "bo@example.com", "cy@example.com"
    ]  # fmt: skip
    security = await gateway.get("/v1/reviewers?area=security", headers=VIEWER)
    assert [r["email"] for r in security.json()["items"]] == ["ana@example.com", "cy@example.com"]
    first = await gateway.get("/v1/reviewers?limit=2", headers=VIEWER)
    rest = await gateway.get(
        f"/v1/reviewers?limit=2&cursor={first.json()['next_cursor']}", headers=VIEWER
    )
    assert [r["email"] for r in rest.json()["items"]] == ["cy@example.com"]
    assert rest.json()["next_cursor"] is None

    one = await gateway.get("/v1/reviewers/ana@example.com", headers=VIEWER)
    assert one.json()["areas"] == ["identity", "Security"]
    assert one.headers["ETag"] == '"1"'


async def test_a_replaced_entry_moves_its_version_and_a_stale_etag_is_refused(gateway):
    await reviewer(gateway, "ana@example.com", "identity")
    changed = await gateway.put(
        "/v1/reviewers/ana@example.com",
        json={"areas": ["billing"]},
        headers={**ADMIN, "If-Match": '"1"'},
    )
    assert (changed.status_code, changed.json()["version"]) == (200, 2)
    stale = await gateway.put(
        "/v1/reviewers/ana@example.com",
        json={"areas": ["identity"]},
        headers={**ADMIN, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    unknown = await gateway.put(
        "/v1/reviewers/new@example.com", json={"areas": ["x"]}, headers={**ADMIN, "If-Match": '"1"'}
    )
    assert unknown.status_code == 412
    assert (await gateway.get("/v1/reviewers/new@example.com", headers=VIEWER)).status_code == 404
    read = await gateway.get("/v1/reviewers/ana@example.com", headers=VIEWER)
    assert read.json()["areas"] == ["billing"]


async def test_only_an_admin_writes_the_directory(gateway):
    for headers in (PM, VIEWER):
        put = await gateway.put(
            "/v1/reviewers/ana@example.com", json={"areas": ["x"]}, headers=headers
        )
        assert put.status_code == 403
    await reviewer(gateway, "ana@example.com")
    assert (await gateway.delete("/v1/reviewers/ana@example.com", headers=PM)).status_code == 403
    assert (await gateway.get("/v1/reviewers/ana@example.com", headers=VIEWER)).status_code == 200
    assert (await gateway.get("/v1/reviewers", headers=bearer("crm"))).status_code == 403


async def test_an_entry_the_directory_cannot_keep_is_refused_and_nothing_is_written(gateway):
    away = {"from": moment(1), "until": moment(2), "delegate": "ben@example.com"}
    bad_bodies = [
        {"areas": []},
        {"areas": ["x" * 65]},
        {"areas": ["identity"], "role": "boss"},
        {"areas": ["identity"], "escalation_contact": "not an email"},
        {"areas": ["identity"], "out_of_office": {**away, "until": away["from"]}},
        {"areas": ["identity"], "out_of_office": {**away, "delegate": "ana@example.com"}},
        {"areas": ["identity"], "out_of_office": {"from": away["from"], "until": away["until"]}},
        {"areas": ["identity"], "out_of_office": {**away, "from": "2026-12-20"}},
    ]
    for body in bad_bodies:
        answer = await gateway.put("/v1/reviewers/ana@example.com", json=body, headers=ADMIN)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert (await gateway.get("/v1/reviewers", headers=VIEWER)).json()["items"] == []
    not_an_email = await gateway.put("/v1/reviewers/ana", json={"areas": ["x"]}, headers=ADMIN)
    assert not_an_email.status_code == 404
    twice = {"areas": ["identity", "billing", "Identity"]}
    kept = await gateway.put("/v1/reviewers/ana@example.com", json=twice, headers=ADMIN)
    assert kept.json()["areas"] == ["identity", "billing"]  # named twice: kept once


async def test_removing_a_reviewer_is_safe_to_repeat(gateway):
    await reviewer(gateway, "ana@example.com")
    assert (await gateway.delete("/v1/reviewers/ana@example.com", headers=ADMIN)).status_code == 204
    assert (await gateway.delete("/v1/reviewers/ana@example.com", headers=ADMIN)).status_code == 204
    assert (await gateway.get("/v1/reviewers/ana@example.com", headers=VIEWER)).status_code == 404
    await reviewer(gateway, "ana@example.com")
    stale = await gateway.delete(
        "/v1/reviewers/ana@example.com", headers={**ADMIN, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    assert (await gateway.get("/v1/reviewers/ana@example.com", headers=VIEWER)).status_code == 200


async def test_admins_putting_one_new_reviewer_at_once_make_one_entry(gateway):
    body = {"areas": ["identity"]}
    answers = await asyncio.gather(
        *(gateway.put("/v1/reviewers/ana@example.com", json=body, headers=ADMIN) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert {a.json()["version"] for a in answers} == {1}
    assert len((await gateway.get("/v1/reviewers", headers=VIEWER)).json()["items"]) == 1


# Who may decide --------------------------------------------------------------------------


async def test_a_pm_decides_only_the_promises_of_their_areas(gateway):
    ids = await flagged_promises(gateway)
    await reviewer(gateway, "ana@example.com", "billing")
    before = await commitment(gateway, ids["C-1"])
    assert before["evaluation"]["review_area"] == "identity"

    refused = await approve(gateway, ids["C-1"], PM)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "'identity'" in refused.json()["detail"]
    assert "they review billing" in refused.json()["detail"]
    after = await commitment(gateway, ids["C-1"])
    assert (after["version"], after["decisions"]) == (before["version"], [])

    await reviewer(gateway, "ana@example.com", "billing", "Identity")  # any case
    assert (await approve(gateway, ids["C-1"], PM)).status_code == 200
    triage = await approve(gateway, ids["C-2"], PM)  # custom work: the triage area
    assert triage.status_code == 403
    assert "'triage'" in triage.json()["detail"]


async def test_someone_not_in_the_directory_decides_nothing_and_an_admin_decides_anything(
    gateway,
):
    ids = await flagged_promises(gateway)
    refused = await approve(gateway, ids["C-1"], PM)
    assert refused.status_code == 403
    assert "not in the reviewers directory" in refused.json()["detail"]

    decided = await approve(gateway, ids["C-2"], ADMIN)
    assert decided.status_code == 200
    (decision,) = decided.json()["decisions"]
    assert (decision["decided_by"], decision["role"], decision["on_behalf_of"]) == (
        "admin@example.com", "admin", None
    )  # fmt: skip


async def test_a_removed_reviewer_decides_nothing_more(gateway):
    ids = await flagged_promises(gateway)
    await reviewer(gateway, "ana@example.com", "identity", "triage")
    assert (await approve(gateway, ids["C-1"], PM)).status_code == 200
    await gateway.delete("/v1/reviewers/ana@example.com", headers=ADMIN)
    assert (await approve(gateway, ids["C-2"], PM)).status_code == 403


async def test_the_delegate_of_an_absent_reviewer_decides_on_their_behalf(gateway):
    ids = await flagged_promises(gateway)
    away = {"from": moment(-1), "until": moment(3), "delegate": "ben@example.com"}
    await reviewer(gateway, "ana@example.com", "identity", out_of_office=away)

    decided = await approve(gateway, ids["C-1"], BEN)
    assert decided.status_code == 200, decided.text
    (decision,) = decided.json()["decisions"]
    assert (decision["decided_by"], decision["on_behalf_of"]) == (
        "ben@example.com", "ana@example.com"
    )  # fmt: skip
    # Only for the absent reviewer's areas: the triage promise is not hers.
    assert (await approve(gateway, ids["C-2"], BEN)).status_code == 403


async def test_a_delegate_decides_nothing_outside_the_absence(gateway):
    ids = await flagged_promises(gateway)
    for away in (
        {"from": moment(1), "until": moment(3), "delegate": "ben@example.com"},  # not yet
        {"from": moment(-3), "until": moment(-1), "delegate": "ben@example.com"},  # over
    ):
        await reviewer(gateway, "ana@example.com", "identity", out_of_office=away)
        refused = await approve(gateway, ids["C-1"], BEN)
        assert refused.status_code == 403, away
    # A delegate who reviews the area too decides for themselves.
    await reviewer(gateway, "ben@example.com", "identity")
    decided = await approve(gateway, ids["C-1"], BEN)
    assert decided.json()["decisions"][0]["on_behalf_of"] is None


async def test_the_triage_area_is_a_setting(commitments_db_url, roadmap_db_url):
    stack = Stack(commitments_db_url, roadmap_db_url, triage_area="deal-desk")
    async with stack.running() as gateway:
        ids = await flagged_promises(gateway)
        assert (await commitment(gateway, ids["C-2"]))["evaluation"]["review_area"] == "deal-desk"
        await reviewer(gateway, "ana@example.com", "deal-desk")
        assert (await approve(gateway, ids["C-2"], PM)).status_code == 200


async def test_an_email_beyond_ascii_is_addressed_escaped(gateway):
    created = await gateway.put(
        "/v1/reviewers/zoë@example.com", json={"areas": ["x"]}, headers=ADMIN
    )
    assert created.status_code == 201
    assert created.headers["Location"] == "/v1/reviewers/zo%C3%AB@example.com"
    read = await gateway.get(created.headers["Location"], headers=VIEWER)
    assert read.json()["email"] == "zoë@example.com"
