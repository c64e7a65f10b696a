"""Gateway: what a request costs through the public API, the three apps as real uvicorn
processes on loopback, on each database.

Prints the mean and 95th percentile wall time per request, seen by the client, sequential
(one request at a time) and, for the reads, with 8 at once. A direct call of the
commitments service stands beside its gateway counterpart, so the hop's cost shows.
PostgreSQL is used when it is reachable on 127.0.0.1:5432 (scratch databases are created
and dropped).

    make bench   # or: .venv/bin/python bench/gateway_bench.py --deals 200 --requests 300
"""

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import jwt
from standardwebhooks.webhooks import Webhook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.run_stack import stop, wait_healthy

TOKEN = "bench-service-token-0123456789"
JWT_SECRET = "bench-jwt-secret-0123456789abcdefghij"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789!").decode()
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
APP_PREFIXES = ("DEALGATE_", "ROADMAP_", "COMMITMENTS_")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(
    module: str, environment: dict[str, str], workdir: str, port: int, log_level: str = "WARNING"
) -> subprocess.Popen:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(APP_PREFIXES)}
    process = subprocess.Popen(
        [sys.executable, "-m", module, "serve"],
        cwd=workdir,
        env={**inherited, **environment, "DEALGATE_LOG_LEVEL": log_level,
             "ROADMAP_LOG_LEVEL": log_level, "COMMITMENTS_LOG_LEVEL": log_level},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    if not wait_healthy(f"http://127.0.0.1:{port}/healthz", process, seconds=60):
        stop([process])
        raise RuntimeError(f"{module} did not come up")
    return process


def signed(event: dict, event_id: str) -> tuple[str, dict[str, str]]:
    body, moment = json.dumps(event), datetime.now(UTC)
    return body, {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(WEBHOOK_SECRET).sign(event_id, moment, body),
    }


def deal_event(n: int) -> dict:
    promises = [
        {"external_id": "C-1", "kind": "feature", "summary": "SSO with Okta",
         "roadmap_item_key": "RM-1", "promised_by": "2027-01-31", "tags": ["security"]},
        {"external_id": "C-2", "kind": "integration", "summary": "Salesforce sync",
         "roadmap_item_key": "RM-2", "promised_by": "2027-09-30"},
        {"external_id": "C-3", "kind": "feature", "summary": "Audit log export"},
    ]  # fmt: skip
    return {
        "event_type": "deal.upserted", "occurred_at": "2026-11-20T10:00:00Z", "snapshot": True,
        "deal": {"source": "generic", "external_id": f"B-{n}", "name": f"Bench deal {n}",
                 "amount": "1000.00", "stage": "open", "updated_at": "2026-11-20T09:59:00Z"},
        "commitments": promises,
    }  # fmt: skip


def report(label: str, measured: tuple[list[float], float]) -> None:
    seconds, elapsed = measured
    ordered = sorted(seconds)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(
        f"  {label:<52} {statistics.mean(seconds) * 1e3:7.2f} ms wall (mean)"
        f" {p95 * 1e3:7.2f} ms p95 {len(seconds) / elapsed:7.0f} req/s"
    )


async def timed(make_request, requests: int, concurrency: int = 1) -> tuple[list[float], float]:
    """Each request's wall time, and the time all of them took together."""
    seconds: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with semaphore:
            began = time.perf_counter()
            response = await make_request(index)
            seconds.append(time.perf_counter() - began)
            assert response.status_code < 300, response.text

    began = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(requests)))
    return seconds, time.perf_counter() - began


async def measure(urls: dict[str, str], deals: int, requests: int) -> None:
    pm = {"Authorization": "Bearer " + jwt.encode(
        {"sub": "bench@example.com", "roles": ["pm"], "exp": int(time.time()) + 3600},
        JWT_SECRET, "HS256",
    )}  # fmt: skip
    service = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=16)
    async with (
        httpx.AsyncClient(base_url=urls["gateway"], headers=pm, limits=limits) as gateway,
        httpx.AsyncClient(base_url=urls["commitments"], headers=service) as commitments,
    ):
        await gateway.post("/v1/roadmap/vision-tags", json={
            "slug": "security", "name": "Security", "kind": "pillar"})  # fmt: skip
        for key, planned_end in (("RM-1", "2027-02-15"), ("RM-2", "2027-03-31")):
            await gateway.post("/v1/roadmap/items", json={
                "key": key, "title": f"Item {key}", "status": "planned",
                "planned_end": planned_end, "vision_tags": ["security"]})  # fmt: skip
        # The items name no area: the bench's PM decides the triage area's promises.
        reviewer = await commitments.put("/reviewers/bench@example.com", json={"areas": ["triage"]})
        reviewer.raise_for_status()

        async def webhook(index: int):
            body, headers = signed(deal_event(index), f"bench-{index}")
            return await gateway.post("/v1/webhooks/generic", content=body, headers=headers)

        answers: dict[int, dict] = {}

        async def first_delivery(index: int):
            response = await webhook(index)
            answers[index] = response.json()
            return response

        report("POST /v1/webhooks/generic (3 promises)", await timed(first_delivery, deals))
        report("  the same event again (duplicate)", await timed(webhook, min(deals, requests)))

        deal_ids = [answers[index]["deal_id"] for index in range(deals)]
        commitment_ids = [c["id"] for answer in answers.values() for c in answer["commitments"]]

        def get(client: httpx.AsyncClient, path: str, ids: list[str]):
            return lambda index: client.get(path.format(ids[index % len(ids)]))

        for label, client, path, ids in (
            ("GET /v1/deals/{id}/readiness", gateway, "/v1/deals/{}/readiness", deal_ids),
            ("  direct: commitments /deals/{id}/readiness", commitments,
             "/deals/{}/readiness", deal_ids),
            ("GET /v1/commitments/{id}", gateway, "/v1/commitments/{}", commitment_ids),
            ("  direct: commitments /commitments/{id}", commitments,
             "/commitments/{}", commitment_ids),
            ("GET /v1/roadmap/items/RM-1", gateway, "/v1/roadmap/items/{}", ["RM-1"]),
        ):  # fmt: skip
            report(label, await timed(get(client, path, ids), requests))
            report(f"{label} x8 at once", await timed(get(client, path, ids), requests, 8))

        # C-1 of each deal awaits sign-off: promised before RM-1's plan.
        awaiting = [answers[index]["commitments"][0]["id"] for index in range(deals)]

        async def decide(index: int):
            return await gateway.post(
                f"/v1/commitments/{awaiting[index]}/decision",
                json={"decision": "approve", "comment": "bench"},
            )

        report("POST /v1/commitments/{id}/decision", await timed(decide, len(awaiting)))


@contextlib.asynccontextmanager
async def service_databases(backend: str, workdir: str, prefix: str) -> AsyncIterator[dict]:
    """A database URL per service: SQLite files in `workdir`, or scratch PostgreSQL
    databases named `<prefix>_<service>`, dropped afterwards."""
    names = ("commitments", "roadmap")
    if backend == "sqlite":
        yield {name: f"sqlite+aiosqlite:///{Path(workdir) / name}.db" for name in names}
        return

    async def drop_all(admin: asyncpg.Connection) -> None:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}"')

    admin = await asyncpg.connect(ADMIN_DSN)
    await drop_all(admin)
    for name in names:
        await admin.execute(f'CREATE DATABASE "{prefix}_{name}"')
    await admin.close()
    try:
        yield {
            name: f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefix}_{name}" for name in names
        }
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        await drop_all(admin)
        await admin.close()


def start_stack(
    databases: dict[str, str], workdir: str, ports: dict[str, int], log_level: str = "WARNING"
) -> dict[str, subprocess.Popen]:
    """The three apps as processes on `ports`, the roadmap pushing its changes to the gateway;
    stopped (all of them) when one does not come up."""
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    environments = {
        "services.commitments": {
            "COMMITMENTS_PORT": str(ports["commitments"]),
            "COMMITMENTS_DATABASE_URL": databases["commitments"],
            "COMMITMENTS_SERVICE_TOKEN": TOKEN,
        },
        "services.roadmap": {
            "ROADMAP_PORT": str(ports["roadmap"]),
            "ROADMAP_DATABASE_URL": databases["roadmap"],
            "ROADMAP_SERVICE_TOKEN": TOKEN,
            "ROADMAP_SUBSCRIBER_URL": f"{urls['gateway']}/internal/roadmap-changes",
        },
        "gateway": {
            "DEALGATE_PORT": str(ports["gateway"]),
            "DEALGATE_COMMITMENTS_URL": urls["commitments"],
            "DEALGATE_ROADMAP_URL": urls["roadmap"],
            "DEALGATE_SERVICE_TOKEN": TOKEN,
            "DEALGATE_JWT_SECRET": JWT_SECRET,
            "DEALGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    }
    processes: dict[str, subprocess.Popen] = {}
    try:
        for module, environment in environments.items():
            name = module.rsplit(".", 1)[-1]
            processes[name] = start(module, environment, workdir, ports[name], log_level)
    except BaseException:
        stop(list(processes.values()))
        raise
    return processes


async def run(backend: str, deals: int, requests: int) -> None:
    ports = {name: free_port() for name in ("gateway", "commitments", "roadmap")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with tempfile.TemporaryDirectory() as workdir:
        async with service_databases(backend, workdir, "dealgate_bench") as databases:
            processes = start_stack(databases, workdir, ports)
            try:
                print(f"{backend}: {deals} deals, {requests} requests per read")
                await measure(urls, deals, requests)
            finally:
                stop(list(processes.values()))


async def postgres_reachable() -> bool:
    try:
        connection = await asyncpg.connect(ADMIN_DSN, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


async def each_backend(choice: str, run_one: Callable[[str], Awaitable[None]]) -> None:
    """`run_one` on SQLite and PostgreSQL, or the one chosen; PostgreSQL only if reachable."""
    for backend in ["sqlite", "postgresql"] if choice == "both" else [choice]:
        if backend == "postgresql" and not await postgres_reachable():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        await run_one(backend)


def backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300)
    backend_argument(parser)
    args = parser.parse_args()
    await each_backend(args.backend, lambda backend: run(backend, args.deals, args.requests))


if __name__ == "__main__":
    asyncio.run(main())
