"""The shared library's own promises, apart from any service."""

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import DBAPIError

from kit import background
from kit.app import create_base_app
from kit.db import RequestConnection
from kit.etags import if_match_allows, if_none_match_hits
from kit.logs import JsonFormatter, request_id_var
from kit.settings import AppSettings
from tests.support.clients import running


class _CommitFailingEngine:
    """Stands in for an engine whose transactions fail at commit with `error`."""

    dialect = SimpleNamespace(name="sqlite")

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def connect(self):
        return self

    async def close(self) -> None:
        pass

    @asynccontextmanager
    async def begin(self):
        yield self
        raise self.error


class _DatabaseError(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _app_with(engine: object):
    @asynccontextmanager
    async def lifespan(app):
        app.state.engine = engine
        yield

    app = create_base_app(
        title="t",
        version="1",
        description="d",
        settings=AppSettings(_env_file=None),
        lifespan=lifespan,
    )

    @app.post("/write")
    async def write(connection: RequestConnection) -> dict[str, str]:
        return {"status": "stored"}

    return app


async def test_a_failed_commit_never_answers_2xx():
    app = _app_with(_CommitFailingEngine(ConnectionError("commit failed")))
    async with running(app) as client:
        response = await client.post("/write")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in response.text
    assert "commit failed" not in response.text


@pytest.mark.parametrize(
    "error",
    [
        _DatabaseError("deadlock detected", sqlstate="40P01"),
        _DatabaseError("could not serialize access", sqlstate="40001"),
        _DatabaseError("database is locked"),
    ],
)
async def test_a_database_busy_with_another_request_answers_503_to_retry(error):
    async with running(_app_with(_CommitFailingEngine(DBAPIError("COMMIT", {}, error)))) as client:
        response = await client.post("/write")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "error",
    [
        _DatabaseError("terminating connection due to administrator command", sqlstate="57P01"),
        _DatabaseError("connection failure", sqlstate="08006"),
        _DatabaseError("sorry, too many clients already", sqlstate="53300"),
        _DatabaseError("unable to open database file"),
        _DatabaseError("disk I/O error"),
    ],
)
async def test_a_database_gone_answers_503_to_retry(error):
    async with running(_app_with(_CommitFailingEngine(DBAPIError("COMMIT", {}, error)))) as client:
        response = await client.post("/write")

    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["type"] == "urn:dealgate:problem:database-unavailable"


class _UnreachableEngine:
    """An engine whose every connection attempt is refused, as a database that is down."""

    async def connect(self):
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")


async def test_a_database_that_cannot_be_reached_answers_503_and_reveals_nothing(caplog):
    async with running(_app_with(_UnreachableEngine())) as client:
        response = await client.post("/write")

    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["type"] == "urn:dealgate:problem:database-unavailable"
    assert "5432" not in response.text
    assert not [r for r in caplog.records if r.name == "kit.errors"]


async def test_any_other_database_error_is_a_500_that_reveals_nothing():
    failure = _DatabaseError("relation secret_table does not exist", sqlstate="42P01")
    async with running(
        _app_with(_CommitFailingEngine(DBAPIError("COMMIT", {}, failure)))
    ) as client:
        response = await client.post("/write")

    assert response.status_code == 500
    assert "secret_table" not in response.text


@pytest.mark.parametrize(
    ("header", "etag", "allowed"),
    [
        (None, '"3"', True),
        ('"3"', '"3"', True),
        ('"2", "3"', '"3"', True),
        ("*", '"3"', True),
        ('"2"', '"3"', False),
        ('W/"3"', '"3"', False),
    ],
)
def test_if_match_uses_the_strong_comparison(header, etag, allowed):
    assert if_match_allows(header, etag) is allowed


def test_if_none_match_uses_the_weak_comparison():
    assert if_none_match_hits('W/"abc"', '"abc"')
    assert if_none_match_hits("*", '"abc"')
    assert not if_none_match_hits('"abd"', '"abc"')
    assert not if_none_match_hits(None, '"abc"')


def test_log_lines_are_json_with_the_request_id():
    record = logging.LogRecord("kit.access", logging.INFO, __file__, 1, "request", None, None)
    record.status = 201
    token = request_id_var.set("req-42")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)

    assert line["msg"] == "request"
    assert line["request_id"] == "req-42"
    assert line["status"] == 201
    assert line["level"] == "info"


async def test_an_unexpected_error_is_a_500_problem_carrying_the_request_id(caplog):
    app = _app_with(_CommitFailingEngine(ConnectionError("commit failed")))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with running(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500"
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text
    [logged] = [record for record in caplog.records if record.name == "kit.errors"]
    assert "secret internals" in logged.exc_text or "secret internals" in str(logged.exc_info)


async def test_the_access_log_times_the_request_itself(caplog):
    app = _app_with(_CommitFailingEngine(ConnectionError("unused")))

    @app.get("/nap")
    async def nap() -> dict[str, str]:
        await asyncio.sleep(0.05)
        return {"status": "rested"}

    with caplog.at_level(logging.INFO, logger="kit.access"):
        async with running(app) as client:
            await client.get("/nap")

    [logged] = [record for record in caplog.records if record.name == "kit.access"]
    assert 50 <= logged.duration_ms < 5_000


async def test_background_work_that_swallows_a_cancellation_is_still_stopped():
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()  # as an inner cancel scope mistaking it for its own would
        await asyncio.sleep(3600)

    async with asyncio.timeout(10), background.running(stubborn()) as task:
        await asyncio.sleep(0)

    assert swallowed.is_set()
    assert task.cancelled()


async def test_background_work_that_fails_as_it_stops_is_logged_and_the_stop_goes_on(caplog):
    started = asyncio.Event()

    async def rollback_that_breaks() -> None:
        try:
            started.set()
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("the rollback failed") from None

    with caplog.at_level(logging.ERROR, logger="kit.background"):
        async with asyncio.timeout(10), background.running(rollback_that_breaks()) as task:
            await started.wait()

    assert isinstance(task.exception(), RuntimeError)
    [logged] = [record for record in caplog.records if record.name == "kit.background"]
    assert "while stopping" in logged.getMessage()
    assert "the rollback failed" in str(logged.exc_info[1])
