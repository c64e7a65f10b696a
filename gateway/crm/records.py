"""A CRM's commitment record as it goes into the canonical event: read as a promise, or
kept as unreadable with what the rep must fix. Never dropped: a record missing from a
snapshot would be withdrawn, and a typo would open the deal's gate."""

from typing import Any

from pydantic import ValidationError

from kit.contracts.commitments import CommitmentIn


def readable(commitment: dict[str, Any]) -> dict[str, Any]:
    """The record in the canonical shape, itself when it reads as a promise; else
    `{"external_id", "problem"}` for the event's `unreadable` list (a kind or a date
    Dealgate does not take, a summary left empty)."""
    try:
        CommitmentIn.model_validate(commitment)
    except ValidationError as error:
        if commitment.get("withdrawn"):
            # Taken back: what it said no longer matters, only that it is gone.
            return {"external_id": str(commitment["external_id"]), "kind": "other",
                    "summary": "Withdrawn in the CRM", "withdrawn": True}  # fmt: skip
        problem = "; ".join(
            f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"
            for detail in error.errors()
        )
        return {"external_id": str(commitment["external_id"]), "problem": problem[:1000]}
    return commitment
