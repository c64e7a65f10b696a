"""Alembic, driven from code: each service keeps its own migration tree and calls this.

The tests and `make run` apply migrations through `upgrade`, on a connection the caller
owns; the `alembic` command line reaches the same `run_env` through each tree's env.py.
Each tree's settings (its file-name template) live in the `alembic.ini` beside it.
"""

import asyncio
import fcntl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kit.db import create_engine

# Replicas may start together and all migrate first: they queue, and each one after the
# first finds nothing left to do. PostgreSQL: a transaction-level advisory lock. SQLite
# (one host by nature): an exclusive lock on a file beside the database, held until the
# migration has committed, because SQLite's DDL commits before Alembic's version row does.
MIGRATION_LOCK_ID = 7_150_001


@asynccontextmanager
async def _migration_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        async with engine.begin() as connection:
            yield connection
        return
    with open(f"{database}.migration-lock", "w") as lock_file:  # noqa: ASYNC230 - once, at start
        await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
        try:
            async with engine.begin() as connection:
                yield connection
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def alembic_config(migrations_dir: Path) -> Config:
    config = Config(str(migrations_dir.parent / "alembic.ini"))
    config.set_main_option("script_location", str(migrations_dir))
    return config


async def _run(
    engine: AsyncEngine, migrations_dir: Path, step: Callable[[Config, str], None], revision: str
) -> None:
    config = alembic_config(migrations_dir)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        step(config, revision)

    async with _migration_transaction(engine) as connection:
        await connection.run_sync(run)


async def upgrade(engine: AsyncEngine, migrations_dir: Path, revision: str = "head") -> None:
    await _run(engine, migrations_dir, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, migrations_dir: Path, revision: str) -> None:
    await _run(engine, migrations_dir, command.downgrade, revision)


def run_env(metadata: MetaData, default_url: Callable[[], str]) -> None:
    """The body of a service's env.py; `default_url` is read only when no URL was given."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection, metadata)
        return
    url = context.config.get_main_option("sqlalchemy.url") or default_url()

    async def run_with_own_engine() -> None:
        engine = create_engine(url)
        try:
            async with _migration_transaction(engine) as own:
                await own.run_sync(_migrate, metadata)
        finally:
            await engine.dispose()

    asyncio.run(run_with_own_engine())


def _migrate(connection: Connection, metadata: MetaData) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
