"""ASGI middleware every app runs: request context (id, access log, metrics) and the body's
limits (size, and time to arrive).

Written as plain ASGI rather than `BaseHTTPMiddleware`, which costs a task per request.
"""

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.logs import request_id_var
from kit.problems import (
    BodyReadTimeout,
    BodyTooLarge,
    body_read_timeout_response,
    too_large_response,
    unexpected_error_response,
)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_logger = logging.getLogger("kit.access")
error_logger = logging.getLogger("kit.errors")


class RequestMetrics:
    """The per-app Prometheus registry and the request metrics in it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "Requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer, by route template and method.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        # Figures an app reads before a scrape (its own collectors in `registry` show them).
        self.before_scrape: list[Callable[[], Awaitable[None]]] = []


class RequestContextMiddleware:
    """Gives each request an id (`X-Request-ID`, taken or made), logs it, counts it, and
    answers a 500 problem to anything unforeseen, while the id is still known."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        began = time.perf_counter()
        status = 500
        responding = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                status, responding = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_logger.exception("unhandled error")
            if responding:
                raise
            await unexpected_error_response()(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - began
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            access_logger.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Answers 413 to any body over the limit, declared or streamed, before the app sees it all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        watched = _StartWatch(send)
        try:
            await self.app(scope, counting_receive, watched)
        except BodyTooLarge:
            if watched.started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await too_large_response(self.max_bytes)(scope, receive, send)


class BodyReadTimeoutMiddleware:
    """Answers 408, and closes the connection, when a body takes longer than the limit to
    arrive: a sender that stops half-way would otherwise hold its worker and connection for
    as long as it likes. The clock starts when the app first asks for the body (time spent
    before that is the app's, not the sender's); once the body is in, reads pass straight
    through, since a response may wait on them to learn of a disconnect."""

    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _carries_body(scope):
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        body_complete = False

        async def bounded_receive() -> Message:
            nonlocal deadline, body_complete
            if body_complete:
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyReadTimeout from None
            body_complete = message["type"] != "http.request" or not message.get("more_body")
            return message

        watched = _StartWatch(send)
        try:
            await self.app(scope, bounded_receive, watched)
        except BodyReadTimeout:
            if watched.started:
                raise  # too late for a 408: the server drops the connection
            await body_read_timeout_response(self.timeout_seconds)(scope, receive, send)


class _StartWatch:
    """`send`, noting whether the response has started: after that no problem can be
    answered in its place, only the connection dropped."""

    def __init__(self, send: Send) -> None:
        self.send, self.started = send, False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)


def _carries_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return (length is not None and length.strip() != "0") or bool(
        _header(scope, b"transfer-encoding")
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    # Unmatched paths share one label so a scan of random URLs cannot grow the registry.
    return getattr(route, "path_format", None) or "unmatched"
