"""Calling the two services: one pooled client per upstream, timeouts, bounded retries on
idempotent calls only, and a circuit breaker, so a service that is down costs the caller a
quick 503 with Retry-After rather than a hung request; replies are validated like input.

An upstream *fails* when it cannot be reached, times out, or answers 502/503/504. Other
answers (2xx, 4xx, even a 500) are its word on the request and go back to the caller.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
FAILING_STATUSES = frozenset({502, 503, 504})
Model = TypeVar("Model", bound=BaseModel)


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
    """Closed: calls go through. After `threshold` failures in a row it opens: calls fail at
    once for `reset_seconds`. Then one trial call is let through (half-open): success closes
    it, failure opens it again."""

    threshold: int = 5
    reset_seconds: float = 10.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    trial_running: bool = field(default=False)

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if self.clock() - self.opened_at < self.reset_seconds or self.trial_running:
            return False
        self.trial_running = True
        return True

    def retry_after(self) -> float:
        if self.opened_at is None:
            return 1.0
        return max(1.0, self.reset_seconds - (self.clock() - self.opened_at))

    def retry_after_failure(self) -> float:
        """What to tell the caller of a call about to be recorded as failed: the full wait
        if this failure opens the circuit, else a second."""
        opens = self.trial_running or self.failures + 1 >= self.threshold
        return max(1.0, self.reset_seconds) if opens else 1.0

    def record_success(self) -> None:
        self.failures, self.opened_at, self.trial_running = 0, None, False

    def record_failure(self) -> None:
        self.failures += 1
        if self.trial_running or self.failures >= self.threshold:
            self.opened_at, self.trial_running = self.clock(), False


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
        backoff_seconds: float = 0.1,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.retries, self.backoff_seconds, self.sleep = retries, backoff_seconds, sleep
        self.breaker = breaker or CircuitBreaker()
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {service_token}"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            # A bounded pool: its bookkeeping grows with its size (DESIGN.md "Speed").
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(
        self, method: str, path: str, *, idempotent: bool | None = None, **options: Any
    ) -> httpx.Response:
        """`idempotent` marks a POST that is safe to repeat (a batch read, a re-check mark)."""
        if not self.breaker.allow():
            raise UpstreamUnavailable(
                self.name, self.breaker.retry_after(), "it failed repeatedly; waiting to retry"
            )
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT
        attempts = 1 + (self.retries if idempotent else 0)
        settled = False
        try:
            response = await self._attempt(method, path, attempts, options)
            settled = True
            return response
        finally:
            # Whatever ends the call (an answer, a failure, a cancellation by the caller's
            # own timeout) is recorded, or a half-open trial would never end and the circuit
            # would stay open for good.
            if settled:
                self.breaker.record_success()
            else:
                self.breaker.record_failure()

    async def _attempt(
        self, method: str, path: str, attempts: int, options: dict[str, Any]
    ) -> httpx.Response:
        reason = ""
        for attempt in range(attempts):
            if attempt:
                await self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = await self.client.request(method, path, **options)
            except httpx.RequestError as error:  # unreachable, timed out, cut off, undecodable
                reason = type(error).__name__
                continue
            if response.status_code in FAILING_STATUSES:
                reason = f"HTTP {response.status_code}"
                continue
            return response
        raise UpstreamUnavailable(self.name, self.breaker.retry_after_failure(), reason)

    def parse(self, response: httpx.Response, model: type[Model]) -> Model:
        """The reply as `model`, or UpstreamBroken: never a crash on a malformed reply."""
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise UpstreamBroken(self.name, f"{error.error_count()} invalid fields") from None
