"""The CRM connectors' background work, in every gateway replica: what a CRM's webhooks
named is fetched and taken, the gate is written back, Salesforce is reconciled.

Each round claims through the commitments service (leased, so replicas share the work and
a crash frees it) and settles what it claimed. Never on a request's path: a webhook only
stores and wakes this loop, so its answer never waits on a CRM's API.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from gateway.crm.api import CrmApi, CrmRefused, CrmUnavailable
from gateway.relay import refuse
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit.backoff import backoff_seconds
from kit.contracts.crm import (
    ClaimedNotification,
    ClaimedNotifications,
    ClaimedWriteback,
    ClaimedWritebacks,
    NotificationSettlement,
    Retry,
    WritebackSettlement,
    Written,
)

logger = logging.getLogger("gateway.crm")
NOTIFICATION_BATCH = 200
WRITEBACK_BATCH = 50
LEASE_SECONDS = 120
PARALLEL_WRITES = 8
EXPECTED_FAILURES = (CrmUnavailable, CrmRefused, UpstreamUnavailable, UpstreamBroken)


class TakesNotifications(Protocol):
    source: str

    async def take(
        self, token: str, claimed: list[ClaimedNotification]
    ) -> NotificationSettlement: ...


class WritesBack(Protocol):
    source: str

    async def write_back(self, item: ClaimedWriteback) -> None: ...


class Reconciles(Protocol):
    async def reconcile_all(self) -> int: ...


class CrmSync:
    def __init__(
        self,
        commitments: Upstream,
        *,
        notified: Sequence[TakesNotifications] = (),
        written: Sequence[WritesBack] = (),
        reconciled: Sequence[tuple[Reconciles, float]] = (),
        max_retry_seconds: float = 300.0,
        apis: Sequence[CrmApi] = (),
    ) -> None:
        self.commitments = commitments
        self.apis = list(apis)  # the CRM API clients, closed with the app
        self.notified, self.written = list(notified), {c.source: c for c in written}
        self.reconciled = [(connector, every, 0.0) for connector, every in reconciled]
        self.max_retry_seconds = max_retry_seconds
        self._wake = asyncio.Event()

    @property
    def active(self) -> bool:
        return bool(self.notified or self.written or self.reconciled)

    def wake(self) -> None:
        """Something new to do: the next round starts now rather than at its interval."""
        self._wake.set()

    async def run(self, interval: float) -> None:
        while True:
            try:
                busy = await self.round()
            except asyncio.CancelledError:
                raise
            except (UpstreamUnavailable, UpstreamBroken) as error:
                logger.warning("crm sync round deferred", extra={"reason": str(error)})
                busy = 0
            except Exception:
                logger.exception("crm sync round failed")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await self._wake.wait()
                self._wake.clear()

    async def round(self) -> int:
        """One pass over everything owed; answers how much it did."""
        done = 0
        for connector in self.notified:
            done += await self.take_notifications(connector)
        if self.written:
            done += await self.write_back()
        done += await self._reconcile_due()
        return done

    async def take_notifications(self, connector: TakesNotifications) -> int:
        claim = await self._post(
            "/work/crm-notifications/claims",
            {"source": connector.source, "limit": NOTIFICATION_BATCH,
             "lease_seconds": LEASE_SECONDS},
        )  # fmt: skip
        claimed = ClaimedNotifications.model_validate(claim)
        if not claimed.items:
            return 0
        settlement = await connector.take(claimed.token, claimed.items)
        await self._post("/work/crm-notifications/settlements", settlement.model_dump(mode="json"))
        return len(claimed.items)

    async def write_back(self) -> int:
        claim = await self._post(
            "/work/crm-writebacks/claims",
            {"sources": sorted(self.written), "limit": WRITEBACK_BATCH,
             "lease_seconds": LEASE_SECONDS},
        )  # fmt: skip
        claimed = ClaimedWritebacks.model_validate(claim)
        if not claimed.items:
            return 0
        settlement = WritebackSettlement(token=claimed.token)
        limit = asyncio.Semaphore(PARALLEL_WRITES)

        async def one(item: ClaimedWriteback) -> None:
            async with limit:
                try:
                    await self.written[item.source].write_back(item)
                except Exception as error:  # one deal's failure never holds the others back
                    if not isinstance(error, EXPECTED_FAILURES):
                        logger.exception("crm write-back failed", extra={"deal": item.deal_id})
                    wait = getattr(error, "retry_after", None)
                    if wait is None:
                        wait = backoff_seconds(item.attempts, self.max_retry_seconds, 2.0)
                    settlement.retry.append(
                        Retry(
                            id=item.deal_id,
                            reason=str(error)[:1000],
                            delay_seconds=min(wait, 86_400),
                        )
                    )
                    return
                settlement.written.append(
                    Written(
                        deal_id=item.deal_id,
                        version=item.version,
                        ready=item.ready,
                        blocking_count=item.blocking_count,
                    )
                )

        await asyncio.gather(*(one(item) for item in claimed.items))
        await self._post("/work/crm-writebacks/settlements", settlement.model_dump(mode="json"))
        return len(claimed.items)

    async def _reconcile_due(self) -> int:
        done = 0
        for index, (connector, every, last) in enumerate(self.reconciled):
            now = time.monotonic()
            if last and now - last < every:
                continue
            try:
                done += await connector.reconcile_all()
            except (CrmUnavailable, CrmRefused) as error:
                logger.warning("crm reconciliation deferred", extra={"reason": str(error)})
            self.reconciled[index] = (connector, every, now)
        return done

    async def _post(self, path: str, body: dict) -> dict:
        response = await self.commitments.request("POST", path, json=body)
        if response.status_code != 200:
            refuse(self.commitments, response)
        return response.json()
