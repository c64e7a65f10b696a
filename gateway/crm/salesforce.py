"""Salesforce Outbound Messages (SOAP 1.1) as canonical events.

A workflow rule or flow sends an outbound message for one object type, with up to 100
`<Notification>`s; Salesforce retries until it gets the SOAP Ack, so the gateway answers
the Ack only once every notification is taken. Outbound messages cannot be signed, so
each organization has a secret of its own that the admin puts at the end of the Outbound
Message's endpoint URL (`…/v1/webhooks/salesforce?key=<secret>`): a message is taken only
when its full 18-character organization id and that secret match an entry of
`DEALGATE_SALESFORCE_ORGS`, compared in constant time. Stronger still: Salesforce's client
certificate, checked by mutual TLS at the proxy in front of the gateway. XML is parsed
with defusedxml: no DTDs, no entities.

Two objects are read (fields by API name):
- **Opportunity**: `Id`, `Name`, `StageName`, `LastModifiedDate` required; `Amount`,
  `CurrencyIsoCode`, `CloseDate`, `IsClosed`, `IsWon`, and the formula fields
  `Account_Name__c`, `Owner_Email__c` optional. It changes the deal only (its commitments
  are left as they are). Won and lost come from `IsWon`/`IsClosed`, else from the stage
  names "Closed Won"/"Closed Lost".
- **Dealgate_Commitment__c** (a custom object under the opportunity): `Id`,
  `Opportunity__c`, `Kind__c`, `Summary__c` required; `External_Id__c` (else `Id`),
  `Roadmap_Item_Key__c`, `Promised_By__c`, `Tags__c` (a multi-select picklist, `;`-separated)
  `Status__c` (Withdrawn withdraws it) and `Answer__c` (the rep's answer to a reviewer's
  question) optional. It changes that one commitment of its
  deal, as the deal stands in Dealgate.

Choices: the notification id is the event id (a retried message is a duplicate); for a
commitment, with the opportunity's modification time as Dealgate holds it. A commitment
event lands on the opportunity as Dealgate holds it, at the opportunity's own time, so it
neither goes stale nor moves the deal's clock; should the opportunity change while it is
taken (it then comes back stale), it is refused with 409 and Salesforce's retry lands it. Two
edits of one commitment carry no order of their own: Salesforce delivering them out of
order leaves the older. A commitment whose opportunity Dealgate has not seen yet is refused
with 409: Salesforce retries it, so it lands after its opportunity (the opportunity's rule
must fire on create and on every edit). Salesforce sends no outbound message when a record
is deleted: with API access the connector reconciles deletions (salesforce_sync.py);
without it, reps set Status__c to Withdrawn instead.
"""

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException

from gateway.crm.canonical import held_deal
from gateway.crm.generic import SignatureRejected
from kit.problems import ProblemError, field_problem

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
COMMITMENT_OBJECT = "Dealgate_Commitment__c"
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
OBJECTS = ("Opportunity", COMMITMENT_OBJECT)
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


@dataclass(frozen=True)
class Notification:
    id: str
    object_type: str
    fields: dict[str, str | None]


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    notifications: list[Notification]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, name: str):
    return next((child for child in element if _local(child.tag) == name), None)


def _text(element, name: str) -> str | None:
    found = _child(element, name)
    if found is None or found.get(f"{{{XSI}}}nil") == "true":
        return None
    return (found.text or "").strip()


def parse_outbound_message(
    body: bytes, organizations: Mapping[str, str], given_secret: str | None
) -> OutboundMessage:
    """The message's notifications; the sending organization and the secret its endpoint
    URL carries are checked (401) before any notification is read, so a stranger learns
    nothing of what would be accepted."""
    try:
        envelope = SafeXml.fromstring(body, forbid_dtd=True)
    except (SafeXml.ParseError, DefusedXmlException, ValueError):
        raise field_problem("body", "not a well-formed SOAP message without DTD") from None
    soap_body = _child(envelope, "Body") if _local(envelope.tag) == "Envelope" else None
    notifications = _child(soap_body, "notifications") if soap_body is not None else None
    if notifications is None:
        raise field_problem("body", "no soapenv:Body/notifications in the message")
    organization_id = _text(notifications, "OrganizationId") or ""
    if not organization_authenticated(organization_id, organizations, given_secret):
        raise SignatureRejected(
            "The Outbound Message's organization and the secret its endpoint URL carries "
            "(?key=…) do not match an organization set in DEALGATE_SALESFORCE_ORGS."
        )
    found = []
    for index, notification in enumerate(
        child for child in notifications if _local(child.tag) == "Notification"
    ):
        sobject = _child(notification, "sObject")
        notification_id = _text(notification, "Id")
        if sobject is None or not notification_id or not SALESFORCE_ID.match(notification_id):
            raise field_problem(f"body.Notification.{index}", "needs an Id and an sObject")
        object_type = _local(sobject.get(f"{{{XSI}}}type", "")).split(":")[-1]
        if object_type not in OBJECTS:
            raise field_problem(
                f"body.Notification.{index}.sObject", f"not one of {', '.join(OBJECTS)}"
            )
        fields = {
            _local(field.tag): None
            if field.get(f"{{{XSI}}}nil") == "true"
            else (field.text or "").strip()
            for field in sobject
        }
        found.append(Notification(notification_id, object_type, fields))
    if not found:
        raise field_problem("body.Notification", "the message holds no notification")
    return OutboundMessage(organization_id, found)


def organization_authenticated(
    organization_id: str, organizations: Mapping[str, str], given_secret: str | None
) -> bool:
    """The full 18-character id (case-insensitive by design: its last 3 characters encode
    the case of the first 15) and its secret, compared in constant time."""
    if len(organization_id) != 18 or not SALESFORCE_ID.match(organization_id):
        return False
    expected = organizations.get(organization_id.casefold())
    if expected is None or given_secret is None:
        return False
    return hmac.compare_digest(expected.encode(), given_secret.encode())


def _required(notification: Notification, name: str) -> str:
    value = notification.fields.get(name)
    if not value:
        raise field_problem(f"body.{notification.object_type}.{name}", "required")
    return value


def _stage(fields: dict[str, str | None]) -> str:
    if fields.get("IsWon") is not None or fields.get("IsClosed") is not None:
        if fields.get("IsWon") == "true":
            return "closed_won"
        return "closed_lost" if fields.get("IsClosed") == "true" else "open"
    stage = (fields.get("StageName") or "").strip().lower()
    return {"closed won": "closed_won", "closed lost": "closed_lost"}.get(stage, "open")


def _amount(notification: Notification) -> str:
    raw = notification.fields.get("Amount")
    if not raw:
        return "0.00"
    try:
        return f"{Decimal(raw):.2f}"
    except InvalidOperation:
        raise field_problem("body.Opportunity.Amount", "not a number") from None


def opportunity_event(notification: Notification) -> dict[str, Any]:
    fields = notification.fields
    modified = _required(notification, "LastModifiedDate")
    return {
        "event_type": "deal.upserted",
        "occurred_at": modified,
        "snapshot": False,
        "deal": {
            "source": "salesforce",
            "external_id": _required(notification, "Id"),
            "name": _required(notification, "Name"),
            "account": fields.get("Account_Name__c") or "",
            "amount": _amount(notification),
            "currency": fields.get("CurrencyIsoCode") or "USD",
            "stage": _stage(fields),
            "expected_close": fields.get("CloseDate") or None,
            "owner": fields.get("Owner_Email__c") or None,
            "updated_at": modified,
        },
        "commitments": [],
    }


def commitment_of(notification: Notification) -> tuple[str, dict[str, Any]]:
    """(the opportunity id, the commitment in the canonical shape)."""
    fields = notification.fields
    tags = [tag.strip() for tag in (fields.get("Tags__c") or "").split(";") if tag.strip()]
    commitment = {
        "external_id": fields.get("External_Id__c") or _required(notification, "Id"),
        "kind": _required(notification, "Kind__c"),
        "summary": _required(notification, "Summary__c"),
        "roadmap_item_key": fields.get("Roadmap_Item_Key__c") or None,
        "promised_by": fields.get("Promised_By__c") or None,
        "tags": tags,
        "withdrawn": is_withdrawn(fields.get("Status__c")),
        "answer": fields.get("Answer__c") or None,
    }
    return _required(notification, "Opportunity__c"), commitment


def is_withdrawn(status: str | None) -> bool:
    """`Status__c` = Withdrawn: a promise taken back, kept instead of deleted (what an org
    without API access does, since Salesforce sends nothing on a delete)."""
    return (status or "").strip().casefold() == "withdrawn"


def commitment_event(
    deal: dict[str, Any], commitments: list[dict[str, Any]], *, snapshot: bool = False
) -> dict[str, Any]:
    """Commitments' changes on their deal as Dealgate holds it (`snapshot`: they are its
    whole set): the deal's own modification time, so the event neither goes stale nor moves
    the deal's clock. Each commitment as `records.readable` made it: a promise, or
    unreadable with its problem."""
    return {
        "event_type": "deal.upserted",
        "occurred_at": deal["crm_updated_at"],
        "snapshot": snapshot,
        "deal": held_deal(deal, "salesforce", deal["crm_updated_at"]),
        "commitments": [c for c in commitments if "problem" not in c],
        "unreadable": [c for c in commitments if "problem" in c],
    }


def commitment_event_id(notification: Notification, deal: dict[str, Any]) -> str:
    """The notification on the deal as it stood: if the deal moves on before the event is
    taken (it is then stale), Salesforce's retry is a new event on the newer deal."""
    stamp = deal["crm_updated_at"].replace("-", "").replace(":", "").replace(".", "")
    return f"{notification.id}.{stamp}"


def moved_on(opportunity_id: str) -> ProblemError:
    return ProblemError(
        409,
        f"Opportunity {opportunity_id} changed while this commitment was taken; Salesforce "
        "retries the message and it lands on the opportunity as it is now.",
        kind="conflict",
    )


def unknown_opportunity(opportunity_id: str) -> ProblemError:
    return ProblemError(
        409,
        f"Opportunity {opportunity_id} is not known yet; Salesforce retries this message, "
        "so the commitment lands after its opportunity.",
        kind="conflict",
    )
