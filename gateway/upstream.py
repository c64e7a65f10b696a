"""Calling the two services: one pooled client per upstream, timeouts, bounded retries on
idempotent calls only, and a circuit breaker, so a service that is down costs the caller a
quick 503 with Retry-After rather than a hung request; replies are validated like input.

An upstream *fails* when it cannot be reached, times out, or answers 502/503/504. Other
answers (2xx, 4xx, even a 500) are its word on the request and go back to the caller.

Retries are bounded in time as well as in number: a call that timed out is not retried (a
service that hangs costs one timeout, never several), and a quick failure (refused, 503) is
retried only while the call is younger than its retry budget.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel, ValidationError

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
FAILING_STATUSES = frozenset({502, 503, 504})
PROBE_PATH = "/readyz"  # answers 200 only when the service and its database can work
Model = TypeVar("Model", bound=BaseModel)
logger = logging.getLogger("gateway.upstream")


class UpstreamUnavailable(Exception):
    """The service cannot be used now (the API answers 503 with Retry-After)."""

    def __init__(self, name: str, retry_after: float, reason: str) -> None:
        super().__init__(f"The {name} service is unavailable: {reason}.")
        self.name, self.retry_after = name, retry_after


class UpstreamBroken(Exception):
    """The service answered something that is not what its contract says (502)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"The {name} service answered unexpectedly: {reason}.")
        self.name = name


@dataclass
class CircuitBreaker:
    """Closed: calls go through. After `threshold` failed calls in a row it opens: calls
    fail at once, without touching the service. While open, the service is probed (its
    readiness) at most every `probe_interval` seconds, by the first call that finds a probe
    due; a probe that answers closes the circuit and that call goes on. So the circuit closes
    within about `probe_interval` of the service answering again, and an open circuit costs
    the service one cheap request per interval."""

    threshold: int = 5
    probe_interval: float = 0.5
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    next_probe_at: float = 0.0
    probing: bool = False

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def probe_due(self) -> bool:
        return self.is_open and not self.probing and self.clock() >= self.next_probe_at

    def retry_after(self) -> float:
        """What to tell a caller refused now: about when the next probe may close it."""
        return max(1.0, self.probe_interval)

    def record_success(self) -> bool:
        """Closes the circuit; True when it was open (the service is back)."""
        was_open = self.is_open
        self.failures, self.opened_at, self.probing = 0, None, False
        return was_open

    def record_failure(self) -> None:
        self.failures += 1
        if not self.is_open and self.failures >= self.threshold:
            self.opened_at = self.clock()
            self.next_probe_at = self.opened_at + self.probe_interval

    def record_failed_probe(self) -> None:
        self.probing = False
        self.next_probe_at = self.clock() + self.probe_interval


class ServiceTransport(AiohttpTransport):
    """httpx over aiohttp, for the calls to the services: the same requests and responses,
    at a fraction of httpcore's cost per call. httpx-aiohttp reports every lost connection
    as a connect timeout; one that is not a timeout (refused, reset, cut off) is reported
    here as httpx's connection error, which `Upstream` may retry."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TimeoutException as error:
            cause = error.__cause__
            if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
                cause, aiohttp.ServerTimeoutError
            ):
                raise httpx.ConnectError(str(error), request=request) from cause
            raise


class Upstream:
    def __init__(
        self,
        name: str,
        base_url: str,
        service_token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        retries: int = 2,
        retry_budget_seconds: float = 2.0,
        backoff_seconds: float = 0.1,
        probe_timeout_seconds: float = 1.0,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.retries, self.backoff_seconds, self.sleep = retries, backoff_seconds, sleep
        self.retry_budget_seconds, self.clock = retry_budget_seconds, clock
        self.probe_timeout_seconds = probe_timeout_seconds
        self.breaker = breaker or CircuitBreaker()
        # Called when a probe finds the service back (e.g. to sweep what waited for it).
        self.on_recovered: list[Callable[[], None]] = []
        # A bounded pool. Every connection is kept alive: under load, closing the ones above
        # a smaller keep-alive limit only to open them again on the next burst cost a TCP
        # connect per call.
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {service_token}"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=limits,
            transport=transport or ServiceTransport(limits=limits),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def available(self) -> bool:
        """The circuit is closed, or a probe due now finds the service back."""
        return not self.breaker.is_open or await self._probe()

    async def request(
        self, method: str, path: str, *, idempotent: bool | None = None, **options: Any
    ) -> httpx.Response:
        """`idempotent` marks a POST that is safe to repeat (a batch read, a re-check mark)."""
        if not await self.available():
            raise UpstreamUnavailable(
                self.name, self.breaker.retry_after(), "it is failing; checked again shortly"
            )
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT
        attempts = 1 + (self.retries if idempotent else 0)
        try:
            response = await self._attempt(method, path, attempts, options)
        except UpstreamUnavailable:
            self.breaker.record_failure()
            raise
        self._recovered(self.breaker.record_success())
        return response

    async def _attempt(
        self, method: str, path: str, attempts: int, options: dict[str, Any]
    ) -> httpx.Response:
        began, reason = self.clock(), ""
        for attempt in range(attempts):
            if attempt:
                pause = self.backoff_seconds * 2 ** (attempt - 1)
                if self.clock() - began + pause > self.retry_budget_seconds:
                    break  # past the budget: a slow service is not asked again
                await self.sleep(pause)
            try:
                response = await self.client.request(method, path, **options)
            except httpx.TimeoutException as error:
                reason = type(error).__name__
                break  # a service that hangs would hang again: one timeout is the cost
            except httpx.RequestError as error:  # unreachable, cut off, undecodable
                reason = type(error).__name__
                continue
            if response.status_code in FAILING_STATUSES:
                reason = f"HTTP {response.status_code}"
                continue
            return response
        raise UpstreamUnavailable(self.name, self.breaker.retry_after(), reason)

    async def _probe(self) -> bool:
        """One probe of an open circuit, if one is due; True when it closed the circuit."""
        if not self.breaker.probe_due():
            return False
        self.breaker.probing = True
        answered = False
        try:
            response = await self.client.get(PROBE_PATH, timeout=self.probe_timeout_seconds)
            answered = response.status_code == 200
        except httpx.RequestError:
            pass
        finally:
            # Whatever ended the probe (even the caller's cancellation) ends it here, or the
            # circuit would never probe again.
            if answered:
                self._recovered(self.breaker.record_success())
            else:
                self.breaker.record_failed_probe()
        return answered

    def _recovered(self, was_open: bool) -> None:
        if not was_open:
            return
        logger.info("service answering again; circuit closed", extra={"service": self.name})
        for callback in self.on_recovered:
            with contextlib.suppress(Exception):
                callback()

    def parse(self, response: httpx.Response, model: type[Model]) -> Model:
        """The reply as `model`, or UpstreamBroken: never a crash on a malformed reply."""
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise UpstreamBroken(self.name, f"{error.error_count()} invalid fields") from None
