"""The public contract, proven by a client nobody here wrote: `openapi-python-client`
generates a Python client from openapi/gateway.json, and that code, unmodified, works a PM's
day against a running gateway: the queue, a commitment and its ETag, a decision (a stale
ETag refused), the deal's readiness, and every report with its filters. Every answer is
parsed into the generated models, and an undocumented status would raise."""

import importlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.commitments_helpers import crm_event
from tests.conftest import Stack
from tests.gateway_helpers import (
    THREE_PROMISES,
    bearer,
    post_webhook,
    reviewer,
    roadmap_with_two_items,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "dealgate_client"
# No formatting of the generated code (its post hooks run ruff from PATH): it is read, not kept.
CONFIG = "post_hooks: []\n"


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """The generated package, imported from a folder of its own."""
    folder = tmp_path_factory.mktemp("generated")
    config = folder / "config.yaml"
    config.write_text(CONFIG)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "openapi-python-client"), "generate",
            "--path", str(ROOT / "openapi" / "gateway.json"),
            "--meta", "none",
            "--output-path", str(folder / PACKAGE),
            "--config", str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # Only the Salesforce webhook (an XML body, which the generator does not take) is left out.
    said = done.stdout + done.stderr
    skipped = [line for line in said.splitlines() if "will not be generated" in line]
    assert skipped == ["WARNING parsing POST /v1/webhooks/salesforce within webhooks. "
                       "Endpoint will not be generated."], said  # fmt: skip
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _api(tag: str, operation: str):
    """The generated module of one operation (a tag's folder, the operationId's file)."""
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")


def _client(generated, stack: Stack, roles: tuple[str, ...] = ("pm", "viewer")):
    """The generated client, its calls carried in-process to the running gateway."""
    client = generated.AuthenticatedClient(
        base_url="http://gateway", token="unused", raise_on_unexpected_status=True
    )
    client.set_async_httpx_client(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=stack.gateway_app),
            base_url="http://gateway",
            headers=bearer(*roles),
        )
    )
    return client


async def test_a_pm_works_the_queue_through_the_generated_client(
    generated, commitments_db_url, roadmap_db_url
):
    models = importlib.import_module(f"{PACKAGE}.models")
    stack = Stack(commitments_db_url, roadmap_db_url)
    async with stack.running() as gateway:
        await roadmap_with_two_items(gateway)
        await reviewer(gateway)
        await post_webhook(gateway, crm_event(*THREE_PROMISES))
        client = _client(generated, stack)

        # The queue: oldest first, each with its deal and what needs sign-off.
        aging = await _api("reports", "report_aging").asyncio_detailed(client=client)
        assert aging.status_code == 200
        queue = aging.parsed
        assert isinstance(queue, models.AgingReport)
        assert queue.awaiting == 2
        by_code = {tuple(item.conflict_codes): item for item in queue.items}
        slipped = by_code[(models.ConflictCode.DATE_BEFORE_PLAN,)]
        assert slipped.deal_name == "Acme expansion"
        assert slipped.reviewers_due == ["ana@example.com"]
        listed = await _api("commitments", "list_commitments").asyncio(
            client=client, review_status=[models.ReviewStatus.NEEDS_SIGNOFF]
        )
        assert {item.id for item in listed.items} == {item.commitment_id for item in queue.items}

        # A commitment and its ETag; unchanged, it answers 304.
        read = await _api("commitments", "get_commitment").asyncio_detailed(
            slipped.commitment_id, client=client
        )
        assert isinstance(read.parsed, models.CommitmentRead)
        assert read.parsed.conflicts[0].evidence.item_key == "RM-12"
        etag = read.headers["etag"]
        unchanged = await _api("commitments", "get_commitment").asyncio_detailed(
            slipped.commitment_id, client=client, if_none_match=etag
        )
        assert unchanged.status_code == 304

        # A decision with the ETag it was read at; another decision at that ETag is stale (the
        # same one again would be a retry, answered as the first was).
        approval = models.DecisionRequest(
            decision=models.DecisionRequestDecision.APPROVE, comment="Pilot only"
        )
        decided = await _api("commitments", "decide").asyncio_detailed(
            slipped.commitment_id, client=client, body=approval, if_match=etag
        )
        assert decided.status_code == 200
        assert decided.parsed.review_status == models.ReviewStatus.APPROVED
        rejection = models.DecisionRequest(
            decision=models.DecisionRequestDecision.REJECT, comment="Not this quarter"
        )
        stale = await _api("commitments", "decide").asyncio_detailed(
            slipped.commitment_id, client=client, body=rejection, if_match=etag
        )
        assert stale.status_code == 412
        assert isinstance(stale.parsed, models.Problem)

        # The deal's readiness: the custom work still holds it, until it is decided too.
        deal_id = read.parsed.deal.id
        gate = await _api("deals", "get_deal_readiness").asyncio(deal_id, client=client)
        assert (gate.ready, len(gate.blocking)) == (False, 1)
        rest = gate.blocking[0].commitment_id
        await _api("commitments", "decide").asyncio(rest, client=client, body=approval)
        gate = await _api("deals", "get_deal_readiness").asyncio(deal_id, client=client)
        assert (gate.ready, gate.blocking) == (True, [])
        not_ready = await _api("deals", "list_deals").asyncio(client=client, ready=False)
        assert not_ready.items == []

        # Every report, filtered as a dashboard would.
        summary = await _api("reports", "report_summary").asyncio(client=client, currency="USD")
        assert {row.review_status: row.commitments for row in summary.by_status} == {
            models.ReviewStatus.APPROVED: 2,
            models.ReviewStatus.CLEARED: 1,
        }
        assert summary.revenue_at_risk == []
        conflicts = await _api("reports", "report_conflicts").asyncio(
            client=client, owner="rep@example.com"
        )
        assert {group.key for group in conflicts.by_code} >= {"date_before_plan", "custom_work"}
        ledger = await _api("reports", "report_ledger").asyncio(client=client, limit=10)
        assert [(item.roadmap_item_key, item.promises) for item in ledger.items] == [
            ("RM-12", 1),
            ("RM-20", 1),
        ]
        assert ledger.items[0].blocked == []
        assert ledger.items[0].at_stake[0].amount == "250000.00"
        trend = await _api("reports", "report_trend").asyncio(client=client, weeks=2)
        assert len(trend.weeks) == 2
        assert (trend.weeks[-1].received, trend.weeks[-1].approved) == (3, 2)
        refused = await _api("reports", "report_trend").asyncio_detailed(client=client, weeks=500)
        assert refused.status_code == 422
        assert isinstance(refused.parsed, models.Problem)


async def test_the_generated_client_reads_a_refusal_as_a_problem(
    generated, commitments_db_url, roadmap_db_url
):
    models = importlib.import_module(f"{PACKAGE}.models")
    stack = Stack(commitments_db_url, roadmap_db_url)
    async with stack.running():
        client = _client(generated, stack, roles=("crm",))

        answer = await _api("reports", "report_ledger").asyncio_detailed(client=client)

    assert answer.status_code == 403
    assert isinstance(answer.parsed, models.Problem)
    assert "viewer" in answer.parsed.detail
