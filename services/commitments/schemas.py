"""What the commitments service's internal API takes: the canonical CRM event.

The gateway turns every CRM's webhook (generic JSON, HubSpot, Salesforce) into this one
shape (DESIGN.md "Shapes outside clients rely on"); stages are already mapped. Closed:
unknown fields are refused.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from kit.types import EMAIL_PATTERN, ITEM_KEY_PATTERN, TAG_SLUG_PATTERN, Day, Timestamp, text
from services.commitments.intake import DealStage, IncomingCommitment

EXTERNAL_ID = r"^[^\x00\s][^\x00]{0,199}$"

ExternalId = Annotated[str, StringConstraints(pattern=EXTERNAL_ID)]
ItemKey = Annotated[str, StringConstraints(pattern=ITEM_KEY_PATTERN)]


class Source(StrEnum):
    salesforce = "salesforce"
    hubspot = "hubspot"
    generic = "generic"


class CommitmentKind(StrEnum):
    feature = "feature"
    integration = "integration"
    custom_work = "custom_work"
    date = "date"
    other = "other"


class DealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Source
    external_id: ExternalId
    name: text(300, min_length=1, strip=True)  # type: ignore[valid-type]
    account: text(300, strip=True) = ""  # type: ignore[valid-type]
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)] = Decimal("0")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    stage: DealStage
    expected_close: Day | None = None
    owner: Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)] | None = None
    updated_at: Timestamp = Field(description="The CRM's own last-modified time of the deal.")

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_as_text(cls, value: object) -> object:
        # Amounts are decimal strings: a JSON float has already lost cents.
        if isinstance(value, float):
            raise ValueError('give amounts as decimal strings, e.g. "250000.00"')
        return value


class CommitmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId
    kind: CommitmentKind
    summary: text(2000, min_length=1, strip=True)  # type: ignore[valid-type]
    roadmap_item_key: ItemKey | Literal[""] | None = Field(
        None, description="Empty or null: the CRM sends no link (a PM's link then stands)."
    )
    promised_by: Day | None = None
    tags: Annotated[
        list[Annotated[str, StringConstraints(pattern=TAG_SLUG_PATTERN, max_length=64)]],
        Field(max_length=20),
    ] = Field(default_factory=list)

    def as_incoming(self) -> IncomingCommitment:
        return IncomingCommitment(
            external_id=self.external_id,
            kind=self.kind.value,
            summary=self.summary,
            roadmap_item_key=self.roadmap_item_key or None,
            promised_by=self.promised_by,
            tags=tuple(self.tags),
        )


class CrmEvent(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event_type": "deal.upserted",
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "snapshot": True,
                    "deal": {
                        "source": "generic", "external_id": "D-1001",
                        "name": "Acme expansion", "account": "Acme Corp",
                        "amount": "250000.00", "currency": "USD", "stage": "open",
                        "expected_close": "2026-12-15", "owner": "rep@example.com",
                        "updated_at": "2026-11-20T09:59:00Z",
                    },
                    "commitments": [
                        {"external_id": "C-1", "kind": "feature", "summary": "SSO with Okta",
                         "roadmap_item_key": "RM-12", "promised_by": "2027-03-01",
                         "tags": ["enterprise-security"]},
                    ],
                }
            ]
        },
    )  # fmt: skip

    event_type: Literal["deal.upserted"]
    occurred_at: Timestamp
    snapshot: bool = Field(description="True: the list is the deal's whole set.")
    deal: DealIn
    commitments: Annotated[list[CommitmentIn], Field(max_length=500)] = Field(default_factory=list)

    @field_validator("commitments")
    @classmethod
    def _external_ids_unique(cls, commitments: list[CommitmentIn]) -> list[CommitmentIn]:
        seen: set[str] = set()
        for commitment in commitments:
            if commitment.external_id in seen:
                raise ValueError(f"commitment {commitment.external_id!r} is listed twice")
            seen.add(commitment.external_id)
        return commitments
