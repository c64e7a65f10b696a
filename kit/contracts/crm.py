"""What the commitments service keeps for the gateway's CRM connectors, shared by both:
the notifications a CRM sent that still need a fetch from its API (HubSpot's webhook
batches carry ids, not data), and the gate each CRM deal should show (the write-back).

Both are leased queues: a gateway replica claims a batch with a token and a lease, does
the outside call, and settles what it claimed; an expired lease frees the work for another
replica, so nothing a CRM sent and nothing the gate decided is lost to a crash.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from kit.contracts.commitments import EVENT_ID_PATTERN, ID_PATTERN, ExternalId, Source
from kit.types import JsonNumber, Timestamp, text, whole_number


class Input(BaseModel):
    """What the gateway sends: closed."""

    model_config = ConfigDict(extra="forbid")


EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
Reason = text(1000)
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Count = whole_number(0, 1_000_000)
Version = whole_number(1, 2**31 - 1)
Subject = Literal["deal", "commitment"]
CLAIM_TOKEN = r"^[0-9a-f]{32}$"
ClaimToken = Annotated[str, StringConstraints(pattern=CLAIM_TOKEN)]


class NotificationIn(Input):
    """One event of a CRM's batch, as the connector read it (what it is about, not data)."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId
    subject: Subject = Field(description="What the event names: a deal or a commitment record.")
    object_id: ExternalId = Field(description="The CRM's id of that record.")
    action: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_.]{1,40}$")] = Field(
        description="creation, propertyChange, deletion, associationChange, restore, merge."
    )
    deal_external_id: ExternalId | None = Field(
        None, description="The deal, when the event itself names it (an association change)."
    )
    occurred_at: Timestamp
    payload: dict[str, Any] = Field(description="The event as the CRM sent it.")
    ignored_reason: Reason | None = Field(
        None,
        description="Kept but never acted on, for this reason (an object type Dealgate does "
        "not read, say): recorded, so the sender's batch is answered and nothing is dropped "
        "silently.",
    )


class NotificationBatch(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "hubspot",
                    "notifications": [
                        {
                            "event_id": "hubspot-1000001",
                            "subject": "deal",
                            "object_id": "1234567890",
                            "action": "creation",
                            "occurred_at": "2026-11-20T10:00:00Z",
                            "payload": {"eventId": 1000001, "objectId": 1234567890},
                        }
                    ],
                }
            ]
        },
    )

    source: Source
    notifications: Annotated[list[NotificationIn], Field(min_length=1, max_length=1000)]


class NotificationsTaken(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"taken": 3, "duplicates": 0}]})

    taken: int = Field(description="New notifications stored.")
    duplicates: int = Field(description="Event ids already stored (a re-sent batch).")


class NotificationClaim(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"source": "hubspot", "limit": 100, "lease_seconds": 60}]},
    )

    source: Source
    limit: whole_number(1, 1000) = 100  # type: ignore[valid-type]
    lease_seconds: whole_number(1, 3600) = 60  # type: ignore[valid-type]


class ClaimedNotification(BaseModel):
    id: str
    event_id: str
    subject: Subject
    object_id: str
    action: str
    deal_external_id: str | None
    occurred_at: datetime
    attempts: int
    payload: dict[str, Any]


class ClaimedNotifications(BaseModel):
    token: str
    items: list[ClaimedNotification]


class Retry(Input):
    """A claimed row released, due again after `delay_seconds`, with why: a notification by
    its id, a write-back by its deal's id."""

    model_config = ConfigDict(extra="forbid")

    id: Id
    reason: Reason
    delay_seconds: JsonNumber = Field(ge=0, le=86_400)


class Ignored(Input):
    model_config = ConfigDict(extra="forbid")

    id: Id
    reason: Reason


class NotificationSettlement(Input):
    """What became of a claim: done, never to be acted on (with why), or tried again later.
    Only what the token still holds is settled: work whose lease ran out and that another
    replica claimed is that replica's."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "token": "5f1c2a9e0d3b4c7a8e6f1b2c3d4e5f60",
                    "done": ["0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10"],
                    "retry": [
                        {
                            "id": "1c9f8d2e-3e5a-4d66-8b64-6e3c2d8f0a21",
                            "reason": "HubSpot API rate limit reached",
                            "delay_seconds": 10,
                        }
                    ],
                }
            ]
        },
    )

    token: ClaimToken
    done: Annotated[list[Id], Field(max_length=1000)] = Field(default_factory=list)
    ignored: Annotated[list[Ignored], Field(max_length=1000)] = Field(default_factory=list)
    retry: Annotated[list[Retry], Field(max_length=1000)] = Field(default_factory=list)


class Settled(BaseModel):
    settled: int


class NotificationRead(BaseModel):
    """A stored notification and where it stands (for operators and tests)."""

    id: str
    source: Source
    event_id: str
    subject: Subject
    object_id: str
    action: str
    status: Literal["pending", "done", "ignored"]
    reason: str | None
    attempts: int
    received_at: datetime
    settled_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationRead]


# The write-back ------------------------------------------------------------------------


class WritebackClaim(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"sources": ["hubspot", "salesforce"], "limit": 50, "lease_seconds": 60}]
        },
    )

    sources: Annotated[list[Source], Field(min_length=1, max_length=3)]
    limit: whole_number(1, 500) = 50  # type: ignore[valid-type]
    lease_seconds: whole_number(1, 3600) = 60  # type: ignore[valid-type]


class ClaimedWriteback(BaseModel):
    deal_id: str
    source: Source
    external_id: str
    ready: bool
    blocking_count: int
    version: int
    attempts: int


class ClaimedWritebacks(BaseModel):
    token: str
    items: list[ClaimedWriteback]


class Written(Input):
    """The state written to the CRM, as claimed (its version)."""

    model_config = ConfigDict(extra="forbid")

    deal_id: Id
    version: Version
    ready: StrictBool
    blocking_count: Count


class WritebackSettlement(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "token": "5f1c2a9e0d3b4c7a8e6f1b2c3d4e5f60",
                    "written": [
                        {
                            "deal_id": "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10",
                            "version": 2,
                            "ready": True,
                            "blocking_count": 0,
                        }
                    ],
                }
            ]
        },
    )

    token: ClaimToken
    written: Annotated[list[Written], Field(max_length=500)] = Field(default_factory=list)
    retry: Annotated[list[Retry], Field(max_length=500)] = Field(default_factory=list)


class WritebackRead(BaseModel):
    """The gate a CRM deal should show, and what was last written there."""

    deal_id: str
    source: Source
    external_id: str
    ready: bool
    blocking_count: int
    version: int
    written_version: int
    written_ready: bool | None
    written_blocking_count: int | None
    written_at: datetime | None
    attempts: int
    last_error: str | None
