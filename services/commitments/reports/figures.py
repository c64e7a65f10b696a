"""The summary and the conflicts report, each one aggregate query over indexed columns
(joined to the commitments only when a filter asks); no rows loaded.

- summary: commitments and deal amounts by review status per currency (a deal's amount
  counts once under every status its commitments are in), revenue at risk (open deals a
  matching commitment blocks), and closed_without_signoff breaches.
- conflicts: the current conflicts of commitments not withdrawn, grouped by code, by
  roadmap item, by vision tag (the tags a conflict names) and by deal owner.
"""

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.reports import (
    BreachFigures,
    ConflictGroup,
    ConflictReport,
    CurrencyFigures,
    ReportFilters,
    StatusFigures,
    Summary,
)
from services.commitments.reads import blocking
from services.commitments.reports.scope import matching, money
from services.commitments.tables import breaches, commitments, conflict_tallies, deals


async def summary(connection: AsyncConnection, filters: ReportFilters) -> Summary:
    matches = matching(filters)
    # One row per (status, currency, deal) first, from one covering index, so a deal's
    # amount counts once per status however many of its commitments are in it.
    per_deal = (
        select(
            commitments.c.review_status,
            commitments.c.deal_currency,
            commitments.c.deal_amount_cents,
            func.count().label("commitments"),
        )
        .where(*matches)
        .group_by(
            commitments.c.review_status,
            commitments.c.deal_currency,
            commitments.c.deal_id,
            commitments.c.deal_amount_cents,
        )
        .subquery()
    )
    by_status = await connection.execute(
        select(
            per_deal.c.review_status,
            per_deal.c.deal_currency,
            func.sum(per_deal.c.commitments),
            func.count(),
            func.sum(per_deal.c.deal_amount_cents),
        )
        .group_by(per_deal.c.review_status, per_deal.c.deal_currency)
        .order_by(per_deal.c.review_status, per_deal.c.deal_currency)
    )
    blocked = exists().where(commitments.c.deal_id == deals.c.id, blocking(), *matches)
    at_risk = await connection.execute(
        select(deals.c.currency, func.count(), func.sum(deals.c.amount_cents))
        .where(deals.c.stage == "open", blocked)
        .group_by(deals.c.currency)
        .order_by(deals.c.currency)
    )
    breached_deals = select(breaches.c.deal_id, func.count().label("breaches"))
    if matches:
        breached_deals = breached_deals.where(
            exists().where(commitments.c.deal_id == breaches.c.deal_id, *matches)
        )
    per_breached_deal = breached_deals.group_by(breaches.c.deal_id).subquery()
    breached = await connection.execute(
        select(
            deals.c.currency,
            func.count(),
            func.sum(deals.c.amount_cents),
            func.sum(per_breached_deal.c.breaches),
        )
        .join(deals, deals.c.id == per_breached_deal.c.deal_id)
        .group_by(deals.c.currency)
        .order_by(deals.c.currency)
    )
    return Summary(
        by_status=[
            StatusFigures(
                review_status=status,
                currency=currency,
                commitments=count,
                deals=deal_count,
                deal_amount=money(cents),
            )
            for status, currency, count, deal_count, cents in by_status
        ],
        revenue_at_risk=[
            CurrencyFigures(currency=currency, deals=count, amount=money(cents))
            for currency, count, cents in at_risk
        ],
        breaches=[
            BreachFigures(currency=currency, deals=count, amount=money(cents), breaches=number)
            for currency, count, cents, number in breached
        ],
    )


def _grouped(dimension: str, filters: ReportFilters) -> Select:
    tally = conflict_tallies.c
    total = func.sum(tally.conflicts)
    query = select(tally.key, total, func.sum(tally.blockers), func.count()).where(
        tally.dimension == dimension
    )
    matches = matching(filters)
    if matches:
        query = query.join(commitments, commitments.c.id == tally.commitment_id).where(*matches)
    return query.group_by(tally.key).order_by(total.desc(), tally.key)


async def _groups(
    connection: AsyncConnection, dimension: str, filters: ReportFilters
) -> list[ConflictGroup]:
    return [
        ConflictGroup(key=key, conflicts=count, blockers=blockers, commitments=distinct)
        for key, count, blockers, distinct in await connection.execute(_grouped(dimension, filters))
    ]


async def conflicts(connection: AsyncConnection, filters: ReportFilters) -> ConflictReport:
    """Conflicts with no item, and deals with no owner, are left out of those groupings."""
    return ConflictReport(
        by_code=await _groups(connection, "code", filters),
        by_roadmap_item=await _groups(connection, "item", filters),
        by_vision_tag=await _groups(connection, "tag", filters),
        by_owner=await _groups(connection, "owner", filters),
    )
