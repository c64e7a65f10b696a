"""Delivers the outbox to webhook subscribers: at least once, in order per deal, with
backoff per subscriber, never on a request's path.

A round claims deliveries in a short transaction, sends them outside any transaction, then
records each outcome in another:
- Only the earliest delivery owed to a subscriber for a deal may be claimed (the head of
  its lane), so a deal's events reach a subscriber in order; the next comes due when the
  head is delivered. PostgreSQL skips heads another replica is claiming (`FOR UPDATE SKIP
  LOCKED`), SQLite has one writer at a time; the claim's lease covers the longest round, so
  a live dispatcher keeps it and a dead one's work comes back when it lapses.
  Only a lost acknowledgement, or a lease run out, sends an event twice; receivers
  deduplicate on `webhook-id`, the event id.
- A round holds at most one delivery per deal and subscriber, so a subscriber's deliveries
  of the round go out together (at most PARALLEL_SENDS at once), subscribers in parallel,
  and their outcomes are recorded in one transaction. A failure (no answer, or not 2xx)
  pauses that subscriber: 1 s, doubling per failure in a row, capped. After failing for the
  whole failing window with no success, the subscription is marked failing and stops.
- Each attempt is logged (`delivery_attempts`): the deliveries log an admin reads.

Every send goes to an address checked after DNS resolution (destinations.py); a refused
address fails like a subscriber that does not answer, with the reason in the log.
"""

import asyncio
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from standardwebhooks import Webhook

from kit.backoff import backoff_seconds
from kit.db import utcnow
from services.commitments.outbound.destinations import DestinationRefused, Network, resolve
from services.commitments.tables import (
    delivery_attempts,
    outbox_events,
    webhook_deliveries,
    webhook_subscriptions,
)

logger = logging.getLogger("commitments.dispatcher")
owed = webhook_deliveries.c
subs = webhook_subscriptions.c
ERROR_LIMIT = 500
PARALLEL_SENDS = 10  # to one subscriber at once


def signature_header(secrets: Sequence[str], event_id: str, at: datetime, body: str) -> str:
    """Standard Webhooks `webhook-signature`: one `v1,…` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(event_id, at, body) for secret in secrets)


@dataclass(frozen=True)
class Delivery:
    subscription_id: str
    sequence: int
    event_id: str
    event_type: str
    body: str
    replay: bool
    url: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None
    latency_ms: int
    error: str | None


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        client: httpx.AsyncClient,
        *,
        allowed_networks: Sequence[Network],
        batch_size: int = 50,
        send_timeout_seconds: float = 10.0,
        max_backoff_seconds: float = 3600.0,
        failing_after_seconds: float = 3 * 86_400,
    ) -> None:
        self.engine = engine
        self.client = client
        self.allowed_networks = list(allowed_networks)
        self.batch_size = batch_size
        # Past the longest round: its sends in waves of PARALLEL_SENDS, each up to the timeout,
        # and the transactions around them. A live dispatcher keeps its claims.
        waves = -(-batch_size // PARALLEL_SENDS)
        self.lease = timedelta(seconds=send_timeout_seconds * (waves + 1) + 5)
        self.send_timeout = send_timeout_seconds
        self.max_backoff = max_backoff_seconds
        self.failing_after = timedelta(seconds=failing_after_seconds)

    async def run(self, interval: float) -> None:
        """Dispatches until cancelled: straight on while rounds come full, else every interval."""
        while True:
            try:
                claimed = await self.dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("dispatch round failed")
                claimed = 0
            if claimed < self.batch_size:
                await asyncio.sleep(interval)

    async def dispatch_once(self) -> int:
        """One round; answers how many deliveries it claimed."""
        token, batch = await self._claim()
        if not batch:
            return 0
        by_subscriber: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in batch:
            by_subscriber[delivery.subscription_id].append(delivery)
        await asyncio.gather(
            *(self._send_round(token, deliveries) for deliveries in by_subscriber.values())
        )
        return len(batch)

    async def _claim(self) -> tuple[str, list[Delivery]]:
        now, token = utcnow(), uuid.uuid4().hex
        unclaimed = or_(owed.claimed_until.is_(None), owed.claimed_until < now)
        ready = select(subs.id).where(
            subs.status == "active", or_(subs.retry_at.is_(None), subs.retry_at <= now)
        )
        # The earliest delivery owed per (subscriber, deal): grouped once, not looked up per
        # delivery, so a round costs one pass over the backlog whatever the planner knows.
        # A lane with a delivery in flight waits for it, whatever comes before it (a replay
        # of an older event): one delivery per deal and subscriber at a time.
        in_flight = func.max(owed.claimed_until)
        lane_heads = (
            select(owed.subscription_id, func.min(owed.event_sequence))
            .where(owed.subscription_id.in_(ready))
            .group_by(owed.subscription_id, owed.deal_id)
            .having(or_(in_flight.is_(None), in_flight < now))
        )
        heads = (
            select(owed.subscription_id, owed.event_sequence)
            .where(tuple_(owed.subscription_id, owed.event_sequence).in_(lane_heads), unclaimed)
            .order_by(owed.event_sequence)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        async with self.engine.begin() as connection:
            found = (await connection.execute(heads)).all()
            if not found:
                return token, []
            for subscription_id, sequences in _grouped(found).items():
                await connection.execute(
                    update(webhook_deliveries)
                    .where(
                        owed.subscription_id == subscription_id,
                        owed.event_sequence.in_(sequences),
                        unclaimed,
                    )
                    .values(claim_token=token, claimed_until=now + self.lease)
                )
            rows = await connection.execute(
                select(
                    owed.subscription_id,
                    owed.event_sequence,
                    owed.replay,
                    outbox_events.c.id,
                    outbox_events.c.type,
                    outbox_events.c.payload,
                    subs.url,
                    subs.secret,
                    subs.previous_secret,
                    subs.previous_secret_expires_at,
                )
                .join(outbox_events, outbox_events.c.sequence == owed.event_sequence)
                .join(webhook_subscriptions, subs.id == owed.subscription_id)
                .where(owed.claim_token == token)
                .order_by(owed.event_sequence)
            )
            batch = [_delivery(row, now) for row in rows]
        return token, batch

    async def _send_round(self, token: str, deliveries: list[Delivery]) -> None:
        """One subscriber's deliveries of the round. Each is a different deal's earliest
        owed, so they may go out together (at most PARALLEL_SENDS at once); their outcomes
        are recorded in one transaction."""
        sending = asyncio.Semaphore(PARALLEL_SENDS)

        async def send(delivery: Delivery) -> Outcome:
            async with sending:
                return await self._send(delivery)

        outcomes = await asyncio.gather(*(send(delivery) for delivery in deliveries))
        await self._record(token, deliveries, outcomes)

    async def _send(self, delivery: Delivery) -> Outcome:
        started = time.monotonic()

        def elapsed() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            destination = await resolve(delivery.url, self.allowed_networks)
        except DestinationRefused as refused:
            return Outcome(False, None, elapsed(), f"refused: {refused}")
        url, headers, extensions = destination.pinned()
        sent_at = utcnow()
        headers.update(
            {
                "content-type": "application/json",
                "webhook-id": delivery.event_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": signature_header(
                    delivery.secrets, delivery.event_id, sent_at, delivery.body
                ),
                "user-agent": "Dealgate-Webhooks/1",
            }
        )
        try:
            # The whole exchange within the timeout (httpx's own bounds each read, so a
            # receiver dripping its answer could hold a send far longer); only the start
            # of a failure's body is read.
            async with asyncio.timeout(self.send_timeout):
                async with self.client.stream(
                    "POST", url, content=delivery.body, headers=headers, extensions=extensions
                ) as response:
                    if response.is_success:
                        return Outcome(True, response.status_code, elapsed(), None)
                    start = await _first_bytes(response, 200)
        except TimeoutError:
            return Outcome(False, None, elapsed(), f"no answer within {self.send_timeout:g} s")
        except httpx.HTTPError as error:
            return Outcome(False, None, elapsed(), f"{type(error).__name__}: {error}"[:ERROR_LIMIT])
        detail = start.decode(errors="replace") or response.reason_phrase
        return Outcome(
            False, response.status_code, elapsed(), f"HTTP {response.status_code}: {detail}"
        )

    async def _record(
        self, token: str, deliveries: list[Delivery], outcomes: Sequence[Outcome]
    ) -> None:
        done = list(zip(deliveries, outcomes, strict=True))
        try:
            async with self.engine.begin() as connection:
                await self._write_outcomes(connection, token, done)
        except IntegrityError:
            # The subscription was deleted meanwhile, with what it was owed and its log.
            logger.info("webhook subscription deleted during its deliveries")
            return
        failed = [outcome for _, outcome in done if not outcome.delivered]
        if failed:
            logger.warning(
                "webhook deliveries failed",
                extra={
                    "subscription_id": deliveries[0].subscription_id,
                    "failed": len(failed),
                    "error": failed[-1].error,
                },
            )

    async def _write_outcomes(
        self, connection: AsyncConnection, token: str, done: list[tuple[Delivery, Outcome]]
    ) -> None:
        now, subscription_id = utcnow(), done[0][0].subscription_id
        mine = and_(owed.subscription_id == subscription_id, owed.claim_token == token)
        await connection.execute(
            delivery_attempts.insert(),
            [
                {
                    "id": str(uuid.uuid4()),
                    "subscription_id": subscription_id,
                    "event_id": delivery.event_id,
                    "event_type": delivery.event_type,
                    "attempted_at": now,
                    "outcome": "delivered" if outcome.delivered else "failed",
                    "status_code": outcome.status_code,
                    "latency_ms": outcome.latency_ms,
                    "error": outcome.error,
                    "replay": delivery.replay,
                }
                for delivery, outcome in done
            ],
        )
        delivered = [delivery.sequence for delivery, outcome in done if outcome.delivered]
        failed = [(delivery, outcome) for delivery, outcome in done if not outcome.delivered]
        if delivered:
            await connection.execute(
                delete(webhook_deliveries).where(mine, owed.event_sequence.in_(delivered))
            )
            await connection.execute(
                update(webhook_subscriptions)
                .where(subs.id == subscription_id, subs.failures > 0)
                .values(failures=0, failing_since=None, retry_at=None)
            )
        if failed:
            await connection.execute(
                update(webhook_deliveries)
                .where(mine, owed.event_sequence.in_([d.sequence for d, _ in failed]))
                .values(attempts=owed.attempts + 1, claim_token=None, claimed_until=None)
            )
            await self._pause(connection, subscription_id, failed[-1][1], now)

    async def _pause(
        self, connection: AsyncConnection, subscription_id: str, outcome: Outcome, now: datetime
    ) -> None:
        row = (
            await connection.execute(
                select(subs.failures, subs.failing_since, subs.status).where(
                    subs.id == subscription_id
                )
            )
        ).one_or_none()
        if row is None or row.status != "active":
            return  # deleted or disabled meanwhile
        failures = row.failures + 1
        since = row.failing_since or now
        values: dict[str, object] = {
            "failures": failures,
            "failing_since": since,
            "retry_at": now + timedelta(seconds=backoff_seconds(failures, self.max_backoff)),
        }
        if now - since >= self.failing_after:
            values.update(
                status="failing",
                retry_at=None,
                status_reason=f"Every delivery since {since.isoformat()} failed "
                f"({failures} attempts); the last: {outcome.error}. Stopped; enable it again "
                "to resume what is owed.",
            )
            logger.error(
                "webhook subscription marked failing", extra={"subscription_id": subscription_id}
            )
        await connection.execute(
            update(webhook_subscriptions).where(subs.id == subscription_id).values(values)
        )


async def _first_bytes(response: httpx.Response, most: int) -> bytes:
    read = b""
    try:
        async for chunk in response.aiter_raw():
            read += chunk
            if len(read) >= most:
                break
    except httpx.StreamConsumed:  # an answer made in memory (a transport standing in)
        read = response.content
    return read[:most]


def _grouped(found: Sequence) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for subscription_id, sequence in found:
        grouped[subscription_id].append(sequence)
    return grouped


def _delivery(row, now: datetime) -> Delivery:
    secrets = [row.secret]
    if (
        row.previous_secret
        and row.previous_secret_expires_at
        and row.previous_secret_expires_at > now
    ):
        secrets.append(row.previous_secret)
    return Delivery(
        subscription_id=row.subscription_id,
        sequence=row.event_sequence,
        event_id=row.id,
        event_type=row.type,
        body=json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False),
        replay=row.replay,
        url=row.url,
        secrets=tuple(secrets),
    )
