"""Lists and the closing gate: deals, commitments, a deal's readiness.

Lists are keyset-paginated by id (the cursor is the previous page's last id).
"""

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import (
    Blocking,
    CommitmentPage,
    CommitmentServiceQuery,
    DealPage,
    DealQuery,
    DealRead,
    DealReadiness,
)
from kit.problems import not_found
from services.commitments.lifecycle import ReviewStatus
from services.commitments.records import as_listed, listed_query
from services.commitments.tables import commitments, conflict_tallies, deals

# A deal may close when every commitment not withdrawn is one of these and owes no
# evaluation: one owed a re-check (work due) may be about to reopen, so it blocks until it is
# evaluated again; the gate never answers from a state a roadmap change already overtook.
READY_STATUSES = (ReviewStatus.cleared.value, ReviewStatus.approved.value)
NOT_BLOCKING = (*READY_STATUSES, ReviewStatus.withdrawn.value)
WITHDRAWN = ReviewStatus.withdrawn.value


def blocking() -> ColumnElement[bool]:
    """A commitment that holds its deal back from closing."""
    return or_(
        commitments.c.review_status.not_in(NOT_BLOCKING),
        and_(commitments.c.work_due_at.is_not(None), commitments.c.review_status != WITHDRAWN),
    )


async def list_deals(connection: AsyncConnection, asked: DealQuery) -> DealPage:
    query = select(deals).order_by(deals.c.id).limit(asked.limit + 1)
    for column, value in (
        (deals.c.source, asked.source),
        (deals.c.external_id, asked.external_id),
        (deals.c.stage, asked.stage),
        (deals.c.owner, asked.owner),
    ):
        if value is not None:
            query = query.where(column == value)
    if asked.ready is not None:
        blocked = exists().where(commitments.c.deal_id == deals.c.id, blocking())
        query = query.where(~blocked if asked.ready else blocked)
    if asked.cursor:
        query = query.where(deals.c.id > asked.cursor)
    found = [DealRead.model_validate(row._mapping) for row in await connection.execute(query)]
    page = found[: asked.limit]
    return DealPage(items=page, next_cursor=page[-1].id if len(found) > asked.limit else None)


async def list_commitments(
    connection: AsyncConnection, asked: CommitmentServiceQuery
) -> CommitmentPage:
    query = listed_query().order_by(commitments.c.id).limit(asked.limit + 1)
    if asked.external_id is not None:
        query = query.where(commitments.c.external_id == asked.external_id)
    if asked.source is not None:
        query = query.where(
            commitments.c.deal_id.in_(select(deals.c.id).where(deals.c.source == asked.source))
        )
    if asked.cursor:
        query = query.where(commitments.c.id > asked.cursor)
    if asked.review_status:
        query = query.where(commitments.c.review_status.in_(asked.review_status))
    if asked.deal_id is not None:
        query = query.where(commitments.c.deal_id == asked.deal_id)
    if asked.roadmap_item_key is not None:
        query = query.where(commitments.c.roadmap_item_key == asked.roadmap_item_key)
    if asked.conflict_code is not None:
        query = query.where(
            exists().where(
                conflict_tallies.c.commitment_id == commitments.c.id,
                conflict_tallies.c.dimension == "code",
                conflict_tallies.c.key == asked.conflict_code,
            )
        )
    if asked.owner is not None:
        query = query.where(commitments.c.deal_owner == asked.owner)
    found = [as_listed(row) for row in await connection.execute(query)]
    page = found[: asked.limit]
    return CommitmentPage(items=page, next_cursor=page[-1].id if len(found) > asked.limit else None)


async def readiness_by_crm_id(
    connection: AsyncConnection, source: str, external_id: str
) -> DealReadiness:
    found = await connection.execute(
        select(deals.c.id).where(deals.c.source == source, deals.c.external_id == external_id)
    )
    deal_id = found.scalar_one_or_none()
    if deal_id is None:
        raise not_found("deal", f"{external_id} from {source}")
    return await readiness(connection, deal_id)


async def blocking_count(connection: AsyncConnection, deal_id: str) -> int:
    """How many of the deal's commitments block it (what `readiness` lists), counted."""
    return (
        await connection.execute(
            select(func.count())
            .select_from(commitments)
            .where(commitments.c.deal_id == deal_id, blocking())
        )
    ).scalar_one()


async def readiness(connection: AsyncConnection, deal_id: str) -> DealReadiness:
    known = await connection.execute(select(deals.c.id).where(deals.c.id == deal_id))
    if known.one_or_none() is None:
        raise not_found("deal", deal_id)
    rows = (
        await connection.execute(
            listed_query()
            .add_columns(commitments.c.work_due_at)
            .where(commitments.c.deal_id == deal_id, blocking())
            .order_by(commitments.c.external_id)
        )
    ).all()
    blocking_now = []
    for row in rows:
        item = as_listed(row)
        blocking_now.append(
            Blocking(
                commitment_id=item.id,
                review_status=item.review_status,
                conflicts=item.conflicts,
                recheck_pending=row.work_due_at is not None,
            )
        )
    return DealReadiness(deal_id=deal_id, ready=not rows, blocking=blocking_now)
