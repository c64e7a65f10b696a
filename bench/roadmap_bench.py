"""Roadmap service: per-request cost of its main operations, in-process, on each database.

Prints wall time and CPU time per request (mean over N requests, sequential, through
httpx's ASGI transport, so the network is not measured, but the httpx client's own work,
roughly a third of a cheap request, is counted). PostgreSQL is used when it is
reachable on 127.0.0.1:5432 (a scratch database is created and dropped).

    make bench   # or: .venv/bin/python bench/roadmap_bench.py --items 1000 --requests 500
"""

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from kit.db import create_engine
from kit.migrations import upgrade
from services.roadmap.app import MIGRATIONS, create_app
from services.roadmap.settings import RoadmapSettings

TOKEN = "bench-service-token-0123456789"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
WORDS = ["sso", "okta", "saml", "audit", "export", "slack", "teams", "billing"]


async def prepare(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine, MIGRATIONS)
    finally:
        await engine.dispose()


async def measure(client: httpx.AsyncClient, label: str, make_request, requests: int) -> None:
    for _ in range(min(50, requests)):  # warm up
        await make_request()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        response = await make_request()
        assert response.status_code < 300, response.text
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<36} {wall / requests * 1e3:8.3f} ms wall {cpu / requests * 1e3:8.3f} ms CPU")


async def run(url: str, items: int, requests: int) -> None:
    await prepare(url)
    app = create_app(RoadmapSettings(_env_file=None, database_url=url, service_token=TOKEN))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://r", headers=headers
        ) as client:
            await client.post(
                "/vision-tags", json={"slug": "core", "name": "Core", "kind": "pillar"}
            )
            for n in range(1, items + 1):
                title = " ".join(random.sample(WORDS, 3))
                await client.post(
                    "/items",
                    json={
                        "key": f"RM-{n}",
                        "title": title,
                        "vision_tags": ["core"],
                        "planned_end": "2027-06-30",
                        "description": f"Item {n}: {title}.",
                    },
                )
            keys = [f"RM-{n}" for n in range(1, items + 1)]
            counter = iter(range(10**9))

            await measure(
                client,
                "GET /items/{key}",
                lambda: client.get(f"/items/{random.choice(keys)}"),
                requests,
            )
            await measure(
                client,
                "POST /items/batch (50 keys)",
                lambda: client.post("/items/batch", json={"keys": random.sample(keys, 50)}),
                requests,
            )
            await measure(
                client,
                "GET /items?limit=50",
                lambda: client.get("/items", params={"limit": 50}),
                requests,
            )
            await measure(
                client,
                "GET /items/search (3 words, top 10)",
                lambda: client.get(
                    "/items/search", params={"q": " ".join(random.sample(WORDS, 3))}
                ),
                requests,
            )
            await measure(
                client,
                "PATCH /items/{key} (logged change)",
                lambda: client.patch(
                    f"/items/{random.choice(keys)}", json={"description": f"edit {next(counter)}"}
                ),
                requests,
            )
            await measure(
                client,
                "GET /changes?limit=100",
                lambda: client.get("/changes", params={"limit": 100}),
                requests,
            )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    random.seed(7)
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            print(f"SQLite (WAL), {args.items} items, {args.requests} sequential requests each:")
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            await run(url, args.items, args.requests)
    if args.backend == "sqlite":
        return
    name = f"dealgate_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: {exc!r}")
        return
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        print(f"PostgreSQL 15, {args.items} items, {args.requests} sequential requests each:")
        await run(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", args.items, args.requests)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
