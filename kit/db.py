"""Async engines for SQLite (embedded default) and PostgreSQL, and the request transaction.

The app works with SQLAlchemy Core on an `AsyncConnection`: one transaction per request,
begun by the dependency and committed by it before the response is sent, rolled back on
any error. Code below the dependency never commits.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from aiosqlite import core as aiosqlite_core
from fastapi import Depends, FastAPI
from sqlalchemy import DateTime, MetaData, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator
from starlette.requests import Request
from starlette.responses import Response

from kit.problems import problem_response

logger = logging.getLogger(__name__)

# Explicit constraint names, so migrations and the metadata agree on every name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is timezone-aware UTC on the way in and out, on both databases.

    SQLite keeps no zone; stored naive in UTC, its text sorts in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def _terminate_at_once(self: AsyncAdapt_aiosqlite_connection) -> None:
    """A SQLite connection the pool terminates (a transaction cancelled mid-way, a request
    whose client went) is stopped at once, not closed gracefully first. SQLAlchemy's
    graceful close runs shielded in a task of its own; when the force-close beside it has
    already stopped aiosqlite's thread (0.22.1), that task's `close()` waits in its
    `finally` for a thread that is gone, and a cancel only moves it to that wait: the event
    loop's shutdown (`asyncio.run`, uvicorn's exit, a test's teardown) then waits forever.
    Stopping queues the close on the thread itself, behind what it is running: nothing
    awaits it, and an open transaction is rolled back as SQLite closes. Queued with no
    future to resolve (aiosqlite's own `stop()` makes one), so a thread finishing after
    its event loop closed has nothing to tell it; should aiosqlite's queue move, its
    `stop()` serves instead."""
    connection = self._connection
    queue, stop = (
        getattr(connection, "_tx", None),
        getattr(aiosqlite_core, "_STOP_RUNNING_SENTINEL", None),
    )
    if queue is None or stop is None:
        self._terminate_force_close()
        return
    connection._running = False

    def close_and_stop() -> object:
        if connection._connection is not None:
            connection._connection.close()
            connection._connection = None
        return stop

    queue.put_nowait((None, close_and_stop))


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An engine for `url`; SQLite files get their folder, WAL, foreign keys, a busy wait."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: it costs a round trip per request. A connection the server dropped
        # fails its request once and the pool is invalidated; recycling retires old ones.
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
            # asyncpg waits 60 s for a server that does not answer: a request would hang
            # that long before its 503.
            connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    AsyncAdapt_aiosqlite_connection.terminate = _terminate_at_once  # type: ignore[method-assign]
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before the 2xx that acknowledges it (NORMAL, with WAL,
        # can lose the last commits to a power cut).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()
        # Transactions are begun by `_sqlite_begin`, not by the driver.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _sqlite_begin(connection):
        """A transaction takes SQLite's write lock as it begins, waiting its turn behind
        other writers. Begun deferred, a transaction that read and then wrote would fail at
        once ("database is locked") whenever another writer committed in between: no wait
        can help a write from a snapshot that is already old. Reads ask for DEFERRED
        (`READS_ONLY`), so they never wait for a writer."""
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        connection.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'IMMEDIATE')}")

    return engine


# Execution options of a connection that only reads: on SQLite it begins DEFERRED and so
# never waits for the write lock (create_engine).
READS_ONLY = {"sqlite_begin": "DEFERRED"}


async def request_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """The request's transaction: committed when the endpoint returns, rolled back on error.

    Declared with `Depends(..., scope="function")` so the commit happens before the
    response is sent: a 2xx is only ever sent for a committed write. A GET reads one
    snapshot across all its statements (REPEATABLE READ, read-only, on PostgreSQL), so an
    answer built from several reads is consistent: an ETag never names another version
    than the history beside it. On SQLite the same holds by an explicit BEGIN (deferred:
    WAL readers never wait for the writer); writes take turns in this process, in the
    order they came, before beginning (`serving_database`).
    """
    reading = request.method in ("GET", "HEAD")
    turn = None if reading else getattr(request.app.state, "write_turn", None)
    async with (
        turn or contextlib.nullcontext(),
        _transaction(request.app.state.engine, reading) as connection,
    ):
        yield connection


@asynccontextmanager
async def _transaction(engine: AsyncEngine, reading: bool) -> AsyncIterator[AsyncConnection]:
    try:
        connection = await engine.connect()
    except (OSError, DBAPIError) as error:
        # No connection could be had: refused, timed out, the file unopenable.
        raise DatabaseUnavailable(error) from error
    try:
        if reading and connection.dialect.name == "postgresql":
            await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        elif reading:
            await connection.execution_options(**READS_ONLY)
        async with connection.begin():
            yield connection
    finally:
        await connection.close()


# What endpoints declare: the request's connection, committed before the response.
RequestConnection = Annotated[AsyncConnection, Depends(request_connection, scope="function")]


def dialect_insert(connection: AsyncConnection, table: Table):
    """An INSERT of the connection's dialect, so `on_conflict_do_nothing` is at hand."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# Deadlock, serialization failure, lock not available: the database gave up on a request
# that a retry can pass.
TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}
RETRY_AFTER_SECONDS = 1
# The database cannot be used at all: a connection exception (class 08), the server
# shutting down or starting up, too many connections.
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53300")
# SQLite's equivalents: the file cannot be opened or written at the OS level.
UNAVAILABLE_SQLITE_MESSAGES = ("unable to open database file", "disk I/O error", "disk is full")
UNAVAILABLE_RETRY_AFTER_SECONDS = 2
CONNECT_TIMEOUT_SECONDS = 5


class DatabaseUnavailable(Exception):
    """No connection to the database could be had (it is down, unreachable, unopenable)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {str(cause)[:200]}")


def _causes(error: DBAPIError) -> tuple[object, ...]:
    return (error.orig, getattr(error.orig, "__cause__", None))


def is_transient(error: DBAPIError) -> bool:
    if any(getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES for cause in _causes(error)):
        return True
    return "database is locked" in str(error.orig)


def is_unavailable(error: DBAPIError) -> bool:
    """The database itself is gone (not this request's fault): the connection broke, the
    server refuses work, or the SQLite file cannot be reached."""
    if error.connection_invalidated:
        return True
    for cause in _causes(error):
        sqlstate = getattr(cause, "sqlstate", None) or ""
        if sqlstate.startswith(UNAVAILABLE_SQLSTATE_PREFIXES) or isinstance(cause, OSError):
            return True
    return any(message in str(error.orig) for message in UNAVAILABLE_SQLITE_MESSAGES)


def _unavailable_response(cause: str) -> Response:
    logger.warning("database unavailable", extra={"error": cause})
    return problem_response(
        503,
        "The database is unavailable; retry shortly.",
        kind="database-unavailable",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


async def on_database_error(request: Request, error: Exception) -> Response:
    """A transient database failure, or the database gone, is a 503 the client may retry;
    anything else is a bug and goes on to the catch-all 500 (kit.middleware)."""
    assert isinstance(error, DBAPIError)
    if is_unavailable(error):
        return _unavailable_response(str(error.orig)[:200])
    if not is_transient(error):
        raise error
    logger.warning("transient database error", extra={"error": str(error.orig)[:200]})
    return problem_response(
        503,
        "The database was busy with a conflicting request; retry shortly.",
        kind="database-busy",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def on_database_unavailable(request: Request, error: Exception) -> Response:
    return _unavailable_response(str(error))


@asynccontextmanager
async def serving_database(app: FastAPI, url: str, pool_size: int) -> AsyncIterator[AsyncEngine]:
    """For an app's lifespan: its engine on `app.state`, a readiness check, disposal."""
    engine = create_engine(url, pool_size=pool_size)
    app.state.engine = engine
    # SQLite: this process's writing requests take turns, first come first served
    # (request_connection), rather than racing for the file's lock in SQLite's busy wait,
    # which lets a late writer in before one that has waited for seconds.
    app.state.write_turn = asyncio.Lock() if engine.dialect.name == "sqlite" else None
    app.state.readiness_checks = {"database": database_check(engine)}
    try:
        yield engine
    finally:
        await engine.dispose()


def database_check(engine: AsyncEngine):
    """A readiness check: the database answers a trivial query."""

    async def check() -> None:
        async with engine.connect() as connection:
            await connection.execution_options(**READS_ONLY)
            await connection.exec_driver_sql("SELECT 1")

    return check
