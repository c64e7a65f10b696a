"""Pushes the change log to the subscriber (the gateway): at least once, in order.

One cursor row per subscriber records the last change it acknowledged (2xx). A sender
claims the row in a short transaction (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL; the
guarded UPDATE that follows makes the claim atomic on SQLite too) and stamps it with a
token and a lease; it then sends one batch outside any transaction and moves the cursor
only if it still holds the claim. So of several replicas one sends at a time, none holds
a transaction or a lock across the network call, and a sender that dies mid-send is
replaced when its lease lapses. A change is sent again only when an acknowledgement was
lost or a lease lapsed: subscribers deduplicate by change id. A failed send backs off
exponentially, recorded on the row so every replica honours it. With nothing new to
send, a sender only reads.

A subscriber that is simply not up yet is no news: while it has never answered this
sender and the sender started less than `startup_grace_seconds` ago, a refused connection
is logged at info (the stack starts the roadmap before the gateway). Past that, or once
the subscriber has answered, every failure is a warning.
"""

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.backoff import backoff_seconds
from kit.contracts.roadmap import ChangeDelivery
from kit.db import utcnow
from services.roadmap.changes import read_changes
from services.roadmap.tables import change_counter, delivery_cursors

logger = logging.getLogger("roadmap.delivery")
cursors = delivery_cursors.c


@dataclass(frozen=True)
class Claim:
    token: str
    after: int
    attempts: int


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
        lease_seconds: float = 60.0,
        startup_grace_seconds: float = 30.0,
    ) -> None:
        self.engine = engine
        self.client = client
        self.subscriber_url = subscriber_url
        self.headers = {"Authorization": f"Bearer {service_token}"}
        self.batch_size = batch_size
        self.max_backoff_seconds = max_backoff_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self._cursor_ready = False
        self.startup_grace_seconds = startup_grace_seconds
        self._started = time.monotonic()
        self._subscriber_answered = False

    async def send_once(self) -> int:
        """Sends the next batch if this replica may; answers how many changes were acknowledged."""
        if not self._cursor_ready:
            await self._ensure_cursor()
            self._cursor_ready = True
        claim = await self._claim()
        if claim is None:
            return 0
        async with self.engine.connect() as connection:
            batch = await read_changes(connection, after=claim.after, limit=self.batch_size)
        try:
            response = await self.client.post(
                self.subscriber_url,
                json=ChangeDelivery(changes=batch).model_dump(mode="json"),
                headers=self.headers,
            )
            self._subscriber_answered = True  # up, whatever it answered
            response.raise_for_status()
        except httpx.HTTPError as exc:
            await self._record_failure(claim, exc)
            return 0
        await self._finish(
            claim, last_delivered_id=batch[-1].id, attempts=0, next_attempt_at=None, last_error=None
        )
        return len(batch)

    def _claimable(self) -> ColumnElement[bool]:
        now = utcnow()
        return and_(
            cursors.subscriber == self.subscriber_url,
            or_(cursors.claimed_until.is_(None), cursors.claimed_until < now),
            or_(cursors.next_attempt_at.is_(None), cursors.next_attempt_at <= now),
            cursors.last_delivered_id < select(change_counter.c.last_id).scalar_subquery(),
        )

    async def _claim(self) -> Claim | None:
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
                    select(cursors.last_delivered_id, cursors.attempts)
                    .where(self._claimable())
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return None  # nothing new, backing off, or another replica is sending
            token = uuid.uuid4().hex
            claimed = await connection.execute(
                update(delivery_cursors)
                .where(self._claimable())
                .values(claim_token=token, claimed_until=utcnow() + self.lease)
            )
            if claimed.rowcount != 1:
                return None
        return Claim(token=token, after=row.last_delivered_id, attempts=row.attempts)

    async def _finish(self, claim: Claim, **values: object) -> None:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(delivery_cursors)
                .where(
                    cursors.subscriber == self.subscriber_url, cursors.claim_token == claim.token
                )
                .values(**values, claim_token=None, claimed_until=None, updated_at=utcnow())
            )
        if result.rowcount != 1:
            logger.warning(
                "change delivery lease lapsed before the send finished; another sender resends",
                extra={"subscriber": self.subscriber_url},
            )

    async def _record_failure(self, claim: Claim, exc: httpx.HTTPError) -> None:
        attempts = claim.attempts + 1
        delay = backoff_seconds(attempts, self.max_backoff_seconds, first=0.5)
        starting = (
            isinstance(exc, httpx.ConnectError)
            and not self._subscriber_answered
            and time.monotonic() - self._started < self.startup_grace_seconds
        )
        logger.log(
            logging.INFO if starting else logging.WARNING,
            "change delivery waits for the subscriber to start"
            if starting
            else "change delivery failed",
            extra={"subscriber": self.subscriber_url, "attempts": attempts, "error": repr(exc)},
        )
        await self._finish(
            claim,
            attempts=attempts,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            last_error=repr(exc)[:1000],
        )

    async def _ensure_cursor(self) -> None:
        async with self.engine.connect() as connection:
            found = await connection.scalar(
                select(cursors.subscriber).where(cursors.subscriber == self.subscriber_url)
            )
        if found:
            return
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    delivery_cursors.insert().values(
                        subscriber=self.subscriber_url,
                        last_delivered_id=0,
                        attempts=0,
                        updated_at=utcnow(),
                    )
                )
        except IntegrityError:
            pass  # another replica made it first

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
