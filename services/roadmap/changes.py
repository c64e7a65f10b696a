"""The change log: every roadmap write appends here, in its own transaction, in order.

Every write transaction first takes the counter row's lock (`lock_for_write`), so roadmap
writes are serialized (they are few: product managers editing) and change ids are handed
out and committed in one order. Readers and the delivery loop can then treat "after N" as
a complete, gapless cursor.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.roadmap import ChangeRead
from services.roadmap.tables import change_counter, changes

Entity = Literal["roadmap_item", "vision_tag"]
Operation = Literal["created", "updated", "deleted"]


async def lock_for_write(connection: AsyncConnection) -> None:
    """Waits for, then holds until commit, the one roadmap write lock (both databases)."""
    await connection.execute(
        update(change_counter)
        .where(change_counter.c.id == 1)
        .values(last_id=change_counter.c.last_id)
    )


async def append_change(
    connection: AsyncConnection,
    *,
    entity: Entity,
    key: str,
    operation: Operation,
    old_version: int | None,
    new_version: int | None,
    fields: Iterable[str],
    at: datetime,
) -> int:
    next_id = (
        await connection.execute(
            update(change_counter)
            .where(change_counter.c.id == 1)
            .values(last_id=change_counter.c.last_id + 1)
            .returning(change_counter.c.last_id)
        )
    ).scalar_one()
    await connection.execute(
        changes.insert().values(
            id=next_id,
            entity=entity,
            entity_key=key,
            operation=operation,
            old_version=old_version,
            new_version=new_version,
            fields=sorted(fields),
            occurred_at=at,
        )
    )
    return next_id


async def read_changes(connection: AsyncConnection, *, after: int, limit: int) -> list[ChangeRead]:
    rows = await connection.execute(
        select(changes).where(changes.c.id > after).order_by(changes.c.id).limit(limit)
    )
    return [
        ChangeRead(
            id=row.id,
            entity=row.entity,
            key=row.entity_key,
            operation=row.operation,
            old_version=row.old_version,
            new_version=row.new_version,
            fields=row.fields,
            occurred_at=row.occurred_at,
        )
        for row in rows
    ]


async def next_version(connection: AsyncConnection, entity: Entity, key: str) -> int:
    """The version a (re)created entity starts at: past any version the key ever had.

    So an ETag or a recorded item version never names two different states of a key,
    even across delete and re-create.
    """
    row = (
        await connection.execute(
            select(changes.c.old_version, changes.c.new_version)
            .where(changes.c.entity == entity, changes.c.entity_key == key)
            .order_by(changes.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return 1
    return max(row.old_version or 0, row.new_version or 0) + 1
