"""Every body any of the three apps reads: over-deep JSON is a 422, a media type the operation
does not declare a 415, a body too slow to arrive a 408 that closes the connection (in-process
and over a real socket); each operation with a body declares both in its OpenAPI document.

No database is reached: each refusal comes before anything is looked up."""

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app as create_gateway_app
from services.commitments.app import create_app as create_commitments_app
from services.roadmap.app import create_app as create_roadmap_app
from tests.conftest import SERVICE_TOKEN, commitments_settings, gateway_settings, roadmap_settings
from tests.gateway_helpers import bearer, signed_webhook
from tests.support.clients import client_of, running
from tests.support.processes import Served, free_port
from tests.test_gateway_hubspot import signed as hubspot_signed

UNUSED_DATABASE = "sqlite+aiosqlite:///never-opened.db"
APPS: dict[str, Callable[..., FastAPI]] = {
    "gateway": lambda **settings: create_gateway_app(
        gateway_settings(sweep_interval_seconds=0, **settings)
    ),
    "commitments": lambda **settings: create_commitments_app(
        commitments_settings(UNUSED_DATABASE, **settings)
    ),
    "roadmap": lambda **settings: create_roadmap_app(roadmap_settings(UNUSED_DATABASE, **settings)),
}
PATH_VALUES = {
    "commitment_id": "0b5f7a52-3c1e-4c1e-9d61-2f0a8c0c1a11",
    "subscription_id": "5f0c6c2e-8a53-4a3e-9d2c-0f1b2a3c4d5e",
    "key_id": "3c6e0b8a-4d2f-4f1e-9a7b-1c2d3e4f5a6b",
    "key": "RM-1",
    "slug": "on-prem",
    "source": "generic",
    "event_id": "evt-1",
    "email": "ana@example.com",
}
ADMIN = bearer("admin")
SERVICE = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
OVER_DEEP = b"[" * 100_000 + b"]" * 100_000


def _operations_with_a_body() -> list[tuple[str, str, str, str]]:
    """(app, method, path with sample values, media type) of every operation whose OpenAPI
    document says it takes a body: one added later is checked with no change here."""
    found = []
    for name, create in APPS.items():
        for template, item in create().openapi()["paths"].items():
            for method, operation in item.items():
                for media in operation.get("requestBody", {}).get("content", {}):
                    path = re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m.group(1)], template)
                    found.append((name, method.upper(), path, media))
    return sorted(found)


OPERATIONS = _operations_with_a_body()
JSON_OPERATIONS = [op for op in OPERATIONS if op[3] == "application/json"]
MEDIA_TYPES_REFUSED = [
    (*op, given)
    for op in OPERATIONS
    for given in ("text/plain", "application/xml", "application/json", None)
    if given != op[3]
]
SERVICE_OPERATIONS = [
    op for op in OPERATIONS if op[0] != "gateway" or op[2].startswith("/internal/")
]


def test_the_operations_with_a_body_are_found():
    # A test parametrized over nothing passes: this one says what is expected.
    assert {op[0] for op in JSON_OPERATIONS} == set(APPS)
    assert ("gateway", "POST", "/v1/webhooks/generic", "application/json") in OPERATIONS
    assert ("gateway", "POST", "/v1/webhooks/salesforce", "text/xml") in OPERATIONS


def _credentials(app: str, path: str, body: bytes) -> dict[str, str]:
    """What lets the request past authentication, so only its body is judged (without a
    Content-Type: each test sets its own)."""
    if path == "/v1/webhooks/generic":
        headers = signed_webhook(body)[1]
    elif path == "/v1/webhooks/hubspot":
        headers = hubspot_signed(body)
    elif app != "gateway" or path.startswith("/internal/"):
        headers = SERVICE
    else:
        headers = ADMIN
    return {
        name.lower(): value for name, value in headers.items() if name.lower() != "content-type"
    }


@asynccontextmanager
async def served(app: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with its lifespan (its routes need their clients); the services without
    (so no database is opened: nothing here should reach one)."""
    instance = APPS[app](**settings)
    if app == "gateway":
        async with running(instance) as client:
            yield client
    else:
        async with client_of(instance) as client:
            yield client


def _is_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


@pytest.mark.parametrize(("app", "method", "path", "media"), JSON_OPERATIONS)
async def test_json_nested_past_what_the_parser_follows_is_422(app, method, path, media):
    headers = {**_credentials(app, path, OVER_DEEP), "content-type": media}
    async with served(app) as client:
        response = await client.request(method, path, content=OVER_DEEP, headers=headers)

    problem = _is_problem(response, 422)
    assert problem["errors"][0]["field"] == "body"


@pytest.mark.parametrize(("app", "method", "path", "media", "given"), MEDIA_TYPES_REFUSED)
async def test_a_body_of_another_media_type_or_none_is_415_naming_the_one_taken(
    app, method, path, media, given
):
    body = b"<x/>" if media == "text/xml" else b"{}"
    headers = {**_credentials(app, path, body), **({"content-type": given} if given else {})}
    async with served(app) as client:
        response = await client.request(method, path, content=body, headers=headers)

    problem = _is_problem(response, 415)
    assert media in problem["detail"]
    assert problem["errors"][0]["field"] == "header.content-type"


@pytest.mark.parametrize(("app", "method", "path", "media"), SERVICE_OPERATIONS)
async def test_a_service_checks_its_token_before_the_media_type(app, method, path, media):
    async with served(app) as client:
        response = await client.request(
            method, path, content=b"{}", headers={"content-type": "text/plain"}
        )

    _is_problem(response, 401)


@pytest.mark.parametrize("app", APPS)
def test_every_operation_with_a_body_declares_408_and_415(app):
    document = APPS[app]().openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = {"408", "415"} <= set(operation["responses"])
            assert declared == ("requestBody" in operation), (method, path)


# A body that stops half-way ---------------------------------------------------------------


async def _half_sent(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> list:
    """Drives the app as a server would for a sender that sends 10 of the 1000 bytes it
    announced, then nothing: the messages the app sends back."""
    sent_first = False

    async def receive() -> dict:
        nonlocal sent_first
        if not sent_first:
            sent_first = True
            return {"type": "http.request", "body": b'{"slug": "', "more_body": True}
        await asyncio.Event().wait()  # the rest never comes
        raise AssertionError("unreachable")

    messages: list[dict] = []

    async def send(message: dict) -> None:
        messages.append(message)

    raw = {**{k.lower(): v for k, v in headers.items()}, "content-length": "1000"}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("test", 80),
        "headers": [(k.encode(), v.encode()) for k, v in raw.items()],
    }  # fmt: skip
    # Bounded only so a regression fails instead of hanging the suite.
    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    return messages


@pytest.mark.parametrize(
    ("app", "method", "path"),
    [
        ("roadmap", "POST", "/vision-tags"),  # a body FastAPI reads
        ("commitments", "PUT", "/crm-events/generic/evt-1"),
        ("gateway", "POST", "/v1/roadmap/items"),
        ("gateway", "POST", "/v1/webhooks/generic"),  # a body the route reads itself
    ],
)
async def test_a_body_that_stops_arriving_is_408_and_closes_the_connection(app, method, path):
    instance = APPS[app](body_read_timeout_seconds=0.2)
    headers = {**_credentials(app, path, b""), "content-type": "application/json"}
    if app == "gateway":
        async with instance.router.lifespan_context(instance):
            messages = await _half_sent(instance, method, path, headers)
    else:
        messages = await _half_sent(instance, method, path, headers)

    start, body = messages[0], messages[1]
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert json.loads(body["body"])["status"] == 408


def _post_ten_of_a_thousand_bytes(port: int, path: str, wait_seconds: float) -> bytes:
    """Sends headers announcing 1000 bytes of body and 10 of them, then reads until the
    server closes the connection (or `wait_seconds` pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_seconds) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n".encode()
            + b'{"slug": "'
        )
        received = b""
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            chunk = connection.recv(65536)
            if not chunk:
                return received
            received += chunk
        raise AssertionError(f"still open after {wait_seconds} s; received {received!r}")


def test_a_real_server_answers_a_half_sent_body_with_408_and_closes(tmp_path):
    port = free_port()
    gateway = Served(
        "gateway",
        port,
        {
            "DEALGATE_PORT": str(port),
            "DEALGATE_BODY_READ_TIMEOUT_SECONDS": "1",
            "DEALGATE_SWEEP_INTERVAL_SECONDS": "0",
        },
        tmp_path,
    ).start()
    try:
        # Generous: the server is to give up after 1 s; this only bounds a regression.
        answers = [
            _post_ten_of_a_thousand_bytes(port, path, wait_seconds=20)
            for path in ("/v1/webhooks/generic", "/v1/roadmap/items")
        ]
    finally:
        gateway.stop()

    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"\r\nconnection: close\r\n" in answer.lower()
