"""The three apps as real uvicorn processes over real sockets, on each database: the story
of a deal end to end, the roadmap pushing its changes over HTTP, and the roadmap process
stopped and started again with nothing lost."""

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.commitments_helpers import crm_event
from tests.gateway_helpers import (
    CRM,
    PM,
    THREE_PROMISES,
    VIEWER,
    bearer,
    commitment,
    eventually,
    post_webhook,
    readiness,
    reviewer,
    roadmap_with_two_items,
    statuses,
)
from tests.support.processes import free_port, three_apps


@pytest.fixture
def three_processes(commitments_db_url, roadmap_db_url, tmp_path):
    with three_apps(commitments_db_url, roadmap_db_url, tmp_path) as apps:
        yield apps


async def test_the_story_runs_through_three_processes(three_processes):
    async with httpx.AsyncClient(base_url=three_processes["gateway"].url, timeout=10) as gateway:
        await roadmap_with_two_items(gateway)
        await reviewer(gateway)
        answer = (await post_webhook(gateway, crm_event(*THREE_PROMISES))).json()
        assert statuses(answer) == {
            "C-1": "needs_signoff", "C-2": "cleared", "C-3": "needs_signoff"
        }  # fmt: skip
        ids = {c["external_id"]: c["id"] for c in answer["commitments"]}

        approved = await gateway.post(
            f"/v1/commitments/{ids['C-1']}/decision",
            json={"decision": "approve", "comment": "fine"},
            headers=PM,
        )
        assert approved.json()["review_status"] == "approved"
        await gateway.post(
            f"/v1/commitments/{ids['C-3']}/decision",
            json={"decision": "approve", "comment": "paid work"},
            headers=PM,
        )
        assert (await readiness(gateway, answer["deal_id"]))["ready"] is True

        # The slip travels roadmap -> gateway over HTTP and reopens the approval.
        await gateway.patch(
            "/v1/roadmap/items/RM-12", json={"planned_end": "2027-05-01"}, headers=PM
        )
        await eventually(
            lambda: commitment(gateway, ids["C-1"]),
            lambda c: c["review_status"] == "needs_signoff",
        )
        gate = await readiness(gateway, answer["deal_id"])
        assert [b["commitment_id"] for b in gate["blocking"]] == [ids["C-1"]]
        assert (await gateway.get("/readyz")).json()["checks"] == {
            "commitments": "ok", "roadmap": "ok"
        }  # fmt: skip


async def test_the_roadmap_process_stops_and_starts_again_with_nothing_lost(three_processes):
    async with httpx.AsyncClient(base_url=three_processes["gateway"].url, timeout=10) as gateway:
        await roadmap_with_two_items(gateway)
        three_processes["roadmap"].stop()

        taken = await post_webhook(gateway, crm_event(*THREE_PROMISES, deal="D-2002"))
        down = await gateway.get("/v1/roadmap/items", headers=VIEWER)
        not_ready = await gateway.get("/readyz")

        assert taken.status_code == 200, taken.text
        assert set(statuses(taken.json()).values()) == {"evaluation_pending"}
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) >= 1
        assert not_ready.status_code == 503
        deal_id = taken.json()["deal_id"]
        assert (await gateway.get(f"/v1/deals/{deal_id}/readiness", headers=CRM)).json()[
            "ready"
        ] is False

        three_processes["roadmap"].start()

        async def deal_statuses() -> dict[str, str]:
            listed = await gateway.get(
                "/v1/commitments", params={"deal_id": deal_id}, headers=VIEWER
            )
            return {c["external_id"]: c["review_status"] for c in listed.json()["items"]}

        settled = await eventually(
            deal_statuses, lambda s: "evaluation_pending" not in s.values(), seconds=30
        )
        assert settled == {"C-1": "needs_signoff", "C-2": "cleared", "C-3": "needs_signoff"}


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_the_listen_command_prints_events_and_unsubscribes_when_stopped(
    three_processes, tmp_path, stop
):
    gateway = three_processes["gateway"]
    output = tmp_path / "listen.out"
    listener = _listening(gateway.environment, tmp_path, output)
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            await eventually(lambda: _read(output), lambda text: "listening on" in text, seconds=30)
            await roadmap_with_two_items(client)
            await post_webhook(client, crm_event(*THREE_PROMISES))
            await eventually(lambda: _read(output), lambda text: "Z  commitment.flagged" in text)
            listener.send_signal(stop)
            assert listener.wait(timeout=15) == 0
            assert (await _read(output)).splitlines()[-1] == "unsubscribed"
            listed = await client.get("/v1/webhook-subscriptions", headers=bearer("admin"))
            assert listed.json()["items"] == []
    finally:
        listener.kill()


def _listening(environment: dict[str, str], workdir: Path, output: Path) -> subprocess.Popen:
    with output.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "listen", "--port", str(free_port())],
            cwd=workdir,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def _read(path: Path) -> str:
    return await asyncio.to_thread(_text, path)
