"""Fixtures every test shares: the two database backends, the two services' apps, and the
whole stack in-process (the gateway over both services, the roadmap pushing its changes)."""

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app as create_gateway_app
from gateway.settings import GatewaySettings
from services.commitments.app import MIGRATIONS as COMMITMENTS_MIGRATIONS
from services.commitments.app import create_app as create_commitments_app
from services.commitments.settings import CommitmentsSettings
from services.roadmap.app import MIGRATIONS as ROADMAP_MIGRATIONS
from services.roadmap.app import create_app as create_roadmap_app
from services.roadmap.settings import RoadmapSettings
from tests.gateway_helpers import HUBSPOT_SECRET, JWT_SECRET, WEBHOOK_SECRET, Switch
from tests.outbound_helpers import Receiver
from tests.support.clients import client_of, running
from tests.support.databases import (
    TemplateDatabases,
    postgres_copy,
    postgres_drop,
    postgres_unavailable_reason,
    postgres_url,
    sqlite_copy,
)
from tests.support.stray_tasks import stop_stray_tasks

SERVICE_TOKEN = "test-service-token-0123456789"
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
async def stray_tasks_stopped() -> AsyncIterator[None]:
    """Set up first, so torn down last: after every other fixture, before the loop closes."""
    yield
    await stop_stray_tasks()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplateDatabases]:
    databases = TemplateDatabases(tmp_path_factory.mktemp("templates"))
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def postgres_problem() -> str | None:
    return postgres_unavailable_reason()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, postgres_problem: str | None) -> str:
    """Runs the test once per database; PostgreSQL missing is a skip, or under CI a failure."""
    if request.param == "postgresql" and postgres_problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs PostgreSQL: {postgres_problem}")
        pytest.skip(postgres_problem)
    return request.param


async def _fresh_database(
    backend: str, templates: TemplateDatabases, service: str, migrations: Path, tmp_path: Path
) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield sqlite_copy(await templates.sqlite_template(service, migrations), tmp_path)
        return
    name = await postgres_copy(await templates.postgres_template(service, migrations))
    try:
        yield postgres_url(name)
    finally:
        await postgres_drop(name)


@pytest.fixture
async def roadmap_db_url(
    backend: str, templates: TemplateDatabases, tmp_path: Path
) -> AsyncIterator[str]:
    async for url in _fresh_database(backend, templates, "roadmap", ROADMAP_MIGRATIONS, tmp_path):
        yield url


def roadmap_settings(database_url: str, **overrides: object) -> RoadmapSettings:
    return RoadmapSettings(
        _env_file=None, database_url=database_url, service_token=SERVICE_TOKEN, **overrides
    )


@pytest.fixture
async def roadmap_app(roadmap_db_url: str):
    app = create_roadmap_app(roadmap_settings(roadmap_db_url))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def roadmap(roadmap_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running roadmap app, carrying the service token."""
    async with client_of(roadmap_app, SERVICE_TOKEN) as client:
        yield client


@pytest.fixture
async def anonymous(roadmap_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running roadmap app without any token."""
    async with client_of(roadmap_app) as client:
        yield client


@pytest.fixture
async def commitments_db_url(
    backend: str, templates: TemplateDatabases, tmp_path: Path
) -> AsyncIterator[str]:
    async for url in _fresh_database(
        backend, templates, "commitments", COMMITMENTS_MIGRATIONS, tmp_path
    ):
        yield url


def commitments_settings(database_url: str, **overrides: object) -> CommitmentsSettings:
    """No hand-off grace unless asked: the service's own tests claim new work at once."""
    values = {
        "database_url": database_url,
        "service_token": SERVICE_TOKEN,
        "handoff_grace_seconds": 0,
    }
    return CommitmentsSettings(_env_file=None, **{**values, **overrides})


@pytest.fixture
async def commitments_app(commitments_db_url: str):
    app = create_commitments_app(commitments_settings(commitments_db_url))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def commitments(commitments_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running commitments app, carrying the service token."""
    async with client_of(commitments_app, SERVICE_TOKEN) as client:
        yield client


@pytest.fixture
async def outbound(commitments_db_url: str):
    """The commitments service with its dispatcher stopped (the tests dispatch), and a
    receiver of its webhooks: (app, client, receiver)."""
    receiver = Receiver()
    app = create_commitments_app(
        commitments_settings(commitments_db_url, dispatch_interval_seconds=0),
        http_transport=receiver.transport,
    )
    async with running(app, SERVICE_TOKEN) as client:
        yield app, client, receiver


def gateway_settings(**overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "jwt_secret": JWT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "hubspot_app_secret": HUBSPOT_SECRET,
        "service_token": SERVICE_TOKEN,
        "commitments_url": "http://commitments",
        "roadmap_url": "http://roadmap",
        "sweep_interval_seconds": 0.2,
        "upstream_read_timeout_seconds": 2.0,
        "upstream_probe_interval_seconds": 0.1,
    }
    return GatewaySettings(_env_file=None, **{**values, **overrides})


class Stack:
    """The three apps wired in-process; `<service>_network.up = False` cuts a service off
    from the gateway, `feed_network.up = False` the roadmap's change feed off from it."""

    def __init__(
        self,
        commitments_db_url: str,
        roadmap_db_url: str,
        *,
        outbound: httpx.AsyncBaseTransport | None = None,
        crm: dict[str, httpx.AsyncBaseTransport] | None = None,
        **gateway_overrides,
    ):
        """`outbound`: where the commitments service's webhook deliveries go; `crm`: the CRM
        APIs the gateway calls ("hubspot", "salesforce"), by name."""
        self.roadmap_network, self.commitments_network = Switch(), Switch()
        to_gateway = httpx.ASGITransport(app=None)  # type: ignore[arg-type]  # set below
        self.feed_network = Switch(to_gateway)
        self.roadmap_app = create_roadmap_app(
            roadmap_settings(
                roadmap_db_url,
                subscriber_url="http://gateway/internal/roadmap-changes",
                delivery_poll_seconds=0.05,
                delivery_max_backoff_seconds=0.5,
            ),
            http_transport=self.feed_network,
        )
        self.commitments_app = create_commitments_app(
            commitments_settings(
                commitments_db_url, handoff_grace_seconds=30, dispatch_interval_seconds=0.05
            ),
            http_transport=outbound,
        )
        self.roadmap_network.inner = httpx.ASGITransport(app=self.roadmap_app)
        self.commitments_network.inner = httpx.ASGITransport(app=self.commitments_app)
        self.gateway_app = create_gateway_app(
            gateway_settings(**gateway_overrides),
            transports={
                "commitments": self.commitments_network,
                "roadmap": self.roadmap_network,
                **(crm or {}),
            },
        )
        to_gateway.app = self.gateway_app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[httpx.AsyncClient]:
        async with (
            self.commitments_app.router.lifespan_context(self.commitments_app),
            self.roadmap_app.router.lifespan_context(self.roadmap_app),
            self.gateway_app.router.lifespan_context(self.gateway_app),
            client_of(self.gateway_app) as client,
        ):
            yield client


@pytest.fixture
def stack(commitments_db_url: str, roadmap_db_url: str) -> Stack:
    return Stack(commitments_db_url, roadmap_db_url)


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway (no credentials of its own), the three apps running."""
    async with stack.running() as client:
        yield client
