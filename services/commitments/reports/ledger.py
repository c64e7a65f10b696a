"""The promise ledger: per roadmap item, what depends on it. A page of item keys first
(those with a matching commitment not withdrawn), then two aggregates over just those keys:
the counts, and the open deals per currency (each deal once per item, blocked when any of
its commitments on the item blocks it)."""

from collections import defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.reports import CurrencyFigures, Ledger, LedgerItem, LedgerQuery
from services.commitments.lifecycle import ReviewStatus
from services.commitments.reads import blocking
from services.commitments.reports.scope import matching, money
from services.commitments.tables import commitments, deals

c = commitments.c


async def ledger(connection: AsyncConnection, asked: LedgerQuery) -> Ledger:
    # Keys in byte order on both databases (PostgreSQL's default collation would weigh the
    # "-" of RM-2 against the "1" of RM1-1 otherwise), so both answer the same pages.
    key = c.roadmap_item_key
    if connection.dialect.name == "postgresql":
        key = key.collate("C")
    linked = [
        c.roadmap_item_key.is_not(None),
        c.review_status != ReviewStatus.withdrawn.value,
        *matching(asked),
    ]
    keys_query = (
        select(c.roadmap_item_key)
        .where(*linked)
        .group_by(c.roadmap_item_key)
        .order_by(key)
        .limit(asked.limit + 1)
    )
    if asked.cursor is not None:
        keys_query = keys_query.where(key > asked.cursor)
    keys = list((await connection.execute(keys_query)).scalars())
    page = keys[: asked.limit]
    if not page:
        return Ledger(items=[], next_cursor=None)
    on_page = [*linked, c.roadmap_item_key.in_(page)]
    counts = await connection.execute(
        select(
            c.roadmap_item_key,
            func.count(),
            func.count(c.deal_id.distinct()),
            func.min(c.promised_by),
        )
        .where(*on_page)
        .group_by(c.roadmap_item_key)
    )
    per_deal = (
        select(
            c.roadmap_item_key.label("key"),
            c.deal_currency.label("currency"),
            c.deal_amount_cents.label("cents"),
            func.max(case((blocking(), 1), else_=0)).label("blocks"),
        )
        .join(deals, deals.c.id == c.deal_id)
        .where(*on_page, deals.c.stage == "open")
        .group_by(c.roadmap_item_key, c.deal_id, c.deal_currency, c.deal_amount_cents)
        .subquery()
    )
    blocked = per_deal.c.blocks == 1
    money_rows = await connection.execute(
        select(
            per_deal.c.key,
            per_deal.c.currency,
            func.count(),
            func.sum(per_deal.c.cents),
            func.sum(case((blocked, 1), else_=0)),
            func.sum(case((blocked, per_deal.c.cents), else_=0)),
        )
        .group_by(per_deal.c.key, per_deal.c.currency)
        .order_by(per_deal.c.key, per_deal.c.currency)
    )
    at_stake: dict[str, list[CurrencyFigures]] = defaultdict(list)
    held: dict[str, list[CurrencyFigures]] = defaultdict(list)
    for key, currency, deal_count, cents, blocked_count, blocked_cents in money_rows:
        at_stake[key].append(CurrencyFigures(currency=currency, deals=deal_count,
                                             amount=money(cents)))  # fmt: skip
        if blocked_count:
            held[key].append(CurrencyFigures(currency=currency, deals=blocked_count,
                                             amount=money(blocked_cents)))  # fmt: skip
    figures = {row[0]: row for row in counts}
    return Ledger(
        items=[
            LedgerItem(
                roadmap_item_key=key,
                promises=figures[key][1],
                deals=figures[key][2],
                at_stake=at_stake[key],
                blocked=held[key],
                earliest_promised_by=figures[key][3],
            )
            for key in page
        ],
        next_cursor=page[-1] if len(keys) > asked.limit else None,
    )
