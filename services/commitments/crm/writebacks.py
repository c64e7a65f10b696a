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

from datetime import datetime

from sqlalchemy import case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.crm import (
    ClaimedWriteback,
    ClaimedWritebacks,
    WritebackClaim,
    WritebackRead,
    WritebackSettlement,
)
from kit.db import dialect_insert, utcnow
from services.commitments import leases
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
    token, rows = await leases.claim(
        connection,
        table,
        table.c.deal_id,
        table.c.source.in_([source.value for source in request.sources]),
        table.c.written_version < table.c.version,
        order_by=(table.c.due_at, table.c.deal_id),
        limit=request.limit,
        lease_seconds=request.lease_seconds,
        returning=[table.c[name] for name in ClaimedWriteback.model_fields],
    )
    items = sorted(
        (ClaimedWriteback.model_validate(row._mapping) for row in rows),
        key=lambda item: item.deal_id,
    )
    return ClaimedWritebacks(token=token, items=items)


async def settle(connection: AsyncConnection, settlement: WritebackSettlement) -> int:
    now = utcnow()
    held = table.c.claim_token == settlement.token
    settled = 0
    for written in settlement.written:
        # A change made while this one was written stays due; the rest is settled.
        still_current = table.c.version == written.version
        result = await connection.execute(
            update(table)
            .where(held, table.c.deal_id == written.deal_id)
            .values(
                written_version=written.version,
                written_ready=written.ready,
                written_blocking_count=written.blocking_count,
                written_at=now,
                attempts=0,
                due_at=case((still_current, None), else_=now),
                last_error=None,
                **leases.RELEASED,
            )
        )
        settled += result.rowcount
    return settled + await leases.put_off(
        connection, table, table.c.deal_id, settlement.token, settlement.retry, table.c.last_error
    )


async def read(connection: AsyncConnection, deal_id: str) -> WritebackRead | None:
    row = (
        await connection.execute(
            select(*(table.c[name] for name in WritebackRead.model_fields)).where(
                table.c.deal_id == deal_id
            )
        )
    ).one_or_none()
    return None if row is None else WritebackRead.model_validate(row._mapping)
