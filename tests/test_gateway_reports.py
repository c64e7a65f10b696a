"""The reports and lists as a dashboard reads them through the gateway: filters checked
here, CSV on asking, CORS for configured origins, and the business figures on /metrics."""

import csv
import io

import pytest

from tests.commitments_helpers import crm_event, promise
from tests.conftest import SERVICE_TOKEN, Stack
from tests.gateway_helpers import (
    ADMIN,
    CRM,
    PM,
    THREE_PROMISES,
    VIEWER,
    post_webhook,
    reviewer,
    roadmap_with_two_items,
)
from tests.outbound_helpers import RECEIVER_URL

AS_CSV = {**VIEWER, "Accept": "text/csv"}
DASHBOARD = "https://dash.example.com"


async def two_deals(gateway) -> dict[str, str]:
    """D-1 (USD 250,000, three promises: C-1 and C-3 need sign-off) and D-2 (EUR 1,000.50,
    one promise cleared). Answers the ids by external id, and each deal's."""
    await roadmap_with_two_items(gateway)
    await reviewer(gateway)
    first = (await post_webhook(gateway, crm_event(*THREE_PROMISES, deal="D-1"))).json()
    second = (
        await post_webhook(
            gateway,
            crm_event(promise("C-1", roadmap_item_key="RM-20", promised_by="2027-06-01"),
                      deal="D-2", amount="1000.50", currency="EUR"),
        )
    ).json()  # fmt: skip
    ids = {c["external_id"]: c["id"] for c in first["commitments"]}
    return {**ids, "D-1": first["deal_id"], "D-2": second["deal_id"]}


def rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.text)))


# Reports and lists as JSON ----------------------------------------------------------------


async def test_the_ledger_and_the_trend_through_the_gateway(gateway):
    await two_deals(gateway)

    ledger = (await gateway.get("/v1/reports/ledger", headers=VIEWER)).json()
    trend = (await gateway.get("/v1/reports/trend?weeks=1", headers=VIEWER)).json()

    assert [(i["roadmap_item_key"], i["promises"], i["deals"]) for i in ledger["items"]] == [
        ("RM-12", 1, 1),
        ("RM-20", 2, 2),
    ]
    assert ledger["items"][1]["at_stake"] == [
        {"currency": "EUR", "deals": 1, "amount": "1000.50"},
        {"currency": "USD", "deals": 1, "amount": "250000.00"},
    ]
    assert ledger["items"][1]["blocked"] == []
    [week] = trend["weeks"]
    assert (week["received"], week["flagged"]) == (4, 2)


async def test_the_aging_report_names_the_deal_and_the_reviewer_due(gateway):
    ids = await two_deals(gateway)

    aging = (await gateway.get("/v1/reports/aging?currency=USD", headers=VIEWER)).json()

    assert {item["commitment_id"] for item in aging["items"]} == {ids["C-1"], ids["C-3"]}
    assert {item["deal_name"] for item in aging["items"]} == {"Acme expansion"}
    assert all(item["reviewers_due"] == ["ana@example.com"] for item in aging["items"])
    assert aging["sla_hours"] == 48  # the gateway's policy, added to what the caller asked
    euro = (await gateway.get("/v1/reports/aging?currency=EUR", headers=VIEWER)).json()
    assert (euro["awaiting"], euro["items"]) == (0, [])


async def test_the_crm_finds_the_deals_not_ready_in_one_request(gateway):
    ids = await two_deals(gateway)

    blocked = await gateway.get("/v1/deals?ready=false&stage=open", headers=CRM)
    ready = await gateway.get("/v1/deals?ready=true", headers=CRM)

    assert [deal["id"] for deal in blocked.json()["items"]] == [ids["D-1"]]
    assert [deal["id"] for deal in ready.json()["items"]] == [ids["D-2"]]


@pytest.mark.parametrize(
    "query",
    [
        "close_from=2027-02-30",
        "currency=usd",
        "weeks=0",
        "sla_hours=1",  # the gateway's policy says the SLA, not the caller
        "ready=maybe",
    ],
)
async def test_the_gateway_refuses_a_filter_before_asking_the_service(stack, gateway, query):
    path = "/v1/deals" if query.startswith("ready") else "/v1/reports/trend"
    stack.commitments_network.up = False  # asked, it would answer 503

    response = await gateway.get(f"{path}?{query}", headers=VIEWER)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_report_needs_a_reader(gateway):
    response = await gateway.get("/v1/reports/ledger", headers=CRM)

    assert response.status_code == 403


# CSV --------------------------------------------------------------------------------------


async def test_a_report_of_several_lists_as_csv_names_each_rows_section(gateway):
    await two_deals(gateway)

    summary = rows(await gateway.get("/v1/reports/summary", headers=AS_CSV))

    found = {(row["section"], row["review_status"], row["currency"]) for row in summary}
    assert found == {
        ("by_status", "needs_signoff", "USD"),
        ("by_status", "cleared", "USD"),
        ("by_status", "cleared", "EUR"),
        ("revenue_at_risk", "", "USD"),
    }  # fmt: skip
    at_risk = next(row for row in summary if row["section"] == "revenue_at_risk")
    assert (at_risk["deals"], at_risk["amount"]) == ("1", "250000.00")


async def test_the_ledger_as_csv_has_a_column_per_currency(gateway):
    await two_deals(gateway)

    ledger = rows(await gateway.get("/v1/reports/ledger", headers=AS_CSV))

    assert [row["roadmap_item_key"] for row in ledger] == ["RM-12", "RM-20"]
    assert ledger[1]["at_stake.EUR.amount"] == "1000.50"
    assert ledger[1]["at_stake.USD.amount"] == "250000.00"
    assert ledger[0]["at_stake.EUR.amount"] == ""  # no euro deal depends on RM-12
    assert ledger[0]["blocked.USD.deals"] == "1"


async def test_a_list_as_csv_pages_through_its_link_header(gateway):
    await two_deals(gateway)

    first = await gateway.get("/v1/commitments?limit=3", headers=AS_CSV)
    link = first.headers["Link"]
    second = await gateway.get(link[1 : link.index(">")], headers=AS_CSV)

    assert len(rows(first)) == 3
    assert len(rows(second)) == 1
    assert "Link" not in second.headers
    listed = rows(first) + rows(second)
    assert {row["external_id"] for row in listed} == {"C-1", "C-2", "C-3"}
    assert len({row["deal_id"] for row in listed}) == 2


async def test_the_aging_items_as_csv_join_their_reviewers(gateway):
    await two_deals(gateway)

    aging = rows(await gateway.get("/v1/reports/aging", headers=AS_CSV))

    assert [row["reviewers_due"] for row in aging] == ["ana@example.com"] * 2
    assert {row["conflict_codes"] for row in aging} == {"date_before_plan", "custom_work"}


@pytest.mark.parametrize(
    ("path", "column", "expected"),
    [
        ("/v1/roadmap/items", "key", {"RM-12", "RM-20"}),
        ("/v1/roadmap/vision-tags", "kind", {"pillar", "non_goal"}),
        ("/v1/reviewers", "email", {"ana@example.com"}),
        ("/v1/api-keys", "name", {"dashboard"}),
        ("/v1/webhook-subscriptions", "url", {RECEIVER_URL}),
    ],
)
async def test_every_list_answers_csv_on_asking(gateway, path, column, expected):
    await two_deals(gateway)
    made = [
        await gateway.post("/v1/api-keys", json={"name": "dashboard", "roles": ["viewer"]},
                           headers=ADMIN),
        await gateway.post("/v1/webhook-subscriptions",
                           json={"url": RECEIVER_URL,
                                 "event_types": ["deal.gate_changed"]}, headers=ADMIN),
    ]  # fmt: skip
    assert [answer.status_code for answer in made] == [201, 201]

    listed = rows(await gateway.get(path, headers={**ADMIN, "Accept": "text/csv"}))

    assert {row[column] for row in listed} == expected


async def test_a_search_answers_csv_on_asking(gateway):
    await roadmap_with_two_items(gateway)

    found = rows(await gateway.get("/v1/roadmap/items/search?q=RM-12", headers=AS_CSV))

    assert found[0]["item.key"] == "RM-12"
    assert float(found[0]["score"]) > 0


async def test_a_list_whose_etag_names_its_json_answers_csv_in_full(gateway):
    await roadmap_with_two_items(gateway)
    json_answer = await gateway.get("/v1/roadmap/vision-tags", headers=VIEWER)
    unchanged = {"If-None-Match": json_answer.headers["ETag"]}

    as_json = await gateway.get("/v1/roadmap/vision-tags", headers={**VIEWER, **unchanged})
    as_csv = await gateway.get("/v1/roadmap/vision-tags", headers={**AS_CSV, **unchanged})

    assert as_json.status_code == 304
    assert {row["slug"] for row in rows(as_csv)} == {"enterprise-security", "on-prem"}
    assert "ETag" not in as_csv.headers


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        ("text/csv", "text/csv"),
        ("text/csv, application/json", "text/csv"),
        ("application/json, text/csv", "application/json"),
        ("text/csv;q=0.2, application/json", "application/json"),
        ("application/json;q=0.5, text/csv", "text/csv"),
        ("text/*", "text/csv"),
        ("*/*", "application/json"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "application/json"),
    ],
)
async def test_the_answer_follows_the_callers_preference(gateway, accept, answered):
    answer = await gateway.get("/v1/reports/summary", headers={**VIEWER, "Accept": accept})

    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == answered
    assert answer.headers["Vary"] == "Accept"  # one URL, two representations


async def test_json_stays_the_default_for_a_browser(gateway):
    await two_deals(gateway)

    answer = await gateway.get(
        "/v1/reports/ledger", headers={**VIEWER, "Accept": "text/html,*/*;q=0.8"}
    )

    assert answer.headers["content-type"] == "application/json"


# CORS ---------------------------------------------------------------------------------------


def preflight(origin: str, headers: str = "authorization,if-match") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


async def test_a_configured_origin_may_call_the_api_from_a_browser(
    commitments_db_url, roadmap_db_url
):
    stack = Stack(commitments_db_url, roadmap_db_url, cors_origins=[DASHBOARD])
    async with stack.running() as gateway:
        allowed = await gateway.options("/v1/commitments/decisions", headers=preflight(DASHBOARD))
        refused = await gateway.options(
            "/v1/commitments/decisions", headers=preflight("https://evil.example.com")
        )
        read = await gateway.get("/v1/deals", headers={**VIEWER, "Origin": DASHBOARD})
        unauthenticated = await gateway.get("/v1/deals", headers={"Origin": DASHBOARD})

    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "if-match"} <= {
        name.strip().lower() for name in allowed.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert read.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "etag" in read.headers["Access-Control-Expose-Headers"].lower()
    # The browser may read why it was refused, too.
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["Access-Control-Allow-Origin"] == DASHBOARD


async def test_no_origin_is_allowed_unless_configured(gateway):
    answer = await gateway.options("/v1/deals", headers=preflight(DASHBOARD))
    read = await gateway.get("/v1/deals", headers={**VIEWER, "Origin": DASHBOARD})

    assert answer.status_code == 405
    assert "Access-Control-Allow-Origin" not in read.headers


# Business metrics ---------------------------------------------------------------------------


def metric(text: str, line_start: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def scrape(gateway) -> str:
    response = await gateway.get("/metrics", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
    assert response.status_code == 200, response.text
    return response.text


async def test_metrics_carry_the_business_figures_and_reuse_them_within_their_ttl(
    commitments_db_url, roadmap_db_url
):
    stack = Stack(commitments_db_url, roadmap_db_url, business_metrics_ttl_seconds=3600)
    async with stack.running() as gateway:
        ids = await two_deals(gateway)
        first = await scrape(gateway)
        approved = await gateway.post(
            f"/v1/commitments/{ids['C-1']}/decision", json={"decision": "approve"}, headers=PM
        )
        cached = await scrape(gateway)

    assert approved.status_code == 200, approved.text

    assert metric(first, "dealgate_business_metrics_up") == 1
    assert metric(first, 'dealgate_commitments{review_status="needs_signoff"}') == 2
    assert metric(first, 'dealgate_commitments{review_status="cleared"}') == 2
    assert metric(first, 'dealgate_revenue_at_risk{currency="USD"}') == 250000.0
    assert metric(first, 'dealgate_deals_at_risk{currency="USD"}') == 1
    assert metric(first, 'dealgate_revenue_at_risk{currency="EUR"}') is None
    assert metric(first, "dealgate_signoffs_awaiting") == 2
    assert metric(first, "dealgate_signoffs_past_sla") == 0
    assert "http_requests_total{" in first  # beside the HTTP figures
    # Within the TTL a scrape costs no query: the approval shows only later.
    assert metric(cached, 'dealgate_commitments{review_status="needs_signoff"}') == 2


async def test_metrics_follow_every_change_with_no_ttl_and_say_when_they_cannot(
    commitments_db_url, roadmap_db_url
):
    stack = Stack(commitments_db_url, roadmap_db_url, business_metrics_ttl_seconds=0)
    async with stack.running() as gateway:
        ids = await two_deals(gateway)
        await gateway.post(
            f"/v1/commitments/{ids['C-1']}/decision", json={"decision": "approve"}, headers=PM
        )
        fresh = await scrape(gateway)
        stack.commitments_network.up = False
        cut_off = await scrape(gateway)

    assert metric(fresh, 'dealgate_commitments{review_status="approved"}') == 1
    assert metric(fresh, 'dealgate_commitments{review_status="needs_signoff"}') == 1
    assert metric(cut_off, "dealgate_business_metrics_up") == 0
    assert "dealgate_commitments{" not in cut_off
    assert "http_requests_total{" in cut_off
