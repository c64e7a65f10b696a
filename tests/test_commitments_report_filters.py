"""The reports a dashboard builds on (filters, the promise ledger, the trend, the aging
report's deal and reviewers) and deals by readiness, against figures computed by hand.

The book (deal: source, amount, stage, owner, expected close: its commitments, by item):
- A: generic, USD 100.00, open, ana, closes 2027-01-15: C-1 RM-12 by 2027-03-01 needs
  sign-off (date_before_plan); C-2 RM-12 by 2027-02-01 cleared; C-3 RM-7 approved, then
  reopened by a roadmap change; C-4 RM-9 rejected.
- B: hubspot, EUR 50.50, open, bo, closes 2027-02-20: C-1 RM-12, no date, needs sign-off
  (custom_work, area Identity); C-2 RM-7 cleared.
- C: generic, USD 20.00, closed won, ana: C-1 RM-12 cleared.
- D: generic, USD 7.00, closed lost: C-1 RM-12 withdrawn.
- E: generic, USD 9.00, closed won while C-1 RM-3 needed sign-off (a breach), ana.
"""

from datetime import timedelta

import pytest
from sqlalchemy import update

from kit.db import create_engine, utcnow
from services.commitments.tables import commitments as commitments_table
from services.commitments.tables import decisions as decisions_table
from services.commitments.tables import evaluations as evaluations_table
from tests.commitments_helpers import (
    Book,
    conflict,
    crm_event,
    decide,
    evaluate,
    evaluated,
    item_changed,
    promise,
    slip,
    take,
)

ANA, BO = "ana@example.com", "bo@example.com"


@pytest.fixture
async def book(commitments) -> dict[str, str]:
    built = Book(commitments)
    deal, ids = built.deal, built.ids
    await deal("A", promise("C-1"), promise("C-2", promised_by="2027-02-01"),
               promise("C-3", roadmap_item_key="RM-7"), promise("C-4", roadmap_item_key="RM-9"),
               amount="100.00", owner=ANA, expected_close="2027-01-15")  # fmt: skip
    await evaluated(commitments, ids["A.C-1"], slip("2027-04-01"))
    await evaluated(commitments, ids["A.C-2"])
    await evaluated(commitments, ids["A.C-3"], conflict("date_before_plan", item="RM-7"))
    assert (await decide(commitments, ids["A.C-3"])).status_code == 200
    await evaluated(commitments, ids["A.C-4"], conflict("non_goal", item="RM-9"))
    assert (await decide(commitments, ids["A.C-4"], "reject")).status_code == 200
    # The roadmap moves RM-7: the approval no longer covers what is found.
    await commitments.post("/work/rechecks", json={"changes": [item_changed("RM-7", 2)]})
    claim = (await commitments.post("/work/claims", json={"commitment_ids": [ids["A.C-3"]]})).json()
    reopened = await evaluate(commitments, ids["A.C-3"], conflict("item_declined", item="RM-7"),
                              claim=claim["items"][0])  # fmt: skip
    assert reopened.json()["review_status"] == "needs_signoff"

    await deal("B", promise("C-1", promised_by=None), promise("C-2", roadmap_item_key="RM-7"),
               source="hubspot", amount="50.50", currency="EUR", owner=BO,
               expected_close="2027-02-20")  # fmt: skip
    identity = await evaluate(commitments, ids["B.C-1"], conflict("custom_work"),
                              review_area="Identity")  # fmt: skip
    assert identity.status_code == 200, identity.text
    await evaluated(commitments, ids["B.C-2"])

    await deal("C", promise("C-1"), amount="20.00", owner=ANA)
    await evaluated(commitments, ids["C.C-1"])
    await take(commitments, crm_event(promise("C-1"), deal="C", amount="20.00", owner=ANA,
                                      stage="closed_won", updated=1))  # fmt: skip

    await deal("D", promise("C-1"), amount="7.00", owner=BO)
    await take(commitments, crm_event(promise("C-1"), deal="D", amount="7.00", owner=BO,
                                      stage="closed_lost", updated=1))  # fmt: skip

    await deal("E", promise("C-1", roadmap_item_key="RM-3"), amount="9.00", owner=ANA)
    await evaluated(commitments, ids["E.C-1"], conflict("non_goal", item="RM-3"))
    await take(commitments, crm_event(promise("C-1", roadmap_item_key="RM-3"), deal="E",
                                      amount="9.00", owner=ANA, stage="closed_won",
                                      updated=1))  # fmt: skip
    return ids


async def _report(client, name: str, **params) -> dict:
    response = await client.get(f"/reports/{name}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _money(currency: str, deals: int, amount: str) -> dict:
    return {"currency": currency, "deals": deals, "amount": amount}


# The promise ledger ----------------------------------------------------------------------


async def test_the_ledger_per_item_counts_promises_and_deals_and_the_money_at_stake(
    commitments, book
):
    ledger = await _report(commitments, "ledger")

    assert ledger == {
        "items": [
            {"roadmap_item_key": "RM-12", "promises": 4, "deals": 3,
             "at_stake": [_money("EUR", 1, "50.50"), _money("USD", 1, "100.00")],
             "blocked": [_money("EUR", 1, "50.50"), _money("USD", 1, "100.00")],
             "earliest_promised_by": "2027-02-01"},
            {"roadmap_item_key": "RM-3", "promises": 1, "deals": 1, "at_stake": [],
             "blocked": [], "earliest_promised_by": "2027-03-01"},
            {"roadmap_item_key": "RM-7", "promises": 2, "deals": 2,
             "at_stake": [_money("EUR", 1, "50.50"), _money("USD", 1, "100.00")],
             "blocked": [_money("USD", 1, "100.00")],
             "earliest_promised_by": "2027-03-01"},
            {"roadmap_item_key": "RM-9", "promises": 1, "deals": 1,
             "at_stake": [_money("USD", 1, "100.00")], "blocked": [_money("USD", 1, "100.00")],
             "earliest_promised_by": "2027-03-01"},
        ],
        "next_cursor": None,
    }  # fmt: skip


async def test_the_ledger_pages_by_item_key(commitments, book):
    first = await _report(commitments, "ledger", limit=2)
    second = await _report(commitments, "ledger", limit=2, cursor=first["next_cursor"])

    assert [item["roadmap_item_key"] for item in first["items"]] == ["RM-12", "RM-3"]
    assert first["next_cursor"] == "RM-3"
    assert [item["roadmap_item_key"] for item in second["items"]] == ["RM-7", "RM-9"]
    assert second["next_cursor"] is None


async def test_the_ledger_narrowed_to_a_currency_counts_only_its_commitments(commitments, book):
    ledger = await _report(commitments, "ledger", currency="EUR")

    assert ledger["items"] == [
        {"roadmap_item_key": "RM-12", "promises": 1, "deals": 1,
         "at_stake": [_money("EUR", 1, "50.50")], "blocked": [_money("EUR", 1, "50.50")],
         "earliest_promised_by": None},
        {"roadmap_item_key": "RM-7", "promises": 1, "deals": 1,
         "at_stake": [_money("EUR", 1, "50.50")], "blocked": [],
         "earliest_promised_by": "2027-03-01"},
    ]  # fmt: skip


# Filters on the summary, the conflicts and the aging -------------------------------------


async def test_the_summary_by_source_counts_only_that_crms_deals(commitments, book):
    summary = await _report(commitments, "summary", source="hubspot")

    assert summary == {
        "by_status": [
            {"review_status": "cleared", "currency": "EUR", "commitments": 1, "deals": 1,
             "deal_amount": "50.50"},
            {"review_status": "needs_signoff", "currency": "EUR", "commitments": 1, "deals": 1,
             "deal_amount": "50.50"},
        ],
        "revenue_at_risk": [_money("EUR", 1, "50.50")],
        "breaches": [],
    }  # fmt: skip


async def test_the_summary_by_owner_keeps_their_breaches(commitments, book):
    summary = await _report(commitments, "summary", owner=ANA)

    assert summary["revenue_at_risk"] == [_money("USD", 1, "100.00")]
    assert summary["breaches"] == [{**_money("USD", 1, "9.00"), "breaches": 1}]
    assert {(row["review_status"], row["commitments"]) for row in summary["by_status"]} == {
        ("needs_signoff", 3), ("cleared", 2), ("rejected", 1)
    }  # fmt: skip


async def test_an_area_narrows_to_the_commitments_its_reviewers_decide(commitments, book):
    summary = await _report(commitments, "summary", area="identity")
    aging = await _report(commitments, "aging", sla_hours=24, area="IDENTITY")

    assert summary["by_status"] == [
        {"review_status": "needs_signoff", "currency": "EUR", "commitments": 1, "deals": 1,
         "deal_amount": "50.50"}
    ]  # fmt: skip
    assert [item["commitment_id"] for item in aging["items"]] == [book["B.C-1"]]


async def test_the_expected_close_range_includes_both_days(commitments, book):
    january = await _report(commitments, "aging", sla_hours=24, close_from="2027-01-15",
                            close_to="2027-01-15")  # fmt: skip
    spring = await _report(commitments, "aging", sla_hours=24, close_from="2027-01-16")

    assert {item["commitment_id"] for item in january["items"]} == {book["A.C-1"], book["A.C-3"]}
    assert january["awaiting"] == 2
    assert [item["commitment_id"] for item in spring["items"]] == [book["B.C-1"]]


async def test_the_received_range_counts_when_the_crm_first_sent_a_commitment(
    commitments, commitments_db_url, book
):
    long_ago = utcnow() - timedelta(days=30)
    await _set(commitments_db_url, commitments_table, "deal_owner", BO, created_at=long_ago)
    since = (utcnow() - timedelta(days=1)).isoformat()
    until = (utcnow() - timedelta(days=29)).isoformat()

    recent = await _report(commitments, "conflicts", received_from=since)
    earlier = await _report(commitments, "conflicts", received_until=until)

    assert [group["key"] for group in recent["by_owner"]] == [ANA]
    assert [group["key"] for group in earlier["by_owner"]] == [BO]
    assert [group["key"] for group in earlier["by_code"]] == ["custom_work"]


@pytest.mark.parametrize(
    "query",
    [
        {"close_to": "0"},
        {"currency": "eur"},
        {"owner": "nobody"},
        {"received_from": "2026-12-01"},
        {"source": "pipedrive"},
        {"area": ""},
    ],
)
async def test_a_malformed_filter_is_refused(commitments, query):
    for name in ("summary", "conflicts", "ledger", "trend"):
        response = await commitments.get(f"/reports/{name}", params=query)

        assert response.status_code == 422, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_range_ending_before_it_starts_matches_nothing(commitments, book):
    summary = await _report(commitments, "summary", close_from="2027-02-01",
                            close_to="2027-01-31")  # fmt: skip
    ledger = await _report(commitments, "ledger", received_from="2026-12-01T00:00:00Z",
                           received_until="2026-12-01T00:00:00Z")  # fmt: skip

    assert summary == {"by_status": [], "revenue_at_risk": [], "breaches": []}
    assert ledger == {"items": [], "next_cursor": None}


# The aging report's items ----------------------------------------------------------------


async def test_aging_items_carry_their_deal_who_decides_and_what_needs_signoff(commitments, book):
    aging = await _report(commitments, "aging", sla_hours=24, owner=BO)

    assert aging["awaiting"] == 1
    [item] = aging["items"]
    assert {key: item[key] for key in ("deal_name", "deal_amount", "currency", "deal_owner",
                                       "reviewers_due", "conflict_codes")} == {
        "deal_name": "Acme expansion", "deal_amount": "50.50", "currency": "EUR",
        "deal_owner": BO, "reviewers_due": [], "conflict_codes": ["custom_work"],
    }  # fmt: skip
    assert [(c["code"], c["evidence"]["item_key"]) for c in item["conflicts"]] == [
        ("custom_work", "RM-12")
    ]
    triage = await _report(commitments, "aging", sla_hours=24, owner=ANA)
    assert {item["commitment_id"]: (item["reviewers_due"], item["conflict_codes"])
            for item in triage["items"]} == {
        book["A.C-1"]: ([ANA], ["date_before_plan"]),
        book["A.C-3"]: ([ANA], ["item_declined"]),
        book["E.C-1"]: ([ANA], ["non_goal"]),
    }  # fmt: skip


# The trend --------------------------------------------------------------------------------


async def test_the_trend_counts_each_week_what_came_in_and_what_the_gate_told(
    commitments, commitments_db_url, book
):
    # A's commitments came in a week earlier; the approval of A.C-3 took 3 hours, the
    # rejection of A.C-4 1 hour.
    await _set(commitments_db_url, commitments_table, "deal_owner", ANA,
               created_at=utcnow() - timedelta(days=7))  # fmt: skip
    await _wait_before_decision(commitments_db_url, book["A.C-3"], hours=3)
    await _wait_before_decision(commitments_db_url, book["A.C-4"], hours=1)

    weeks = (await _report(commitments, "trend", weeks=2))["weeks"]

    today = utcnow().date()
    monday = today - timedelta(days=today.weekday())
    assert [week["week_start"] for week in weeks] == [
        (monday - timedelta(weeks=1)).isoformat(),
        monday.isoformat(),
    ]
    previous, current = weeks
    # Ana's deals A, C, E: 4 + 1 + 1 commitments; C and E count in the week they came in.
    assert previous["received"] == 6
    assert current["received"] == 3  # B's two and D's one
    assert current == {
        **current,
        "flagged": 5,  # A.C-1, A.C-3 (before its approval), A.C-4, B.C-1, E.C-1
        "approved": 1,
        "rejected": 1,
        "reopened": 1,
        "decisions": 2,
        "median_hours_to_decision": 2.0,
    }
    assert previous["decisions"] == 0
    assert previous["median_hours_to_decision"] is None


async def test_the_trend_narrowed_to_a_currency(commitments, book):
    weeks = (await _report(commitments, "trend", weeks=1, currency="EUR"))["weeks"]

    assert [(w["received"], w["flagged"], w["approved"], w["decisions"]) for w in weeks] == [
        (2, 1, 0, 0)
    ]


async def test_the_trend_of_an_empty_book_has_every_week(commitments):
    weeks = (await _report(commitments, "trend"))["weeks"]

    assert len(weeks) == 12
    assert all(week["received"] == week["decisions"] == 0 for week in weeks)


# Deals by readiness -----------------------------------------------------------------------


async def test_deals_filter_by_readiness(commitments, book):
    async def names(ready: str) -> set[str]:
        response = await commitments.get("/deals", params={"ready": ready})
        assert response.status_code == 200, response.text
        return {deal["external_id"] for deal in response.json()["items"]}

    assert await names("false") == {"A", "B", "E"}
    assert await names("true") == {"C", "D"}
    blocked_open = await commitments.get("/deals", params={"ready": "false", "stage": "open"})
    assert {deal["external_id"] for deal in blocked_open.json()["items"]} == {"A", "B"}


# Helpers ----------------------------------------------------------------------------------


async def _set(url: str, table, column: str, value: str, **values) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(update(table).where(table.c[column] == value).values(**values))
    finally:
        await engine.dispose()


async def _wait_before_decision(url: str, commitment_id: str, *, hours: float) -> None:
    """Moves the evaluation the commitment's decision decided to `hours` before it."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            decided = (
                await connection.execute(
                    decisions_table.select().where(decisions_table.c.commitment_id == commitment_id)
                )
            ).one()
            await connection.execute(
                update(evaluations_table)
                .where(evaluations_table.c.id == decided.evaluation_id)
                .values(evaluated_at=decided.decided_at - timedelta(hours=hours))
            )
    finally:
        await engine.dispose()
