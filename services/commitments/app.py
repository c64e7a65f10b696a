"""The commitments service app: `create_app(settings)`."""

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from kit import background
from kit.app import create_service_app
from kit.db import serving_database, utcnow
from services.commitments.outbound.dispatcher import Dispatcher
from services.commitments.outbound.email import Mailer
from services.commitments.outbound.notifier import Notifier
from services.commitments.routes import router
from services.commitments.settings import CommitmentsSettings

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION = "0.1.0"
DESCRIPTION = """\
The system of record for what sales promised and what product decided: deals, their
commitments, every evaluation, every PM decision (append-only), the CRM event inbox and
closing breaches. It owns the review lifecycle of a commitment and the evaluation work
queue the gateway replicas share, and tells the world what the gate decided: the events
outbox, webhook subscriptions and their deliveries, Slack and email notifications.
Internal: every route but the health checks needs `Authorization: Bearer <service
token>`. Errors are RFC 9457 problems.
"""


def create_app(
    settings: CommitmentsSettings, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The app; `http_transport` replaces the network for webhooks and Slack (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            engine = await stack.enter_async_context(
                serving_database(app, settings.database_url, settings.database_pool_size)
            )
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=http_transport,
                    timeout=settings.webhook_timeout_seconds,
                    follow_redirects=False,
                    limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
                )
            )
            app.state.dispatcher = Dispatcher(
                engine,
                client,
                allowed_networks=settings.sendable_networks(),
                batch_size=settings.dispatch_batch_size,
                send_timeout_seconds=settings.webhook_timeout_seconds,
                max_backoff_seconds=settings.webhook_max_backoff_seconds,
                failing_after_seconds=settings.webhook_failing_after_seconds,
            )
            app.state.notifier = Notifier(
                engine,
                client,
                settings.notification_rules(),
                gateway_url=str(settings.gateway_url),
                mailer=_mailer(settings),
                email_from=settings.email_from,
                digest_minutes=settings.notify_digest_minutes,
                max_backoff_seconds=settings.webhook_max_backoff_seconds,
                send_timeout_seconds=settings.webhook_timeout_seconds,
            )
            if settings.dispatch_interval_seconds > 0:
                run = app.state.dispatcher.run(settings.dispatch_interval_seconds)
                await stack.enter_async_context(background.running(run))
            if settings.notify_interval_seconds > 0:
                run = app.state.notifier.run(settings.notify_interval_seconds)
                await stack.enter_async_context(background.running(run))
            yield

    app = create_service_app(
        title="Dealgate commitments service",
        version=VERSION,
        description=DESCRIPTION,
        settings=settings,
        lifespan=lifespan,
        router=router,
    )
    # What time it is for the sign-off SLA; tests set the clock.
    app.state.clock = utcnow
    return app


def _mailer(settings: CommitmentsSettings) -> Mailer | None:
    if settings.smtp_host is None:
        return None
    return Mailer(
        settings.smtp_host,
        settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.webhook_timeout_seconds,
    )


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory`: settings from the environment, read when called."""
    return create_app(CommitmentsSettings())
