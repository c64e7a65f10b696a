"""A CRM's webhook notifications, kept until the gateway has fetched what they name.

HubSpot's batches carry ids, not data: the batch is stored here (each event once, by the
CRM's event id) before the gateway answers HubSpot, so an acknowledged notification is
never lost; the gateway then claims pending ones, fetches the deals they concern from the
CRM's API and settles them. A fetch that fails leaves them pending, due again later.
"""

import json
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.crm import (
    ClaimedNotification,
    ClaimedNotifications,
    NotificationBatch,
    NotificationClaim,
    NotificationRead,
    NotificationSettlement,
    NotificationsTaken,
)
from kit.db import dialect_insert, utcnow
from services.commitments import leases
from services.commitments.tables import crm_notifications as table


async def store(connection: AsyncConnection, batch: NotificationBatch) -> NotificationsTaken:
    now = utcnow()
    taken = 0
    seen: set[str] = set()
    for notification in batch.notifications:
        if notification.event_id in seen:
            continue  # a batch may carry one event twice: it is one event
        seen.add(notification.event_id)
        ignored = notification.ignored_reason is not None
        inserted = await connection.execute(
            dialect_insert(connection, table)
            .values(
                id=str(uuid.uuid4()),
                source=batch.source.value,
                event_id=notification.event_id,
                subject=notification.subject,
                object_id=notification.object_id,
                action=notification.action,
                deal_external_id=notification.deal_external_id,
                occurred_at=notification.occurred_at,
                payload=_storable(notification.payload),
                received_at=now,
                status="ignored" if ignored else "pending",
                reason=notification.ignored_reason,
                attempts=0,
                due_at=None if ignored else now,
                settled_at=now if ignored else None,
            )
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(table.c.id)
        )
        taken += inserted.one_or_none() is not None
    return NotificationsTaken(taken=taken, duplicates=len(batch.notifications) - taken)


def _storable(payload: dict) -> dict:
    """The CRM's event as kept: PostgreSQL's JSON cannot hold a NUL, which a CRM's text may
    carry; it is kept as U+FFFD (the payload is a record of what came, never read as data)."""
    dumped = json.dumps(payload)
    return json.loads(dumped.replace("\\u0000", "\\ufffd")) if "\\u0000" in dumped else payload


async def claim(connection: AsyncConnection, request: NotificationClaim) -> ClaimedNotifications:
    """Pending notifications that are due, oldest first, leased to one token."""
    token, rows = await leases.claim(
        connection,
        table,
        table.c.id,
        table.c.source == request.source.value,
        table.c.status == "pending",
        order_by=(table.c.due_at, table.c.occurred_at, table.c.id),
        limit=request.limit,
        lease_seconds=request.lease_seconds,
        returning=[table.c[name] for name in ClaimedNotification.model_fields],
    )
    items = sorted(
        (ClaimedNotification.model_validate(row._mapping) for row in rows),
        key=lambda item: (item.occurred_at, item.event_id),
    )
    return ClaimedNotifications(token=token, items=items)


async def settle(connection: AsyncConnection, settlement: NotificationSettlement) -> int:
    now = utcnow()
    held = table.c.claim_token == settlement.token
    settled = 0
    if settlement.done:
        result = await connection.execute(
            update(table)
            .where(held, table.c.id.in_(settlement.done))
            .values(status="done", reason=None, due_at=None, settled_at=now, **leases.RELEASED)
        )
        settled += result.rowcount
    for ignored in settlement.ignored:
        result = await connection.execute(
            update(table)
            .where(held, table.c.id == ignored.id)
            .values(
                status="ignored",
                reason=ignored.reason,
                due_at=None,
                settled_at=now,
                **leases.RELEASED,
            )
        )
        settled += result.rowcount
    return settled + await leases.put_off(
        connection, table, table.c.id, settlement.token, settlement.retry, table.c.reason
    )


async def listed(
    connection: AsyncConnection, source: str, status: str | None, limit: int
) -> list[NotificationRead]:
    query = select(*(table.c[name] for name in NotificationRead.model_fields)).where(
        table.c.source == source
    )
    if status is not None:
        query = query.where(table.c.status == status)
    rows = await connection.execute(
        query.order_by(table.c.received_at.desc(), table.c.id).limit(limit)
    )
    return [NotificationRead.model_validate(row._mapping) for row in rows]
