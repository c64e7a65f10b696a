"""Async engines for SQLite (embedded default) and PostgreSQL, and the request transaction.

The app works with SQLAlchemy Core on an `AsyncConnection`: one transaction per request,
begun by the dependency and committed by it before the response is sent, rolled back on
any error. Code below the dependency never commits.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends
from sqlalchemy import DateTime, MetaData, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator
from starlette.requests import Request

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


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An engine for `url`; SQLite files get their folder, WAL, foreign keys, a busy wait."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: it costs a round trip per request. A connection the server dropped
        # fails its request once and the pool is invalidated; recycling retires old ones.
        return create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


async def request_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """The request's transaction: committed when the endpoint returns, rolled back on error.

    Declared with `Depends(..., scope="function")` so the commit happens before the
    response is sent: a 2xx is only ever sent for a committed write.
    """
    engine: AsyncEngine = request.app.state.engine
    async with engine.begin() as connection:
        yield connection


# What endpoints declare: the request's connection, committed before the response.
RequestConnection = Annotated[AsyncConnection, Depends(request_connection, scope="function")]


def dialect_insert(connection: AsyncConnection, table: Table):
    """An INSERT of the connection's dialect, so `on_conflict_do_nothing` is at hand."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def database_check(engine: AsyncEngine):
    """A readiness check: the database answers a trivial query."""

    async def check() -> None:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    return check
