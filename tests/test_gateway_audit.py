"""The decisions audit (issue 13): GET /v1/decisions, filtered, keyset-paged, as JSON and as
CSV, each decision with the roadmap it was decided on. Through /v1, on both databases."""

import csv
import io
from datetime import UTC, datetime, timedelta

from tests.commitments_helpers import crm_event, promise
from tests.gateway_helpers import CRM, PM, VIEWER, bearer, post_webhook, reviewer

BEN, BO = bearer("pm", sub="ben@example.com"), bearer("pm", sub="bo@example.com")


def moment(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


async def three_decisions(gateway) -> dict[str, str]:
    """Ben approves C-1 (identity) for the absent ana, ana approves C-3 (triage), bo rejects
    C-2 (billing); in that order. External id -> commitment id."""
    for key, area in (("RM-12", "identity"), ("RM-30", "billing")):
        item = {"key": key, "title": f"Item {key}", "status": "planned",
                "planned_end": "2027-04-01", "confidence": "high", "area": area}  # fmt: skip
        assert (await gateway.post("/v1/roadmap/items", json=item, headers=PM)).status_code == 201
    event = crm_event(
        promise("C-1", roadmap_item_key="RM-12", promised_by="2027-03-01"),
        promise("C-2", roadmap_item_key="RM-30", promised_by="2027-03-01"),
        promise("C-3", kind="custom_work", summary="A fork", roadmap_item_key=None),
    )
    ids = {
        c["external_id"]: c["id"]
        for c in (await post_webhook(gateway, event)).json()["commitments"]
    }
    away = {"from": moment(-1), "until": moment(2), "delegate": "ben@example.com"}
    await reviewer(gateway, "ana@example.com", "identity", "triage", out_of_office=away)
    await reviewer(gateway, "bo@example.com", "billing")
    for name, decision, headers in (
        ("C-1", {"decision": "approve", "comment": "Pilot", "conditions": "Pilot only"}, BEN),
        ("C-3", {"decision": "approve", "comment": "ok"}, PM),
        ("C-2", {"decision": "reject", "comment": "Not this year"}, BO),
    ):
        answer = await gateway.post(
            f"/v1/commitments/{ids[name]}/decision", json=decision, headers=headers
        )
        assert answer.status_code == 200, answer.text
    return ids


async def decisions(gateway, query: str = "", headers=VIEWER) -> list[dict]:
    answer = await gateway.get(f"/v1/decisions{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def test_every_decision_with_the_roadmap_it_was_decided_on(gateway):
    ids = await three_decisions(gateway)
    found = await decisions(gateway)
    assert [(d["commitment_id"], d["decision"]) for d in found] == [
        (ids["C-1"], "approve"), (ids["C-3"], "approve"), (ids["C-2"], "reject")
    ]  # fmt: skip
    first = found[0]
    assert (first["decided_by"], first["on_behalf_of"], first["role"]) == (
        "ben@example.com", "ana@example.com", "pm"
    )  # fmt: skip
    assert (first["review_area"], first["conditions"]) == ("identity", "Pilot only")
    assert first["roadmap_item_versions"] == {"RM-12": 1}
    (conflict,) = [c for c in first["conflicts"] if c["code"] == "date_before_plan"]
    assert conflict["evidence"]["planned_end"] == "2027-04-01"
    assert found[1]["review_area"] == "triage"
    assert found[1]["roadmap_item_versions"] == {}
    assert found[2]["deal_id"] == found[0]["deal_id"]


async def test_the_audit_filters_by_reviewer_area_outcome_and_time(gateway):
    ids = await three_decisions(gateway)
    as_ana = await decisions(gateway, "?decided_by=ana@example.com")
    assert [d["commitment_id"] for d in as_ana] == [ids["C-1"], ids["C-3"]]  # incl. on her behalf
    assert [
        d["commitment_id"] for d in await decisions(gateway, "?decided_by=ben@example.com")
    ] == [ids["C-1"]]
    assert [d["commitment_id"] for d in await decisions(gateway, "?area=BILLING")] == [ids["C-2"]]
    assert [d["commitment_id"] for d in await decisions(gateway, "?decision=reject")] == [
        ids["C-2"]
    ]
    everything = await decisions(gateway)
    second = everything[1]["decided_at"].replace("+00:00", "Z")
    since = await decisions(gateway, f"?decided_from={second}")
    assert [d["commitment_id"] for d in since] == [ids["C-3"], ids["C-2"]]
    before = await decisions(gateway, f"?decided_until={second}")
    assert [d["commitment_id"] for d in before] == [ids["C-1"]]
    assert await decisions(gateway, f"?decided_from={moment(1)}") == []


async def test_the_audit_pages_by_decision_time(gateway):
    await three_decisions(gateway)
    seen, cursor = [], None
    for _ in range(5):
        query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = (await gateway.get(f"/v1/decisions{query}", headers=VIEWER)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [d["id"] for d in await decisions(gateway)]


async def test_the_audit_as_csv(gateway):
    await three_decisions(gateway)
    answer = await gateway.get("/v1/decisions?limit=2", headers={**VIEWER, "Accept": "text/csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["decided_by"] for row in rows] == ["ben@example.com", "ana@example.com"]
    assert rows[0]["on_behalf_of"] == "ana@example.com"
    assert rows[0]["roadmap_item_versions"] == '{"RM-12":1}'
    assert rows[1]["on_behalf_of"] == ""
    link = answer.headers["Link"]
    assert link.startswith("</v1/decisions?limit=2&cursor=")
    assert link.endswith('>; rel="next"')
    following = await gateway.get(
        link[1 : link.index(">")], headers={**VIEWER, "Accept": "text/csv"}
    )
    assert [row["decided_by"] for row in csv.DictReader(io.StringIO(following.text))] == [
        "bo@example.com"
    ]
    assert "Link" not in following.headers
    as_json = await gateway.get("/v1/decisions", headers={**VIEWER, "Accept": "*/*"})
    assert as_json.headers["content-type"] == "application/json"


async def test_a_comment_a_spreadsheet_would_run_is_written_as_text(gateway):
    await three_decisions(gateway)
    item = {"key": "RM-40", "title": "Item", "status": "planned", "planned_end": "2027-04-01",
            "confidence": "high", "area": "identity"}  # fmt: skip
    await gateway.post("/v1/roadmap/items", json=item, headers=PM)
    event = crm_event(
        promise("C-9", roadmap_item_key="RM-40", promised_by="2027-03-01"), deal="D-9"
    )
    commitment_id = (await post_webhook(gateway, event)).json()["commitments"][0]["id"]
    await gateway.post(
        f"/v1/commitments/{commitment_id}/decision",
        json={"decision": "reject", "comment": '=HYPERLINK("http://evil")'},
        headers={**bearer("admin", sub="root@example.com")},
    )
    answer = await gateway.get(
        "/v1/decisions?decision=reject", headers={**VIEWER, "Accept": "text/csv"}
    )
    comments = [row["comment"] for row in csv.DictReader(io.StringIO(answer.text))]
    assert '\'=HYPERLINK("http://evil")' in comments


async def test_bad_filters_are_refused_and_the_crm_reads_no_audit(gateway):
    for query in (
        "?decision=maybe",
        "?decided_from=2026-12-01",
        "?cursor=nonsense",
        "?decided_by=not-an-email",
        "?reviewer=ana@example.com",
    ):
        answer = await gateway.get(f"/v1/decisions{query}", headers=VIEWER)
        assert answer.status_code == 422, query
    assert (await gateway.get("/v1/decisions", headers=CRM)).status_code == 403
