"""The architecture's floor: the same Python, FastAPI, uvicorn, httpx and database driver as
the apps, with handlers that do nothing else. `make bench` measures each scenario against
these in the same run.

    python bench/floor_app.py service --port P --database-url URL   # /answer, /insert
    python bench/floor_app.py gateway --port P --service-url URL    # /hops/{n}

`/answer` answers at once; `/insert` is one INSERT committed per request (the least a write
can cost); `/hops/{n}` makes n calls to the service's `/answer` in turn, as the gateway
makes its calls to the services.
"""

import argparse
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import Column, MetaData, String, Table, Text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
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
        # As gateway.upstream.Upstream builds its pooled client.
        async with httpx.AsyncClient(
            base_url=service_url,
            timeout=httpx.Timeout(5.0, connect=2.0),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        ) as client:
            app.state.client = client
            yield

    app = FastAPI(lifespan=lifespan)

    async def hops(request: Request, n: int, body: bytes) -> dict:
        for _ in range(n):
            response = await request.app.state.client.post("/answer", content=body)
            response.raise_for_status()
        return {"hops": n}

    @app.get("/hops/{n}")
    async def hops_get(n: int, request: Request) -> dict:
        return await hops(request, n, b"")

    @app.post("/hops/{n}")
    async def hops_post(n: int, request: Request) -> dict:
        return await hops(request, n, await request.body())

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
