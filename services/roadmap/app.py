"""The roadmap service app: `create_app(settings)`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from kit import background
from kit.app import create_service_app
from kit.db import serving_database
from services.roadmap.delivery import ChangeSender
from services.roadmap.routes import router
from services.roadmap.settings import RoadmapSettings

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION = "0.1.0"
DESCRIPTION = """\
The product roadmap Dealgate checks promises against: roadmap items, the vision tags
(pillars and non-goals), ranked search, and the ordered change log pushed to the gateway.
Internal: every route but the health checks needs `Authorization: Bearer <service token>`.
Errors are RFC 9457 problems.
"""


def create_app(
    settings: RoadmapSettings, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The app; `http_transport` replaces the network for outbound calls (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with serving_database(
            app, settings.database_url, settings.database_pool_size
        ) as engine:
            if settings.subscriber_url is None:
                yield
                return
            async with httpx.AsyncClient(
                transport=http_transport,
                timeout=settings.delivery_timeout_seconds,
                limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
            ) as client:
                sender = ChangeSender(
                    engine,
                    client,
                    subscriber_url=str(settings.subscriber_url),
                    service_token=settings.service_token,
                    batch_size=settings.delivery_batch_size,
                    max_backoff_seconds=settings.delivery_max_backoff_seconds,
                    # Past every timeout a send can take, so a live sender keeps its claim.
                    lease_seconds=settings.delivery_timeout_seconds * 4 + 10,
                    startup_grace_seconds=settings.delivery_startup_grace_seconds,
                )
                async with background.running(sender.run(settings.delivery_poll_seconds)):
                    yield

    return create_service_app(
        title="Dealgate roadmap service",
        version=VERSION,
        description=DESCRIPTION,
        settings=settings,
        lifespan=lifespan,
        router=router,
    )


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory`: settings from the environment, read when called."""
    return create_app(RoadmapSettings())
