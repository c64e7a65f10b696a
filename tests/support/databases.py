"""A fresh, migrated database for every test, on SQLite or PostgreSQL.

Each service's migrations run once per session into a template (a SQLite file, or a
PostgreSQL template database); every test then gets its own copy, so tests can use real
concurrent connections and leave nothing behind.
"""

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import asyncpg

from kit.db import create_engine
from kit.migrations import upgrade

POSTGRES_ADMIN_DSN = os.environ.get(
    "DEALGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_unavailable_reason() -> str | None:
    async def probe() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_DSN} is unreachable: {exc!r}"
    return None


def _asyncpg_url(database: str) -> str:
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{database}"


async def postgres_admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _migrate(url: str, migrations_dir: Path) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine, migrations_dir)
    finally:
        await engine.dispose()


class TemplateDatabases:
    """Session-wide: one migrated template per (service, backend), copied per test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:8]
        self._sqlite: dict[str, Path] = {}
        self._postgres: dict[str, str] = {}

    async def sqlite_template(self, service: str, migrations_dir: Path) -> Path:
        if service not in self._sqlite:
            path = self.workdir / f"{service}-template.db"
            await _migrate(f"sqlite+aiosqlite:///{path}", migrations_dir)
            self._sqlite[service] = path
        return self._sqlite[service]

    async def postgres_template(self, service: str, migrations_dir: Path) -> str:
        if service not in self._postgres:
            name = f"dealgate_test_{self.run_id}_{service}_template"
            await postgres_admin(f'CREATE DATABASE "{name}"')
            self._postgres[service] = name
            await _migrate(_asyncpg_url(name), migrations_dir)
        return self._postgres[service]

    def drop_all(self) -> None:
        async def drop() -> None:
            for name in self._postgres.values():
                await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        if self._postgres:
            asyncio.run(drop())


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / template.name.replace("-template", "")
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


async def postgres_copy(template: str) -> str:
    name = f"{template.removesuffix('_template')}_{uuid.uuid4().hex[:8]}"
    await postgres_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


async def postgres_drop(name: str) -> None:
    await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url(name: str) -> str:
    return _asyncpg_url(name)
