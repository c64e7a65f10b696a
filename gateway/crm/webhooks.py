"""CRM webhooks: authenticate the sender by its signature, hand the canonical event to the
commitments service (which takes each event id once), then evaluate the commitments it names
and answer each one's review status.

The event is durably taken before anything is evaluated, so a 2xx never loses it: when the
roadmap cannot be read the commitments wait as evaluation_pending for the sweep, and when
the gateway dies between the two steps the sweep (or the CRM's retry, answered `duplicate`)
evaluates them.
"""

import asyncio
import contextlib
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Query, Request, Response
from pydantic import ValidationError

from gateway.crm import hubspot, salesforce, stored
from gateway.crm.api import CrmRefused, CrmUnavailable
from gateway.crm.generic import verify_standard_webhook
from gateway.crm.records import readable
from gateway.dependencies import Commitments, EvaluatorDep
from gateway.evaluator import LEASE_SECONDS, Evaluator
from gateway.relay import refuse
from gateway.routing import public_router
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit.contracts.commitments import (
    EVENT_ID_PATTERN,
    MAX_PAGE,
    CommitmentPage,
    CrmEvent,
    IntakeAnswer,
    IntakeClaimed,
    ReviewStatus,
    Source,
)
from kit.contracts.crm import NotificationsTaken
from kit.problems import field_problem, problem_responses, validation_problem


def _required_headers(*described: tuple[str, str]) -> list[dict]:
    """OpenAPI parameters for the signature headers a route reads itself."""
    return [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"},
         "description": text}
        for name, text in described
    ]  # fmt: skip


router = public_router(authenticated=False)
SALESFORCE_EXAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5e000000AbCdEAK</OrganizationId>
   <ActionId>04k5e000000AbCdAAK</ActionId>
   <Notification>
    <Id>04l5e000000AbCdAAK</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0065e000000AbCdAAK</sf:Id>
     <sf:Name>Acme expansion</sf:Name>
     <sf:Amount>250000.0</sf:Amount>
     <sf:StageName>Negotiation/Review</sf:StageName>
     <sf:CloseDate>2026-12-15</sf:CloseDate>
     <sf:LastModifiedDate>2026-11-20T09:59:00.000Z</sf:LastModifiedDate>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""
HUBSPOT_HEADERS = _required_headers(
    ("X-HubSpot-Signature-v3", "base64 HMAC-SHA256 of method, URI, body and timestamp."),
    ("X-HubSpot-Request-Timestamp", "Epoch milliseconds; refused 5 minutes away."),
)
HUBSPOT_BATCH = {
    "type": "array",
    "description": "A HubSpot app's webhook batch.",
    "items": {"type": "object", "additionalProperties": True},
    "examples": [
        [
            {
                "eventId": 1000001, "subscriptionId": 2500, "portalId": 62515,
                "appId": 1160452, "occurredAt": 1763632740000,
                "subscriptionType": "deal.creation", "attemptNumber": 0,
                "objectId": 1234567890, "changeSource": "CRM", "changeFlag": "NEW",
            },
            {
                "eventId": 1000002, "subscriptionId": 2501, "portalId": 62515,
                "appId": 1160452, "occurredAt": 1763632741000,
                "subscriptionType": "object.propertyChange", "objectTypeId": "2-3456789",
                "attemptNumber": 0, "objectId": 987654321, "propertyName": "summary",
                "propertyValue": "SSO with Okta", "changeSource": "CRM",
            },
        ]
    ],
}  # fmt: skip
HUBSPOT_BODY = {
    "type": "object",
    "description": "The deal's properties as the workflow sends them.",
    "additionalProperties": True,
    "examples": [
        {
            "hs_object_id": "1234567890", "dealname": "Acme expansion",
            "dealstage": "contractsent", "amount": "250000", "deal_currency_code": "USD",
            "closedate": "2026-12-15", "hs_lastmodifieddate": "1763632740000",
            "owner_email": "rep@example.com", "account_name": "Acme Corp",
            "dealgate_commitments": '[{"external_id": "C-1", "kind": "feature", '
            '"summary": "SSO with Okta", "roadmap_item_key": "RM-12", '
            '"promised_by": "2027-03-01"}]',
        }
    ],
}  # fmt: skip
logger = logging.getLogger("gateway.webhooks")
ELSEWHERE_WAIT_SECONDS = 2.0
SIGNATURE_HEADERS = _required_headers(
    ("webhook-id", "The event id: a re-delivery carries the same one."),
    ("webhook-timestamp", "Unix seconds; refused more than 5 minutes from now."),
    ("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256>` signatures."),
)


def parse_event(
    data: bytes | dict,
    max_clock_skew: timedelta,
    where: str = "body",
    modified_field: str | None = None,
) -> CrmEvent:
    """The canonical event (raw JSON, or what an adapter made of a CRM's payload), or a 422
    naming every bad field, under `where`. A modification time further ahead of this server's
    clock than `max_clock_skew` is refused too, naming the field it came from: an adapter's
    `modified_field` (the CRM's own), else the canonical one."""
    try:
        if isinstance(data, bytes):
            event = CrmEvent.model_validate_json(data)
        else:
            event = CrmEvent.model_validate(data)
    except ValidationError as error:
        raise validation_problem(error.errors(), (where,)) from None
    _refuse_times_ahead(
        max_clock_skew,
        (event.deal.updated_at, modified_field or f"{where}.deal.updated_at"),
        (event.occurred_at, modified_field or f"{where}.occurred_at"),
    )
    return event


def _refuse_times_ahead(max_clock_skew: timedelta, *times: tuple[datetime, str]) -> None:
    """A deal's events are ordered by the CRM's modification time, and one older than what is
    stored is stale: a time far in the future would make every later event stale, a lost deal
    included, and so freeze the deal. Clocks drift, hence the allowed skew."""
    latest = datetime.now(UTC) + max_clock_skew
    for moment, field in times:
        if moment > latest:
            raise field_problem(
                field,
                f"{moment.isoformat()} is more than {max_clock_skew.total_seconds():g} seconds "
                "ahead of this server's clock",
            )


def max_clock_skew(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.max_clock_skew_seconds)


def require_event_id(event_id: str, field: str) -> None:
    if not re.match(EVENT_ID_PATTERN, event_id):
        raise field_problem(field, "not a usable event id (letters, digits, ._:~@=+-)")


async def take_and_evaluate(
    commitments: Upstream, evaluator: Evaluator, source: str, event_id: str, event: bytes
) -> IntakeAnswer:
    """Hands the event (canonical JSON, already validated) over, taken once per id, then
    evaluates what it named that is due: on a duplicate too, which finishes what a first
    delivery may have left undone. An event with more commitments than the evaluator takes
    at once is answered as taken and evaluated just after."""
    response = await commitments.request(
        "PUT",
        f"/crm-events/{source}/{event_id}",
        content=event,
        headers={"Content-Type": "application/json"},
        # The event's commitments come back claimed for this gateway to evaluate.
        params={"claim_lease_seconds": LEASE_SECONDS},
    )
    if response.status_code != 200:
        refuse(commitments, response)
    taken = commitments.parse(response, IntakeClaimed)
    answer = IntakeAnswer(status=taken.status, deal_id=taken.deal_id, commitments=taken.commitments)
    if answer.status == "stale":
        return answer
    if len(taken.claimed) > evaluator.at_once_max:
        evaluator.evaluate_later(taken.claimed)
        return answer
    try:
        recorded = await evaluator.evaluate_claimed(taken.claimed)
    except (UpstreamUnavailable, UpstreamBroken) as error:
        # The event is taken: it is acknowledged, and the sweep evaluates it later.
        logger.warning("evaluation after intake deferred", extra={"reason": str(error)})
        return answer
    for commitment in answer.commitments:
        if commitment.id in recorded:
            commitment.review_status = recorded[commitment.id]
    elsewhere = {c.id for c in answer.commitments if c.review_status is ReviewStatus.received}
    if elsewhere:
        with contextlib.suppress(UpstreamUnavailable, UpstreamBroken):
            await _await_evaluations_elsewhere(commitments, answer, elsewhere)
    return answer


async def take_adapted(
    commitments: Upstream,
    evaluator: Evaluator,
    source: str,
    event_id: tuple[str, str],
    event: dict,
    *,
    max_clock_skew: timedelta,
    modified_field: str,
) -> IntakeAnswer:
    """What a CRM adapter made of its payload (`event_id`: the id and the field it came
    from; `modified_field`: where its modification time came from): checked like the generic
    webhook's body, then taken and evaluated."""
    require_event_id(*event_id)
    parse_event(event, max_clock_skew, "event", modified_field)
    return await take_and_evaluate(
        commitments, evaluator, source, event_id[0], json.dumps(event).encode()
    )


async def _await_evaluations_elsewhere(
    commitments: Upstream, answer: IntakeAnswer, waiting: set[str]
) -> None:
    """Commitments another replica's sweep claimed first (a roadmap change marked them for a
    re-check meanwhile) are being evaluated there: wait a little for their statuses, so the
    CRM hears where its promises stand rather than `received`."""
    deadline = time.monotonic() + ELSEWHERE_WAIT_SECONDS
    by_id = {c.id: c for c in answer.commitments}
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        response = await commitments.request(
            "GET", "/commitments", params={"deal_id": answer.deal_id, "limit": MAX_PAGE}
        )
        if response.status_code != 200:
            return
        for listed in commitments.parse(response, CommitmentPage).items:
            if listed.id in waiting and listed.review_status is not ReviewStatus.received:
                by_id[listed.id].review_status = listed.review_status
                waiting.discard(listed.id)


@router.post(
    "/webhooks/generic",
    tags=["webhooks"],
    summary="A deal and its commitments from any CRM, signed per Standard Webhooks",
    description="The body is the canonical event. Answers the deal and each commitment's "
    "review status once evaluated; a re-delivery of an event id already taken answers "
    "`duplicate` (never 409), an event older than the stored deal `stale`. 401 for a bad "
    "signature or a timestamp more than 5 minutes from now; 415 for a body that is not "
    "`application/json`; 422 for a signed but malformed body, or a deal `updated_at` or "
    "`occurred_at` further ahead of the server's clock than `DEALGATE_MAX_CLOCK_SKEW_SECONDS` "
    "(an hour); 413 for a body too large, 408 for one too slow to arrive.",
    response_model=IntakeAnswer,
    responses=problem_responses(413, 422),
    openapi_extra={
        "parameters": SIGNATURE_HEADERS,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CrmEvent"}}},
        },
    },
)
async def generic_webhook(
    request: Request, commitments: Commitments, evaluator: EvaluatorDep
) -> IntakeAnswer:
    body = await request.body()
    event_id = verify_standard_webhook(
        request.app.state.settings.webhook_secret, request.headers, body
    )
    require_event_id(event_id, "header.webhook-id")
    event = parse_event(body, max_clock_skew(request))
    if event.deal.source is not Source.generic:
        raise field_problem("body.deal.source", "this webhook takes generic events")
    # The very bytes signed: re-serialized, defaults added could pass the service's limit.
    return await take_and_evaluate(commitments, evaluator, "generic", event_id, body)


def _called_uri(request: Request) -> str:
    """The URI the CRM called, as it signed it: behind a proxy, the public URL's."""
    public = request.app.state.settings.public_url
    if public is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{str(public).rstrip('/')}{request.url.path}{query}"


@router.post(
    "/webhooks/hubspot",
    tags=["webhooks"],
    summary="HubSpot: an app's webhook batches, or a workflow's deal, signed with "
    "X-HubSpot-Signature-v3",
    description="Two bodies, both signed with the app's secret (v3):\n\n"
    "- **A HubSpot app's webhook batch** (a JSON array of events: deal and "
    "`dealgate_commitment` creation, property change, deletion, association change). The "
    "batch is stored, each `eventId` once, and answered at once with how many events were "
    "new; the deals it names are then fetched from HubSpot's API and evaluated in the "
    "background (`DEALGATE_HUBSPOT_ACCESS_TOKEN`). An event from a portal other than "
    "`DEALGATE_HUBSPOT_PORTAL_ID` is 422 and nothing is stored; one of an object Dealgate "
    "does not read is kept as ignored, with the reason.\n"
    "- **A workflow's \"Send a webhook\" body** (a JSON object of the deal's properties, "
    "flat or in HubSpot's `properties` form): `hs_object_id`, `dealname`, `dealstage`, "
    "`hs_lastmodifieddate`, optionally `amount`, `deal_currency_code`, `closedate`, "
    "`owner_email`, `account_name`, and `dealgate_commitments` (the deal's commitments as a "
    "JSON array). A property the body does not carry keeps its value. Answers as the "
    "generic webhook does.\n\n"
    "401 for a bad signature or a timestamp more than 5 minutes away; 415 for a body that "
    "is not `application/json`; 422 for a body that is neither, or an "
    "`hs_lastmodifieddate` too far ahead of the server's clock.",
    response_model=IntakeAnswer | NotificationsTaken,
    responses=problem_responses(413),
    openapi_extra={
        "parameters": HUBSPOT_HEADERS,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [HUBSPOT_BATCH, HUBSPOT_BODY]},
                    "examples": {
                        "app_batch": {
                            "summary": "A HubSpot app's webhook batch",
                            "value": HUBSPOT_BATCH["examples"][0],
                        },
                        "workflow": {
                            "summary": "A workflow's deal properties",
                            "value": HUBSPOT_BODY["examples"][0],
                        },
                    },
                }
            },
        },
    },
)
async def hubspot_webhook(
    request: Request, commitments: Commitments, evaluator: EvaluatorDep
) -> IntakeAnswer | NotificationsTaken:
    settings = request.app.state.settings
    body = await request.body()
    hubspot.verify_hubspot_v3(
        settings.hubspot_app_secret, request.method, _called_uri(request), request.headers, body
    )
    if hubspot.is_batch(body):
        return await _store_hubspot_batch(request, commitments, body)
    deal_id, properties = hubspot.workflow_deal(body)
    held = await stored.deal_by_crm_id(commitments, "hubspot", deal_id)
    api = request.app.state.hubspot_api
    stage, owner = None, None
    if api is not None:
        stage, owner = await _workflow_lookups(api, properties)
    event_id, event = hubspot.canonical_event(properties, held, stage=stage, owner=owner)
    return await take_adapted(
        commitments,
        evaluator,
        "hubspot",
        (event_id, "body.hs_object_id"),
        event,
        max_clock_skew=max_clock_skew(request),
        modified_field="body.hs_lastmodifieddate",
    )


async def _store_hubspot_batch(
    request: Request, commitments: Upstream, body: bytes
) -> NotificationsTaken:
    settings = request.app.state.settings
    found = hubspot.notifications(
        body, settings.hubspot_portal_id, settings.hubspot_commitment_object
    )
    response = await commitments.request(
        "POST", "/crm-notifications", json={"source": "hubspot", "notifications": found}
    )
    if response.status_code != 200:
        refuse(commitments, response)
    request.app.state.crm_sync.wake()
    return commitments.parse(response, NotificationsTaken)


async def _workflow_lookups(api, properties: dict) -> tuple[str | None, str | None]:
    """The stage's meaning in its pipeline and the owner's email, from HubSpot's API when it
    answers; without it the default pipeline's names and `owner_email` stand in."""
    stage, owner = None, None
    try:
        if properties.get("dealstage"):
            stage = await api.stage(
                str(properties.get("pipeline") or "default"), str(properties["dealstage"])
            )
        if properties.get("hubspot_owner_id") and not properties.get("owner_email"):
            owner = await api.owner_email(str(properties["hubspot_owner_id"]))
    except (CrmUnavailable, CrmRefused) as error:
        logger.warning("hubspot lookups skipped", extra={"reason": str(error)})
    return stage, owner


@router.post(
    "/webhooks/salesforce",
    tags=["webhooks"],
    summary="Salesforce Outbound Messages (SOAP 1.1): opportunities and their commitments",
    description="Notifications of `Opportunity` or `Dealgate_Commitment__c` objects. The "
    "endpoint URL carries the sending organization's secret (`?key=…`); a message whose full "
    "organization id and key do not match DEALGATE_SALESFORCE_ORGS is 401. Answers the SOAP "
    "Ack once every notification is taken; anything else makes Salesforce retry. A "
    "commitment of an opportunity not seen yet is 409 (retried until it is). 415 for a body "
    "that is not `text/xml` (SOAP 1.1); 422 for XML that is not an outbound message, or a "
    "`LastModifiedDate` too far ahead of the server's clock.",
    response_class=Response,
    responses={
        200: {
            "description": "The SOAP Ack",
            "content": {"text/xml": {"schema": {"type": "string"}, "example": salesforce.ACK}},
        },
        **problem_responses(409, 413),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/xml": {"schema": {"type": "string"}, "example": SALESFORCE_EXAMPLE}},
        }
    },
)
async def salesforce_webhook(
    request: Request,
    commitments: Commitments,
    evaluator: EvaluatorDep,
    key: Annotated[
        str | None,
        Query(
            max_length=128,
            description="The organization's secret, set at the end of its Outbound Message "
            "URL (DEALGATE_SALESFORCE_ORGS).",
        ),
    ] = None,
) -> Response:
    organizations = request.app.state.settings.salesforce_orgs
    message = salesforce.parse_outbound_message(await request.body(), organizations, key)
    for index, notification in enumerate(message.notifications):
        if notification.object_type == "Opportunity":
            event_id, data = notification.id, salesforce.opportunity_event(notification)
            modified_field = "body.Opportunity.LastModifiedDate"
        else:
            opportunity_id, commitment = salesforce.commitment_of(notification)
            deal = await stored.deal_by_crm_id(commitments, "salesforce", opportunity_id)
            if deal is None:
                raise salesforce.unknown_opportunity(opportunity_id)
            event_id = salesforce.commitment_event_id(notification, deal)
            data = salesforce.commitment_event(deal, [readable(commitment)])
            # Its time is the opportunity's, as Dealgate holds it.
            modified_field = f"body.Notification.{index}.sObject.Opportunity__c"
        answer = await take_adapted(
            commitments,
            evaluator,
            "salesforce",
            (event_id, f"body.Notification.{index}.Id"),
            data,
            max_clock_skew=max_clock_skew(request),
            modified_field=modified_field,
        )
        if answer.status == "stale" and notification.object_type != "Opportunity":
            raise salesforce.moved_on(opportunity_id)
    return Response(salesforce.ACK, media_type="text/xml")
