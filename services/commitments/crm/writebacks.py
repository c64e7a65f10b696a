"""The gate each CRM deal should show, owed to the CRM until written there.

Whenever a deal from a CRM that takes the write-back (HubSpot, Salesforce) is announced
(outbox.announce: every change that can move its gate), its gate now (ready, how many
commitments block) is compared with the one last owed; a difference raises the row's
`version` and makes it due. The gateway claims due rows, writes the newest state to the
CRM and settles the version it wrote: a change made while it wrote stays owed, and an
older state is never written after a newer one (only the row's current state is ever
claimed, by one replica at a time). The state written is recorded, so each change is
written once.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.crm import (
    ClaimedWriteback,
    ClaimedWritebacks,
    WritebackClaim,
    WritebackRead,
    WritebackSettlement,
)
from kit.db import dialect_insert, utcnow
from services.commitments.tables import crm_writebacks as table

WRITTEN_BACK = ("hubspot", "salesforce")


async def owe(
    connection: AsyncConnection,
    *,
    deal_id: str,
    source: str,
    external_id: str,
    ready: bool,
    blocking_count: int,
    now: datetime,
) -> None:
    """Owes the deal's gate to its CRM if it differs from the one last owed. The deal's
    row is locked by the caller, so two changes of one deal never race here."""
    if source not in WRITTEN_BACK:
        return
    state = {"ready": ready, "blocking_count": blocking_count}
    inserted = await connection.execute(
        dialect_insert(connection, table)
        .values(
            deal_id=deal_id,
            source=source,
            external_id=external_id,
            **state,
            version=1,
            written_version=0,
            attempts=0,
            due_at=now,
        )
        .on_conflict_do_nothing(index_elements=["deal_id"])
        .returning(table.c.deal_id)
    )
    if inserted.one_or_none() is not None:
        return
    await connection.execute(
        update(table)
        .where(
            table.c.deal_id == deal_id,
            or_(table.c.ready != ready, table.c.blocking_count != blocking_count),
        )
        .values(**state, version=table.c.version + 1, attempts=0, due_at=now, last_error=None)
    )


async def claim(connection: AsyncConnection, request: WritebackClaim) -> ClaimedWritebacks:
    now, token = utcnow(), uuid.uuid4().hex
    free = or_(table.c.claimed_until.is_(None), table.c.claimed_until < now)
    due = and_(
        table.c.source.in_([source.value for source in request.sources]),
        table.c.due_at <= now,
        table.c.written_version < table.c.version,
        free,
    )
    candidates = (
        select(table.c.deal_id)
        .where(due)
        .order_by(table.c.due_at, table.c.deal_id)
        .limit(request.limit)
        .with_for_update(skip_locked=True)
    )
    claimed = await connection.execute(
        update(table)
        .where(table.c.deal_id.in_(candidates.scalar_subquery()), free)
        .values(
            claim_token=token,
            claimed_until=now + timedelta(seconds=request.lease_seconds),
            attempts=table.c.attempts + 1,
        )
        .returning(*(table.c[name] for name in ClaimedWriteback.model_fields))
    )
    items = sorted(
        (ClaimedWriteback.model_validate(row._mapping) for row in claimed),
        key=lambda item: item.deal_id,
    )
    return ClaimedWritebacks(token=token, items=items)


async def settle(connection: AsyncConnection, settlement: WritebackSettlement) -> int:
    now = utcnow()
    held = table.c.claim_token == settlement.token
    released = {"claim_token": None, "claimed_until": None}
    settled = 0
    for written in settlement.written:
        values: dict = {
            "written_version": written.version,
            "written_ready": written.ready,
            "written_blocking_count": written.blocking_count,
            "written_at": now,
            **released,
        }
        # A change made while this one was written stays due; the rest is settled.
        current = table.c.version == written.version
        result = await connection.execute(
            update(table)
            .where(held, table.c.deal_id == written.deal_id, current)
            .values(**values, attempts=0, due_at=None, last_error=None)
        )
        if not result.rowcount:
            result = await connection.execute(
                update(table)
                .where(held, table.c.deal_id == written.deal_id, ~current)
                .values(**values, attempts=0, due_at=now)
            )
        settled += result.rowcount
    for retry in settlement.retry:
        result = await connection.execute(
            update(table)
            .where(held, table.c.deal_id == retry.deal_id)
            .values(
                last_error=retry.reason,
                due_at=now + timedelta(seconds=retry.delay_seconds),
                **released,
            )
        )
        settled += result.rowcount
    return settled


async def read(connection: AsyncConnection, deal_id: str) -> WritebackRead | None:
    row = (
        await connection.execute(
            select(*(table.c[name] for name in WritebackRead.model_fields)).where(
                table.c.deal_id == deal_id
            )
        )
    ).one_or_none()
    return None if row is None else WritebackRead.model_validate(row._mapping)
