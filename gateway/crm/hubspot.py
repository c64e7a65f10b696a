"""HubSpot's workflow webhook ("Send a webhook" on a deal workflow) as a canonical event.

Authentication: `X-HubSpot-Signature-v3`, the base64 HMAC-SHA256, keyed with the app
secret, of method + URI + body + `X-HubSpot-Request-Timestamp` (milliseconds); a timestamp
more than 5 minutes away is refused. The URI is the one HubSpot called: behind a proxy, set
`DEALGATE_PUBLIC_URL` so the gateway rebuilds it.

The body holds the deal's properties, flat (`{"dealname": "…"}`) or as HubSpot's
`{"properties": {"dealname": {"value": "…"}}}`. Dealgate reads:
- `hs_object_id` (or `objectId`), `dealname`, `dealstage`, `hs_lastmodifieddate`: required;
- `amount`, `deal_currency_code`, `closedate`, `owner_email`, `account_name`: optional;
- `dealgate_commitments`: a custom multi-line property holding the deal's commitments as a
  JSON array in the canonical shape; it is the deal's whole set (a snapshot).

Choices: stage `closedwon` is closed_won and `closedlost` closed_lost (HubSpot's default
pipeline ids), anything else open. The event id is the deal id and its modification time, so
HubSpot re-sending the same state of a deal is a duplicate.
"""

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

from gateway.crm.canonical import content_event_id, held_deal
from gateway.crm.generic import SignatureRejected
from kit.problems import field_problem

TOLERANCE_MS = 5 * 60 * 1000
STAGES = {"closedwon": "closed_won", "closedlost": "closed_lost"}


def verify_hubspot_v3(
    secret: str, method: str, uri: str, headers: Mapping[str, str], body: bytes
) -> None:
    signature = headers.get("x-hubspot-signature-v3")
    timestamp = headers.get("x-hubspot-request-timestamp")
    if not signature or not timestamp or not (timestamp.isascii() and timestamp.isdigit()):
        raise SignatureRejected("X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp needed.")
    if abs(time.time() * 1000 - int(timestamp)) > TOLERANCE_MS:
        raise SignatureRejected("The request timestamp is more than 5 minutes from now.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureRejected("The body is not UTF-8 text, so no signature can match.") from None
    # HubSpot signs the URI with its percent-escapes decoded.
    source = f"{method}{unquote(uri)}{text}{timestamp}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature.encode()):
        raise SignatureRejected("X-HubSpot-Signature-v3 does not match.")


def _properties(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise field_problem("body", "not JSON") from None
    except RecursionError:
        raise field_problem("body", "JSON nested too deeply to be read") from None
    if not isinstance(payload, dict):
        raise field_problem("body", "not a JSON object of deal properties")
    nested = payload.get("properties")
    if isinstance(nested, dict):
        flat = {
            name: value.get("value") if isinstance(value, dict) else value
            for name, value in nested.items()
        }
        return {**{k: v for k, v in payload.items() if k != "properties"}, **flat}
    return payload


def _moment(value: Any, field: str) -> datetime:
    """HubSpot dates come as epoch milliseconds or ISO 8601."""
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if digits or (isinstance(value, int | float) and not isinstance(value, bool)):
        try:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        except (ValueError, OverflowError, OSError):
            raise field_problem(f"body.{field}", "not a time this side of year 9999") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise field_problem(f"body.{field}", "not a time (epoch milliseconds or ISO 8601)")


def _required(properties: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = properties.get(name)
        if isinstance(value, list | dict):
            # A property holds one value; read as text, a structure would pass for one.
            raise field_problem(f"body.{name}", "not a single value")
        if value not in (None, ""):
            return value
    raise field_problem(f"body.{names[0]}", "required")


def _commitments(properties: Mapping[str, Any]) -> list:
    raw = properties.get("dealgate_commitments")
    if raw in (None, ""):
        return []
    if isinstance(raw, list):
        return raw
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        raise field_problem("body.dealgate_commitments", "not a JSON array") from None
    except RecursionError:
        raise field_problem(
            "body.dealgate_commitments", "JSON nested too deeply to be read"
        ) from None
    if not isinstance(parsed, list):
        raise field_problem("body.dealgate_commitments", "not a JSON array")
    return parsed


def workflow_deal(body: bytes) -> tuple[str, dict[str, Any]]:
    """(the deal's id, its properties as the workflow sent them), or a 422."""
    properties = _properties(body)
    return str(_required(properties, "hs_object_id", "objectId")), properties


def canonical_event(
    properties: dict[str, Any],
    stored: dict[str, Any] | None,
    *,
    stage: str | None = None,
    owner: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """(event id, the canonical event as JSON) of a workflow's body, or a 422 naming the
    property at fault. A property the body does not carry keeps the value Dealgate holds
    (`stored`, the deal as /deals shows it), or the default for a new deal: a workflow
    sending only what changed never resets the rest. `stage`: what the pipelines API made
    of `dealstage`, when it could be asked; `owner`: the email of `hubspot_owner_id`."""
    deal_id = str(_required(properties, "hs_object_id", "objectId"))
    modified = _moment(
        _required(properties, "hs_lastmodifieddate", "lastmodifieddate"), "hs_lastmodifieddate"
    )
    stage_id = str(_required(properties, "dealstage"))
    held = stored or {}

    def carried(name: str, key: str, default: Any, read=lambda value: value) -> Any:
        if name in properties:
            return read(properties[name])
        return held.get(key, default)

    deal: dict[str, Any] = {
        "source": "hubspot",
        "external_id": deal_id,
        "name": _required(properties, "dealname"),
        "account": carried("account_name", "account", "", lambda value: value or ""),
        # Taken as sent: the canonical event refuses what is not an amount of cents.
        "amount": carried("amount", "amount", "0", lambda value: str(value or "0")),
        "currency": carried("deal_currency_code", "currency", "USD", lambda value: value or "USD"),
        "stage": stage_name(stage_id, stage),
        "expected_close": carried(
            "closedate", "expected_close", None, lambda value: _day(value, "closedate")
        ),
        "owner": owner or carried("owner_email", "owner", None, lambda value: value or None),
        "updated_at": modified.isoformat(),
    }
    carries_commitments = "dealgate_commitments" in properties
    event = {
        "event_type": "deal.upserted",
        "occurred_at": modified.isoformat(),
        # The property is the deal's whole set; a body without it leaves them as they are.
        "snapshot": carries_commitments,
        "deal": deal,
        "commitments": _commitments(properties) if carries_commitments else [],
    }
    return f"hubspot-{deal_id}-{int(modified.timestamp() * 1000)}", event


# The app's webhook batches -------------------------------------------------------------

DEAL_TYPE = "0-3"
# HubSpot's own names (legacy subscriptions) for the objects of the generic `object.*` ones.
LEGACY_TYPES = {"deal": DEAL_TYPE, "contact": "0-1", "company": "0-2", "ticket": "0-5"}
MAX_BATCH = 1000
CUSTOM_TYPE_ID = re.compile(r"^2-[0-9]+$")


def is_batch(body: bytes) -> bool:
    """An app subscription's batch is a JSON array; a workflow's body is an object."""
    return body.lstrip()[:1] == b"["


def _event_field(event: dict, index: int, name: str, kind: type) -> Any:
    value = event.get(name)
    if kind is int and isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise field_problem(f"body.{index}.{name}", f"required, {kind.__name__}")
    return value


def _object_type(event: dict) -> tuple[str, str]:
    """(its object type id, the action) of a subscription type like `deal.creation` or
    `object.propertyChange` (then `objectTypeId` names the type)."""
    family, _, action = str(event.get("subscriptionType", "")).partition(".")
    if family == "object":
        return str(event.get("objectTypeId") or event.get("fromObjectTypeId") or ""), action
    return LEGACY_TYPES.get(family, family), action


def notifications(
    body: bytes, portal_id: int | None, commitment_type: str | None
) -> list[dict[str, Any]]:
    """The batch's events as notifications to keep (`NotificationIn`), or a 422: not a
    batch of HubSpot events, or one from a portal that is not Dealgate's. An event of an
    object Dealgate does not read is kept as ignored, with the reason."""
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):
        raise field_problem("body", "not JSON") from None
    if not isinstance(events, list) or not events:
        raise field_problem("body", "not a JSON array of HubSpot webhook events")
    if len(events) > MAX_BATCH:
        raise field_problem("body", f"more than {MAX_BATCH} events in one batch")
    found = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise field_problem(f"body.{index}", "not a HubSpot webhook event")
        event_id = _event_field(event, index, "eventId", int)
        portal = _event_field(event, index, "portalId", int)
        occurred = _moment(_event_field(event, index, "occurredAt", int), f"{index}.occurredAt")
        if portal_id is None:
            raise field_problem(
                f"body.{index}.portalId",
                "this gateway takes no HubSpot app events: DEALGATE_HUBSPOT_PORTAL_ID is not set",
            )
        if portal != portal_id:
            raise field_problem(
                f"body.{index}.portalId", f"portal {portal} is not the one Dealgate is set up for"
            )
        found.append(_notification(event, index, f"hubspot-{portal}-{event_id}", occurred,
                                   commitment_type))  # fmt: skip
    return found


def _notification(
    event: dict, index: int, event_id: str, occurred: datetime, commitment_type: str | None
) -> dict[str, Any]:
    type_id, action = _object_type(event)
    association = action == "associationChange"
    object_field = "fromObjectId" if association else "objectId"
    object_id = str(_event_field(event, index, object_field, int))
    kept: dict[str, Any] = {
        "event_id": event_id,
        "subject": "deal",
        "object_id": object_id,
        "action": action or "unknown",
        "occurred_at": occurred.isoformat(),
        "payload": event,
    }
    target = str(event.get("toObjectTypeId") or "")
    if association and "associationType" in event:  # legacy: DEAL_TO_COMPANY and the like
        target = DEAL_TYPE if str(event["associationType"]).split("_TO_")[-1] == "DEAL" else ""
    if type_id == DEAL_TYPE:
        if association:
            kept["deal_external_id"] = object_id
        return kept
    if commitment_type is not None and _is_commitment_type(type_id, commitment_type):
        kept["subject"] = "commitment"
        if association and target == DEAL_TYPE:
            kept["deal_external_id"] = str(_event_field(event, index, "toObjectId", int))
        return kept
    kept["ignored_reason"] = (
        f"HubSpot object type {type_id or 'unknown'} ({event.get('subscriptionType')}) is not "
        "one Dealgate reads: deals (0-3) and DEALGATE_HUBSPOT_COMMITMENT_OBJECT"
        + (f" ({commitment_type})" if commitment_type else " (not set)")
    )
    return kept


def _is_commitment_type(type_id: str, configured: str) -> bool:
    """The configured object is its type id (`2-…`) or its fully qualified name
    (`p<portal>_dealgate_commitment`), which events never carry: then any custom object
    type is taken here and the connector, which resolves the name, ignores the others."""
    if CUSTOM_TYPE_ID.match(configured):
        return type_id == configured
    return bool(CUSTOM_TYPE_ID.match(type_id))


# A deal as fetched from HubSpot's API ---------------------------------------------------


def stage_of_metadata(metadata: dict[str, Any]) -> str:
    """A pipeline stage by its metadata: closed with probability 1 is won, any other closed
    stage lost, the rest open."""
    if str(metadata.get("isClosed", "false")).lower() != "true":
        return "open"
    try:
        probability = float(metadata.get("probability", 0))
    except (TypeError, ValueError):
        probability = 0.0
    return "closed_won" if probability >= 1.0 else "closed_lost"


def stage_name(stage_id: str, from_pipelines: str | None) -> str:
    """The canonical stage: what the pipelines API says of it, else by HubSpot's default
    pipeline's ids."""
    return from_pipelines or STAGES.get(stage_id.lower(), "open")


def _amount(value: Any) -> str:
    """HubSpot's number, in cents (a number property may hold more decimals)."""
    if value in (None, ""):
        return "0"
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise field_problem("deal.amount", f"{str(value)[:40]!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise field_problem("deal.amount", f"{str(value)[:40]!r} is not an amount")
    return f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}"


def _day(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return value  # a date picker's YYYY-MM-DD; the canonical event checks it
    return _moment(value, field).date().isoformat()


def commitment_of_record(record_id: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A `dealgate_commitment` record in the canonical shape, as typed in HubSpot: whether
    it reads as a promise is `records.readable`'s to say."""
    tags = [tag.strip() for tag in str(properties.get("tags") or "").split(";") if tag.strip()]
    return {
        "external_id": record_id,
        "kind": properties.get("kind") or "",
        "summary": properties.get("summary") or "",
        "roadmap_item_key": properties.get("roadmap_item_key") or None,
        "promised_by": properties.get("promised_by") or None,
        "tags": tags,
        "answer": properties.get("answer") or None,
    }


def fetched_event(
    deal_id: str,
    properties: dict[str, Any],
    *,
    stage: str,
    owner: str | None,
    account: str,
    commitments: list[dict[str, Any]] | None,
    changed_at: datetime,
    unreadable: list[dict[str, Any]],
) -> tuple[str, dict[str, Any]]:
    """(event id, canonical event) of a deal as HubSpot holds it now. `commitments`: its
    readable records and `unreadable` the others (`{"external_id", "problem"}`), together the
    whole set (None: the portal has no commitment object, so the deal's commitments are left
    as they are). The event id is the content's digest: fetching the same state twice is
    one event."""
    closes = properties.get("closedate")
    deal = {
        "source": "hubspot",
        "external_id": deal_id,
        "name": properties.get("dealname") or f"HubSpot deal {deal_id}",
        "account": account,
        "amount": _amount(properties.get("amount")),
        "currency": properties.get("deal_currency_code") or "USD",
        "stage": stage,
        "expected_close": _moment(closes, "closedate").date().isoformat() if closes else None,
        "owner": owner,
        "updated_at": changed_at.isoformat(),
    }
    event = {
        "event_type": "deal.upserted",
        "occurred_at": changed_at.isoformat(),
        "snapshot": commitments is not None,
        "deal": deal,
        "commitments": commitments or [],
        "unreadable": unreadable,
    }
    return content_event_id(f"hubspot-{deal_id}", event), event


def withdrawn_event(stored: dict[str, Any], deleted_at: datetime) -> tuple[str, dict[str, Any]]:
    """A deal HubSpot no longer has (deleted): as Dealgate holds it, with no commitment."""
    changed = max(datetime.fromisoformat(stored["crm_updated_at"]), deleted_at).isoformat()
    event = {
        "event_type": "deal.upserted",
        "occurred_at": changed,
        "snapshot": True,
        "deal": held_deal(stored, "hubspot", changed),
        "commitments": [],
    }
    return f"hubspot-{stored['external_id']}-deleted-{int(deleted_at.timestamp() * 1000)}", event


def modified_at(properties: dict[str, Any]) -> datetime | None:
    value = properties.get("hs_lastmodifieddate")
    if value in (None, ""):
        return None
    return _moment(value, "hs_lastmodifieddate")
