"""The reports a dashboard builds on: their filters, their shapes, and each report's
contract (served by the commitments service, relayed by the gateway under /v1).

Every report covers the commitments matching all of its filters; a deal's figures count the
deals of those commitments. Money is always per currency, never summed across currencies.
"""

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kit.contracts import examples
from kit.contracts.commitments import (
    AGING_CURSOR_PATTERN,
    Conflict,
    ConflictCode,
    Currency,
    Email,
    ItemKey,
    PageCursor,
    PageLimit,
    ReviewStatus,
    Source,
)
from kit.contracts.relayed import Relayed
from kit.contracts.reviewers import Area
from kit.types import QueryDay, Timestamp

Amount = Field(description="A decimal string, in the currency beside it.", examples=["1250.00"])

# Filters ---------------------------------------------------------------------------------


class ReportFilters(BaseModel):
    """Narrows a report to the commitments matching every filter given. A range whose end
    comes before its start matches nothing (as a database's BETWEEN does), so every query
    the parameters' schemas admit has an answer."""

    close_from: QueryDay | None = Field(
        None, description="Deals expected to close on or after this day.", examples=["2027-01-01"]
    )
    close_to: QueryDay | None = Field(
        None, description="Deals expected to close on or before this day.", examples=["2027-03-31"]
    )
    received_from: Timestamp | None = Field(
        None,
        description="Commitments received (first sent by the CRM) at or after this time.",
        examples=["2026-10-01T00:00:00Z"],
    )
    received_until: Timestamp | None = Field(
        None,
        description="Commitments received before this time (not included).",
        examples=["2027-01-01T00:00:00Z"],
    )
    owner: Email | None = Field(None, description="The deal's owner.", examples=["rep@example.com"])
    area: Area | None = Field(  # type: ignore[valid-type]
        None,
        description="The area whose reviewers decide the commitment (any case).",
        examples=["identity"],
    )
    source: Source | None = Field(None, description="The CRM the deal came from.")
    currency: Currency | None = Field(None, description="The deal's currency.", examples=["EUR"])


class AgingQuery(ReportFilters):
    limit: int = PageLimit
    cursor: Annotated[str, StringConstraints(pattern=AGING_CURSOR_PATTERN)] | None = PageCursor


class AgingServiceQuery(AgingQuery):
    """What the gateway adds: its policy's SLA."""

    sla_hours: int = Field(ge=1, le=8760, description="The sign-off SLA in hours.")


class LedgerQuery(ReportFilters):
    limit: int = PageLimit
    cursor: ItemKey | None = PageCursor


class TrendQuery(ReportFilters):
    weeks: int = Field(
        12, ge=1, le=104, description="How many weeks, the current one last (UTC, from Monday)."
    )


# Shapes ----------------------------------------------------------------------------------


class StatusFigures(BaseModel):
    review_status: ReviewStatus
    currency: str
    commitments: int
    deals: int
    deal_amount: str = Amount


class CurrencyFigures(BaseModel):
    currency: str
    deals: int
    amount: str = Amount


class BreachFigures(CurrencyFigures):
    breaches: int


class Summary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "by_status": [{"review_status": "needs_signoff", "currency": "EUR",
                           "commitments": 3, "deals": 2, "deal_amount": "120000.00"}],
            "revenue_at_risk": [{"currency": "EUR", "deals": 2, "amount": "120000.00"}],
            "breaches": [{"currency": "USD", "deals": 1, "amount": "20000.00", "breaches": 1}],
        }]}
    )  # fmt: skip

    by_status: list[StatusFigures]
    revenue_at_risk: list[CurrencyFigures] = Field(description="Open deals not ready to close.")
    breaches: list[BreachFigures] = Field(description="Deals closed without sign-off.")


class ConflictGroup(BaseModel):
    key: str = Field(description="The code, item key, tag or owner grouped by.")
    conflicts: int
    blockers: int
    commitments: int = Field(description="Distinct commitments with such a conflict.")


class ConflictReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "by_code": [{"key": "date_before_plan", "conflicts": 4, "blockers": 4,
                         "commitments": 4}],
            "by_roadmap_item": [{"key": "RM-12", "conflicts": 3, "blockers": 3,
                                 "commitments": 3}],
            "by_vision_tag": [], "by_owner": [],
        }]}
    )  # fmt: skip

    by_code: list[ConflictGroup]
    by_roadmap_item: list[ConflictGroup]
    by_vision_tag: list[ConflictGroup]
    by_owner: list[ConflictGroup]


class Awaiting(BaseModel):
    commitment_id: str
    deal_id: str
    external_id: str
    summary: str
    awaiting_since: datetime
    age_hours: float
    past_sla: bool
    deal_name: str
    deal_amount: str = Amount
    currency: str
    deal_owner: str | None
    reviewers_due: list[str] = Field(
        description="Who may decide it now: the approvers of the step whose turn it is "
        "(whoever it was handed to first), or its area's reviewers."
    )
    conflict_codes: list[ConflictCode] = Field(
        description="The codes of its current conflicts that need sign-off, once each."
    )
    conflicts: list[Conflict] = Field(
        description="Those conflicts, each with its message and evidence (a reviewer's queue "
        "shows them without reading each commitment)."
    )


class AgingReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "sla_hours": 48, "awaiting": 1, "past_sla": 1, "oldest_age_hours": 73.5,
            "items": [{
                "commitment_id": "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10",
                "deal_id": "5d2b1c7e-9f10-4c55-9a53-0b8e8c1e2d4f", "external_id": "C-1",
                "summary": "SSO with Okta by 1 March", "awaiting_since": "2026-12-01T09:00:00Z",
                "age_hours": 73.5, "past_sla": True, "deal_name": "Acme renewal",
                "deal_amount": "120000.00", "currency": "EUR", "deal_owner": "rep@example.com",
                "reviewers_due": ["pm@example.com"], "conflict_codes": ["date_before_plan"],
                "conflicts": [examples.CONFLICT],
            }],
            "next_cursor": None,
        }]}
    )  # fmt: skip

    sla_hours: int
    awaiting: int = Field(description="All commitments awaiting sign-off (that match).")
    past_sla: int
    oldest_age_hours: float | None
    items: list[Awaiting] = Field(description="The oldest first, one page of them.")
    next_cursor: str | None


class LedgerItem(BaseModel):
    roadmap_item_key: str
    promises: int = Field(description="Commitments linked to the item, not withdrawn.")
    deals: int = Field(description="Deals of those commitments, whatever their stage.")
    at_stake: list[CurrencyFigures] = Field(
        description="Open deals with such a commitment, per currency: what moving the item "
        "puts at risk."
    )
    blocked: list[CurrencyFigures] = Field(
        description="Open deals such a commitment blocks from closing now, per currency."
    )
    earliest_promised_by: date | None = Field(
        description="The earliest date promised on the item (none: no date promised)."
    )


class Ledger(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "items": [{
                "roadmap_item_key": "RM-12", "promises": 3, "deals": 2,
                "at_stake": [{"currency": "EUR", "deals": 2, "amount": "120000.00"}],
                "blocked": [{"currency": "EUR", "deals": 1, "amount": "50000.00"}],
                "earliest_promised_by": "2027-03-01",
            }],
            "next_cursor": None,
        }]}
    )  # fmt: skip

    items: list[LedgerItem] = Field(description="By roadmap item key, one page of them.")
    next_cursor: str | None


class TrendWeek(BaseModel):
    week_start: date = Field(description="The week's Monday (UTC).")
    received: int = Field(description="Commitments received.")
    flagged: int = Field(description="Commitments told as needing sign-off (commitment.flagged).")
    approved: int = Field(description="Commitments approved (commitment.approved).")
    rejected: int = Field(description="Commitments rejected (commitment.rejected).")
    reopened: int = Field(
        description="Commitments reopened because the roadmap changed (commitment.reopened "
        "caused by a roadmap change)."
    )
    decisions: int = Field(description="Decisions taken (a chain's steps each count).")
    median_hours_to_decision: float | None = Field(
        description="The median time from the evaluation a decision decided to the "
        "decision, in hours (none: no decision that week)."
    )


class Trend(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "weeks": [{"week_start": "2026-11-30", "received": 4, "flagged": 2, "approved": 1,
                       "rejected": 0, "reopened": 0, "decisions": 1,
                       "median_hours_to_decision": 3.5}],
        }]}
    )  # fmt: skip

    weeks: list[TrendWeek] = Field(description="Oldest first, every week of the window.")


# Contracts -------------------------------------------------------------------------------

FILTERS = (
    " Filters: `close_from`/`close_to` (the deal's expected close, days included), "
    "`received_from`/`received_until` (when the commitment was received; until not "
    "included), `owner`, `area`, `source`, `currency`."
)

SUMMARY = Relayed(
    path="/reports/summary",
    name="report_summary",
    tag="reports",
    summary="Commitments and deal amounts by review status per currency, revenue at risk, breaches",
    description="A deal's amount counts once under every status its commitments are in. "
    "Revenue at risk: open deals that a matching commitment blocks from closing. Breaches: "
    "deals the CRM closed while not ready." + FILTERS,
    answer=Summary,
    query=ReportFilters,
)
CONFLICTS = Relayed(
    path="/reports/conflicts",
    name="report_conflicts",
    tag="reports",
    summary="Current conflicts by code, roadmap item, vision tag and deal owner",
    description="The conflicts of the current evaluation of every commitment not withdrawn, "
    "most first. Conflicts with no item, and deals with no owner, are left out of those "
    "groupings." + FILTERS,
    answer=ConflictReport,
    query=ReportFilters,
)
AGING = Relayed(
    path="/reports/aging",
    name="report_aging",
    tag="reports",
    summary="Commitments awaiting sign-off, oldest first, against the policy's SLA",
    description="Each with its deal (name, amount, owner), who may decide it now and the "
    "codes of what needs sign-off; the totals count every match, the items one page "
    "(`next_cursor`)." + FILTERS,
    answer=AgingReport,
    query=AgingQuery,
)
LEDGER = Relayed(
    path="/reports/ledger",
    name="report_ledger",
    tag="reports",
    summary="The promise ledger: per roadmap item, the promises and deals that depend on it",
    description="What a PM needs before moving an item: how many promises and deals depend "
    "on it, the open deals at stake and those it blocks now (per currency), and the "
    "earliest date promised. By item key, paged (`next_cursor`)." + FILTERS,
    answer=Ledger,
    query=LedgerQuery,
)
TREND = Relayed(
    path="/reports/trend",
    name="report_trend",
    tag="reports",
    summary="Per week: promises received, flagged, approved, rejected, reopened by the "
    "roadmap, and the median time to a decision",
    description="The last `weeks` weeks (UTC, Monday to Sunday), the current one last, "
    "every week present. Flagged, approved, rejected and reopened count what the gate told "
    "(its events); reopened counts only reopenings a roadmap change caused." + FILTERS,
    answer=Trend,
    query=TrendQuery,
)
REPORTS = (SUMMARY, CONFLICTS, AGING, LEDGER, TREND)
