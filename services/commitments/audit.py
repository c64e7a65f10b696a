"""The decisions audit: every decision, oldest first, with the evaluation it decided (its
area, policy, roadmap item versions and conflicts). Keyset-paged by (decided_at, id)."""

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.audit import DecisionRecord, DecisionRecordPage
from kit.cursors import beyond_time_cursor, time_cursor
from services.commitments.tables import commitments, decision_lapses, decisions, evaluations

d, e = decisions.c, evaluations.c


async def decision_page(
    connection: AsyncConnection,
    *,
    limit: int,
    cursor: str | None = None,
    decided_by: str | None = None,
    area: str | None = None,
    decision: str | None = None,
    decided_from: datetime | None = None,
    decided_until: datetime | None = None,
) -> DecisionRecordPage:
    """`decided_by` matches the decider or the reviewer a delegate stood in for; `area` in
    any case; `decided_until` is not included."""
    query = (
        select(
            *decisions.c,
            decision_lapses.c.lapsed_at,
            decision_lapses.c.cause.label("lapse_cause"),
            commitments.c.deal_id,
            e.review_area,
            e.policy_version,
            e.roadmap_item_versions,
            e.conflicts,
        )
        .join(evaluations, e.id == d.evaluation_id)
        .join(commitments, commitments.c.id == d.commitment_id)
        .outerjoin(decision_lapses, decision_lapses.c.decision_id == d.id)
        .order_by(d.decided_at, d.id)
        .limit(limit + 1)
    )
    if decided_by is not None:
        query = query.where(or_(d.decided_by == decided_by, d.on_behalf_of == decided_by))
    if area is not None:
        query = query.where(func.lower(e.review_area) == area.lower())
    if decision is not None:
        query = query.where(d.decision == decision)
    if decided_from is not None:
        query = query.where(d.decided_at >= decided_from)
    if decided_until is not None:
        query = query.where(d.decided_at < decided_until)
    if cursor is not None:
        query = query.where(beyond_time_cursor(d.decided_at, d.id, cursor))
    rows = (await connection.execute(query)).all()
    items = [DecisionRecord.model_validate(row._mapping) for row in rows[:limit]]
    cursor = time_cursor(items[-1].decided_at, items[-1].id) if len(rows) > limit else None
    return DecisionRecordPage(items=items, next_cursor=cursor)
