"""Small builders the commitments tests share: CRM events, conflicts, evaluations."""

import itertools
from datetime import UTC, datetime, timedelta

import httpx

_event_ids = itertools.count(1)
BASE_TIME = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


TRIAGE = "triage"  # the review area of the helpers' evaluations


def at(minutes: int) -> str:
    """A CRM modification time, `minutes` after a fixed base."""
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def promise(external_id: str = "C-1", **overrides: object) -> dict:
    body: dict[str, object] = {
        "external_id": external_id,
        "kind": "feature",
        "summary": "SSO with Okta",
        "roadmap_item_key": "RM-12",
        "promised_by": "2027-03-01",
        "tags": ["enterprise-security"],
    }
    body.update(overrides)
    return body


def crm_event(
    *promises: dict,
    deal: str = "D-1001",
    updated: int = 0,
    snapshot: bool = True,
    **deal_overrides: object,
) -> dict:
    body = {
        "source": "generic",
        "external_id": deal,
        "name": "Acme expansion",
        "account": "Acme Corp",
        "amount": "250000.00",
        "currency": "USD",
        "stage": "open",
        "expected_close": "2026-12-15",
        "owner": "rep@example.com",
        "updated_at": at(updated),
    }
    body.update(deal_overrides)
    return {
        "event_type": "deal.upserted",
        "occurred_at": at(updated),
        "snapshot": snapshot,
        "deal": body,
        "commitments": list(promises) if promises else [promise()],
    }


def new_event_id() -> str:
    return f"evt_{next(_event_ids)}"


async def send(
    client: httpx.AsyncClient, event: dict, event_id: str | None = None, source: str = "generic"
) -> httpx.Response:
    return await client.put(f"/crm-events/{source}/{event_id or new_event_id()}", json=event)


async def take(client: httpx.AsyncClient, event: dict, event_id: str | None = None) -> dict:
    response = await send(client, event, event_id)
    assert response.status_code == 200, response.text
    return response.json()


class Book:
    """A book of deals built for a report's test: each commitment's id by
    "<deal>.<external id>"."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client, self.ids = client, {}

    async def deal(self, name: str, *promises: dict, source: str = "generic", **fields) -> None:
        event = crm_event(*promises, deal=name, source=source, **fields)
        response = await send(self.client, event, source=source)
        assert response.status_code == 200, response.text
        for made in response.json()["commitments"]:
            self.ids[f"{name}.{made['external_id']}"] = made["id"]


def conflict(
    code: str,
    *,
    severity: str = "blocker",
    item: str | None = "RM-12",
    planned_end: str | None = None,
    promised_by: str | None = None,
    tags: list[str] | None = None,
    needs_signoff: bool = True,
) -> dict:
    evidence: dict[str, object] = {"tags": tags or []}
    if item:
        evidence["item_key"] = item
    if planned_end:
        evidence["planned_end"] = planned_end
    if promised_by:
        evidence["promised_by"] = promised_by
    return {
        "code": code,
        "severity": severity,
        "message": f"{code} on {item}",
        "needs_signoff": needs_signoff,
        "evidence": evidence,
    }


def slip(planned_end: str, promised_by: str = "2027-03-01") -> dict:
    return conflict("date_before_plan", planned_end=planned_end, promised_by=promised_by)


async def read(client: httpx.AsyncClient, commitment_id: str) -> dict:
    response = await client.get(f"/commitments/{commitment_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def claim_one(client: httpx.AsyncClient, commitment_id: str) -> dict | None:
    """Owes the commitment a re-check and claims it, as the gateway does."""
    await client.post("/work/rechecks", json={"commitment_ids": [commitment_id]})
    response = await client.post("/work/claims", json={"commitment_ids": [commitment_id]})
    assert response.status_code == 200, response.text
    found = response.json()["items"]
    return found[0] if found else None


async def evaluate(
    client: httpx.AsyncClient,
    commitment_id: str,
    *conflicts: dict,
    claim: dict | None = None,
    version: int | None = None,
    **fields: object,
) -> httpx.Response:
    """Records an evaluation under `claim` (by default, a fresh claim of it)."""
    if claim is None:
        claim = await claim_one(client, commitment_id) or {
            "claim_token": "0" * 32, "version": 1, "work_generation": 0
        }  # fmt: skip
    body = {
        "claim_token": claim["claim_token"],
        "evaluated_version": version or claim["version"],
        "work_generation": claim["work_generation"],
        "conflicts": list(conflicts),
        "review_area": TRIAGE,
        **fields,
    }
    return await client.post(f"/commitments/{commitment_id}/evaluations", json=body)


async def evaluated(client: httpx.AsyncClient, commitment_id: str, *conflicts: dict) -> dict:
    response = await evaluate(client, commitment_id, *conflicts)
    assert response.status_code == 200, response.text
    return response.json()


async def decide(
    client: httpx.AsyncClient,
    commitment_id: str,
    decision: str = "approve",
    *,
    comment: str = "ok",
    by: str = "ana@example.com",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """As the PM `by`, put in the directory as a reviewer of the triage area (where the
    helpers' evaluations are) if they are not in it yet."""
    if (await client.get(f"/reviewers/{by}")).status_code == 404:
        assert (await client.put(f"/reviewers/{by}", json={"areas": [TRIAGE]})).status_code == 201
    body = {"decision": decision, "comment": comment, "decided_by": by, "role": "pm"}
    return await client.post(
        f"/commitments/{commitment_id}/decisions", json=body, headers=headers or {}
    )


async def first_commitment(client: httpx.AsyncClient, event: dict | None = None) -> str:
    """Takes an event (a deal with one promise) and answers that commitment's id."""
    answer = await take(client, event or crm_event())
    return answer["commitments"][0]["id"]


async def needing_signoff(client: httpx.AsyncClient) -> str:
    """A commitment awaiting sign-off for a date_before_plan on RM-12 (planned 2027-04-01)."""
    commitment_id = await first_commitment(client)
    await evaluated(client, commitment_id, slip("2027-04-01"))
    return commitment_id


def item_changed(key: str, version: int | None = None) -> dict:
    """A re-check owed for a roadmap item's change (`/work/rechecks`); no version: always."""
    return {"entity": "roadmap_item", "key": key, "version": version}


def tag_changed(slug: str, version: int | None = None, item_keys: tuple[str, ...] = ()) -> dict:
    """A re-check owed for a vision tag's change, with the items carrying it."""
    return {"entity": "vision_tag", "key": slug, "version": version, "item_keys": list(item_keys)}
