"""Outages: what a service failing under load costs the CRMs, the three apps as real uvicorn
processes on loopback, on each database.

- The roadmap stopped for a while during a burst of webhooks: the events are taken (their
  promises wait as evaluation_pending); once the roadmap answers again, how long until the
  last waiting promise is evaluated.
- The commitments service killed (SIGKILL) during a burst and started again: how many
  webhooks were answered 503, and when the last 503 began relative to the service
  answering again (the circuit's probe closes it).
- The commitments service paused (SIGSTOP, its socket still accepting): what one call
  costs before its 503 while the circuit is closed, and once it is open.

    .venv/bin/python bench/outage_bench.py --events 300 --outage-seconds 10
"""

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_bench import (
    JWT_SECRET,
    TOKEN,
    WEBHOOK_SECRET,
    backend_argument,
    deal_event,
    each_backend,
    free_port,
    service_databases,
    signed,
    start,
)

SENDERS = 8


class Stack:
    """The three apps; each can be stopped, killed, paused and started again."""

    def __init__(self, workdir: str, databases: dict[str, str]) -> None:
        ports = {name: free_port() for name in ("gateway", "commitments", "roadmap")}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        self.ports, self.workdir = ports, workdir
        self.environments = {
            "commitments": {
                "COMMITMENTS_PORT": str(ports["commitments"]),
                "COMMITMENTS_DATABASE_URL": databases["commitments"],
                "COMMITMENTS_SERVICE_TOKEN": TOKEN,
            },
            "roadmap": {
                "ROADMAP_PORT": str(ports["roadmap"]),
                "ROADMAP_DATABASE_URL": databases["roadmap"],
                "ROADMAP_SERVICE_TOKEN": TOKEN,
                "ROADMAP_SUBSCRIBER_URL": f"{self.urls['gateway']}/internal/roadmap-changes",
            },
            "gateway": {
                "DEALGATE_PORT": str(ports["gateway"]),
                "DEALGATE_COMMITMENTS_URL": self.urls["commitments"],
                "DEALGATE_ROADMAP_URL": self.urls["roadmap"],
                "DEALGATE_SERVICE_TOKEN": TOKEN,
                "DEALGATE_JWT_SECRET": JWT_SECRET,
                "DEALGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            },
        }
        self.modules = {
            "commitments": "services.commitments",
            "roadmap": "services.roadmap",
            "gateway": "gateway",
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        self.processes[name] = start(
            self.modules[name], self.environments[name], self.workdir, self.ports[name]
        )

    def kill(self, name: str) -> None:
        self.processes[name].kill()
        self.processes[name].wait()

    def signal(self, name: str, number: int) -> None:
        self.processes[name].send_signal(number)

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGCONT)
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


async def post_one(gateway: httpx.AsyncClient, index: int, log: list) -> None:
    """A webhook of a new deal; logs (began, ended, status)."""
    body, headers = signed(deal_event(index), f"outage-{index}")
    began = time.monotonic()
    response = await gateway.post("/v1/webhooks/generic", content=body, headers=headers)
    log.append((began, time.monotonic(), response.status_code))


async def burst(gateway: httpx.AsyncClient, first: int, stop: asyncio.Event, log: list) -> None:
    """Webhooks of new deals back to back until `stop`."""
    while not stop.is_set():
        await post_one(gateway, first + len(log), log)


async def seed_roadmap(gateway: httpx.AsyncClient) -> None:
    await gateway.post(
        "/v1/roadmap/vision-tags", json={"slug": "security", "name": "Security", "kind": "pillar"}
    )
    for key, planned_end in (("RM-1", "2027-02-15"), ("RM-2", "2027-03-31")):
        item = {"key": key, "title": f"Item {key}", "status": "planned",
                "planned_end": planned_end, "vision_tags": ["security"]}  # fmt: skip
        await gateway.post("/v1/roadmap/items", json=item)


async def waiting_count(gateway: httpx.AsyncClient) -> int:
    count, cursor = 0, None
    while True:
        params = {"review_status": ["received", "evaluation_pending"], "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = (await gateway.get("/v1/commitments", params=params)).json()
        count += len(page["items"])
        if not (cursor := page["next_cursor"]):
            return count


async def roadmap_outage(stack: Stack, gateway: httpx.AsyncClient, events: int, outage: float):
    stack.kill("roadmap")
    began = time.monotonic()
    log: list = []
    per_sender = events // SENDERS

    async def sender(n: int) -> None:
        for index in range(n * per_sender, (n + 1) * per_sender):
            await post_one(gateway, index, log)

    await asyncio.gather(*(sender(n) for n in range(SENDERS)))
    await asyncio.sleep(max(0.0, outage - (time.monotonic() - began)))
    await asyncio.to_thread(stack.start, "roadmap")
    back = time.monotonic()
    waiting = left = await waiting_count(gateway)
    while left:
        await asyncio.sleep(0.1)
        left = await waiting_count(gateway)
    taken = sum(1 for _, _, status in log if status == 200)
    print(
        f"  roadmap down {back - began:5.1f} s during {len(log)} webhooks ({taken} taken, "
        f"{waiting} promises waiting): the last evaluated {time.monotonic() - back:5.1f} s "
        "after it answered again"
    )


async def commitments_killed(stack: Stack, gateway: httpx.AsyncClient, outage: float) -> None:
    stop, logs = asyncio.Event(), [[] for _ in range(SENDERS)]
    senders = [
        asyncio.create_task(burst(gateway, 100_000 * (n + 1), stop, logs[n]))
        for n in range(SENDERS)
    ]
    await asyncio.sleep(1.0)
    stack.kill("commitments")
    killed = time.monotonic()
    await asyncio.sleep(outage)
    await asyncio.to_thread(stack.start, "commitments")
    back = time.monotonic()
    await asyncio.sleep(3.0)
    stop.set()
    await asyncio.gather(*senders)
    log = [entry for own in logs for entry in own]
    refused = [began for began, _, status in log if status == 503]
    others = {status for _, _, status in log} - {200, 503}
    last = max(refused, default=back) - back
    print(
        f"  commitments killed for {back - killed:4.1f} s during {len(log)} webhooks: "
        f"{len(refused)} answered 503, the last one begun {last:+5.2f} s from its return"
        + (f"; other statuses {sorted(others)}" if others else "")
    )


async def commitments_paused(stack: Stack, gateway: httpx.AsyncClient) -> None:
    stack.signal("commitments", signal.SIGSTOP)
    try:

        async def call() -> float:
            began = time.monotonic()
            await gateway.get("/v1/deals")
            return time.monotonic() - began

        closed = await asyncio.gather(*(call() for _ in range(5)))
        opened = [await call() for _ in range(20)]
    finally:
        stack.signal("commitments", signal.SIGCONT)
    print(
        f"  commitments paused: {statistics.mean(closed) * 1e3:6.0f} ms wall per call before "
        f"the circuit opened, {statistics.median(opened) * 1e3:6.1f} ms (median) after"
    )


async def run(backend: str, events: int, outage: float) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        async with service_databases(backend, workdir, "dealgate_outage") as databases:
            stack = Stack(workdir, databases)
            claims = {"sub": "bench@example.com", "roles": ["pm"], "exp": int(time.time()) + 3600}
            pm = {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, "HS256")}
            try:
                for name in ("commitments", "roadmap", "gateway"):
                    stack.start(name)
                async with httpx.AsyncClient(
                    base_url=stack.urls["gateway"], headers=pm, timeout=60
                ) as gateway:
                    await seed_roadmap(gateway)
                    print(f"{backend}:")
                    await roadmap_outage(stack, gateway, events, outage)
                    await commitments_killed(stack, gateway, min(outage, 2.3))
                    await commitments_paused(stack, gateway)
            finally:
                stack.stop_all()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--outage-seconds", type=float, default=10.0)
    backend_argument(parser)
    args = parser.parse_args()
    await each_backend(args.backend, lambda backend: run(backend, args.events, args.outage_seconds))


if __name__ == "__main__":
    asyncio.run(main())
