"""Schemathesis against the roadmap app in-process, every default check, both databases."""

import pytest
import schemathesis
from schemathesis.python.asgi import shutdown_lifespans

from services.roadmap.app import create_app
from tests.conftest import SERVICE_TOKEN, roadmap_settings
from tests.support.schemathesis_checks import call_with_token, conformance_settings

AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


@pytest.fixture
def roadmap_api_schema(roadmap_db_url):
    app = create_app(roadmap_settings(roadmap_db_url))
    yield schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)
    shutdown_lifespans()


schema = schemathesis.pytest.from_fixture("roadmap_api_schema")


@schema.parametrize()
@conformance_settings
def test_roadmap_api_conforms_to_its_openapi(case):
    call_with_token(case, AUTH)
