"""The migrations build exactly the schema the code's tables describe, and undo cleanly."""

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import services.roadmap
from kit.db import create_engine
from kit.migrations import downgrade, upgrade
from services.roadmap.app import MIGRATIONS
from services.roadmap.tables import metadata
from tests.support.databases import postgres_admin, postgres_drop, postgres_url

# The search index lives outside the Core tables: FTS5 on SQLite, a GIN expression on PostgreSQL.
SEARCH_OBJECTS = {"ix_roadmap_items_search", "alembic_version"}


def _include(name, type_, *_args) -> bool:
    return not (name in SEARCH_OBJECTS or (name or "").startswith("roadmap_items_fts"))


async def test_migrated_schema_matches_the_tables(roadmap_db_url):
    engine = create_engine(roadmap_db_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"include_name": _include, "compare_type": True}
                    ),
                    metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def _tables(engine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    return names - {"alembic_version"}


async def test_downgrade_to_nothing_and_back(roadmap_db_url):
    engine = create_engine(roadmap_db_url)
    try:
        await downgrade(engine, MIGRATIONS, "base")
        assert await _tables(engine) == set()
        await upgrade(engine, MIGRATIONS)
        assert set(metadata.tables) <= await _tables(engine)
    finally:
        await engine.dispose()


def test_migration_files_are_dated():
    names = [path.name for path in (MIGRATIONS / "versions").glob("*.py")]
    assert names
    assert all(re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}-\w+\.py", name) for name in names), names


def test_the_alembic_command_line_migrates_the_configured_database(tmp_path):
    database = tmp_path / "cli.db"
    environment = {**os.environ, "ROADMAP_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    ini = Path(services.roadmap.__file__).parent / "alembic.ini"

    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    tables = set(sqlite3.connect(database).execute("SELECT name FROM sqlite_master").fetchall())
    assert ("roadmap_items",) in tables
    assert ("roadmap_items_fts",) in tables


async def test_replicas_migrating_at_once_all_succeed(backend, tmp_path):
    """Replicas start together on an empty database, and each migrates before serving."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    else:
        name = f"dealgate_test_{uuid.uuid4().hex[:8]}_empty"
        await postgres_admin(f'CREATE DATABASE "{name}"')
        url = postgres_url(name)
    environment = {**os.environ, "ROADMAP_DATABASE_URL": url, "ROADMAP_LOG_LEVEL": "ERROR"}
    try:
        replicas = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.roadmap",
                "migrate",
                env=environment,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(3)
        ]
        results = [await replica.communicate() for replica in replicas]
        assert [replica.returncode for replica in replicas] == [0, 0, 0], results
        engine = create_engine(url)
        try:
            assert set(metadata.tables) <= await _tables(engine)
        finally:
            await engine.dispose()
    finally:
        if backend == "postgresql":
            await postgres_drop(name)
