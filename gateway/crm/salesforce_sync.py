"""Salesforce through its API: the gate written back to the Opportunity, and commitments
reconciled, since Salesforce sends no Outbound Message when a record is deleted.

Reconciling an opportunity reads its `Dealgate_Commitment__c` records by SOQL and takes
them as the deal's whole set (a snapshot, on the deal as Dealgate holds it, at its own
time): a record that is gone is withdrawn, one that changed while a message was lost is
brought up to date. It runs before each write-back of the opportunity's gate (so the gate
written counts only records that exist) and, on a schedule, for every open opportunity that
still has commitments.
"""

import logging
from typing import Any

from gateway.crm import salesforce, stored
from gateway.crm.canonical import content_event_id
from gateway.crm.records import readable
from gateway.crm.salesforce_api import SalesforceApi, soql_string
from gateway.crm.webhooks import take_adapted
from gateway.evaluator import Evaluator
from gateway.relay import refuse
from gateway.upstream import Upstream
from kit.contracts.commitments import MAX_PAGE, DealPage
from kit.contracts.crm import ClaimedWriteback
from kit.problems import ProblemError

logger = logging.getLogger("gateway.crm.salesforce")
COMMITMENT_FIELDS = (
    "Id",
    "External_Id__c",
    "Kind__c",
    "Summary__c",
    "Roadmap_Item_Key__c",
    "Promised_By__c",
    "Tags__c",
    "Status__c",
    "Answer__c",
)
OPPORTUNITY_FIELDS = ("Dealgate_Ready__c", "Dealgate_Blocking__c", "Dealgate_URL__c")


def commitment_of_record(record: dict[str, Any]) -> dict[str, Any]:
    """A `Dealgate_Commitment__c` record as SOQL answers it, in the canonical shape."""
    tags = [tag.strip() for tag in (record.get("Tags__c") or "").split(";") if tag.strip()]
    return {
        "external_id": record.get("External_Id__c") or record["Id"],
        "kind": record.get("Kind__c") or "",
        "summary": record.get("Summary__c") or "",
        "roadmap_item_key": record.get("Roadmap_Item_Key__c") or None,
        "promised_by": record.get("Promised_By__c") or None,
        "tags": tags,
        "withdrawn": salesforce.is_withdrawn(record.get("Status__c")),
        "answer": record.get("Answer__c") or None,
    }


class SalesforceConnector:
    source = "salesforce"

    def __init__(
        self,
        api: SalesforceApi,
        commitments: Upstream,
        evaluator: Evaluator,
        *,
        gateway_url: str,
        max_clock_skew,
    ) -> None:
        self.api, self.commitments, self.evaluator = api, commitments, evaluator
        self.gateway_url = gateway_url.rstrip("/")
        self.max_clock_skew = max_clock_skew

    async def write_back(self, item: ClaimedWriteback) -> None:
        deal = await stored.deal_by_id(self.commitments, item.deal_id)
        if deal is not None and deal["stage"] == "open":
            await self.reconcile(deal)
        fields = {
            "Dealgate_Ready__c": item.ready,
            "Dealgate_Blocking__c": item.blocking_count,
            "Dealgate_URL__c": f"{self.gateway_url}/v1/deals/{item.deal_id}/readiness",
        }
        if not await self.api.update("Opportunity", item.external_id, fields):
            logger.warning("salesforce opportunity gone", extra={"deal": item.external_id})

    async def reconcile(self, deal: dict[str, Any]) -> None:
        """The opportunity's commitments as Salesforce has them now."""
        records = await self.api.query(
            f"SELECT {', '.join(COMMITMENT_FIELDS)} FROM {salesforce.COMMITMENT_OBJECT} "
            f"WHERE Opportunity__c = {soql_string(deal['external_id'])} ORDER BY Id"
        )
        event = salesforce.commitment_event(
            deal, [readable(commitment_of_record(record)) for record in records], snapshot=True
        )
        event_id = content_event_id(f"reconcile-{deal['external_id']}", event)
        try:
            await take_adapted(
                self.commitments,
                self.evaluator,
                "salesforce",
                (event_id, "salesforce.reconcile"),
                event,
                max_clock_skew=self.max_clock_skew,
                modified_field=f"salesforce.Opportunity.{deal['external_id']}",
            )
        except ProblemError as problem:
            if problem.status >= 500:
                raise
            logger.warning(
                "salesforce reconciliation refused",
                extra={"deal": deal["external_id"], "reason": problem.detail},
            )

    async def reconcile_all(self) -> int:
        """Every open Salesforce opportunity Dealgate holds: answers how many."""
        count, cursor = 0, None
        while True:
            params: dict[str, Any] = {"source": "salesforce", "stage": "open", "limit": MAX_PAGE}
            if cursor:
                params["cursor"] = cursor
            response = await self.commitments.request("GET", "/deals", params=params)
            if response.status_code != 200:
                refuse(self.commitments, response)
            page = self.commitments.parse(response, DealPage)
            for deal in page.items:
                await self.reconcile(deal.model_dump(mode="json"))
                count += 1
            if page.next_cursor is None:
                return count
            cursor = page.next_cursor
