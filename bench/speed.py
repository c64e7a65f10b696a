"""`make bench`: Dealgate's speed against the architecture's own floor, on PostgreSQL and on
SQLite, in one bounded run (about 15 minutes on a 2-core machine).

For each database it starts the three apps as `make run` does (real uvicorn processes, one
worker each, loopback), seeds a roadmap, and drives them with a load generator that costs
little CPU (bench/load.py: requests built and signed before the clock starts, 16
keep-alive connections). In the same run it measures the floors (bench/floor_app.py): one
INSERT per request, one FastAPI-to-FastAPI httpx hop, and the webhook's own call pattern
with handlers that answer at once. Every figure is printed with its floor and their ratio;
everything is written to bench/results/latest.json.

Scenarios: (1) generic webhook, a new deal with 3 promises; (2) readiness; (3) a PM
decision; (4) a filtered commitments page; (5) bulk intake, 10,000 promises as events of
500; (6) the re-check after the roadmap item those 10,000 promises link to slips; (7)
the reports against a plain count(*) over the same promises; (8) evaluation as the
roadmap grows from 1,000 to 100,000 items, and deleting 100,000 items; (9) event delivery
drain; (10) each app's peak resident memory. (7) runs over 300,000 promises by default, to
stay within the bound (`--reports 1000000` for a million: loading them takes 6-8 minutes).

    make bench
    .venv/bin/python bench/speed.py --backend sqlite --quick   # smaller, for a first look
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import jwt
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import commitments_bench  # noqa: E402
import events_bench  # noqa: E402
from gateway_bench import (  # noqa: E402
    JWT_SECRET,
    free_port,
    postgres_reachable,
    service_databases,
    signed,
    start_stack,
)
from load import Load, drive, json_request, raw_request  # noqa: E402

from kit.db import create_engine  # noqa: E402
from scripts.run_stack import stop, wait_healthy  # noqa: E402

HOST = "127.0.0.1"
CONCURRENCY = 16
WORDS = [
    "sso", "okta", "saml", "audit", "export", "slack", "teams", "billing", "sandbox",
    "residency", "encryption", "webhook", "dashboard", "mobile", "offline", "sync", "retention",
    "backup", "analytics", "forecast", "quota", "approval", "workflow", "template", "invoice",
    "currency", "language", "search", "archive", "import", "calendar",
]  # fmt: skip
# The words of generated roadmap items and unlinked promises: the product words above first,
# then 2,000 more, drawn with Zipf weights (a word's weight falls with its rank), so common
# words match much of a large roadmap and rare ones little, as in a real one.
VOCABULARY = WORDS + [f"term{n}" for n in range(2000)]
WEIGHTS = [1 / rank for rank in range(1, len(VOCABULARY) + 1)]


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(VOCABULARY, WEIGHTS, k=count))


# What one generic webhook with a new deal calls, in turn: the intake (which claims), then
# the item batch read, the tags and a search for the unlinked promise at once, then the
# record of the evaluations.
WEBHOOK_CALLS = "1,3,1"


def bearer(role: str, sub: str = "bench@example.com") -> dict[str, str]:
    claims = {"sub": sub, "roles": [role], "exp": int(time.time()) + 7200}
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, "HS256")}


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def summary(load: Load) -> dict:
    return {
        "requests": load.count,
        "rate": round(load.rate, 1),
        "p50_ms": round(load.percentile(0.50) * 1e3, 1),
        "p99_ms": round(load.percentile(0.99) * 1e3, 1),
        "max_ms": round(max(load.latencies, default=0) * 1e3, 1),
        "failures": load.failures,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
    }


# Floors ----------------------------------------------------------------------------------


def _floor_process(arguments: list[str], port: int, workdir: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "floor_app.py"), *arguments, "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if not wait_healthy(f"http://{HOST}:{port}/healthz", process, seconds=60):
        stop([process])
        raise RuntimeError("a floor app did not come up")
    return process


async def measure_floors(database_url: str, workdir: str, seconds: float) -> dict:
    service_port, gateway_port = free_port(), free_port()
    processes = [_floor_process(["service", "--database-url", database_url], service_port, workdir)]
    try:
        processes.append(
            _floor_process(
                ["gateway", "--service-url", f"http://{HOST}:{service_port}"],
                gateway_port,
                workdir,
            )
        )
        body = json.dumps({"deal": "floor", "promises": ["a", "b", "c"]}).encode()
        service_host, gateway_host = f"{HOST}:{service_port}", f"{HOST}:{gateway_port}"
        inserts = (
            raw_request("POST", "/insert", host=service_host, body=body) for _ in range(10**7)
        )
        hop = raw_request("GET", "/hops/1", host=gateway_host)
        pattern = raw_request("POST", f"/hops/{WEBHOOK_CALLS}", host=gateway_host, body=body)
        floors = {}
        for name, requests in (
            ("insert", inserts),
            ("hop", (hop for _ in range(10**7))),
            ("webhook_pattern", (pattern for _ in range(10**7))),
        ):
            port = service_port if name == "insert" else gateway_port
            await drive(HOST, port, requests, concurrency=CONCURRENCY, seconds=0.5)  # warm-up
            floors[name] = summary(
                await drive(HOST, port, requests, concurrency=CONCURRENCY, seconds=seconds)
            )
        return floors
    finally:
        stop(processes)


# The stack -------------------------------------------------------------------------------


class Stack:
    def __init__(self, databases: dict[str, str], workdir: str) -> None:
        self.databases, self.workdir = databases, workdir
        self.ports = {name: free_port() for name in ("gateway", "commitments", "roadmap")}
        self.urls = {name: f"http://{HOST}:{port}" for name, port in self.ports.items()}
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        # As `make run` logs (INFO): the access lines are part of a request's cost.
        self.processes = start_stack(self.databases, self.workdir, self.ports, "INFO")

    def peak_memory(self) -> dict[str, float]:
        return {name: round(peak_memory_mb(p.pid), 1) for name, p in self.processes.items()}

    def stop(self) -> None:
        stop(list(self.processes.values()))

    @property
    def gateway_host(self) -> str:
        return f"{HOST}:{self.ports['gateway']}"

    async def owed(self) -> int:
        """Commitments still owed an evaluation, read from the service's database."""
        engine = create_engine(self.databases["commitments"])
        try:
            async with engine.connect() as connection:
                return (
                    await connection.execute(
                        text("SELECT count(*) FROM commitments WHERE work_due_at IS NOT NULL")
                    )
                ).scalar_one()
        finally:
            await engine.dispose()

    async def wait_until_evaluated(self, began: float, limit: float) -> tuple[float, int]:
        """Seconds from `began` until nothing is owed (or `limit` passed), and what is left."""
        while True:
            left = await self.owed()
            now = time.perf_counter()
            if left == 0 or now - began > limit:
                return now - began, left
            await asyncio.sleep(0.1)


def webhook(host: str, event: dict, event_id: str) -> bytes:
    body, headers = signed(event, event_id)
    return raw_request(
        "POST", "/v1/webhooks/generic", host=host, headers=headers, body=body.encode()
    )


def deal_event(deal: str, promises: list[dict]) -> dict:
    return {
        "event_type": "deal.upserted", "occurred_at": "2026-11-20T10:00:00Z", "snapshot": True,
        "deal": {"source": "generic", "external_id": deal, "name": f"Bench {deal}",
                 "amount": "1000.00", "currency": "EUR", "stage": "open",
                 "owner": f"rep{zlib.crc32(deal.encode()) % 20}@example.com",
                 "updated_at": "2026-11-20T09:59:00Z"},
        "commitments": promises,
    }  # fmt: skip


def three_promises(rng: random.Random) -> list[dict]:
    """One flagged (promised before RM-1's plan), one cleared, one unlinked feature."""
    return [
        {"external_id": "C-1", "kind": "feature", "summary": "SSO with Okta",
         "roadmap_item_key": "RM-1", "promised_by": "2027-01-31", "tags": ["security"]},
        {"external_id": "C-2", "kind": "integration", "summary": "Salesforce sync",
         "roadmap_item_key": "RM-2", "promised_by": "2027-09-30"},
        {"external_id": "C-3", "kind": "feature",
         "summary": words(rng, 3)},
    ]  # fmt: skip


async def seed_roadmap(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/v1/roadmap/vision-tags", json={
        "slug": "security", "name": "Security", "kind": "pillar"})  # fmt: skip
    for key, planned_end in (("RM-1", "2027-02-15"), ("RM-2", "2027-03-31"),
                             ("RM-900", "2027-06-30")):  # fmt: skip
        created = await gateway.post("/v1/roadmap/items", json={
            "key": key, "title": f"Item {key}", "status": "planned",
            "planned_end": planned_end, "vision_tags": ["security"]})  # fmt: skip
        created.raise_for_status()
    # The items name no area: the PM of the decisions scenario decides the triage area's.
    reviewer = await gateway.put("/v1/reviewers/bench@example.com", json={"areas": ["triage"]})
    reviewer.raise_for_status()


# Scenarios -------------------------------------------------------------------------------


async def interactive(stack: Stack, seconds: float, deals: int) -> dict:
    """(1)-(4): webhooks, then readiness, decisions and a list page on what they made."""
    rng, host = random.Random(1), stack.gateway_host
    run = uuid.uuid4().hex[:6]
    events = [
        webhook(host, deal_event(f"W-{run}-{n}", three_promises(rng)), f"bench-{run}-{n}")
        for n in range(deals)
    ]
    ingestion = await drive(HOST, stack.ports["gateway"], events, concurrency=CONCURRENCY,
                            seconds=seconds, keep_bodies=True)  # fmt: skip
    answers = [answer for answer in map(json.loads, ingestion.bodies) if "deal_id" in answer]
    if not answers:
        raise RuntimeError(f"no webhook was taken: {summary(ingestion)}, {ingestion.bodies[:1]}")
    results = {"ingestion": summary(ingestion)}
    results["ingestion"]["promises_per_second"] = round(ingestion.rate * 3, 1)
    pm = bearer("pm")
    readiness = [
        raw_request("GET", f"/v1/deals/{a['deal_id']}/readiness", host=host, headers=pm)
        for a in answers
    ]
    results["readiness"] = summary(await drive(
        HOST, stack.ports["gateway"], (readiness[n % len(readiness)] for n in range(10**7)),
        concurrency=CONCURRENCY, seconds=seconds))  # fmt: skip
    listing = raw_request(
        "GET", "/v1/commitments?review_status=needs_signoff&owner=rep3%40example.com&limit=50",
        host=host, headers=pm,
    )  # fmt: skip
    results["list"] = summary(await drive(
        HOST, stack.ports["gateway"], (listing for _ in range(10**7)),
        concurrency=CONCURRENCY, seconds=seconds))  # fmt: skip
    awaiting = [
        c["id"] for a in answers for c in a["commitments"]
        if c["review_status"] == "needs_signoff"
    ]  # fmt: skip
    decisions = [
        json_request("POST", f"/v1/commitments/{commitment_id}/decision", host=host,
                     headers=pm, payload={"decision": "approve", "comment": "bench"})
        for commitment_id in awaiting
    ]  # fmt: skip
    results["decision"] = summary(
        await drive(
            HOST, stack.ports["gateway"], decisions, concurrency=CONCURRENCY, seconds=seconds
        )
    )
    return results


async def bulk_and_recheck(stack: Stack, promises: int, per_event: int, limit: float) -> dict:
    """(5) `promises` linked to RM-900 as events of `per_event`, then (6) RM-900 slips."""
    host, run = stack.gateway_host, uuid.uuid4().hex[:6]
    events = []
    for n in range(promises // per_event):
        items = [
            {"external_id": f"P-{i}", "kind": "feature", "summary": f"Promise {i}",
             "roadmap_item_key": "RM-900", "promised_by": "2027-09-30"}
            for i in range(per_event)
        ]  # fmt: skip
        events.append(webhook(host, deal_event(f"BULK-{run}-{n}", items), f"bulk-{run}-{n}"))
    began = time.perf_counter()
    answered = await drive(HOST, stack.ports["gateway"], events, concurrency=4, seconds=limit)
    seconds, left = await stack.wait_until_evaluated(began, limit)
    sent = answered.count * per_event
    intake = {
        **summary(answered), "promises": sent, "evaluated_in_s": round(seconds, 2),
        "left_owed": left, "promises_per_second": round((sent - left) / seconds, 1),
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=stack.urls["gateway"], headers=bearer("admin")) as gw:
        item = await gw.get("/v1/roadmap/items/RM-900")
        began = time.perf_counter()
        moved = await gw.patch(
            "/v1/roadmap/items/RM-900", json={"planned_end": "2027-12-31"},
            headers={"If-Match": item.headers["ETag"]},
        )  # fmt: skip
        moved.raise_for_status()
    # The re-checks are owed once the change reaches the gateway; wait for the first mark.
    for _ in range(200):
        if await stack.owed():
            break
        await asyncio.sleep(0.05)
    seconds, left = await stack.wait_until_evaluated(began, limit)
    recheck = {
        "promises": sent, "seconds": round(seconds, 2), "left_owed": left,
        "promises_per_second": round((sent - left) / seconds, 1),
    }  # fmt: skip
    return {"bulk_intake": intake, "recheck": recheck}


async def add_roadmap_items(url: str, first: int, count: int) -> None:
    from services.roadmap.tables import roadmap_items

    rng, now = random.Random(first), datetime.now(UTC)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for start_at in range(first, first + count, 5000):
                await connection.execute(roadmap_items.insert(), [
                    {"key": f"GEN-{n + 1}", "title": words(rng, 4),
                     "description": words(rng, 12), "status": "planned",
                     "planned_start": None,
                     "planned_end": date(2027, 1, 1) + timedelta(days=n % 700),
                     "confidence": "medium", "owner": None, "area": None, "version": 1,
                     "created_at": now, "updated_at": now}
                    for n in range(start_at, min(first + count, start_at + 5000))
                ])  # fmt: skip
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def roadmap_growth(stack: Stack, sizes: list[int], deals: int, limit: float) -> dict:
    """(8) `deals` new deals (3 promises, one unlinked: a search) at each roadmap size, then
    every generated item deleted in one statement."""
    results, have = {}, 0
    for size in sizes:
        await add_roadmap_items(stack.databases["roadmap"], have, size - have)
        have = size
        rng, host, run = random.Random(size), stack.gateway_host, uuid.uuid4().hex[:6]
        events = [
            webhook(host, deal_event(f"G-{run}-{n}", three_promises(rng)), f"grow-{run}-{n}")
            for n in range(deals)
        ]
        load = await drive(HOST, stack.ports["gateway"], events, concurrency=CONCURRENCY,
                           seconds=limit)  # fmt: skip
        results[str(size)] = {**summary(load), "deals": load.count}
    engine = create_engine(stack.databases["roadmap"])
    try:
        began = time.perf_counter()
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM roadmap_items WHERE key LIKE 'GEN-%'"))
        results["delete_seconds"] = round(time.perf_counter() - began, 2)
        results["deleted"] = have
    finally:
        await engine.dispose()
    return results


async def reports(backend: str, promises: int, workdir: str) -> dict:
    """(7) the reports over `promises`, each against a plain count(*) of the table."""
    async with service_databases(backend, workdir, "dealgate_bench_reports") as databases:
        url = databases["commitments"]
        loaded = await commitments_bench.load(url, promises)
        timed = await commitments_bench.time_reports(url)
    return {"promises": promises, "loaded_in_s": round(loaded, 1), **timed}


async def drain(backend: str, events: int) -> dict:
    """(9) a backlog of webhook deliveries drained to a local receiver."""
    return await events_bench.run(backend, events, per_deal=5, batch=50, quiet=True)


# The run ---------------------------------------------------------------------------------


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}" if floor else "-"


def print_table(backend: str, figures: dict) -> None:
    floors = figures["floors"]
    insert, hop = floors["insert"]["rate"], floors["hop"]["rate"]
    pattern = floors["webhook_pattern"]["rate"]
    print(f"\n{backend} ({os.cpu_count()} cores, {CONCURRENCY} connections)")
    print(
        f"  floors: one insert {insert:.0f} req/s, one hop {hop:.0f} req/s, "
        f"the webhook's calls ({WEBHOOK_CALLS}) answered at once {pattern:.0f} req/s"
    )
    rows = [
        ("(1) webhook, new deal with 3 promises", figures["ingestion"], insert, 0.5),
        ("(2) readiness", figures["readiness"], hop, 0.7),
        ("(3) PM decision", figures["decision"], insert, 0.5),
        ("(4) commitments page, filtered", figures["list"], hop, 0.5),
    ]
    for label, measured, floor, target in rows:
        failed = f"  {measured['failures']} failed" if measured["failures"] else ""
        print(f"  {label:<40} {measured['rate']:7.1f} req/s  p99 {measured['p99_ms']:7.1f} ms"
              f"  floor {floor:6.0f}  ratio {ratio(measured['rate'], floor)}"
              f" (target {target}){failed}")  # fmt: skip
    bulk, recheck = figures["bulk_intake"], figures["recheck"]
    print(f"  (5) bulk intake: {bulk['promises']:,} promises in events of 500, evaluated in "
          f"{bulk['evaluated_in_s']} s: {bulk['promises_per_second']} promises/s; an event "
          f"answered in p99 {bulk['p99_ms']} ms (max {bulk['max_ms']})")  # fmt: skip
    times = ratio(recheck["promises_per_second"], bulk["promises_per_second"])
    print(f"  (6) re-check after RM-900 slips: {recheck['promises']:,} in {recheck['seconds']} s"
          f": {recheck['promises_per_second']} promises/s ({times}x intake)")  # fmt: skip
    if "reports" in figures:
        r = figures["reports"]
        each = ", ".join(
            f"{name} {ms} ms ({ratio(ms, r['count_ms'])}x)" for name, ms in r["reports_ms"].items()
        )
        print(f"  (7) reports over {r['promises']:,} promises, count(*) {r['count_ms']} ms: {each}")
    growth = figures["roadmap_growth"]
    sizes = [key for key in growth if key.isdigit()]
    each = ", ".join(
        f"{int(size):,} items {growth[size]['rate']} (p99 {growth[size]['p99_ms']} ms"
        + (f", {growth[size]['failures']} failed)" if growth[size]["failures"] else ")")
        for size in sizes
    )
    slower = ratio(growth[sizes[0]]["rate"], growth[sizes[-1]]["rate"])
    print(
        f"  (8) deals per second as the roadmap grows: {each}; {slower}x slower at the "
        f"largest; {growth['deleted']:,} items deleted in {growth['delete_seconds']} s"
    )
    if "drain" in figures:
        drained = figures["drain"]
        print(f"  (9) event drain: {drained['events']:,} events at {drained['rate']} events/s")
    print(f"  (10) peak resident memory, MB: {figures['peak_memory_mb']}")


async def run_backend(backend: str, args: argparse.Namespace) -> dict:
    figures: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        async with service_databases(backend, workdir, "dealgate_bench_floor") as floor_db:
            figures["floors"] = await measure_floors(floor_db["commitments"], workdir,
                                                     args.seconds)  # fmt: skip
        async with service_databases(backend, workdir, "dealgate_bench") as databases:
            stack = Stack(databases, workdir)
            stack.start()
            try:
                async with httpx.AsyncClient(
                    base_url=stack.urls["gateway"], headers=bearer("admin")
                ) as gateway:
                    await seed_roadmap(gateway)
                figures.update(await interactive(stack, args.seconds, args.deals))
                figures.update(await bulk_and_recheck(stack, args.bulk, 500, args.limit))
                figures["roadmap_growth"] = await roadmap_growth(
                    stack, args.roadmap_sizes, args.growth_deals, args.limit
                )
                figures["peak_memory_mb"] = stack.peak_memory()
            finally:
                stack.stop()
        if args.reports:
            figures["reports"] = await reports(backend, args.reports, workdir)
        if args.drain:
            figures["drain"] = await drain(backend, args.drain)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=6.0, help="per load scenario")
    parser.add_argument("--limit", type=float, default=60.0, help="cap per bulk scenario")
    parser.add_argument("--deals", type=int, default=4000, help="webhooks made ready")
    parser.add_argument("--bulk", type=int, default=10_000)
    parser.add_argument("--roadmap-sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1_000, 10_000, 100_000])  # fmt: skip
    parser.add_argument("--growth-deals", type=int, default=500)
    # Loading a million takes about 8 minutes on PostgreSQL and 6 on SQLite here: the
    # default keeps the whole run near 15 minutes; --reports 1000000 for the figure.
    parser.add_argument("--reports", type=int, default=300_000, help="0 skips (7)")
    parser.add_argument("--drain", type=int, default=10_000, help="0 skips (9)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a first look")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.limit, args.bulk, args.reports, args.drain = 3, 30, 2000, 0, 0
        args.roadmap_sizes, args.growth_deals = [1_000, 10_000], 100
    began = time.perf_counter()
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "concurrency": CONCURRENCY, "backends": {},
    }  # fmt: skip
    for backend in ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]:
        if backend == "postgresql" and not await postgres_reachable():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        results["backends"][backend] = await run_backend(backend, args)
        print_table(backend, results["backends"][backend])
    results["seconds"] = round(time.perf_counter() - began, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{results['seconds']:.0f} s in all; figures in {args.output}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
