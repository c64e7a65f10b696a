"""The architecture's floor: the same Python, FastAPI, uvicorn, httpx (on the gateway's own
transport) and database driver as the apps, with handlers that do nothing else. `make bench`
measures each scenario against these in the same run.

    python bench/floor_app.py service --port P --database-url URL   # /answer, /insert
    python bench/floor_app.py gateway --port P --service-url URL    # /hops/{levels}

`/answer` answers at once; `/insert` is one INSERT committed per request (the least a write
can cost); `/hops/1,3,1` calls the service's `/answer` once, then three times at once, then
once, as the gateway makes its calls to the services.
"""

import argparse
import asyncio
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import Column, MetaData, String, Table, Text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.upstream import ServiceTransport
from kit.db import create_engine

metadata = MetaData()
rows = Table(
    "floor_rows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("body", Text, nullable=False),
)


def service_app(database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = create_engine(database_url)
        async with app.state.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        yield
        await app.state.engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/answer")
    async def answer() -> dict:
        return {"ok": True}

    @app.post("/answer")
    async def answer_post(request: Request) -> dict:
        await request.body()
        return {"ok": True}

    @app.post("/insert", status_code=201)
    async def insert(request: Request) -> dict:
        body = (await request.body()).decode()
        row_id = str(uuid.uuid4())
        async with request.app.state.engine.begin() as connection:
            await connection.execute(rows.insert().values(id=row_id, body=body))
        return {"id": row_id}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def gateway_app(service_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # As gateway.upstream.Upstream builds its pooled client, on the same transport.
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(
            base_url=service_url,
            timeout=httpx.Timeout(5.0, connect=2.0),
            limits=limits,
            transport=ServiceTransport(limits=limits),
        ) as client:
            app.state.client = client
            yield

    app = FastAPI(lifespan=lifespan)

    async def call(request: Request, body: bytes) -> None:
        response = await request.app.state.client.post("/answer", content=body)
        response.raise_for_status()

    async def hops(request: Request, levels: str, body: bytes) -> dict:
        """`levels`: how many calls at once at each step, in turn ("1,3,1")."""
        counts = [int(count) for count in levels.split(",")]
        for count in counts:
            await asyncio.gather(*(call(request, body) for _ in range(count)))
        return {"calls": sum(counts)}

    @app.get("/hops/{levels}")
    async def hops_get(levels: str, request: Request) -> dict:
        return await hops(request, levels, b"")

    @app.post("/hops/{levels}")
    async def hops_post(levels: str, request: Request) -> dict:
        return await hops(request, levels, await request.body())

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["service", "gateway"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--service-url")
    args = parser.parse_args()
    if args.role == "service":
        app = service_app(args.database_url)
    else:
        app = gateway_app(args.service_url)
    # As kit.cli serves the apps (no access log: the apps' own log lines are WARNING-level
    # in the benchmark too).
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
