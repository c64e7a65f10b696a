"""API keys: kept as hashes, looked up by hash, revoked by time; a lookup records when the
key was last used (to the minute, so a busy key does not write on every request)."""

import uuid
from datetime import timedelta

from sqlalchemy import Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.api_keys import ApiKeyPage, ApiKeyRead, ApiKeyRecord
from kit.db import dialect_insert, utcnow
from kit.problems import ProblemError, not_found
from services.commitments.tables import api_keys

keys = api_keys.c
USE_RESOLUTION = timedelta(minutes=1)


def as_read(row: Row) -> ApiKeyRead:
    return ApiKeyRead.model_validate(row._mapping)


async def create(connection: AsyncConnection, record: ApiKeyRecord) -> ApiKeyRead:
    row = (
        await connection.execute(
            dialect_insert(connection, api_keys)
            .values(id=str(uuid.uuid4()), created_at=utcnow(), **record.model_dump())
            .on_conflict_do_nothing(index_elements=["key_hash"])
            .returning(*api_keys.c)
        )
    ).one_or_none()
    if row is None:
        raise ProblemError(409, "A key with this hash is kept already.", kind="conflict")
    return as_read(row)


async def get(connection: AsyncConnection, key_id: str) -> ApiKeyRead:
    row = (await connection.execute(select(api_keys).where(keys.id == key_id))).one_or_none()
    if row is None:
        raise not_found("API key", key_id)
    return as_read(row)


async def list_page(connection: AsyncConnection, *, limit: int, cursor: str | None) -> ApiKeyPage:
    query = select(api_keys).order_by(keys.id).limit(limit + 1)
    if cursor:
        query = query.where(keys.id > cursor)
    found = [as_read(row) for row in await connection.execute(query)]
    page = found[:limit]
    return ApiKeyPage(items=page, next_cursor=page[-1].id if len(found) > limit else None)


async def revoke(connection: AsyncConnection, key_id: str) -> ApiKeyRead:
    """Revoked once; revoking again changes nothing (a retry is safe)."""
    now = utcnow()
    await connection.execute(
        update(api_keys).where(keys.id == key_id, keys.revoked_at.is_(None)).values(revoked_at=now)
    )
    return await get(connection, key_id)


async def look_up(connection: AsyncConnection, key_hash: str) -> ApiKeyRead:
    """The key with this hash, unless unknown or revoked (404 either way: a caller learns
    nothing about keys it does not hold)."""
    now = utcnow()
    row = (
        await connection.execute(
            update(api_keys)
            .where(
                keys.key_hash == key_hash,
                keys.revoked_at.is_(None),
                or_(keys.last_used_at.is_(None), keys.last_used_at < now - USE_RESOLUTION),
            )
            .values(last_used_at=now)
            .returning(*api_keys.c)
        )
    ).one_or_none()
    if row is None:
        row = (
            await connection.execute(
                select(api_keys).where(keys.key_hash == key_hash, keys.revoked_at.is_(None))
            )
        ).one_or_none()
    if row is None:
        raise not_found("API key", "with that hash")
    return as_read(row)
