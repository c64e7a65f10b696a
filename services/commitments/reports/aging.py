"""The aging report: commitments awaiting sign-off, oldest first, with their age against
the caller's SLA, their deal, who may decide them now and what needs sign-off; its totals
count every match, its items one page."""

from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.reports import AgingReport, AgingServiceQuery, Awaiting
from kit.cursors import beyond_time_cursor, time_cursor
from kit.db import utcnow
from services.commitments import approvals
from services.commitments.reports.scope import matching, money
from services.commitments.tables import commitments, deals, evaluations

c = commitments.c


def _age_hours(now: datetime, since: datetime) -> float:
    return round((now - since).total_seconds() / 3600, 2)


def _needing_signoff(conflicts: list[dict] | None) -> list[dict]:
    return [conflict for conflict in conflicts or () if conflict.get("needs_signoff")]


async def aging(connection: AsyncConnection, asked: AgingServiceQuery) -> AgingReport:
    now = utcnow()
    deadline = now - timedelta(hours=asked.sla_hours)
    awaiting = [c.review_status == "needs_signoff", *matching(asked)]
    totals = (
        await connection.execute(
            select(
                func.count(),
                func.sum(case((c.status_changed_at < deadline, 1), else_=0)),
                func.min(c.status_changed_at),
            ).where(*awaiting)
        )
    ).one()
    page_query = (
        select(
            c.id,
            c.deal_id,
            c.external_id,
            c.summary,
            c.status_changed_at,
            c.deal_amount_cents,
            c.deal_currency,
            c.deal_owner,
            c.current_evaluation_id,
            c.assigned_to,
            c.assigned_step,
            deals.c.name.label("deal_name"),
            evaluations.c.conflicts,
        )
        .join(deals, deals.c.id == c.deal_id)
        .outerjoin(evaluations, evaluations.c.id == c.current_evaluation_id)
        .where(*awaiting)
        .order_by(c.status_changed_at, c.id)
        .limit(asked.limit + 1)
    )
    if asked.cursor is not None:
        page_query = page_query.where(beyond_time_cursor(c.status_changed_at, c.id, asked.cursor))
    rows = (await connection.execute(page_query)).all()
    page = rows[: asked.limit]
    turns = await approvals.turns(connection, page) if page else {}
    items = [
        Awaiting(
            commitment_id=row.id,
            deal_id=row.deal_id,
            external_id=row.external_id,
            summary=row.summary,
            awaiting_since=row.status_changed_at,
            age_hours=_age_hours(now, row.status_changed_at),
            past_sla=row.status_changed_at < deadline,
            deal_name=row.deal_name,
            deal_amount=money(row.deal_amount_cents),
            currency=row.deal_currency,
            deal_owner=row.deal_owner,
            reviewers_due=turns[row.id].reviewers if row.id in turns else [],
            conflict_codes=list(dict.fromkeys(c["code"] for c in _needing_signoff(row.conflicts))),
            conflicts=_needing_signoff(row.conflicts),
        )
        for row in page
    ]
    oldest = totals[2]
    return AgingReport(
        sla_hours=asked.sla_hours,
        awaiting=totals[0],
        past_sla=totals[1] or 0,
        oldest_age_hours=None if oldest is None else _age_hours(now, oldest),
        items=items,
        next_cursor=(
            time_cursor(items[-1].awaiting_since, items[-1].commitment_id)
            if len(rows) > asked.limit
            else None
        ),
    )
