"""Pushes the change log to the subscriber (the gateway): at least once, in order.

One cursor row per subscriber records the last change it acknowledged (2xx). A sender
claims that row with `SELECT … FOR UPDATE SKIP LOCKED` and holds it while it sends one
batch, so of several replicas exactly one sends at a time and none sends a change twice
unless the subscriber's acknowledgement is lost (then the batch is sent again: subscribers
deduplicate by change id). A failed send backs off exponentially, recorded on the row so
every replica honours it.

SQLite has no row locks: there the sender takes the database write lock instead (it
waits rather than skips, and roadmap writes wait for the send, bounded by its timeout).
"""

import asyncio
import logging
import random
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kit.db import utcnow
from services.roadmap.changes import read_changes
from services.roadmap.tables import delivery_cursors

logger = logging.getLogger("roadmap.delivery")


def backoff_seconds(attempts: int, maximum: float) -> float:
    """0.5 s doubling per failed attempt, capped, with ±20 % jitter so replicas spread out."""
    base = min(maximum, 0.5 * 2 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)


async def _ensure_cursor(engine: AsyncEngine, subscriber: str) -> None:
    async with engine.connect() as connection:
        found = await connection.scalar(
            select(delivery_cursors.c.subscriber).where(delivery_cursors.c.subscriber == subscriber)
        )
    if found:
        return
    try:
        async with engine.begin() as connection:
            await connection.execute(
                delivery_cursors.insert().values(
                    subscriber=subscriber, last_delivered_id=0, attempts=0, updated_at=utcnow()
                )
            )
    except IntegrityError:
        pass  # another replica made it first


class ChangeSender:
    def __init__(
        self,
        engine: AsyncEngine,
        client: httpx.AsyncClient,
        *,
        subscriber_url: str,
        service_token: str,
        batch_size: int = 100,
        max_backoff_seconds: float = 60.0,
    ) -> None:
        self.engine = engine
        self.client = client
        self.subscriber_url = subscriber_url
        self.headers = {"Authorization": f"Bearer {service_token}"}
        self.batch_size = batch_size
        self.max_backoff_seconds = max_backoff_seconds
        self._cursor_ready = False

    async def send_once(self) -> int:
        """Sends the next batch if this replica may; answers how many changes were acknowledged."""
        if not self._cursor_ready:
            await _ensure_cursor(self.engine, self.subscriber_url)
            self._cursor_ready = True
        async with self.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                await connection.execute(
                    delivery_cursors.update()
                    .where(delivery_cursors.c.subscriber == self.subscriber_url)
                    .values(updated_at=utcnow())
                )
            cursor = (
                await connection.execute(
                    select(delivery_cursors)
                    .where(delivery_cursors.c.subscriber == self.subscriber_url)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if cursor is None:
                return 0  # another replica is sending
            if cursor.next_attempt_at is not None and cursor.next_attempt_at > utcnow():
                return 0
            batch = await read_changes(
                connection, after=cursor.last_delivered_id, limit=self.batch_size
            )
            if not batch:
                return 0
            try:
                response = await self.client.post(
                    self.subscriber_url,
                    json={"changes": [change.model_dump(mode="json") for change in batch]},
                    headers=self.headers,
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                await self._record_failure(connection, cursor.attempts + 1, exc)
                return 0
            await connection.execute(
                delivery_cursors.update()
                .where(delivery_cursors.c.subscriber == self.subscriber_url)
                .values(
                    last_delivered_id=batch[-1].id,
                    attempts=0,
                    next_attempt_at=None,
                    last_error=None,
                    updated_at=utcnow(),
                )
            )
            return len(batch)

    async def _record_failure(
        self, connection: AsyncConnection, attempts: int, exc: httpx.HTTPError
    ) -> None:
        delay = backoff_seconds(attempts, self.max_backoff_seconds)
        logger.warning(
            "change delivery failed",
            extra={"subscriber": self.subscriber_url, "attempts": attempts, "error": repr(exc)},
        )
        await connection.execute(
            delivery_cursors.update()
            .where(delivery_cursors.c.subscriber == self.subscriber_url)
            .values(
                attempts=attempts,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
                last_error=repr(exc)[:1000],
                updated_at=utcnow(),
            )
        )

    async def run(self, poll_seconds: float) -> None:
        """Sends until cancelled: straight on while batches come full, else every poll."""
        while True:
            try:
                sent = await self.send_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("change delivery loop error")
                sent = 0
            if sent < self.batch_size:
                await asyncio.sleep(poll_seconds)
