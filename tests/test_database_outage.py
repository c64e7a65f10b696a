"""A service's database lost while it serves: the service answers 503 with Retry-After, the
gateway passes that on as its own 503 (never a 502 or a 500), nothing is logged as an
unhandled error, and the first request once the database is back succeeds."""

import json
import logging

import pytest

from tests.commitments_helpers import crm_event
from tests.conftest import SERVICE_TOKEN, Stack
from tests.gateway_helpers import (
    THREE_PROMISES,
    VIEWER,
    eventually,
    post_webhook,
    roadmap_with_two_items,
)
from tests.support.clients import client_of
from tests.support.outages import DatabaseOutage
from tests.test_gateway_hubspot import hubspot_deal, signed


@pytest.fixture
async def outage(commitments_db_url, tmp_path):
    outage = await DatabaseOutage(commitments_db_url, tmp_path).start()
    yield outage
    await outage.close()


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_lost_database_is_a_503_with_retry_after_until_it_is_back(
    outage, roadmap_db_url, caplog
):
    stack = Stack(outage.url, roadmap_db_url)
    async with stack.running() as gateway, client_of(stack.commitments_app, SERVICE_TOKEN) as svc:
        await roadmap_with_two_items(gateway)
        taken = await post_webhook(gateway, crm_event(*THREE_PROMISES))
        assert taken.status_code == 200, taken.text
        caplog.clear()

        await outage.lose(stack.commitments_app)
        direct = await svc.get("/commitments")
        listed = await gateway.get("/v1/commitments", headers=VIEWER)
        body = json.dumps(hubspot_deal()).encode()
        hubspot = await gateway.post("/v1/webhooks/hubspot", content=body, headers=signed(body))

        assert_unavailable(direct)
        assert direct.json()["type"] == "urn:dealgate:problem:database-unavailable"
        assert_unavailable(listed)
        assert_unavailable(hubspot)
        unhandled = [r for r in caplog.records if r.name == "kit.errors"]
        assert unhandled == []
        assert any(
            r.getMessage() == "database unavailable" and r.levelno == logging.WARNING
            for r in caplog.records
        )

        await outage.recover()
        first = await svc.get("/commitments")
        assert first.status_code == 200, first.text
        # The gateway's circuit probes the service again within its probe interval.
        again = await eventually(
            lambda: gateway.get("/v1/commitments", headers=VIEWER),
            lambda response: response.status_code == 200,
            seconds=2,
        )
        assert len(again.json()["items"]) == 3
