"""The evaluation work queue the gateway replicas share.

Work is owed on a commitment from `work_due_at`: it was received, is waiting for the
roadmap, or was marked for a re-check after a roadmap change. A claim takes due,
unclaimed (or lease-expired) commitments, oldest due first, with a lease; PostgreSQL skips
rows another replica is claiming (`FOR UPDATE SKIP LOCKED`), SQLite has one writer at a
time anyway. A claim also moves the work's due time to the end of its lease: a replica
that dies leaves work that comes due again when the lease runs out, behind what was
waiting, so a commitment whose evaluation always fails cannot starve the queue. Only the
claim's holder records the evaluation (reviews.py), which releases the claim.

Work a gateway does itself at once (the commitments of the event it just handed over, a
PM's link) is claimed by id, and falls due for everyone else only after a hand-off grace:
the sweep of another replica must not take it from under the gateway answering the CRM or
the PM, and picks it up only when that gateway died before finishing (the grace is the
`handoff_grace_seconds` setting). A claim by id takes
any work owed, due yet or not.

Work whose evaluation failed for want of the roadmap pauses (reviews.py), so an outage does
not spin the queue; once the roadmap answers again, a claim with `retry_waiting` takes that
paused work at once instead of waiting out each pause.

A re-check is marked durably first (`mark_rechecks`), then claimed like any other work: the
gateway acknowledges a roadmap change only after the mark, so none is lost when it dies
between the two.
"""

import uuid
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import (
    ClaimedCommitment,
    ClaimRequest,
    RecheckRequest,
    RoadmapChangeMark,
    amount_of_cents,
)
from kit.db import dialect_insert, utcnow
from services.commitments.records import COMMITMENT_FIELDS
from services.commitments.tables import commitment_tags, commitments, deals, roadmap_marks

RECHECK_BATCH = 1000


async def claim(connection: AsyncConnection, request: ClaimRequest) -> list[ClaimedCommitment]:
    now = utcnow()
    token = uuid.uuid4().hex
    until = now + timedelta(seconds=request.lease_seconds)
    unclaimed = or_(commitments.c.claimed_until.is_(None), commitments.c.claimed_until < now)
    if request.commitment_ids is not None:
        owed = commitments.c.work_due_at.is_not(None)
    elif request.retry_waiting:
        # Tried before (claims count attempts) and pausing: not new work in its grace.
        owed = or_(
            commitments.c.work_due_at <= now,
            and_(commitments.c.work_due_at.is_not(None), commitments.c.work_attempts > 0),
        )
    else:
        owed = commitments.c.work_due_at <= now
    candidates = (
        select(commitments.c.id)
        .where(owed, unclaimed)
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
        .values(
            claim_token=token,
            claimed_until=until,
            work_due_at=until,
            work_attempts=commitments.c.work_attempts + 1,
        )
        .returning(
            *(commitments.c[name] for name in COMMITMENT_FIELDS),
            commitments.c.work_generation,
            commitments.c.claim_token,
            commitments.c.claimed_until,
            commitments.c.deal_currency,
            commitments.c.deal_amount_cents,
        )
    )
    rows = claimed.all()
    sources = await _deal_sources(connection, {row.deal_id for row in rows})
    found = [
        ClaimedCommitment.model_validate(
            {
                **row._mapping,
                "deal_source": sources[row.deal_id],
                "deal_amount": amount_of_cents(row.deal_amount_cents),
            }
        )
        for row in rows
    ]
    return sorted(found, key=lambda item: item.id)


async def _deal_sources(connection: AsyncConnection, deal_ids: set[str]) -> dict[str, str]:
    if not deal_ids:
        return {}
    found = await connection.execute(
        select(deals.c.id, deals.c.source).where(deals.c.id.in_(deal_ids))
    )
    return dict(found.all())


async def _first_mark_of(connection: AsyncConnection, change: RoadmapChangeMark) -> bool:
    """Records that a re-check is marked for this version of the item or tag; False when
    one was marked for it or a later version already (nothing to mark again). Atomic: of
    two marks of one version at once, one records it."""
    if change.version is None:
        return True
    now = utcnow()
    statement = dialect_insert(connection, roadmap_marks).values(
        entity=change.entity, key=change.key, version=change.version, marked_at=now
    )
    advanced = await connection.execute(
        statement.on_conflict_do_update(
            index_elements=["entity", "key"],
            set_={"version": change.version, "marked_at": now},
            where=roadmap_marks.c.version < change.version,
        ).returning(roadmap_marks.c.version)
    )
    return advanced.one_or_none() is not None


async def mark_rechecks(connection: AsyncConnection, request: RecheckRequest) -> int:
    """Owes a re-check to every commitment not withdrawn that is named, or that a roadmap
    change concerns, unless that version of the item or tag was marked already. Rows are
    locked as every write locks them (deals by id, then their commitments by id), so none
    deadlocks with another."""
    item_keys: set[str] = set()
    tags: set[str] = set()
    marked_changes = []
    for change in sorted(request.changes, key=lambda c: (c.entity, c.key, c.version or 0)):
        if await _first_mark_of(connection, change):
            (item_keys if change.entity == "roadmap_item" else tags).add(change.key)
            item_keys.update(change.item_keys)
            marked_changes.append(change.model_dump(include={"entity", "key", "version"}))
    # Named commitments alone (no roadmap change) keep what made them due before.
    cause = {"kind": "roadmap_changed", "changes": marked_changes} if marked_changes else None
    wanted = []
    if request.commitment_ids:
        wanted.append(commitments.c.id.in_(request.commitment_ids))
    if item_keys:
        wanted.append(commitments.c.roadmap_item_key.in_(sorted(item_keys)))
    if tags:
        wanted.append(
            commitments.c.id.in_(
                select(commitment_tags.c.commitment_id).where(
                    commitment_tags.c.tag.in_(sorted(tags))
                )
            )
        )
    if not wanted:
        return 0
    # In the order every write locks in: deals by id, then their commitments by id.
    owed = (
        await connection.execute(
            select(commitments.c.deal_id, commitments.c.id)
            .where(or_(*wanted))
            .order_by(commitments.c.deal_id, commitments.c.id)
        )
    ).all()
    now, marked = utcnow(), 0
    for start in range(0, len(owed), RECHECK_BATCH):
        batch = owed[start : start + RECHECK_BATCH]
        await connection.execute(
            select(deals.c.id)
            .where(deals.c.id.in_(sorted({deal_id for deal_id, _ in batch})))
            .order_by(deals.c.id)
            .with_for_update(key_share=True)
        )
        locked = (
            (
                await connection.execute(
                    select(commitments.c.id)
                    .where(
                        commitments.c.id.in_([commitment_id for _, commitment_id in batch]),
                        commitments.c.review_status != "withdrawn",
                    )
                    .order_by(commitments.c.deal_id, commitments.c.id)
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        if not locked:
            continue
        result = await connection.execute(
            update(commitments)
            # Again: on SQLite the first read runs before the write transaction begins.
            .where(commitments.c.id.in_(locked), commitments.c.review_status != "withdrawn")
            .values(
                work_due_at=now,
                work_generation=commitments.c.work_generation + 1,
                work_attempts=0,
                work_cause=commitments.c.work_cause if cause is None else cause,
            )
        )
        marked += result.rowcount
    return marked
