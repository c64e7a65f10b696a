"""The deal as Dealgate holds it, read from the commitments service: what a connector
needs when the CRM's message carries less than the whole deal (a commitment's message, a
deletion, a workflow body that carries only what changed)."""

from typing import Any

from gateway.relay import refuse
from gateway.upstream import Upstream
from kit.contracts.commitments import DealPage


async def deal_by_crm_id(
    commitments: Upstream, source: str, external_id: str
) -> dict[str, Any] | None:
    response = await commitments.request(
        "GET", "/deals", params={"source": source, "external_id": external_id, "limit": 1}
    )
    if response.status_code != 200:
        refuse(commitments, response)
    page = commitments.parse(response, DealPage)
    return page.items[0].model_dump(mode="json") if page.items else None


async def deal_by_id(commitments: Upstream, deal_id: str) -> dict[str, Any] | None:
    response = await commitments.request("GET", f"/deals/{deal_id}")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        refuse(commitments, response)
    return response.json()
