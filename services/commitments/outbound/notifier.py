"""Tells people what the gate decided: the outbox's events as Slack messages and emails.

Two steps, each claimed through the database so replicas share them:
- Routing: events not yet routed (`routed_at` null) are claimed (`SKIP LOCKED` on
  PostgreSQL), each turned into one notification per recipient (`notices.recipients`; at
  most one per event, channel and recipient, by a unique key), and marked routed.
- Sending: a recipient (a person's address, a Slack route) with notifications pending is
  claimed with a lease; its pending notifications go out as one message (several make a
  digest) and are marked sent. With a digest window set, a recipient gets at most one
  message per window: what comes meanwhile waits for the next. A failed send pauses the
  recipient (1 s doubling, capped) and counts an attempt on each notification; after
  `MOST_ATTEMPTS` a notification is marked failed with the error.
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.backoff import backoff_seconds
from kit.db import dialect_insert, utcnow
from services.commitments.outbound import email, slack
from services.commitments.outbound.email import Mailer
from services.commitments.outbound.messages import Notice, notice
from services.commitments.outbound.notices import Rules, recipients
from services.commitments.tables import (
    notification_recipients,
    notifications,
    outbox_events,
)

logger = logging.getLogger("commitments.notifier")
events = outbox_events.c
pending = notifications.c
lanes = notification_recipients.c
MOST_ATTEMPTS = 8
ROUTE_BATCH = 200
LANE_BATCH = 20


class Notifier:
    def __init__(
        self,
        engine: AsyncEngine,
        client: httpx.AsyncClient,
        rules: Rules,
        *,
        gateway_url: str,
        mailer: Mailer | None,
        email_from: str,
        digest_minutes: float = 0,
        max_backoff_seconds: float = 3600,
        send_timeout_seconds: float = 10,
    ) -> None:
        self.engine, self.client, self.rules = engine, client, rules
        self.gateway_url, self.mailer, self.email_from = gateway_url, mailer, email_from
        self.slack_urls = {route.name: str(route.url) for route in rules.slack_routes}
        self.digest = timedelta(minutes=digest_minutes)
        self.max_backoff_seconds = max_backoff_seconds
        self.send_timeout = send_timeout_seconds
        self.lease = timedelta(seconds=send_timeout_seconds * 2 + 10)  # past the longest send

    async def run(self, interval: float) -> None:
        while True:
            try:
                busy = await self.route_once() + await self.send_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("notification round failed")
                busy = 0
            if not busy:
                await asyncio.sleep(interval)

    # Routing ---------------------------------------------------------------------------

    async def route_once(self) -> int:
        now = utcnow()
        async with self.engine.begin() as connection:
            found = (
                await connection.execute(
                    select(events.sequence, events.type, events.payload)
                    .where(events.routed_at.is_(None))
                    .order_by(events.sequence)
                    .limit(ROUTE_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not found:
                return 0
            rows = [
                {
                    "id": str(uuid.uuid4()),
                    "event_sequence": event.sequence,
                    "channel": recipient.channel,
                    "recipient": recipient.address,
                    "state": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
                for event in found
                for recipient in recipients(event.type, event.payload["data"], self.rules)
            ]
            if rows:
                await connection.execute(
                    dialect_insert(connection, notifications).on_conflict_do_nothing(
                        index_elements=["event_sequence", "channel", "recipient"]
                    ),
                    rows,
                )
                people = sorted({(row["channel"], row["recipient"]) for row in rows})
                await connection.execute(
                    dialect_insert(connection, notification_recipients).on_conflict_do_nothing(
                        index_elements=["channel", "recipient"]
                    ),
                    [{"channel": c, "recipient": r, "failures": 0} for c, r in people],
                )
            await connection.execute(
                update(outbox_events)
                .where(events.sequence.in_([event.sequence for event in found]))
                .values(routed_at=now)
            )
        return len(found)

    # Sending ---------------------------------------------------------------------------

    async def send_once(self) -> int:
        token, claimed = await self._claim_lanes()
        await asyncio.gather(*(self._send_lane(token, *lane) for lane in claimed))
        return len(claimed)

    async def _claim_lanes(self) -> tuple[str, list[tuple[str, str]]]:
        now, token = utcnow(), uuid.uuid4().hex
        claimable = and_(
            or_(lanes.claimed_until.is_(None), lanes.claimed_until < now),
            or_(lanes.retry_at.is_(None), lanes.retry_at <= now),
            or_(lanes.last_sent_at.is_(None), lanes.last_sent_at <= now - self.digest),
            exists().where(
                pending.channel == lanes.channel,
                pending.recipient == lanes.recipient,
                pending.state == "pending",
            ),
        )
        async with self.engine.begin() as connection:
            found = (
                await connection.execute(
                    select(lanes.channel, lanes.recipient)
                    .where(claimable)
                    .order_by(lanes.last_sent_at.nulls_first(), lanes.channel, lanes.recipient)
                    .limit(LANE_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            claimed = []
            for channel, recipient in found:
                took = await connection.execute(
                    update(notification_recipients)
                    .where(lanes.channel == channel, lanes.recipient == recipient, claimable)
                    .values(claim_token=token, claimed_until=now + self.lease)
                )
                if took.rowcount == 1:
                    claimed.append((channel, recipient))
        return token, claimed

    async def _send_lane(self, token: str, channel: str, recipient: str) -> None:
        most = slack.MOST_IN_A_DIGEST if channel == "slack" else email.MOST_IN_A_DIGEST
        async with self.engine.connect() as connection:
            found = (
                await connection.execute(
                    select(pending.id, events.type, events.payload)
                    .join(outbox_events, events.sequence == pending.event_sequence)
                    .where(
                        pending.channel == channel,
                        pending.recipient == recipient,
                        pending.state == "pending",
                    )
                    .order_by(pending.event_sequence)
                    .limit(most)
                )
            ).all()
        ids = [row.id for row in found]
        notices = [notice(row.type, row.payload["data"], self.gateway_url) for row in found]
        error = None
        if notices:
            try:
                async with asyncio.timeout(self.send_timeout):
                    await self._deliver(channel, recipient, notices)
            except TimeoutError:
                error = f"no answer within {self.send_timeout:g} s"
            except Exception as failure:  # recorded, and retried
                error = f"{type(failure).__name__}: {failure}"[:500]
        await self._record(token, channel, recipient, ids, error)

    async def _deliver(self, channel: str, recipient: str, notices: Sequence[Notice]) -> None:
        if channel == "slack":
            url = self.slack_urls.get(recipient)
            if url is None:
                raise LookupError(f"no Slack route named {recipient} is set any more")
            response = await self.client.post(url, json=slack.message(notices))
            if response.status_code != 200:
                raise RuntimeError(f"Slack answered {response.status_code}: {response.text[:200]}")
            return
        if self.mailer is None:
            raise LookupError("no SMTP server is set any more")
        await self.mailer.send(email.compose(notices, sender=self.email_from, to=recipient))

    async def _record(
        self, token: str, channel: str, recipient: str, ids: list[str], error: str | None
    ) -> None:
        now = utcnow()
        lane = and_(
            lanes.channel == channel, lanes.recipient == recipient, lanes.claim_token == token
        )
        async with self.engine.begin() as connection:
            if error is None:
                if ids:
                    await connection.execute(
                        update(notifications)
                        .where(pending.id.in_(ids))
                        .values(state="sent", sent_at=now, attempts=pending.attempts + 1)
                    )
                await connection.execute(
                    update(notification_recipients)
                    .where(lane)
                    .values(
                        claim_token=None,
                        claimed_until=None,
                        retry_at=None,
                        failures=0,
                        last_sent_at=now if ids else lanes.last_sent_at,
                    )
                )
                return
            logger.warning(
                "notification failed",
                extra={"channel": channel, "recipient": recipient, "error": error},
            )
            await connection.execute(
                update(notifications)
                .where(pending.id.in_(ids))
                .values(attempts=pending.attempts + 1, error=error)
            )
            await connection.execute(
                update(notifications)
                .where(pending.id.in_(ids), pending.attempts >= MOST_ATTEMPTS)
                .values(state="failed")
            )
            failures = (
                await connection.execute(select(lanes.failures).where(lane))
            ).scalar_one_or_none() or 0
            pause = backoff_seconds(failures + 1, self.max_backoff_seconds)
            await connection.execute(
                update(notification_recipients)
                .where(lane)
                .values(
                    claim_token=None,
                    claimed_until=None,
                    failures=failures + 1,
                    retry_at=now + timedelta(seconds=pause),
                )
            )
