"""Commitments service: the dashboards' aggregates and the hot reads over a large book.

Loads a synthetic book straight into a fresh database (default 1,000,000 commitments over
250,000 deals, with their current conflicts), vacuums and analyzes, then times each request
in-process through httpx's ASGI transport: mean wall and CPU time over N requests. On
PostgreSQL most of an aggregate's time is the server's, so wall time is the figure to read.

    .venv/bin/python bench/commitments_bench.py --commitments 1000000 --backend postgresql
    make bench   # a smaller book on both databases
"""

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import text

from kit.db import create_engine
from kit.migrations import upgrade
from services.commitments.app import MIGRATIONS, create_app
from services.commitments.settings import CommitmentsSettings
from services.commitments.tables import (
    commitment_tags,
    commitments,
    conflict_tallies,
    deals,
)

TOKEN = "bench-service-token-0123456789"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
STATUSES = (
    ["cleared"] * 50 + ["approved"] * 20 + ["needs_signoff"] * 15 + ["received"] * 5
    + ["rejected"] * 5 + ["withdrawn"] * 5
)  # fmt: skip
CODES = ["unknown_item", "unlinked", "item_declined", "non_goal", "custom_work",
         "unscheduled", "date_before_plan", "date_at_risk", "off_vision"]  # fmt: skip
TAGS = [f"tag-{n}" for n in range(12)]
CHUNK = 20_000


def book(total: int, rng: random.Random):
    """Yields (table, rows) chunks of a synthetic book."""
    now = datetime.now(UTC)
    deal_rows = [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "source": "generic",
            "external_id": f"D-{n}", "name": "Deal", "account": "Account",
            "amount_cents": rng.randrange(10**8), "currency": rng.choice(["USD", "EUR", "GBP"]),
            "stage": rng.choice(["open"] * 7 + ["closed_won"] * 2 + ["closed_lost"]),
            "expected_close": date(2027, 1, 1), "owner": f"rep{rng.randrange(200)}@example.com",
            "crm_updated_at": now, "crm_occurred_at": now, "created_at": now, "updated_at": now,
        }
        for n in range(max(total // 4, 1))
    ]  # fmt: skip
    for start in range(0, len(deal_rows), CHUNK):
        yield deals, deal_rows[start : start + CHUNK]
    rows, tallies, tags = [], [], []
    for n in range(total):
        commitment_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        status = rng.choice(STATUSES)
        changed = now - timedelta(hours=rng.uniform(0, 24 * 60))
        due = changed if status in ("received", "evaluation_pending") else None
        own_tags = rng.sample(TAGS, rng.randrange(3))
        deal = deal_rows[n // 4]
        rows.append({
            "id": commitment_id, "deal_id": deal["id"], "deal_owner": deal["owner"],
            "deal_currency": deal["currency"], "deal_amount_cents": deal["amount_cents"],
            "external_id": f"C-{n % 4}",
            "kind": "feature", "summary": "A promise", "promised_by": date(2027, 3, 1),
            "tags": own_tags, "roadmap_item_key": f"RM-{rng.randrange(1, 2001)}",
            "link_source": "crm", "crm_roadmap_item_key": None, "review_status": status,
            "reopen_reason": None, "status_changed_at": changed, "current_evaluation_id": None,
            "approved_evaluation_id": None, "version": 2, "work_due_at": due,
            "work_generation": 1, "work_attempts": 0, "claim_token": None,
            "claimed_until": None, "created_at": changed, "updated_at": changed,
        })  # fmt: skip
        tags += [{"commitment_id": commitment_id, "tag": tag} for tag in own_tags]
        if status in ("needs_signoff", "approved", "rejected"):
            counts: dict[tuple[str, str], list[int]] = {}
            for _ in range(rng.randrange(1, 3)):
                blocker = rng.random() < 2 / 3
                keys = [
                    ("code", rng.choice(CODES)),
                    ("item", rows[-1]["roadmap_item_key"]),
                    ("owner", deal["owner"]),
                    *(("tag", tag) for tag in own_tags),
                ]
                for key in keys:
                    tally = counts.setdefault(key, [0, 0])
                    tally[0] += 1
                    tally[1] += blocker
            tallies += [
                {
                    "commitment_id": commitment_id,
                    "dimension": dimension,
                    "key": key,
                    "conflicts": found,
                    "blockers": blockers,
                }
                for (dimension, key), (found, blockers) in counts.items()
            ]
        if len(rows) >= CHUNK:
            yield commitments, rows
            yield commitment_tags, tags
            yield conflict_tallies, tallies
            rows, tallies, tags = [], [], []
    for table, chunk in (
        (commitments, rows),
        (commitment_tags, tags),
        (conflict_tallies, tallies),
    ):
        if chunk:
            yield table, chunk  # fmt: skip


async def load(url: str, total: int) -> float:
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        await upgrade(engine, MIGRATIONS)
        async with engine.begin() as connection:
            for table, rows in book(total, random.Random(7)):
                await connection.execute(table.insert(), rows)
        # As autovacuum would have by then: statistics, and the visibility map that lets
        # PostgreSQL answer from an index alone.
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            vacuum = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
            await autocommit.execute(text(vacuum))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def measure(client: httpx.AsyncClient, label: str, make_request, requests: int) -> None:
    await make_request()  # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        response = await make_request()
        assert response.status_code < 300, response.text
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<44} {wall / requests * 1e3:9.1f} ms wall {cpu / requests * 1e3:8.1f} ms CPU")


async def run(url: str, total: int, requests: int) -> None:
    seconds = await load(url, total)
    print(f"  (loaded {total:,} commitments in {seconds:.0f} s)")
    app = create_app(CommitmentsSettings(_env_file=None, database_url=url, service_token=TOKEN))
    async with app.router.lifespan_context(app):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://c", headers=headers
        ) as client:
            deal_id = (await client.get("/deals", params={"limit": 1})).json()["items"][0]["id"]
            commitment_id = (await client.get("/commitments", params={"limit": 1})).json()["items"][
                0
            ]["id"]
            reads = [
                ("GET /reports/summary", lambda: client.get("/reports/summary")),
                ("GET /reports/conflicts", lambda: client.get("/reports/conflicts")),
                ("GET /reports/aging?sla_hours=48",
                 lambda: client.get("/reports/aging", params={"sla_hours": 48})),
                ("GET /commitments?review_status=needs_signoff",
                 lambda: client.get("/commitments", params={"review_status": "needs_signoff"})),
                ("GET /commitments?conflict_code=non_goal",
                 lambda: client.get("/commitments", params={"conflict_code": "non_goal"})),
                ("GET /commitments?owner=rep7@example.com",
                 lambda: client.get("/commitments", params={"owner": "rep7@example.com"})),
                ("GET /commitments/{id}", lambda: client.get(f"/commitments/{commitment_id}")),
                ("GET /deals/{id}/readiness", lambda: client.get(f"/deals/{deal_id}/readiness")),
                ("POST /work/claims (limit 20)",
                 lambda: client.post("/work/claims", json={"limit": 20})),
            ]  # fmt: skip
            for label, request in reads:
                await measure(client, label, request, requests)


# Each report as a dashboard asks for it; the last three narrowed by a filter (a third of the
# deals are in euros; one owner in 200).
REPORTS = {
    "summary": "/reports/summary",
    "conflicts": "/reports/conflicts",
    "aging": "/reports/aging?sla_hours=48",
    "ledger": "/reports/ledger?limit=50",
    "trend": "/reports/trend?weeks=12",
    "summary_eur": "/reports/summary?currency=EUR",
    "conflicts_owner": "/reports/conflicts?owner=rep7@example.com",
    "ledger_eur": "/reports/ledger?limit=50&currency=EUR",
}


async def time_reports(url: str, requests: int = 3) -> dict:
    """Mean wall ms of each report and of a plain count(*) of the commitments, which reads
    the same rows with nothing else to do: the floor a report is measured against."""
    app = create_app(CommitmentsSettings(_env_file=None, database_url=url, service_token=TOKEN))
    timed: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://c",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client:
            for name, path in REPORTS.items():
                await client.get(path)  # warm up
                began = time.perf_counter()
                for _ in range(requests):
                    (await client.get(path)).raise_for_status()
                timed[name] = (time.perf_counter() - began) / requests * 1e3
        engine = app.state.engine
        async with engine.connect() as connection:
            count = text("SELECT count(*) FROM commitments")
            await connection.execute(count)
            began = time.perf_counter()
            for _ in range(requests):
                await connection.execute(count)
            count_ms = (time.perf_counter() - began) / requests * 1e3
    return {
        "count_ms": round(count_ms, 1),
        "reports_ms": {name: round(ms, 1) for name, ms in timed.items()},
    }


async def postgres_database() -> str | None:
    try:
        admin = await asyncpg.connect(ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    name = f"dealgate_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return name


async def drop_postgres_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commitments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as directory:
            print(f"SQLite, {args.commitments:,} commitments")
            url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            await run(url, args.commitments, args.requests)
    if args.backend in ("postgresql", "both"):
        name = await postgres_database()
        if name is None:
            print("PostgreSQL: not reachable on 127.0.0.1:5432, skipped")
            return
        print(f"PostgreSQL, {args.commitments:,} commitments")
        try:
            await run(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", args.commitments,
                      args.requests)  # fmt: skip
        finally:
            await drop_postgres_database(name)


if __name__ == "__main__":
    asyncio.run(main())
