"""The dashboards' figures, each one aggregate query over indexed columns; no rows loaded.

- summary: commitments and deal amounts by review status per currency (a deal's amount
  counts once under every status its commitments are in), revenue at risk (open deals not
  ready to close), and closed_without_signoff breaches.
- conflicts: the current conflicts of commitments not withdrawn, grouped by code, by
  roadmap item, by vision tag (the tags a conflict names) and by deal owner.
- aging: commitments awaiting sign-off, oldest first, with their age and how many are
  past the caller's SLA.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import (
    AgingReport,
    Awaiting,
    BreachFigures,
    ConflictGroup,
    ConflictReport,
    CurrencyFigures,
    StatusFigures,
    Summary,
)
from kit.cursors import parse_time_cursor, time_cursor
from kit.db import utcnow
from services.commitments.reads import blocking
from services.commitments.tables import (
    breaches,
    commitments,
    conflict_tallies,
    deals,
)


def _money(cents: int | Decimal | None) -> str:
    return f"{Decimal(cents or 0) / 100:.2f}"


async def summary(connection: AsyncConnection) -> Summary:
    # One row per (status, currency, deal) first, from one covering index, so a deal's
    # amount counts once per status however many of its commitments are in it.
    per_deal = (
        select(
            commitments.c.review_status,
            commitments.c.deal_currency,
            commitments.c.deal_amount_cents,
            func.count().label("commitments"),
        )
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
    blocked = exists().where(commitments.c.deal_id == deals.c.id, blocking())
    at_risk = await connection.execute(
        select(deals.c.currency, func.count(), func.sum(deals.c.amount_cents))
        .where(deals.c.stage == "open", blocked)
        .group_by(deals.c.currency)
        .order_by(deals.c.currency)
    )
    per_breached_deal = (
        select(breaches.c.deal_id, func.count().label("breaches"))
        .group_by(breaches.c.deal_id)
        .subquery()
    )
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
                deal_amount=_money(cents),
            )
            for status, currency, count, deal_count, cents in by_status
        ],
        revenue_at_risk=[
            CurrencyFigures(currency=currency, deals=count, amount=_money(cents))
            for currency, count, cents in at_risk
        ],
        breaches=[
            BreachFigures(currency=currency, deals=count, amount=_money(cents), breaches=number)
            for currency, count, cents, number in breached
        ],
    )


def _grouped(dimension: str) -> Select:
    tally = conflict_tallies.c
    total = func.sum(tally.conflicts)
    return (
        select(tally.key, total, func.sum(tally.blockers), func.count())
        .where(tally.dimension == dimension)
        .group_by(tally.key)
        .order_by(total.desc(), tally.key)
    )


async def _groups(connection: AsyncConnection, dimension: str) -> list[ConflictGroup]:
    return [
        ConflictGroup(key=key, conflicts=count, blockers=blockers, commitments=distinct)
        for key, count, blockers, distinct in await connection.execute(_grouped(dimension))
    ]


async def conflicts(connection: AsyncConnection) -> ConflictReport:
    """Conflicts with no item, and deals with no owner, are left out of those groupings."""
    return ConflictReport(
        by_code=await _groups(connection, "code"),
        by_roadmap_item=await _groups(connection, "item"),
        by_vision_tag=await _groups(connection, "tag"),
        by_owner=await _groups(connection, "owner"),
    )


def _aging_cursor(awaiting: Awaiting) -> str:
    """The last item's (awaiting_since, id), as AGING_CURSOR_PATTERN spells it."""
    return time_cursor(awaiting.awaiting_since, awaiting.commitment_id)


parse_aging_cursor = parse_time_cursor


async def aging(
    connection: AsyncConnection,
    *,
    sla_hours: int,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> AgingReport:
    now = utcnow()
    deadline = now - timedelta(hours=sla_hours)
    awaiting = commitments.c.review_status == "needs_signoff"
    totals = (
        await connection.execute(
            select(
                func.count(),
                func.sum(case((commitments.c.status_changed_at < deadline, 1), else_=0)),
                func.min(commitments.c.status_changed_at),
            ).where(awaiting)
        )
    ).one()
    page_query = (
        select(
            commitments.c.id,
            commitments.c.deal_id,
            commitments.c.external_id,
            commitments.c.summary,
            commitments.c.status_changed_at,
        )
        .where(awaiting)
        .order_by(commitments.c.status_changed_at, commitments.c.id)
        .limit(limit + 1)
    )
    if after is not None:
        since, commitment_id = after
        page_query = page_query.where(
            or_(
                commitments.c.status_changed_at > since,
                and_(commitments.c.status_changed_at == since, commitments.c.id > commitment_id),
            )
        )
    rows = (await connection.execute(page_query)).all()
    items = [
        Awaiting(
            commitment_id=row.id,
            deal_id=row.deal_id,
            external_id=row.external_id,
            summary=row.summary,
            awaiting_since=row.status_changed_at,
            age_hours=round((now - row.status_changed_at).total_seconds() / 3600, 2),
            past_sla=row.status_changed_at < deadline,
        )
        for row in rows[:limit]
    ]
    oldest = totals[2]
    oldest_age = None if oldest is None else round((now - oldest).total_seconds() / 3600, 2)
    return AgingReport(
        sla_hours=sla_hours,
        awaiting=totals[0],
        past_sla=totals[1] or 0,
        oldest_age_hours=oldest_age,
        items=items,
        next_cursor=_aging_cursor(items[-1]) if len(rows) > limit else None,
    )
