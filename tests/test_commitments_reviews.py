"""Evaluations, decisions and roadmap links through the API: the lifecycle as users see it."""

import asyncio

import pytest

from tests.commitments_helpers import (
    TRIAGE,
    claim_one,
    conflict,
    crm_event,
    decide,
    evaluate,
    evaluated,
    first_commitment,
    needing_signoff,
    promise,
    read,
    slip,
    take,
)
from tests.conftest import SERVICE_TOKEN
from tests.support.clients import client_of


async def test_nothing_needing_signoff_clears_and_a_conflict_needs_signoff(commitments):
    clear_id = await first_commitment(commitments, crm_event(promise("C-1"), promise("C-2")))
    answer = (await commitments.get("/commitments")).json()["items"]
    other_id = next(item["id"] for item in answer if item["id"] != clear_id)

    warned = await evaluated(
        commitments, clear_id, conflict("off_vision", severity="warning", needs_signoff=False)
    )
    flagged = await evaluated(commitments, other_id, conflict("custom_work", item=None))

    assert warned["review_status"] == "cleared"
    assert [c["code"] for c in warned["conflicts"]] == ["off_vision"]
    assert flagged["review_status"] == "needs_signoff"
    assert flagged["evaluation"]["conflicts"] == flagged["conflicts"]
    assert flagged["reopen_reason"] is None


async def test_an_unchanged_fingerprint_changes_nothing(commitments):
    commitment_id = await needing_signoff(commitments)
    before = await read(commitments, commitment_id)

    # Same conflicts needing sign-off; another message and a warning not needing sign-off.
    same = slip("2027-04-01")
    same["message"] = "Reworded"
    after = await evaluated(
        commitments,
        commitment_id,
        same,
        conflict("off_vision", severity="warning", needs_signoff=False),
    )

    assert after["version"] == before["version"]
    assert len(after["evaluations"]) == 1
    assert after["conflicts"] == before["conflicts"]


async def test_an_approval_survives_a_pull_in_and_reopens_on_a_slip(commitments):
    commitment_id = await needing_signoff(commitments)
    approved = await decide(commitments, commitment_id)
    assert approved.json()["review_status"] == "approved"

    pulled_in = await evaluated(commitments, commitment_id, slip("2027-03-20"))
    assert pulled_in["review_status"] == "approved"

    slipped = await evaluated(commitments, commitment_id, slip("2027-05-01"))
    assert slipped["review_status"] == "needs_signoff"
    assert "date_before_plan on RM-12" in slipped["reopen_reason"]
    assert "planned_end 2027-05-01" in slipped["reopen_reason"]
    assert slipped["evaluation"]["reopened"] is True
    assert [e["review_status"] for e in slipped["evaluations"]] == [
        "needs_signoff",
        "approved",
        "needs_signoff",
    ]


async def test_a_cleared_commitment_reopens_when_a_conflict_appears(commitments):
    commitment_id = await first_commitment(commitments)
    await evaluated(commitments, commitment_id)

    reopened = await evaluated(commitments, commitment_id, conflict("item_declined"))

    assert reopened["review_status"] == "needs_signoff"
    assert reopened["reopen_reason"].startswith("Not covered by the approval: item_declined")


async def test_a_commitment_whose_conflicts_go_away_clears(commitments):
    commitment_id = await needing_signoff(commitments)

    cleared = await evaluated(commitments, commitment_id)

    assert cleared["review_status"] == "cleared"
    assert cleared["conflicts"] == []


async def test_a_rejection_needs_a_comment_and_writes_nothing_without_one(commitments):
    commitment_id = await needing_signoff(commitments)

    response = await decide(commitments, commitment_id, "reject", comment="  ")

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (await read(commitments, commitment_id))["decisions"] == []


async def test_a_rejected_commitment_waits_for_the_crm(commitments):
    commitment_id = await needing_signoff(commitments)
    rejected = await decide(commitments, commitment_id, "reject", comment="Not this year.")
    assert rejected.json()["review_status"] == "rejected"

    ignored = await evaluated(commitments, commitment_id)
    relink = await commitments.put(
        f"/commitments/{commitment_id}/roadmap-link", json={"roadmap_item_key": "RM-3"}
    )
    changed = await take(commitments, crm_event(promise(summary="SSO, Okta only"), updated=1))

    assert ignored["review_status"] == "rejected"
    assert relink.status_code == 409
    assert changed["commitments"][0]["review_status"] == "received"


@pytest.mark.parametrize("status", ["received", "cleared", "approved"])
async def test_deciding_a_commitment_not_awaiting_signoff_is_409(commitments, status):
    commitment_id = await first_commitment(commitments)
    if status == "cleared":
        await evaluated(commitments, commitment_id)
    if status == "approved":
        await evaluated(commitments, commitment_id, slip("2027-04-01"))
        await decide(commitments, commitment_id)

    response = await decide(commitments, commitment_id, "reject", comment="No", by="bo@example.com")

    assert response.status_code == 409
    assert "not awaiting sign-off" in response.json()["detail"]


async def test_a_stale_if_match_is_412_and_the_current_one_applies(commitments):
    commitment_id = await needing_signoff(commitments)
    etag = (await commitments.get(f"/commitments/{commitment_id}")).headers["etag"]
    await take(commitments, crm_event(promise(summary="Changed"), updated=1))
    await evaluated(commitments, commitment_id, slip("2027-04-01"))
    current = (await commitments.get(f"/commitments/{commitment_id}")).headers["etag"]

    stale = await decide(commitments, commitment_id, headers={"If-Match": etag})
    fresh = await decide(commitments, commitment_id, headers={"If-Match": current})

    assert stale.status_code == 412
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == f'"{fresh.json()["version"]}"'


async def test_repeating_the_decision_just_taken_answers_200_and_records_one(commitments):
    commitment_id = await needing_signoff(commitments)

    first = await decide(commitments, commitment_id)
    again = await decide(commitments, commitment_id)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(again.json()["decisions"]) == 1


async def test_two_pms_deciding_at_once_one_wins(commitments_app, commitments):
    commitment_id = await needing_signoff(commitments)
    etag = (await commitments.get(f"/commitments/{commitment_id}")).headers["etag"]

    async def decision(kind: str, by: str):
        async with client_of(commitments_app, SERVICE_TOKEN) as client:
            return await decide(
                client, commitment_id, kind, comment="Mine", by=by, headers={"If-Match": etag}
            )

    answers = await asyncio.gather(
        *(decision("approve" if n % 2 else "reject", f"pm{n}@example.com") for n in range(10))
    )

    codes = sorted(response.status_code for response in answers)
    assert codes.count(200) == 1
    assert set(codes) <= {200, 409, 412}
    winner = next(response for response in answers if response.status_code == 200).json()
    stored = await read(commitments, commitment_id)
    assert len(stored["decisions"]) == 1
    assert stored["review_status"] == winner["review_status"]


async def test_a_decision_records_who_and_which_evaluation(commitments):
    commitment_id = await needing_signoff(commitments)

    decided = (await decide(commitments, commitment_id, comment="Pilot is fine")).json()

    (decision,) = decided["decisions"]
    assert decision["decided_by"] == "ana@example.com"
    assert decision["role"] == "pm"
    assert decision["comment"] == "Pilot is fine"
    assert decision["evaluation_id"] == decided["evaluation"]["id"]


async def test_a_pm_link_sends_the_commitment_back_for_evaluation(commitments):
    commitment_id = await first_commitment(commitments, crm_event(promise(roadmap_item_key=None)))
    await evaluated(commitments, commitment_id, conflict("unlinked", item=None))

    linked = await commitments.put(
        f"/commitments/{commitment_id}/roadmap-link", json={"roadmap_item_key": "RM-7"}
    )
    again = await commitments.put(
        f"/commitments/{commitment_id}/roadmap-link", json={"roadmap_item_key": "RM-7"}
    )

    assert linked.status_code == 200
    body = linked.json()
    assert (body["roadmap_item_key"], body["link_source"], body["review_status"]) == (
        "RM-7",
        "pm",
        "received",
    )
    assert again.json()["version"] == body["version"]
    claimed = (await commitments.post("/work/claims", json={})).json()["items"]
    assert [item["id"] for item in claimed] == [commitment_id]


async def test_an_evaluation_of_an_older_version_is_refused(commitments):
    commitment_id = await first_commitment(commitments)
    version = (await read(commitments, commitment_id))["version"]
    await take(commitments, crm_event(promise(summary="Changed"), updated=1))

    response = await evaluate(commitments, commitment_id, version=version)

    assert response.status_code == 409
    assert (await read(commitments, commitment_id))["evaluations"] == []


async def test_an_unreachable_roadmap_parks_a_first_evaluation_only(commitments):
    first = await first_commitment(commitments, crm_event(promise("C-1"), promise("C-2")))
    listed = (await commitments.get("/commitments")).json()["items"]
    second = next(item["id"] for item in listed if item["id"] != first)
    await evaluated(commitments, second)

    parked = await evaluate(commitments, first, outcome="roadmap_unreachable")
    kept = await evaluate(commitments, second, outcome="roadmap_unreachable")

    assert parked.json()["review_status"] == "evaluation_pending"
    assert kept.json()["review_status"] == "cleared"
    assert kept.json()["version"] == (await read(commitments, second))["version"]


async def test_an_unreachable_outcome_carries_no_conflicts(commitments):
    commitment_id = await first_commitment(commitments)

    response = await evaluate(
        commitments, commitment_id, conflict("custom_work"), outcome="roadmap_unreachable"
    )

    assert response.status_code == 422


async def test_evidence_nested_deeper_than_a_read_could_answer_is_422_and_writes_nothing(
    commitments,
):
    commitment_id = await first_commitment(commitments)
    found = conflict("custom_work")
    for _ in range(400):  # within what the JSON parser follows, far past what is answered
        found["evidence"] = {"matches": [found["evidence"]]}

    response = await evaluate(commitments, commitment_id, found)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.conflicts.0.evidence"
    assert (await read(commitments, commitment_id))["evaluations"] == []


async def test_a_commitment_read_carries_an_etag_and_answers_304(commitments):
    commitment_id = await first_commitment(commitments)
    response = await commitments.get(f"/commitments/{commitment_id}")
    etag = response.headers["etag"]

    unchanged = await commitments.get(
        f"/commitments/{commitment_id}", headers={"If-None-Match": etag}
    )

    assert etag == '"1"'
    assert unchanged.status_code == 304
    assert response.json()["deal"]["external_id"] == "D-1001"


async def test_unknown_commitments_are_404_and_malformed_ids_do_not_route(commitments):
    missing = await commitments.get("/commitments/00000000-0000-4000-8000-000000000000")
    malformed = await commitments.post("/commitments/not-an-id/decisions", json={})

    assert missing.status_code == 404
    assert malformed.status_code == 404


@pytest.mark.parametrize("kind", ["question", "recall"])
async def test_a_thread_entry_landing_on_an_evaluation_under_way_makes_it_run_again(
    commitments, kind
):
    """As a decision does: the evaluation claimed before it is refused, and the work is due
    again at once rather than when the claim's lease ends."""
    commitment_id = await needing_signoff(commitments)
    author = {"author": "ana@example.com", "role": "pm"}
    if kind == "recall":
        assert (await decide(commitments, commitment_id)).status_code == 200
    else:
        await commitments.put("/reviewers/ana@example.com", json={"areas": [TRIAGE]})
    claim = await claim_one(commitments, commitment_id)
    thread = f"/commitments/{commitment_id}/comments"
    said = await commitments.post(thread, json={"kind": kind, "body": "Why?", **author})
    assert said.status_code == 200, said.text

    late = await evaluate(commitments, commitment_id, claim=claim)

    assert late.status_code == 409
    again = await claim_one(commitments, commitment_id)
    assert again is not None  # due again now, not after the first claim's lease
