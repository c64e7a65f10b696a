"""The command line every service shares: `python -m services.<name> migrate|seed|serve`."""

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.logs import configure_logging
from kit.migrations import upgrade
from kit.settings import ServiceSettings
from kit.startup import command, reached_database, read_settings


async def _prepare(
    settings: ServiceSettings,
    migrations_dir: Path,
    seed: Callable[[AsyncEngine], Awaitable[int]] | None,
) -> int | None:
    """Migrates the database, then seeds it if asked; answers how many records were seeded."""
    variable = type(settings).env_name("database_url")
    async with reached_database(settings.database_url, variable) as engine:
        await upgrade(engine, migrations_dir)
        return await seed(engine) if seed is not None else None


def run_service_cli(
    *,
    prog: str,
    settings_class: type[ServiceSettings],
    app_factory: Callable[[ServiceSettings], FastAPI],
    migrations_dir: Path,
    seed: Callable[[AsyncEngine], Awaitable[int]] | None = None,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=prog)
    commands = ["migrate", "serve"] + (["seed"] if seed else [])
    parser.add_argument("command", choices=commands, help="seed and serve migrate first")
    args = parser.parse_args(argv)
    with command(prog):
        settings = read_settings(settings_class)
        configure_logging(settings.log_level)
        seeding = seed if args.command == "seed" else None
        created = asyncio.run(_prepare(settings, migrations_dir, seeding))
        if seeding is not None:
            done = f"seeded ({created} records created)" if created else "already there"
            print(f"{prog}: demo data {done}")
        if args.command == "serve":
            uvicorn.run(
                app_factory(settings), host=settings.host, port=settings.port, log_config=None
            )
