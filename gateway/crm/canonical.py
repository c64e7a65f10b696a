"""Pieces of a canonical event that every connector builds alike: the deal as Dealgate
holds it (for an event that changes only its commitments, or withdraws them), and an event
id made of the content (a state fetched or reconciled twice is one event)."""

import hashlib
import json
from typing import Any

HELD_FIELDS = (
    "external_id", "name", "account", "amount", "currency", "stage", "expected_close", "owner",
)  # fmt: skip


def held_deal(held: dict[str, Any], source: str, updated_at: str) -> dict[str, Any]:
    """The canonical deal of `held` (the deal as the commitments service shows it)."""
    return {"source": source, **{name: held[name] for name in HELD_FIELDS},
            "updated_at": updated_at}  # fmt: skip


def content_event_id(prefix: str, event: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:24]
    return f"{prefix}-{digest}"
