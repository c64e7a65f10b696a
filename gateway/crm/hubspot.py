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
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

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


def canonical_event(body: bytes) -> tuple[str, dict[str, Any]]:
    """(event id, the canonical event as JSON), or a 422 naming the property at fault."""
    properties = _properties(body)
    deal_id = str(_required(properties, "hs_object_id", "objectId"))
    modified = _moment(
        _required(properties, "hs_lastmodifieddate", "lastmodifieddate"), "hs_lastmodifieddate"
    )
    stage = str(_required(properties, "dealstage"))
    closes = properties.get("closedate")
    deal: dict[str, Any] = {
        "source": "hubspot",
        "external_id": deal_id,
        "name": _required(properties, "dealname"),
        "account": properties.get("account_name") or "",
        "amount": str(properties.get("amount") or "0"),
        "currency": properties.get("deal_currency_code") or "USD",
        "stage": STAGES.get(stage.lower(), "open"),
        "expected_close": _moment(closes, "closedate").date().isoformat() if closes else None,
        "owner": properties.get("owner_email") or None,
        "updated_at": modified.isoformat(),
    }
    event = {
        "event_type": "deal.upserted",
        "occurred_at": modified.isoformat(),
        "snapshot": True,
        "deal": deal,
        "commitments": _commitments(properties),
    }
    return f"hubspot-{deal_id}-{int(modified.timestamp() * 1000)}", event
