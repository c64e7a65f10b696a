"""Each service's migrations build exactly the schema its tables describe, and undo cleanly."""

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.exc import DBAPIError

import services.commitments.tables
import services.roadmap.tables
from kit.db import create_engine
from kit.migrations import downgrade, upgrade
from services.commitments.app import MIGRATIONS as COMMITMENTS_MIGRATIONS
from services.roadmap.app import MIGRATIONS as ROADMAP_MIGRATIONS
from tests.commitments_helpers import decide, needing_signoff
from tests.support.databases import postgres_admin, postgres_drop, postgres_url


@dataclass(frozen=True)
class Service:
    name: str
    migrations: Path
    metadata: MetaData
    # Objects the migration makes outside the Core tables (search indexes, say).
    outside_tables: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return f"services.{self.name}"

    @property
    def database_setting(self) -> str:
        return f"{self.name.upper()}_DATABASE_URL"


SERVICES = [
    # The search index: FTS5 on SQLite, stored documents with a GIN index on PostgreSQL
    # (and the expression index they replaced, while downgrading).
    Service(
        "roadmap",
        ROADMAP_MIGRATIONS,
        services.roadmap.tables.metadata,
        ("ix_roadmap_items_search", "roadmap_items_fts"),
    ),
    Service("commitments", COMMITMENTS_MIGRATIONS, services.commitments.tables.metadata),
]
BY_NAME = {service.name: service for service in SERVICES}


@pytest.fixture(params=[service.name for service in SERVICES])
def service(request) -> Service:
    return BY_NAME[request.param]


@pytest.fixture
def db_url(service: Service, backend: str, request) -> str:
    """A fresh migrated database of the service, on each backend."""
    return request.getfixturevalue(f"{service.name}_db_url")


async def test_migrated_schema_matches_the_tables(service, db_url):
    def include(name, type_, *_args) -> bool:
        name = name or ""
        outside = any(name.startswith(prefix) for prefix in service.outside_tables)
        return name != "alembic_version" and not outside

    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"include_name": include, "compare_type": True}
                    ),
                    service.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def _tables(engine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    return names - {"alembic_version"}


async def test_downgrade_to_nothing_and_back(service, db_url):
    engine = create_engine(db_url)
    try:
        await downgrade(engine, service.migrations, "base")
        assert await _tables(engine) == set()
        await upgrade(engine, service.migrations)
        assert set(service.metadata.tables) <= await _tables(engine)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_migration_files_are_dated(service):
    names = [path.name for path in (service.migrations / "versions").glob("*.py")]
    assert names
    assert all(re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}-\w+\.py", name) for name in names), names


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_the_alembic_command_line_migrates_the_configured_database(service, tmp_path):
    database = tmp_path / "cli.db"
    environment = {**os.environ, service.database_setting: f"sqlite+aiosqlite:///{database}"}
    ini = service.migrations.parent / "alembic.ini"

    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    tables = set(sqlite3.connect(database).execute("SELECT name FROM sqlite_master").fetchall())
    assert {(name,) for name in service.metadata.tables} <= tables


async def test_replicas_migrating_at_once_all_succeed(service, backend, tmp_path):
    """Replicas start together on an empty database, and each migrates before serving."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    else:
        name = f"dealgate_test_{uuid.uuid4().hex[:8]}_empty"
        await postgres_admin(f'CREATE DATABASE "{name}"')
        url = postgres_url(name)
    environment = {
        **os.environ,
        service.database_setting: url,
        f"{service.name.upper()}_LOG_LEVEL": "ERROR",
    }
    try:
        replicas = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                service.module,
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
            assert set(service.metadata.tables) <= await _tables(engine)
        finally:
            await engine.dispose()
    finally:
        if backend == "postgresql":
            await postgres_drop(name)


@pytest.mark.parametrize(
    "statement", ["UPDATE decisions SET comment = 'edited'", "DELETE FROM decisions"]
)
async def test_the_database_refuses_to_change_or_remove_a_decision(
    commitments, commitments_db_url, statement
):
    commitment_id = await needing_signoff(commitments)
    assert (await decide(commitments, commitment_id)).status_code == 200
    engine = create_engine(commitments_db_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))
        async with engine.connect() as connection:
            comments = (await connection.execute(text("SELECT comment FROM decisions"))).all()
    finally:
        await engine.dispose()
    assert comments == [("ok",)]


async def test_items_made_before_the_search_rows_stay_searchable_and_deletable(tmp_path):
    """Revision 0002 (SQLite's search index found by row id; PostgreSQL's is an expression
    index, untouched) carries over the items indexed under 0001: they are found by their
    words, and forgotten once deleted or retitled."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'roadmap.db'}")
    search = text("SELECT key FROM roadmap_items_fts WHERE roadmap_items_fts MATCH :q")
    try:
        await upgrade(engine, ROADMAP_MIGRATIONS, "0001")
        async with engine.begin() as connection:
            for key, title in (("RM-1", "Okta single sign-on"), ("RM-2", "Okta audit export")):
                await connection.execute(
                    text(
                        "INSERT INTO roadmap_items (key, title, description, status, confidence,"
                        " version, created_at, updated_at) VALUES (:key, :title, '', 'planned',"
                        " 'medium', 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
                    ),
                    {"key": key, "title": title},
                )
        await upgrade(engine, ROADMAP_MIGRATIONS)
        async with engine.begin() as connection:
            found = await connection.execute(search, {"q": "okta"})
            assert sorted(found.scalars()) == ["RM-1", "RM-2"]
            await connection.execute(text("DELETE FROM roadmap_items WHERE key = 'RM-1'"))
            await connection.execute(
                text("UPDATE roadmap_items SET title = 'Slack alerts' WHERE key = 'RM-2'")
            )
            assert (await connection.execute(search, {"q": "okta"})).all() == []
            found = await connection.execute(search, {"q": "slack"})
            assert list(found.scalars()) == ["RM-2"]
    finally:
        await engine.dispose()


async def test_a_decision_recalled_before_lapses_were_kept_stays_recalled(
    commitments, commitments_db_url
):
    """Revision 0008 keeps the decisions recalled under 0007 as lapsed: they must not count
    again in an approval chain."""
    commitment_id = await needing_signoff(commitments)
    assert (await decide(commitments, commitment_id)).status_code == 200
    recall = {"kind": "recall", "body": "", "author": "ana@example.com", "role": "pm"}
    response = await commitments.post(f"/commitments/{commitment_id}/comments", json=recall)
    assert response.status_code == 200, response.text
    engine = create_engine(commitments_db_url)
    try:
        await downgrade(engine, COMMITMENTS_MIGRATIONS, "0007")
        await upgrade(engine, COMMITMENTS_MIGRATIONS)
        async with engine.connect() as connection:
            lapsed = (await connection.execute(text("SELECT cause FROM decision_lapses"))).all()
    finally:
        await engine.dispose()
    assert lapsed == [("recalled",)]
