"""A leased queue in a table: rows due (`due_at`) are claimed by one caller at a time, with a
token and a lease (`claim_token`, `claimed_until`), counting `attempts`; the caller settles
what its token still holds, and a lease that runs out frees the row for another caller, so
work a crashed caller held is never lost. `SKIP LOCKED` on PostgreSQL lets callers claim
side by side. The CRM connectors' notifications and write-backs are such queues."""

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Column, ColumnElement, Row, Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.crm import Retry
from kit.db import utcnow

RELEASED = {"claim_token": None, "claimed_until": None}


async def claim(
    connection: AsyncConnection,
    table: Table,
    key: Column,
    *conditions: ColumnElement[bool],
    order_by: Sequence[ColumnElement],
    limit: int,
    lease_seconds: int,
    returning: Sequence[Column],
) -> tuple[str, Sequence[Row]]:
    """(the token, the rows claimed): due ones meeting `conditions`, in `order_by`."""
    now, token = utcnow(), uuid.uuid4().hex
    free = or_(table.c.claimed_until.is_(None), table.c.claimed_until < now)
    candidates = (
        select(key)
        .where(*conditions, table.c.due_at <= now, free)
        .order_by(*order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = await connection.execute(
        update(table)
        .where(key.in_(candidates.scalar_subquery()), free)
        .values(
            claim_token=token,
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=table.c.attempts + 1,
        )
        .returning(*returning)
    )
    return token, claimed.all()


async def put_off(
    connection: AsyncConnection,
    table: Table,
    key: Column,
    token: str,
    retries: Sequence[Retry],
    reason: Column,
) -> int:
    """Releases the rows the token holds among `retries`, due again after each one's delay,
    with why; answers how many it held."""
    now, settled = utcnow(), 0
    for retry in retries:
        result = await connection.execute(
            update(table)
            .where(table.c.claim_token == token, key == retry.id)
            .values(
                **{reason.name: retry.reason},
                due_at=now + timedelta(seconds=retry.delay_seconds),
                **RELEASED,
            )
        )
        settled += result.rowcount
    return settled
