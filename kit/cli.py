"""The command line every service shares: `python -m services.<name> migrate|seed|serve`."""

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.db import create_engine
from kit.logs import configure_logging
from kit.migrations import upgrade
from kit.settings import ServiceSettings
from kit.startup import command, read_settings, require_database


async def _with_engine(url: str, work: Callable[[AsyncEngine], Awaitable[object]]) -> object:
    engine = create_engine(url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


async def _migrate(settings: ServiceSettings, migrations_dir: Path) -> None:
    await require_database(settings.database_url, type(settings).env_name("database_url"))
    await _with_engine(settings.database_url, lambda engine: upgrade(engine, migrations_dir))


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
        if args.command in ("migrate", "seed", "serve"):
            asyncio.run(_migrate(settings, migrations_dir))
        if args.command == "seed" and seed is not None:
            created = asyncio.run(_with_engine(settings.database_url, seed))
            done = f"seeded ({created} records created)" if created else "already there"
            print(f"{prog}: demo data {done}")
        if args.command == "serve":
            uvicorn.run(
                app_factory(settings), host=settings.host, port=settings.port, log_config=None
            )
