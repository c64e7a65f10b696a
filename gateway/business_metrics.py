"""Business figures beside the HTTP ones on the gateway's /metrics: promises by review
status, revenue at risk and breaches per currency, sign-offs awaiting and past the SLA.

They come from the reports (two aggregate queries of the commitments service), read before a
scrape and reused for `business_metrics_ttl_seconds`, so a scrape every few seconds from
several Prometheus servers costs the database little. When the service cannot answer, the
figures are left out and `dealgate_business_metrics_up` is 0: a stale figure would mislead.
"""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit.contracts.reports import AGING, SUMMARY, AgingReport, Summary


@dataclass(frozen=True)
class Figures:
    summary: Summary
    aging: AgingReport


class BusinessMetrics(Collector):
    def __init__(self, commitments: Upstream, *, sla_hours: int, ttl_seconds: float) -> None:
        self.commitments, self.sla_hours, self.ttl = commitments, sla_hours, ttl_seconds
        self._figures: Figures | None = None
        self._read_at = -float("inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Reads the figures again once they are older than the TTL; scrapes arriving
        together wait for one read."""
        async with self._lock:
            if time.monotonic() - self._read_at < self.ttl:
                return
            try:
                self._figures = await self._read()
            except (UpstreamUnavailable, UpstreamBroken):
                self._figures = None
            self._read_at = time.monotonic()

    async def _read(self) -> Figures:
        summary = await self.commitments.request("GET", SUMMARY.path)
        aging = await self.commitments.request(
            "GET", AGING.path, params={"sla_hours": self.sla_hours, "limit": 1}
        )
        for response in (summary, aging):
            if response.status_code != 200:
                raise UpstreamBroken(self.commitments.name, f"HTTP {response.status_code}")
        return Figures(
            summary=self.commitments.parse(summary, Summary),
            aging=self.commitments.parse(aging, AgingReport),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self._figures
        yield GaugeMetricFamily(
            "dealgate_business_metrics_up",
            "1 when the business figures below could be read at the last refresh.",
            value=0 if figures is None else 1,
        )
        if figures is None:
            return
        by_status = GaugeMetricFamily(
            "dealgate_commitments", "Commitments by review status.", labels=["review_status"]
        )
        counts: dict[str, int] = {}
        for row in figures.summary.by_status:
            counts[row.review_status.value] = (
                counts.get(row.review_status.value, 0) + row.commitments
            )
        for status, count in sorted(counts.items()):
            by_status.add_metric([status], count)
        yield by_status
        at_risk = GaugeMetricFamily(
            "dealgate_revenue_at_risk",
            "The amount of open deals not ready to close, per currency (major units).",
            labels=["currency"],
        )
        deals_at_risk = GaugeMetricFamily(
            "dealgate_deals_at_risk", "Open deals not ready to close, per currency.",
            labels=["currency"],
        )  # fmt: skip
        for row in figures.summary.revenue_at_risk:
            at_risk.add_metric([row.currency], float(Decimal(row.amount)))
            deals_at_risk.add_metric([row.currency], row.deals)
        yield at_risk
        yield deals_at_risk
        breaches = GaugeMetricFamily(
            "dealgate_breaches",
            "Breaches recorded (a deal closed without sign-off), per the deal's currency.",
            labels=["currency"],
        )
        for row in figures.summary.breaches:
            breaches.add_metric([row.currency], row.breaches)
        yield breaches
        yield GaugeMetricFamily(
            "dealgate_signoffs_awaiting", "Commitments awaiting sign-off.",
            value=figures.aging.awaiting,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "dealgate_signoffs_past_sla",
            "Commitments awaiting sign-off for longer than the policy's SLA.",
            value=figures.aging.past_sla,
        )
