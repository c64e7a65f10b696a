"""What every roadmap route shares: the service token, problems, limits, ops endpoints."""

import pytest

from services.roadmap.app import create_app
from tests.conftest import SERVICE_TOKEN, roadmap_settings
from tests.support.clients import running


def _protected_operations() -> list[tuple[str, str]]:
    document = create_app(roadmap_settings("sqlite+aiosqlite:///unused.db")).openapi()
    return [
        (method.upper(), path.replace("{key}", "RM-1").replace("{slug}", "on-prem"))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]


@pytest.mark.parametrize(("method", "path"), _protected_operations())
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789", SERVICE_TOKEN])
async def test_every_route_but_health_needs_the_service_token(
    anonymous, method, path, authorization
):
    headers = {"Authorization": authorization} if authorization else {}
    response = await anonymous.request(method, path, headers=headers, json={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


def test_every_operation_except_liveness_and_readiness_is_protected():
    document = create_app(roadmap_settings("sqlite+aiosqlite:///unused.db")).openapi()
    open_paths = {
        path
        for path, item in document["paths"].items()
        for operation in item.values()
        if not operation.get("security")
    }
    assert open_paths == {"/healthz", "/readyz"}


async def test_the_openapi_document_needs_the_token_and_there_are_no_browser_docs(
    anonymous, roadmap
):
    refused = await anonymous.get("/openapi.json")
    docs = await anonymous.get("/docs")

    assert refused.status_code == 401
    assert docs.status_code == 404
    document = (await roadmap.get("/openapi.json")).json()
    assert document["info"]["title"] == "Dealgate roadmap service"


async def test_the_token_is_checked_before_anything_about_the_query(anonymous):
    response = await anonymous.get("/changes", params={"afer": 1})

    assert response.status_code == 401


async def test_health_and_readiness_answer_without_a_token(anonymous, roadmap_app):
    health = await anonymous.get("/healthz")
    ready = await anonymous.get("/readyz")

    # The instance tells a caller which process answered (make run checks it is its own).
    assert health.json() == {"status": "ok", "instance": roadmap_app.state.settings.instance_id}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_readiness_is_503_when_the_database_is_unreachable():
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    settings = roadmap_settings("postgresql+asyncpg://postgres@127.0.0.1:9/roadmap")
    async with running(create_app(settings)) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"].startswith("error: ")


async def test_metrics_count_requests_by_route_template(roadmap):
    await roadmap.get("/items/RM-1")
    await roadmap.get("/items/RM-2")

    metrics = (await roadmap.get("/metrics")).text

    assert 'http_requests_total{method="GET",route="/items/{key}",status="404"} 2.0' in metrics


async def test_oversized_body_is_413_and_writes_nothing(roadmap):
    body = b'{"slug": "x", "name": "' + b"a" * 1_100_000 + b'", "kind": "pillar"}'

    response = await roadmap.post(
        "/vision-tags", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (await roadmap.get("/vision-tags")).json()["items"] == []


async def test_oversized_streamed_body_without_a_length_is_413(roadmap):
    async def chunks():
        for _ in range(20):
            yield b"x" * 100_000

    response = await roadmap.post(
        "/items/batch", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_malformed_json_is_a_422_problem(roadmap):
    response = await roadmap.post(
        "/vision-tags", content=b'{"slug": ', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_request_id_is_echoed_or_made(roadmap):
    given = await roadmap.get("/healthz", headers={"X-Request-ID": "abc-123"})
    made = await roadmap.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})

    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32


async def test_unknown_route_and_method_are_problems(roadmap):
    missing = await roadmap.get("/nowhere")
    wrong_method = await roadmap.put("/items/RM-1")

    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"
    assert wrong_method.headers["allow"] == "DELETE, GET, PATCH"


async def test_a_body_that_is_not_utf8_is_a_422_problem(roadmap):
    response = await roadmap.post(
        "/vision-tags", content=b"\xff\xfe\x00", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "body",
        "message": "The body is not UTF-8 JSON.",
        "type": "json_invalid",
    }


async def test_unknown_or_repeated_query_parameters_are_refused(roadmap):
    unknown = await roadmap.get("/changes", params={"after": 0, "afer": 3})
    repeated = await roadmap.get("/changes", params=[("after", 1), ("after", 2)])
    listed = await roadmap.get("/items", params=[("status", "idea"), ("status", "planned")])

    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"field": "query.afer", "message": "Unknown parameter.", "type": "extra_forbidden"}
    ]
    assert repeated.status_code == 422
    assert repeated.json()["errors"][0]["field"] == "query.after"
    assert listed.status_code == 200
