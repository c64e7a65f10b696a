"""The dashboards' aggregates, against figures computed by hand from a small known book.

The book (each line: deal, currency amount, stage, owner: its commitments):
- A, USD 100.00, open, ana: C-1 needs_signoff (date_before_plan blocker on RM-12 tagged
  enterprise-security; off_vision warning needing no sign-off), C-2 cleared.
- B, EUR 50.50, open, bo: C-1 approved (custom_work blocker), C-2 received.
- C, USD 20.00, closed won while C-1 awaited sign-off (non_goal blocker on RM-3, on-prem).
- D, USD 7.00, lost, bo: C-1 withdrawn (its item_declined conflict no longer counts).
"""

from datetime import timedelta

import pytest
from sqlalchemy import update

from kit.db import create_engine, utcnow
from services.commitments.tables import commitments as commitments_table
from tests.commitments_helpers import (
    Book,
    conflict,
    crm_event,
    decide,
    evaluated,
    promise,
    take,
)

ANA, BO = "ana@example.com", "bo@example.com"


@pytest.fixture
async def book(commitments) -> dict[str, str]:
    """Builds the book; answers the commitment ids by "<deal>.<commitment>"."""
    built = Book(commitments)
    deal, ids = built.deal, built.ids

    await deal("A", promise("C-1"), promise("C-2"), amount="100.00", owner=ANA)
    await evaluated(
        commitments,
        ids["A.C-1"],
        conflict("date_before_plan", planned_end="2027-04-01", promised_by="2027-03-01",
                 tags=["enterprise-security"]),
        conflict("off_vision", severity="warning", item=None, needs_signoff=False),
    )  # fmt: skip
    await evaluated(commitments, ids["A.C-2"])

    await deal("B", promise("C-1"), promise("C-2"), amount="50.50", currency="EUR", owner=BO)
    await evaluated(commitments, ids["B.C-1"], conflict("custom_work", item=None))
    await decide(commitments, ids["B.C-1"])

    await deal("C", promise("C-1"), amount="20.00", owner=ANA)
    await evaluated(commitments, ids["C.C-1"], conflict("non_goal", item="RM-3", tags=["on-prem"]))
    await take(commitments, crm_event(promise("C-1"), deal="C", amount="20.00", owner=ANA,
                                      stage="closed_won", updated=1))  # fmt: skip

    await deal("D", promise("C-1"), amount="7.00", owner=BO)
    await evaluated(commitments, ids["D.C-1"], conflict("item_declined"))
    await take(commitments, crm_event(promise("C-1"), deal="D", amount="7.00", owner=BO,
                                      stage="closed_lost", updated=1))  # fmt: skip
    return ids


async def test_summary_by_status_per_currency_revenue_at_risk_and_breaches(commitments, book):
    summary = (await commitments.get("/reports/summary")).json()

    assert summary["by_status"] == [
        {"review_status": "approved", "currency": "EUR", "commitments": 1, "deals": 1,
         "deal_amount": "50.50"},
        {"review_status": "cleared", "currency": "USD", "commitments": 1, "deals": 1,
         "deal_amount": "100.00"},
        {"review_status": "needs_signoff", "currency": "USD", "commitments": 2, "deals": 2,
         "deal_amount": "120.00"},
        {"review_status": "received", "currency": "EUR", "commitments": 1, "deals": 1,
         "deal_amount": "50.50"},
        {"review_status": "withdrawn", "currency": "USD", "commitments": 1, "deals": 1,
         "deal_amount": "7.00"},
    ]  # fmt: skip
    assert summary["revenue_at_risk"] == [
        {"currency": "EUR", "deals": 1, "amount": "50.50"},
        {"currency": "USD", "deals": 1, "amount": "100.00"},
    ]
    assert summary["breaches"] == [
        {"currency": "USD", "deals": 1, "amount": "20.00", "breaches": 1}
    ]


async def test_a_deal_amount_counts_once_per_status_however_many_commitments(commitments):
    await take(commitments, crm_event(*(promise(f"C-{n}") for n in range(3)), amount="10.00"))

    summary = (await commitments.get("/reports/summary")).json()

    assert summary["by_status"] == [
        {"review_status": "received", "currency": "USD", "commitments": 3, "deals": 1,
         "deal_amount": "10.00"},
    ]  # fmt: skip


async def test_conflicts_grouped_by_code_item_tag_and_owner(commitments, book):
    report = (await commitments.get("/reports/conflicts")).json()

    def group(key, conflicts=1, blockers=1, distinct=1):
        return {"key": key, "conflicts": conflicts, "blockers": blockers, "commitments": distinct}

    assert report["by_code"] == [
        group("custom_work"),
        group("date_before_plan"),
        group("non_goal"),
        group("off_vision", blockers=0),
    ]
    assert report["by_roadmap_item"] == [group("RM-12"), group("RM-3")]
    assert report["by_vision_tag"] == [group("enterprise-security"), group("on-prem")]
    assert report["by_owner"] == [group(ANA, conflicts=3, blockers=2, distinct=2), group(BO)]


async def test_aging_against_the_sla_oldest_first_in_pages(commitments, commitments_db_url, book):
    engine = create_engine(commitments_db_url)
    try:
        async with engine.begin() as connection:
            for key, hours in (("A.C-1", 50), ("C.C-1", 10)):
                await connection.execute(
                    update(commitments_table)
                    .where(commitments_table.c.id == book[key])
                    .values(status_changed_at=utcnow() - timedelta(hours=hours))
                )
    finally:
        await engine.dispose()

    first = (await commitments.get("/reports/aging", params={"sla_hours": 48, "limit": 1})).json()
    second = (
        await commitments.get(
            "/reports/aging", params={"sla_hours": 48, "limit": 1, "cursor": first["next_cursor"]}
        )
    ).json()

    assert (first["awaiting"], first["past_sla"], first["sla_hours"]) == (2, 1, 48)
    assert first["oldest_age_hours"] == pytest.approx(50, abs=0.05)
    assert [(i["commitment_id"], i["past_sla"]) for i in first["items"]] == [(book["A.C-1"], True)]
    assert first["items"][0]["age_hours"] == pytest.approx(50, abs=0.05)
    assert [(i["commitment_id"], i["past_sla"]) for i in second["items"]] == [
        (book["C.C-1"], False)
    ]
    assert second["next_cursor"] is None
    assert (await commitments.get("/reports/aging", params={"sla_hours": 9})).json()[
        "past_sla"
    ] == 2


async def test_reports_of_an_empty_book_are_empty(commitments):
    summary = (await commitments.get("/reports/summary")).json()
    aging = (await commitments.get("/reports/aging", params={"sla_hours": 24})).json()

    assert summary == {"by_status": [], "revenue_at_risk": [], "breaches": []}
    assert (aging["awaiting"], aging["past_sla"], aging["oldest_age_hours"]) == (0, 0, None)


@pytest.mark.parametrize("query", [{}, {"sla_hours": 0}, {"sla_hours": 24, "cursor": "garbage"}])
async def test_aging_needs_an_sla_and_a_cursor_it_gave(commitments, query):
    response = await commitments.get("/reports/aging", params=query)

    assert response.status_code == 422
