"""Webhook subscriptions: who receives which events, with which secret; their deliveries
log; and replays.

The secret is kept to sign with (Standard Webhooks signs with the shared secret itself) and
answered only when it is made: at the create and at a rotation. A rotation keeps the old
secret signing beside the new one for the overlap, so a receiver can switch without losing
a delivery. A subscription that is disabled or failing is queued nothing; re-enabling it
resumes what was owed, and a replay queues any event again.
"""

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.events import (
    DeliveryAttemptRead,
    DeliveryPage,
    ReplayAnswer,
    ReplayRequest,
    SubscriptionCreate,
    SubscriptionPage,
    SubscriptionRead,
    SubscriptionUpdate,
)
from kit.cursors import beyond_time_cursor, time_cursor
from kit.db import UTCDateTime, dialect_insert, utcnow
from kit.problems import ProblemError, field_problem, not_found
from services.commitments.outbound.destinations import DestinationRefused, Network, resolve
from services.commitments.tables import (
    delivery_attempts,
    outbox_events,
    subscription_event_types,
    webhook_deliveries,
    webhook_subscriptions,
)

subs = webhook_subscriptions.c


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def as_read(row: Row, secret: str | None = None) -> SubscriptionRead:
    return SubscriptionRead.model_validate({**row._mapping, "secret": secret})


async def _check_destination(url: str, allowed: Sequence[Network]) -> None:
    try:
        await resolve(url, allowed)
    except DestinationRefused as refused:
        raise field_problem("body.url", str(refused)) from None


async def _set_event_types(
    connection: AsyncConnection, subscription_id: str, event_types: Sequence[str]
) -> None:
    await connection.execute(
        delete(subscription_event_types).where(
            subscription_event_types.c.subscription_id == subscription_id
        )
    )
    await connection.execute(
        subscription_event_types.insert(),
        [{"subscription_id": subscription_id, "event_type": kind} for kind in event_types],
    )


async def create(
    connection: AsyncConnection, data: SubscriptionCreate, allowed: Sequence[Network]
) -> SubscriptionRead:
    await _check_destination(str(data.url), allowed)
    now, secret = utcnow(), new_secret()
    event_types = [kind.value for kind in data.event_types]
    row = (
        await connection.execute(
            webhook_subscriptions.insert()
            .values(
                id=str(uuid.uuid4()),
                url=str(data.url),
                description=data.description,
                event_types=event_types,
                status="active",
                secret=secret,
                failures=0,
                created_at=now,
                updated_at=now,
            )
            .returning(*webhook_subscriptions.c)
        )
    ).one()
    await _set_event_types(connection, row.id, event_types)
    return as_read(row, secret)


async def _lock(connection: AsyncConnection, subscription_id: str) -> Row:
    row = (
        await connection.execute(
            update(webhook_subscriptions)
            .where(subs.id == subscription_id)
            .values(updated_at=subs.updated_at)
            .returning(*webhook_subscriptions.c)
        )
    ).one_or_none()
    if row is None:
        raise not_found("webhook subscription", subscription_id)
    return row


async def get(connection: AsyncConnection, subscription_id: str) -> SubscriptionRead:
    row = (
        await connection.execute(select(webhook_subscriptions).where(subs.id == subscription_id))
    ).one_or_none()
    if row is None:
        raise not_found("webhook subscription", subscription_id)
    return as_read(row)


async def list_page(
    connection: AsyncConnection, *, limit: int, cursor: str | None
) -> SubscriptionPage:
    query = select(webhook_subscriptions).order_by(subs.id).limit(limit + 1)
    if cursor:
        query = query.where(subs.id > cursor)
    found = [as_read(row) for row in await connection.execute(query)]
    page = found[:limit]
    return SubscriptionPage(items=page, next_cursor=page[-1].id if len(found) > limit else None)


async def change(
    connection: AsyncConnection,
    subscription_id: str,
    data: SubscriptionUpdate,
    allowed: Sequence[Network],
    overlap: timedelta,
) -> SubscriptionRead:
    row = await _lock(connection, subscription_id)
    now = utcnow()
    values: dict[str, object] = {"updated_at": now}
    if data.url is not None:
        await _check_destination(str(data.url), allowed)
        values["url"] = str(data.url)
    if data.description is not None:
        values["description"] = data.description
    if data.event_types is not None:
        values["event_types"] = [kind.value for kind in data.event_types]
        await _set_event_types(connection, row.id, values["event_types"])  # type: ignore[arg-type]
    if data.enabled is True and row.status != "active":
        values.update(status="active", status_reason=None, failing_since=None, failures=0)
        values.update(retry_at=None)
    elif data.enabled is False:
        values.update(status="disabled", status_reason="Disabled by an admin.", retry_at=None)
    secret = None
    if data.rotate_secret:
        secret = new_secret()
        values.update(
            secret=secret, previous_secret=row.secret, previous_secret_expires_at=now + overlap
        )
    changed = (
        await connection.execute(
            update(webhook_subscriptions)
            .where(subs.id == row.id)
            .values(values)
            .returning(*webhook_subscriptions.c)
        )
    ).one()
    return as_read(changed, secret)


async def remove(connection: AsyncConnection, subscription_id: str) -> None:
    """FOR UPDATE, unlike the other writes: it waits for the transactions queuing events for
    the subscription (they read it FOR SHARE) or recording its deliveries, and makes those
    that come later wait, then find it gone."""
    row = (
        await connection.execute(
            select(webhook_subscriptions.c.id).where(subs.id == subscription_id).with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise not_found("webhook subscription", subscription_id)
    for table in (webhook_deliveries, delivery_attempts, subscription_event_types):
        await connection.execute(delete(table).where(table.c.subscription_id == row.id))
    await connection.execute(delete(webhook_subscriptions).where(subs.id == row.id))


async def deliveries(
    connection: AsyncConnection, subscription_id: str, *, limit: int, cursor: str | None
) -> DeliveryPage:
    await get(connection, subscription_id)
    attempts = delivery_attempts.c
    query = (
        select(delivery_attempts)
        .where(attempts.subscription_id == subscription_id)
        .order_by(attempts.attempted_at.desc(), attempts.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        query = query.where(
            beyond_time_cursor(attempts.attempted_at, attempts.id, cursor, descending=True)
        )
    found = [
        DeliveryAttemptRead.model_validate(row._mapping) for row in await connection.execute(query)
    ]
    page = found[:limit]
    next_cursor = time_cursor(page[-1].attempted_at, page[-1].id) if len(found) > limit else None
    return DeliveryPage(items=page, next_cursor=next_cursor)


async def replay(
    connection: AsyncConnection, subscription_id: str, request: ReplayRequest, now: datetime
) -> ReplayAnswer:
    """Queues the events again (one already owed stays owed once). They go out in sequence
    order per deal with what is owed (never beside a delivery of the deal in flight); a
    disabled or failing subscription keeps them until it is enabled."""
    row = await _lock(connection, subscription_id)
    events = outbox_events.c
    chosen = select(
        literal(row.id).label("subscription_id"),
        events.sequence,
        events.deal_id,
        literal(True).label("replay"),
        literal(0).label("attempts"),
        literal(now, UTCDateTime()).label("queued_at"),
    ).where(
        events.type.in_(
            select(subscription_event_types.c.event_type).where(
                subscription_event_types.c.subscription_id == row.id
            )
        )
    )
    if request.event_id is not None:
        found = (
            await connection.execute(select(events.type).where(events.id == request.event_id))
        ).one_or_none()
        if found is None:
            raise not_found("event", request.event_id)
        if found.type not in row.event_types:
            raise ProblemError(
                422,
                f"The subscription does not take {found.type} events.",
                kind="validation",
            )
        chosen = chosen.where(events.id == request.event_id)
    else:
        chosen = chosen.where(events.occurred_at >= request.since)
        if request.until is not None:
            chosen = chosen.where(events.occurred_at < request.until)
    queued = await connection.execute(
        dialect_insert(connection, webhook_deliveries)
        .from_select(
            ["subscription_id", "event_sequence", "deal_id", "replay", "attempts", "queued_at"],
            chosen,
        )
        .on_conflict_do_nothing(index_elements=["subscription_id", "event_sequence"])
    )
    return ReplayAnswer(queued=max(queued.rowcount, 0))
