"""Schemathesis against the gateway, the two services behind it in-process, every default
check, both databases, with an admin's token (who may do everything)."""

from contextlib import asynccontextmanager

import pytest
import schemathesis
from schemathesis.python.asgi import shutdown_lifespans

from tests.conftest import Stack
from tests.gateway_helpers import bearer
from tests.support.schemathesis_checks import call_with_token, conformance_settings

AUTH = bearer("admin", sub="schemathesis@example.com")


def the_whole_stack_in_one_lifespan(stack: Stack):
    """The gateway app, starting and stopping the services with itself, so all three live on
    the event loop schemathesis drives."""
    gateway = stack.gateway_app
    own = gateway.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app):
        async with (
            stack.commitments_app.router.lifespan_context(stack.commitments_app),
            stack.roadmap_app.router.lifespan_context(stack.roadmap_app),
            own(app),
        ):
            yield

    gateway.router.lifespan_context = lifespan
    return gateway


@pytest.fixture
def gateway_api_schema(stack):
    app = the_whole_stack_in_one_lifespan(stack)
    yield schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)
    shutdown_lifespans()


schema = schemathesis.pytest.from_fixture("gateway_api_schema")


@schema.parametrize()
@conformance_settings
def test_gateway_api_conforms_to_its_openapi(case):
    call_with_token(case, AUTH)
