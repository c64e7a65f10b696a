"""HubSpot, after the answer: what the app's webhook batches named, fetched and taken; the
gate written back.

A claimed round of notifications comes down to the deals it concerns: a deal's own events
name it; a commitment record's name it through the record's association with its deal (or,
for a record since deleted, the deal Dealgate holds it under). Every deal is then fetched
once, however many events named it (batch reads of the deals, their companies and their
commitment records; owners and pipelines from caches), and taken as one canonical event
holding the deal and its whole set of commitment records. A deal HubSpot no longer has
withdraws its commitments.

A notification is settled done once every deal it concerns is taken; an API or service
failure leaves it pending, due again after the wait the CRM asked for or a backoff.
"""

import logging
from datetime import datetime

from gateway.crm import hubspot, stored
from gateway.crm.api import CrmRefused, CrmUnavailable
from gateway.crm.hubspot_api import COMMITMENT_PROPERTIES, DEAL_PROPERTIES, HubSpotApi
from gateway.crm.records import readable
from gateway.crm.webhooks import take_adapted
from gateway.evaluator import Evaluator
from gateway.relay import refuse
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit.backoff import backoff_seconds
from kit.contracts.commitments import CommitmentPage
from kit.contracts.crm import (
    ClaimedNotification,
    ClaimedWriteback,
    Ignored,
    NotificationSettlement,
    Retry,
)
from kit.problems import ProblemError

logger = logging.getLogger("gateway.crm.hubspot")
SCHEMAS = "/crm-object-schemas/v3/schemas"


def described(problem: ProblemError) -> str:
    """A problem in one line: its detail and every field at fault."""
    fields = "; ".join(f"{error.field}: {error.message}" for error in problem.errors or [])
    return f"{problem.detail} ({fields})" if fields else problem.detail


class HubSpotConnector:
    source = "hubspot"

    def __init__(
        self,
        api: HubSpotApi,
        commitments: Upstream,
        evaluator: Evaluator,
        *,
        commitment_object: str | None,
        gateway_url: str,
        max_clock_skew,
        max_retry_seconds: float,
    ) -> None:
        self.api, self.commitments, self.evaluator = api, commitments, evaluator
        self.commitment_object = commitment_object
        self.gateway_url = gateway_url.rstrip("/")
        self.max_clock_skew = max_clock_skew
        self.max_retry_seconds = max_retry_seconds
        self._commitment_type: str | None = None

    # Notifications ---------------------------------------------------------------------

    async def take(self, token: str, claimed: list[ClaimedNotification]) -> NotificationSettlement:
        settlement = NotificationSettlement(token=token)
        try:
            await self._take(claimed, settlement)
        except (CrmUnavailable, CrmRefused, UpstreamUnavailable, UpstreamBroken) as error:
            # A refusal (a revoked token, a scope missing) waits for an admin: the longest.
            wait = self.max_retry_seconds if isinstance(error, CrmRefused) else None
            wait = getattr(error, "retry_after", None) or wait
            settled = set(settlement.done) | {item.id for item in settlement.ignored}
            for item in claimed:
                if item.id not in settled:
                    settlement.retry.append(self._retry(item, str(error), wait))
        return settlement

    def _retry(self, item: ClaimedNotification, reason: str, wait: float | None) -> Retry:
        delay = wait if wait is not None else backoff_seconds(item.attempts, self.max_retry_seconds)
        return Retry(id=item.id, reason=reason[:1000], delay_seconds=min(delay, 86_400))

    async def _take(
        self, claimed: list[ClaimedNotification], settlement: NotificationSettlement
    ) -> None:
        commitment_type = await self.commitment_type()
        naming: dict[str, set[str]] = {}
        records: list[ClaimedNotification] = []
        for item in claimed:
            if item.subject == "commitment":
                if commitment_type is None or not self._of_type(item, commitment_type):
                    settlement.ignored.append(
                        Ignored(id=item.id, reason=self._not_commitments(item, commitment_type))
                    )
                    continue
                records.append(item)
                naming[item.id] = {item.deal_external_id} if item.deal_external_id else set()
            else:
                naming[item.id] = {item.deal_external_id or item.object_id}
        unplaced = [item for item in records if not naming[item.id]]
        if unplaced:
            assert commitment_type is not None
            await self._place_records(unplaced, commitment_type, naming)
        deal_ids = sorted({deal for deals in naming.values() for deal in deals})
        taken, problems = await self._take_deals(deal_ids, claimed, naming, commitment_type)
        for item in claimed:
            if item.id not in naming:
                continue
            faults = [problems[deal] for deal in naming[item.id] if deal in problems]
            if faults:
                settlement.ignored.append(Ignored(id=item.id, reason="; ".join(faults)[:1000]))
            elif naming[item.id] <= taken:
                settlement.done.append(item.id)

    def _of_type(self, item: ClaimedNotification, commitment_type: str) -> bool:
        payload = item.payload
        type_id = payload.get("objectTypeId") or payload.get("fromObjectTypeId")
        return type_id == commitment_type

    def _not_commitments(self, item: ClaimedNotification, commitment_type: str | None) -> str:
        type_id = item.payload.get("objectTypeId") or item.payload.get("fromObjectTypeId")
        if commitment_type is None:
            return "DEALGATE_HUBSPOT_COMMITMENT_OBJECT is not set: no commitment object is read"
        return (
            f"HubSpot object type {type_id} is not the commitment object ({commitment_type}, "
            f"DEALGATE_HUBSPOT_COMMITMENT_OBJECT={self.commitment_object})"
        )

    async def commitment_type(self) -> str | None:
        """The commitment object's type id: as set, or resolved from its name once."""
        if self.commitment_object is None or hubspot.CUSTOM_TYPE_ID.match(self.commitment_object):
            return self.commitment_object
        if self._commitment_type is None:
            response = await self.api.call("GET", f"{SCHEMAS}/{self.commitment_object}")
            self._commitment_type = str(response.json()["objectTypeId"])
        return self._commitment_type

    async def _place_records(
        self,
        records: list[ClaimedNotification],
        commitment_type: str,
        naming: dict[str, set[str]],
    ) -> None:
        """The deals of commitment records the events did not name: HubSpot's associations,
        and the deal Dealgate holds the record under (a deleted record has no association
        left, and a record moved to another deal leaves the old one to withdraw it)."""
        associated = await self.api.associations(
            commitment_type, "deals", [item.object_id for item in records]
        )
        for item in records:
            naming[item.id] |= set(associated.get(item.object_id, []))
            holder = await self._holder_of(item.object_id)
            if holder is not None:
                naming[item.id].add(holder)

    async def _holder_of(self, record_id: str) -> str | None:
        response = await self.commitments.request(
            "GET", "/commitments", params={"source": "hubspot", "external_id": record_id}
        )
        if response.status_code != 200:
            refuse(self.commitments, response)
        page = self.commitments.parse(response, CommitmentPage)
        if not page.items:
            return None
        deal = await stored.deal_by_id(self.commitments, page.items[0].deal_id)
        return deal["external_id"] if deal else None

    async def _take_deals(
        self,
        deal_ids: list[str],
        claimed: list[ClaimedNotification],
        naming: dict[str, set[str]],
        commitment_type: str | None,
    ) -> tuple[set[str], dict[str, str]]:
        """Fetches and takes each deal; answers the deals taken, and the deals whose data
        cannot be taken (why), which no retry would change."""
        if not deal_ids:
            return set(), {}
        latest: dict[str, datetime] = {}
        for item in claimed:
            for deal in naming.get(item.id, ()):
                latest[deal] = max(latest.get(deal, item.occurred_at), item.occurred_at)
        deals = await self.api.read_objects("deals", deal_ids, DEAL_PROPERTIES)
        present = sorted(deals)
        companies_of = await self.api.associations("deals", "companies", present)
        company_names = await self.api.read_objects(
            "companies", {ids[0] for ids in companies_of.values() if ids}, ("name",)
        )
        records_of: dict[str, list[str]] = {}
        record_properties: dict[str, dict] = {}
        if commitment_type is not None:
            records_of = await self.api.associations("deals", commitment_type, present)
            record_properties = await self.api.read_objects(
                commitment_type,
                {record for ids in records_of.values() for record in ids},
                COMMITMENT_PROPERTIES,
            )
        taken: set[str] = set()
        problems: dict[str, str] = {}
        for deal_id in deal_ids:
            try:
                if deal_id in deals:
                    companies = companies_of.get(deal_id) or []
                    account = company_names.get(companies[0], {}).get("name") if companies else ""
                    event_id, event = await self._fetched_event(
                        deal_id,
                        deals[deal_id],
                        account=account or "",
                        records=None
                        if commitment_type is None
                        else {
                            record: record_properties[record]
                            for record in records_of.get(deal_id, [])
                            if record in record_properties
                        },
                        latest=latest[deal_id],
                    )
                else:
                    held = await stored.deal_by_crm_id(self.commitments, "hubspot", deal_id)
                    if held is None:
                        taken.add(deal_id)  # never seen, now gone: nothing to do
                        continue
                    event_id, event = hubspot.withdrawn_event(held, latest[deal_id])
                await take_adapted(
                    self.commitments,
                    self.evaluator,
                    "hubspot",
                    (event_id, f"hubspot.deal.{deal_id}"),
                    event,
                    max_clock_skew=self.max_clock_skew,
                    modified_field=f"hubspot.deal.{deal_id}.hs_lastmodifieddate",
                )
            except ProblemError as problem:
                if problem.status >= 500:
                    raise
                problems[deal_id] = f"deal {deal_id}: {described(problem)}"
                logger.warning(
                    "hubspot deal refused", extra={"deal": deal_id, "reason": str(problem)}
                )
                continue
            taken.add(deal_id)
        return taken, problems

    async def _fetched_event(
        self,
        deal_id: str,
        properties: dict,
        *,
        account: str,
        records: dict[str, dict] | None,
        latest: datetime,
    ) -> tuple[str, dict]:
        stage_id = str(properties.get("dealstage") or "")
        pipeline = str(properties.get("pipeline") or "default")
        stage = hubspot.stage_name(stage_id, await self.api.stage(pipeline, stage_id))
        owner_id = properties.get("hubspot_owner_id")
        owner = await self.api.owner_email(str(owner_id)) if owner_id else None
        times = [latest, hubspot.modified_at(properties)]
        commitments, unreadable = None, []
        if records is not None:
            commitments = []
            for record_id, record in sorted(records.items()):
                times.append(hubspot.modified_at(record))
                read = readable(hubspot.commitment_of_record(record_id, record))
                (commitments if "problem" not in read else unreadable).append(read)
        changed_at = max(moment for moment in times if moment is not None)
        return hubspot.fetched_event(
            deal_id,
            properties,
            stage=stage,
            owner=owner,
            account=account,
            commitments=commitments,
            unreadable=unreadable,
            changed_at=changed_at,
        )

    # The write-back --------------------------------------------------------------------

    async def write_back(self, item: ClaimedWriteback) -> None:
        """The gate as deal properties. A deal HubSpot no longer has has no gate to show."""
        properties = {
            "dealgate_ready": "true" if item.ready else "false",
            "dealgate_blocking_count": str(item.blocking_count),
            "dealgate_url": f"{self.gateway_url}/v1/deals/{item.deal_id}/readiness",
        }
        if not await self.api.update_deal(item.external_id, properties):
            logger.warning("hubspot deal gone", extra={"deal": item.external_id})
