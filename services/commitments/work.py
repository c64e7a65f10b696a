"""The evaluation work queue the gateway replicas share.

Work is owed on a commitment from `work_due_at`: it was received, is waiting for the
roadmap, or was marked for a re-check after a roadmap change. A claim takes due,
unclaimed (or lease-expired) commitments, oldest due first, with a lease; PostgreSQL skips
rows another replica is claiming (`FOR UPDATE SKIP LOCKED`), SQLite has one writer at a
time anyway. Recording the evaluation releases the claim (reviews.py); a replica that dies
leaves a lease that simply runs out.

A re-check is marked durably first (`mark_rechecks`), then claimed like any other work: the
gateway acknowledges a roadmap change only after the mark, so none is lost when it dies
between the two.
"""

import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.db import utcnow
from services.commitments.records import COMMITMENT_FIELDS
from services.commitments.schemas import ClaimedCommitment, ClaimRequest, RecheckRequest
from services.commitments.tables import commitment_tags, commitments


async def claim(connection: AsyncConnection, request: ClaimRequest) -> list[ClaimedCommitment]:
    now = utcnow()
    token = uuid.uuid4().hex
    unclaimed = or_(commitments.c.claimed_until.is_(None), commitments.c.claimed_until < now)
    candidates = (
        select(commitments.c.id)
        .where(commitments.c.work_due_at <= now, unclaimed)
        .order_by(commitments.c.work_due_at, commitments.c.id)
        .limit(request.limit)
        .with_for_update(skip_locked=True)
    )
    if request.commitment_ids is not None:
        candidates = candidates.where(commitments.c.id.in_(request.commitment_ids))
    if request.roadmap_item_keys is not None:
        candidates = candidates.where(commitments.c.roadmap_item_key.in_(request.roadmap_item_keys))
    claimed = await connection.execute(
        update(commitments)
        .where(commitments.c.id.in_(candidates.scalar_subquery()), unclaimed)
        .values(claim_token=token, claimed_until=now + timedelta(seconds=request.lease_seconds))
        .returning(
            *(commitments.c[name] for name in COMMITMENT_FIELDS),
            commitments.c.work_generation,
            commitments.c.claim_token,
            commitments.c.claimed_until,
        )
    )
    found = [ClaimedCommitment.model_validate(row._mapping) for row in claimed]
    return sorted(found, key=lambda item: item.id)


async def mark_rechecks(connection: AsyncConnection, request: RecheckRequest) -> int:
    """Owes a re-check to every commitment not withdrawn that is linked to one of the items
    or carries one of the tags."""
    if not request.roadmap_item_keys and not request.tags:
        return 0
    concerned = []
    if request.roadmap_item_keys:
        concerned.append(commitments.c.roadmap_item_key.in_(request.roadmap_item_keys))
    if request.tags:
        tagged = select(commitment_tags.c.commitment_id).where(
            commitment_tags.c.tag.in_(request.tags)
        )
        concerned.append(commitments.c.id.in_(tagged))
    now = utcnow()
    marked = await connection.execute(
        update(commitments)
        .where(or_(*concerned), commitments.c.review_status != "withdrawn")
        .values(
            work_due_at=now,
            work_generation=commitments.c.work_generation + 1,
            work_attempts=0,
        )
    )
    return marked.rowcount
