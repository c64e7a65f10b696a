"""The commitments service app: `create_app(settings)`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from kit.app import create_service_app
from kit.db import serving_database
from services.commitments.routes import router
from services.commitments.settings import CommitmentsSettings

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION = "0.1.0"
DESCRIPTION = """\
The system of record for what sales promised and what product decided: deals, their
commitments, every evaluation, every PM decision (append-only), the CRM event inbox and
closing breaches. It owns the review lifecycle of a commitment and the evaluation work
queue the gateway replicas share. Internal: every route but the health checks needs
`Authorization: Bearer <service token>`. Errors are RFC 9457 problems.
"""


def create_app(settings: CommitmentsSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with serving_database(app, settings.database_url, settings.database_pool_size):
            yield

    return create_service_app(
        title="Dealgate commitments service",
        version=VERSION,
        description=DESCRIPTION,
        settings=settings,
        lifespan=lifespan,
        router=router,
    )


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory`: settings from the environment, read when called."""
    return create_app(CommitmentsSettings())
