"""Schemathesis against the commitments app in-process, every default check, both databases."""

import pytest
import schemathesis
from schemathesis.python.asgi import shutdown_lifespans

from services.commitments.app import create_app
from tests.conftest import SERVICE_TOKEN, commitments_settings
from tests.support.schemathesis_checks import call_with_token, conformance_settings

AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


@pytest.fixture
def commitments_api_schema(commitments_db_url):
    app = create_app(commitments_settings(commitments_db_url))
    yield schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)
    shutdown_lifespans()


schema = schemathesis.pytest.from_fixture("commitments_api_schema")


@schema.parametrize()
@conformance_settings
def test_commitments_api_conforms_to_its_openapi(case):
    call_with_token(case, AUTH)
