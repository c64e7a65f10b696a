"""Events out: how fast a backlog of webhook deliveries drains to a local receiver.

A backlog of `--events` events (`--per-deal` to each deal, so deal order matters) is written
into the outbox of a fresh commitments database, queued for one subscription whose URL is
a receiver on loopback (a separate uvicorn process answering 204 at once). Then the
commitments service starts as a real process with its dispatcher on, and the receiver
times the first and the last delivery. Figures: the drain rate, and the wall time per event.

    .venv/bin/python bench/events_bench.py --events 10000
"""

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_bench import (  # noqa: E402
    TOKEN,
    backend_argument,
    each_backend,
    free_port,
    service_databases,
    start,
    stop,
)

from kit.contracts.events import ENVELOPES, EXAMPLE_DATA, EventType  # noqa: E402
from kit.db import create_engine  # noqa: E402
from services.commitments.tables import (  # noqa: E402
    deals,
    outbox_events,
    webhook_deliveries,
)

RECEIVER = textwrap.dedent(
    """
    import sys, time, uvicorn
    seen = {"count": 0, "first": None, "last": None}
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/stats":
            body = repr(seen).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        now = time.monotonic()
        seen["count"] += 1
        seen["first"] = seen["first"] or now
        seen["last"] = now
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


async def _backlog(database_url: str, subscription_id: str, events: int, per_deal: int) -> None:
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    kind = EventType.commitment_flagged
    payload = ENVELOPES[kind](
        id="evt_x", type=kind.value, occurred_at=now, data=EXAMPLE_DATA[kind]
    ).model_dump(mode="json")
    deal_ids = [str(uuid.uuid4()) for _ in range((events + per_deal - 1) // per_deal)]
    async with engine.begin() as connection:
        await connection.execute(
            deals.insert(),
            [
                {
                    "id": deal_id, "source": "generic", "external_id": f"D-{n}",
                    "name": "Acme", "account": "Acme Corp", "amount_cents": 100, "currency": "USD",
                    "stage": "open", "crm_updated_at": now, "crm_occurred_at": now,
                    "created_at": now, "updated_at": now,
                }
                for n, deal_id in enumerate(deal_ids)
            ],
        )  # fmt: skip
        for start_at in range(0, events, 1000):
            rows = []
            for n in range(start_at, min(events, start_at + 1000)):
                event_id = f"evt_{uuid.uuid4().hex}"
                rows.append(
                    {
                        "id": event_id, "type": kind.value, "deal_id": deal_ids[n % len(deal_ids)],
                        "commitment_id": None, "occurred_at": now,
                        "payload": {**payload, "id": event_id}, "routed_at": now,
                    }
                )  # fmt: skip
            sequences = (
                await connection.execute(
                    outbox_events.insert().returning(
                        outbox_events.c.sequence, outbox_events.c.deal_id
                    ),
                    rows,
                )
            ).all()
            await connection.execute(
                webhook_deliveries.insert(),
                [
                    {
                        "subscription_id": subscription_id, "event_sequence": sequence,
                        "deal_id": deal_id, "replay": False, "attempts": 0, "queued_at": now,
                    }
                    for sequence, deal_id in sequences
                ],
            )  # fmt: skip
    await engine.dispose()


def _environment(database_url: str, port: int, dispatching: bool, batch: int) -> dict:
    return {
        "COMMITMENTS_PORT": str(port),
        "COMMITMENTS_DATABASE_URL": database_url,
        "COMMITMENTS_SERVICE_TOKEN": TOKEN,
        "COMMITMENTS_DISPATCH_INTERVAL_SECONDS": "0.05" if dispatching else "0",
        "COMMITMENTS_DISPATCH_BATCH_SIZE": str(batch),
        "COMMITMENTS_NOTIFY_INTERVAL_SECONDS": "0",
    }


async def run(backend: str, events: int, per_deal: int, batch: int, *, quiet: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        async with service_databases(backend, workdir, "bench_events") as databases:
            database_url = databases["commitments"]
            receiver_port, port = free_port(), free_port()
            receiver = _start_receiver(receiver_port, workdir)
            service = start(
                "services.commitments",
                _environment(database_url, port, False, batch),
                workdir,
                port,
            )
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                ) as client:
                    created = await client.post(
                        "/webhook-subscriptions",
                        json={
                            "url": f"http://127.0.0.1:{receiver_port}/hook",
                            "event_types": ["commitment.flagged"],
                        },
                    )
                    created.raise_for_status()
                stop([service])
                began = time.monotonic()
                await _backlog(database_url, created.json()["id"], events, per_deal)
                loaded = time.monotonic() - began
                service = start(
                    "services.commitments",
                    _environment(database_url, port, True, batch),
                    workdir,
                    port,
                )
                stats = await _drained(receiver_port, events)
            finally:
                stop([service])
                receiver.terminate()
                receiver.wait()
    seconds = stats["last"] - stats["first"]
    rate = stats["count"] / seconds if seconds else float("inf")
    figures = {"events": stats["count"], "seconds": round(seconds, 1), "rate": round(rate, 1)}
    if quiet:
        return figures
    print(
        f"{backend}: {stats['count']:,} events ({per_deal} per deal) drained to a local receiver "
        f"in {seconds:.1f} s: {rate:,.0f} events/s, {1000 / rate:.2f} ms wall per event "
        f"(backlog written in {loaded:.1f} s, batch {batch})"
    )
    return figures


def _start_receiver(port: int, workdir: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)], cwd=workdir)


async def _drained(receiver_port: int, events: int, seconds: float = 1800) -> dict:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            stats = _parse((await client.get(f"http://127.0.0.1:{receiver_port}/stats")).text)
            if stats["count"] >= events:
                return stats
            await asyncio.sleep(0.2)
    raise RuntimeError(f"not drained in {seconds} s: {stats}")


def _parse(text: str) -> dict:
    return json.loads(text.replace("'", '"').replace("None", "null"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--per-deal", type=int, default=5)
    parser.add_argument("--batch", type=int, default=50)
    backend_argument(parser)
    args = parser.parse_args()
    await each_backend(
        args.backend, lambda backend: run(backend, args.events, args.per_deal, args.batch)
    )


if __name__ == "__main__":
    asyncio.run(main())
