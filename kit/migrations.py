"""Alembic, driven from code: each service keeps its own migration tree and calls this.

The tests and `make run` apply migrations through `upgrade`, on a connection the caller
owns; the `alembic` command line reaches the same `run_env` through each tree's env.py.
"""

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.db import create_engine

FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s"


def alembic_config(migrations_dir: Path, database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("file_template", FILE_TEMPLATE)
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def _run(engine: AsyncEngine, migrations_dir: Path, step, revision: str) -> None:
    config = alembic_config(migrations_dir)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        step(config, revision)

    async with engine.begin() as connection:
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
            async with engine.begin() as own:
                await own.run_sync(_migrate, metadata)
        finally:
            await engine.dispose()

    asyncio.run(run_with_own_engine())


def _migrate(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
