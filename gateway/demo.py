"""Demo deals for `make run`: four CRM events, signed and posted to the running gateway like
a CRM would, against the roadmap service's demo roadmap. Between them they show every kind
of answer: a promise before plan, a declined item and a non-goal, custom work, a date at
risk, an unlinked feature with its best matches, and a deal that is ready to close.

Event ids are fixed, so posting them again (every `make run`) answers `duplicate`."""

import asyncio
import json
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

UPDATED = "2026-11-20T09:00:00Z"


def _event(external_id: str, name: str, account: str, amount: str, owner: str, *promises):
    return {
        "event_type": "deal.upserted",
        "occurred_at": UPDATED,
        "snapshot": True,
        "deal": {
            "source": "generic", "external_id": external_id, "name": name, "account": account,
            "amount": amount, "currency": "USD", "stage": "open", "expected_close": "2027-01-15",
            "owner": owner, "updated_at": UPDATED,
        },
        "commitments": [
            {"external_id": f"C-{n}", **promise} for n, promise in enumerate(promises, start=1)
        ],
    }  # fmt: skip


DEMO_EVENTS = [
    _event(
        "D-1001", "Acme expansion", "Acme Corp", "250000.00", "rep@example.com",
        {"kind": "feature", "summary": "SSO with Okta", "roadmap_item_key": "RM-2",
         "promised_by": "2027-01-31", "tags": ["enterprise-security"]},
        {"kind": "feature", "summary": "SAML single sign-on", "roadmap_item_key": "RM-1",
         "tags": ["enterprise-security"]},
        {"kind": "integration", "summary": "Two-way Salesforce sync", "roadmap_item_key": "RM-5",
         "promised_by": "2027-06-30"},
    ),
    _event(
        "D-1002", "Globex private cloud", "Globex", "480000.00", "sam@example.com",
        {"kind": "feature", "summary": "Run it in our own data centre",
         "roadmap_item_key": "RM-11", "tags": ["on-prem"]},
        {"kind": "custom_work", "summary": "A fork with Globex's approval workflow",
         "tags": ["custom-forks"]},
    ),
    _event(
        "D-1003", "Initech analytics", "Initech", "90000.00", "rep@example.com",
        {"kind": "feature", "summary": "Custom dashboards", "roadmap_item_key": "RM-8",
         "promised_by": "2027-12-31"},
        {"kind": "feature", "summary": "Revenue forecasting by region", "tags": ["analytics"]},
    ),
    _event(
        "D-1004", "Umbrella renewal", "Umbrella", "60000.00", "sam@example.com",
        {"kind": "integration", "summary": "HubSpot integration", "roadmap_item_key": "RM-6",
         "promised_by": "2027-09-30"},
    ),
]  # fmt: skip


async def send_demo_deals(base_url: str, webhook_secret: str) -> list[dict]:
    """Posts every demo event; answers the webhook's answers."""
    signer = Webhook(webhook_secret)
    answers = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for event in DEMO_EVENTS:
            event_id = f"demo-{event['deal']['external_id']}-1"
            body = json.dumps(event)
            moment = datetime.now(UTC)
            response = await client.post(
                "/v1/webhooks/generic",
                content=body,
                headers={
                    "content-type": "application/json",
                    "webhook-id": event_id,
                    "webhook-timestamp": str(int(moment.timestamp())),
                    "webhook-signature": signer.sign(event_id, moment, body),
                },
            )
            response.raise_for_status()
            answers.append(response.json())
    return answers


# A deal may close once none of its promises waits for, or was refused, a sign-off.
SETTLED = {"cleared", "approved", "withdrawn"}


def summary(answers: list[dict]) -> list[str]:
    """What `make run` shows of the demo: each deal by its CRM id and name, whether it may
    close, and what each promise came to (statuses as they are now, on a re-run)."""
    lines = []
    for event, answer in zip(DEMO_EVENTS, answers, strict=True):
        deal = event["deal"]
        promises = answer["commitments"]
        ready = all(promise["review_status"] in SETTLED for promise in promises)
        statuses = ", ".join(f"{p['external_id']} {p['review_status']}" for p in promises)
        again = " (posted before)" if answer["status"] == "duplicate" else ""
        lines.append(
            f"  {deal['external_id']} {deal['name']:<22} "
            f"{'ready to close' if ready else 'not ready':<15} {statuses}{again}"
        )
    return lines


def post_and_summarize(base_url: str, webhook_secret: str) -> list[str]:
    """Posts the demo deals and answers the lines that summarize them; SystemExit with one
    line when the gateway cannot take them."""
    try:
        answers = asyncio.run(send_demo_deals(base_url, webhook_secret))
    except httpx.HTTPStatusError as error:
        raise SystemExit(
            f"gateway seed: the gateway at {base_url} answered {error.response.status_code} "
            f"to a demo deal: {error.response.text[:200]}"
        ) from None
    except httpx.HTTPError as error:
        raise SystemExit(
            f"gateway seed: cannot reach the gateway at {base_url} ({type(error).__name__}): "
            "is it running (make run)?"
        ) from None
    return ["Demo deals, posted to the gateway's webhook as a CRM would:", *summary(answers)]


def main(base_url: str, webhook_secret: str) -> None:
    print("\n".join(post_and_summarize(base_url, webhook_secret)))
