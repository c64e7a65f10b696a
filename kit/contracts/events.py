"""Events out (DESIGN.md "Events out"): what Dealgate tells people and systems, and the
webhook subscriptions that receive it. Shared by the commitments service, which writes the
events and delivers them, and the gateway, which publishes their shapes and relays the
subscriptions API.

Every event is `{"id", "type", "occurred_at", "data"}`; `data` holds the deal and the
commitment as /v1 shows them. Commitment events carry the deal's gate as a count
(`gate`), not its whole blocking list: a deal with 500 promises would otherwise send the
500 blockers in each of its 500 events; `deal.gate_changed` carries the list.
"""

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    UrlConstraints,
    field_validator,
    model_validator,
)

from kit.contracts import examples
from kit.contracts.commitments import (
    CommentRead,
    CommitmentListed,
    DealRead,
    DealReadiness,
    DecisionRead,
)
from kit.types import text


class EventType(StrEnum):
    commitment_flagged = "commitment.flagged"
    commitment_reopened = "commitment.reopened"
    commitment_approved = "commitment.approved"
    commitment_rejected = "commitment.rejected"
    commitment_cleared = "commitment.cleared"
    commitment_withdrawn = "commitment.withdrawn"
    commitment_needs_attention = "commitment.needs_attention"
    commitment_info_requested = "commitment.info_requested"
    commitment_answered = "commitment.answered"
    commitment_reassigned = "commitment.reassigned"
    commitment_step_approved = "commitment.step_approved"
    deal_gate_changed = "deal.gate_changed"
    deal_breach_recorded = "deal.breach_recorded"
    signoff_reminder = "signoff.reminder"
    signoff_overdue = "signoff.overdue"


EVENT_DESCRIPTIONS = {
    EventType.commitment_flagged: "A commitment needs a PM's sign-off (first time, or after "
    "the CRM changed it).",
    EventType.commitment_reopened: "An approval or a clearance no longer holds: the reason says "
    "which conflicts are not covered and what changed (the roadmap, the CRM, a PM's link).",
    EventType.commitment_approved: "A PM approved what the current evaluation found.",
    EventType.commitment_rejected: "A PM rejected the commitment.",
    EventType.commitment_cleared: "Nothing about the commitment needs sign-off (any more).",
    EventType.commitment_withdrawn: "The CRM removed the commitment, or the deal was lost.",
    EventType.commitment_needs_attention: "The CRM sent the commitment's record in a form "
    "Dealgate cannot read as a promise (`crm_problem` says why): it blocks the deal until the "
    "record is fixed in the CRM.",
    EventType.commitment_info_requested: "A reviewer asked the rep a question instead of "
    "deciding (`comment`); the commitment still blocks its deal.",
    EventType.commitment_answered: "The rep answered the reviewer's question (`comment`): the "
    "commitment awaits sign-off again.",
    EventType.commitment_reassigned: "The step of its approval whose turn it is was handed to "
    "another reviewer (`comment` names the assignee and why): by a reviewer, or by the "
    "policy's escalation of an overdue sign-off.",
    EventType.commitment_step_approved: "A step of the commitment's approval chain was "
    "approved (`decision`); it still awaits sign-off, now from the next step's approvers "
    "(`reviewers`).",
    EventType.deal_gate_changed: "The deal's readiness to close was first known, or flipped "
    "between ready and not ready; with the blocking commitments.",
    EventType.deal_breach_recorded: "The CRM reported the deal won while it was not ready.",
    EventType.signoff_reminder: "A commitment has awaited sign-off for a set fraction of the "
    "policy's SLA.",
    EventType.signoff_overdue: "A commitment has awaited sign-off longer than the policy's SLA.",
}


class Gate(BaseModel):
    """The deal's readiness when the event happened, as /v1 readiness answers it."""

    ready: bool
    blocking_count: int = Field(ge=0)


class RoadmapChange(BaseModel):
    entity: Literal["roadmap_item", "vision_tag"]
    key: str
    version: int | None


class Cause(BaseModel):
    """What made Dealgate evaluate the commitment again."""

    kind: Literal[
        "crm_changed", "roadmap_changed", "roadmap_link", "decision", "recall",
        "conditions_expired",
    ] = Field(
        description="The CRM sent it changed; the roadmap changed (`changes`); a PM linked "
        "it to a roadmap item; a decision came while it was being evaluated; a reviewer "
        "recalled their decision; an approval's conditions expired."
    )  # fmt: skip
    source: str | None = Field(None, description="crm_changed: the CRM.")
    event_id: str | None = Field(None, description="crm_changed: the CRM's event id.")
    changes: list[RoadmapChange] = Field(default_factory=list)
    roadmap_item_key: str | None = Field(None, description="roadmap_link: the item linked.")


class Reason(BaseModel):
    summary: str = Field(description="The conflicts no approval covers, in words.")
    cause: Cause | None = Field(description="What changed; null when it is not known.")


ROUTING = {
    "item_owner": Field(
        None, description="The linked roadmap item's PM, as the current evaluation read it."
    ),
    "item_area": Field(None, description="The linked roadmap item's area, likewise."),
}


class CommitmentEventData(BaseModel):
    deal: DealRead
    commitment: CommitmentListed = Field(
        description="As /v1 lists it: its conflicts with their evidence, its review status."
    )
    gate: Gate
    item_owner: str | None = ROUTING["item_owner"]
    item_area: str | None = ROUTING["item_area"]
    reason: Reason | None = Field(None, description="commitment.reopened: why.")
    decision: DecisionRead | None = Field(
        None, description="commitment.approved and commitment.rejected: the decision."
    )
    comment: CommentRead | None = Field(
        None,
        description="commitment.info_requested: the question; commitment.answered: the "
        "answer; commitment.reassigned: the reassignment.",
    )
    reviewers: list[str] = Field(
        default_factory=list,
        description="Who may decide it now (flagged, reopened, answered, reassigned): the "
        "approvers of the step whose turn it is, from the reviewers directory, and whoever "
        "that step was reassigned to.",
    )


class GateEventData(BaseModel):
    deal: DealRead
    readiness: DealReadiness
    previous_ready: bool | None = Field(description="Null: the first time it was known.")


class Breach(BaseModel):
    id: str
    kind: Literal["closed_without_signoff"]
    source: str
    event_id: str = Field(description="The CRM event that reported the close.")
    blocking: list[dict[str, str]] = Field(
        description="The commitments not signed off: commitment_id, external_id, review_status."
    )
    detected_at: datetime


class BreachEventData(BaseModel):
    deal: DealRead
    breach: Breach


class SignoffEventData(BaseModel):
    deal: DealRead
    commitment: CommitmentListed
    gate: Gate
    item_owner: str | None = ROUTING["item_owner"]
    item_area: str | None = ROUTING["item_area"]
    awaiting_since: datetime
    due_at: datetime = Field(description="When the SLA runs out.")
    sla_hours: int
    fraction: float = Field(description="The share of the SLA elapsed when it was sent.")
    reviewers: list[str] = Field(
        default_factory=list, description="Who may decide it now (see commitment events)."
    )
    escalation_contacts: list[str] = Field(
        default_factory=list,
        description="signoff.overdue: the escalation contacts of those reviewers (directory).",
    )


EventData = CommitmentEventData | GateEventData | BreachEventData | SignoffEventData

DATA_OF = {
    **{kind: CommitmentEventData for kind in EventType if kind.value.startswith("commitment.")},
    EventType.deal_gate_changed: GateEventData,
    EventType.deal_breach_recorded: BreachEventData,
    EventType.signoff_reminder: SignoffEventData,
    EventType.signoff_overdue: SignoffEventData,
}


class Event(BaseModel):
    id: str = Field(description="Unique; the `webhook-id` of every delivery (deduplicate on it).")
    type: EventType
    occurred_at: datetime
    data: EventData


# Subscriptions ---------------------------------------------------------------------------

WebhookUrl = Annotated[AnyUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]


def _distinct(values: list[EventType] | None) -> list[EventType] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError("each event type once")
    return values


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/dealgate",
                    "event_types": ["commitment.flagged", "deal.gate_changed"],
                    "description": "Deal desk automation",
                }
            ]
        },
    )

    url: WebhookUrl = Field(
        description="http(s) only; private, loopback and link-local addresses are refused "
        "unless the service's allow-list names them."
    )
    event_types: EventTypes
    description: text(500, strip=True) = ""  # type: ignore[valid-type]

    _distinct_types = field_validator("event_types")(_distinct)


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"enabled": False},
                {"event_types": ["deal.gate_changed"]},
                {"rotate_secret": True},
            ]
        },
    )

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    description: text(500, strip=True) | None = None  # type: ignore[valid-type]
    enabled: bool | None = Field(
        None, description="false stops deliveries; true resumes them (a failing one too)."
    )
    rotate_secret: bool = Field(
        False,
        description="A new secret, answered once; the old one keeps signing beside it (two "
        "signatures per delivery) for the overlap the service is set to.",
    )

    _distinct_types = field_validator("event_types")(_distinct)


SubscriptionStatus = Literal["active", "disabled", "failing"]


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5f0c6c2e-8a53-4a3e-9d2c-0f1b2a3c4d5e",
                    "url": "https://hooks.example.com/dealgate",
                    "event_types": ["commitment.flagged", "deal.gate_changed"],
                    "description": "Deal desk automation",
                    "status": "active",
                    "status_reason": None,
                    "secret": None,
                    "previous_secret_expires_at": None,
                    "created_at": "2026-12-03T10:00:00Z",
                    "updated_at": "2026-12-03T10:00:00Z",
                }
            ]
        }
    )

    id: str
    url: str
    event_types: list[EventType]
    description: str
    status: SubscriptionStatus = Field(
        description="active; disabled by an admin; failing: stopped after its deliveries "
        "failed for the whole failing window (`status_reason` says why)."
    )
    status_reason: str | None
    secret: str | None = Field(
        description="The signing secret (`whsec_…`): only in the answer that created it "
        "(the create, or a rotation); null everywhere else."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation: until when the old secret signs too."
    )
    created_at: datetime
    updated_at: datetime


class SubscriptionPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[SubscriptionRead]
    next_cursor: str | None


class DeliveryAttemptRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "id": "2c1b0a9f-8e7d-4c6b-9a5f-4e3d2c1b0a9f", "event_id": "evt_01JD8Z3K4M5N6P7Q8R9S",
            "event_type": "commitment.flagged", "attempted_at": "2026-11-20T10:00:03Z",
            "outcome": "failed", "status_code": 503, "latency_ms": 212,
            "error": "HTTP 503 from the receiver", "replay": False,
        }]}
    )  # fmt: skip

    id: str
    event_id: str
    event_type: EventType
    attempted_at: datetime
    outcome: Literal["delivered", "failed"]
    status_code: int | None = Field(description="Null when no HTTP answer came.")
    latency_ms: int
    error: str | None
    replay: bool


class DeliveryPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[DeliveryAttemptRead] = Field(description="Newest first.")
    next_cursor: str | None


class ReplayRequest(BaseModel):
    """One event again, or every event of the subscription's types in a time range."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"event_id": "evt_5c1f0d0a4f6b4d2e8a7b9c0d1e2f3a4b"},
                {"since": "2026-12-01T00:00:00Z", "until": "2026-12-02T00:00:00Z"},
            ]
        },
    )

    event_id: text(64, min_length=1) | None = None  # type: ignore[valid-type]
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a time with its offset (e.g. 2026-12-01T00:00:00Z)")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("a time between the years 1 and 9999 in UTC") from None

    @model_validator(mode="after")
    def _one_selection(self) -> "ReplayRequest":
        by_event = self.event_id is not None
        by_time = self.since is not None or self.until is not None
        if by_event == by_time:
            raise ValueError("give event_id, or since (and optionally until), not both")
        if by_time and self.since is None:
            raise ValueError("a time range needs since")
        if self.since and self.until and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class ReplayAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"queued": 12}]})

    queued: int = Field(description="Deliveries queued again (sent in order, per deal).")


# One envelope per type, for the OpenAPI `webhooks` section -------------------------------

_DEAL = examples.DEAL
_CONFLICT = {
    "code": "date_before_plan",
    "severity": "blocker",
    "message": "Promised by 2027-03-01, but RM-12 is planned to ship 2027-04-01.",
    "needs_signoff": True,
    "evidence": {
        "item_key": "RM-12",
        "item_status": "planned",
        "planned_end": "2027-04-01",
        "promised_by": "2027-03-01",
        "tags": [],
    },
}
_COMMITMENT = {
    "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "deal_id": _DEAL["id"],
    "external_id": "C-1",
    "kind": "integration",
    "summary": "SSO with Okta",
    "roadmap_item_key": "RM-12",
    "link_source": "crm",
    "promised_by": "2027-03-01",
    "tags": ["enterprise-security"],
    "review_status": "needs_signoff",
    "reopen_reason": None,
    "crm_problem": None,
    "status_changed_at": "2026-11-20T10:00:02Z",
    "version": 2,
    "conflicts": [_CONFLICT],
}
_GATE = {"ready": False, "blocking_count": 1}
_DECISION = {
    "id": "3b241101-e2bb-4255-8caf-4136c566a962",
    "evaluation_id": "a3bb189e-8bf9-3888-9912-ace4e6543002",
    "decision": "approve",
    "comment": "Fine: the pilot starts after GA.",
    "conditions": "Pilot only.",
    "decided_by": "ana@example.com",
    "role": "pm",
    "decided_at": "2026-11-21T09:30:00Z",
}
_REOPENED = {
    **_COMMITMENT,
    "reopen_reason": "Not covered by the approval: date_before_plan on RM-12 "
    "(planned_end 2027-05-01, promised_by 2027-03-01).",
}
_SIGNOFF = {
    "deal": _DEAL,
    "commitment": _COMMITMENT,
    "gate": _GATE,
    "awaiting_since": "2026-11-20T10:00:02Z",
    "due_at": "2026-11-22T10:00:02Z",
    "sla_hours": 48,
}
EXAMPLE_DATA: dict[EventType, dict] = {
    EventType.commitment_flagged: {"deal": _DEAL, "commitment": _COMMITMENT, "gate": _GATE},
    EventType.commitment_reopened: {
        "deal": _DEAL,
        "commitment": _REOPENED,
        "gate": _GATE,
        "reason": {
            "summary": _REOPENED["reopen_reason"],
            "cause": {
                "kind": "roadmap_changed",
                "changes": [{"entity": "roadmap_item", "key": "RM-12", "version": 7}],
            },
        },
    },
    EventType.commitment_approved: {
        "deal": _DEAL,
        "commitment": {**_COMMITMENT, "review_status": "approved"},
        "gate": {"ready": True, "blocking_count": 0},
        "decision": _DECISION,
    },
    EventType.commitment_rejected: {
        "deal": _DEAL,
        "commitment": {**_COMMITMENT, "review_status": "rejected"},
        "gate": _GATE,
        "decision": {
            **_DECISION,
            "decision": "reject",
            "comment": "Not before Q3.",
            "conditions": "",
        },
    },
    EventType.commitment_info_requested: {
        "deal": _DEAL,
        "commitment": {**_COMMITMENT, "review_status": "info_requested"},
        "gate": _GATE,
        "comment": {
            "id": "7e1f0c2a-5b3d-4e6f-8a9b-0c1d2e3f4a5b",
            "kind": "question",
            "body": "Would a pilot on the SSO beta be enough?",
            "author": "ana@example.com",
            "role": "pm",
            "created_at": "2026-11-21T09:30:00Z",
        },
    },
    EventType.commitment_answered: {
        "deal": _DEAL,
        "commitment": _COMMITMENT,
        "gate": _GATE,
        "comment": {
            "id": "8f2a1d3b-6c4e-4f70-9b0c-1d2e3f4a5b6c",
            "kind": "answer",
            "body": "Yes: the pilot starts in March.",
            "author": "rep@example.com",
            "role": "crm",
            "created_at": "2026-11-21T10:30:00Z",
        },
        "reviewers": ["ana@example.com"],
    },
    EventType.commitment_reassigned: {
        "deal": _DEAL,
        "commitment": _COMMITMENT,
        "gate": _GATE,
        "comment": {
            "id": "9a3b2e4c-7d5f-4a81-8c1d-2e3f4a5b6c7d",
            "kind": "reassignment",
            "body": "Ben owns SSO this quarter.",
            "author": "ana@example.com",
            "role": "pm",
            "assignee": "ben@example.com",
            "created_at": "2026-11-21T11:30:00Z",
        },
        "reviewers": ["ben@example.com", "ana@example.com"],
    },
    EventType.commitment_step_approved: {
        "deal": _DEAL,
        "commitment": _COMMITMENT,
        "gate": _GATE,
        "decision": {
            "id": "1b2c3d4e-5f60-4718-92a3-b4c5d6e7f809",
            "evaluation_id": "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
            "decision": "approve",
            "comment": "Fine for the pilot.",
            "conditions": "",
            "decided_by": "ana@example.com",
            "role": "pm",
            "decided_at": "2026-11-21T11:00:00Z",
            "step": "area reviewer",
        },
        "reviewers": ["lead@example.com"],
    },
    EventType.commitment_cleared: {
        "deal": _DEAL,
        "commitment": {**_COMMITMENT, "review_status": "cleared", "conflicts": []},
        "gate": {"ready": True, "blocking_count": 0},
    },
    EventType.commitment_withdrawn: {
        "deal": _DEAL,
        "commitment": {**_COMMITMENT, "review_status": "withdrawn"},
        "gate": {"ready": True, "blocking_count": 0},
    },
    EventType.commitment_needs_attention: {
        "deal": _DEAL,
        "commitment": {
            **_COMMITMENT,
            "review_status": "needs_attention",
            "crm_problem": "kind: 'featur' is not one of feature, integration, custom_work, "
            "date, other",
            "conflicts": [],
        },
        "gate": _GATE,
    },
    EventType.deal_gate_changed: {
        "deal": _DEAL,
        "readiness": {
            "deal_id": _DEAL["id"],
            "ready": False,
            "blocking": [
                {
                    "commitment_id": _COMMITMENT["id"],
                    "review_status": "needs_signoff",
                    "conflicts": [_CONFLICT],
                    "recheck_pending": False,
                }
            ],
        },
        "previous_ready": True,
    },
    EventType.deal_breach_recorded: {
        "deal": {**_DEAL, "stage": "closed_won"},
        "breach": {
            "id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
            "kind": "closed_without_signoff",
            "source": "generic",
            "event_id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            "blocking": [
                {
                    "commitment_id": _COMMITMENT["id"],
                    "external_id": "C-1",
                    "review_status": "needs_signoff",
                }
            ],
            "detected_at": "2026-12-15T16:00:00Z",
        },
    },
    EventType.signoff_reminder: {**_SIGNOFF, "fraction": 0.5},
    EventType.signoff_overdue: {**_SIGNOFF, "fraction": 1.0},
}


def _envelope(kind: EventType) -> type[Event]:
    """`commitment.flagged` → CommitmentFlaggedEvent, its `type` and `data` narrowed."""
    name = "".join(part.capitalize() for part in re.split(r"[._]", kind.value)) + "Event"
    example = {
        "id": "evt_5c1f0d0a4f6b4d2e8a7b9c0d1e2f3a4b",
        "type": kind.value,
        "occurred_at": "2026-11-21T09:30:00Z",
        "data": EXAMPLE_DATA[kind],
    }
    namespace = {
        "__doc__": EVENT_DESCRIPTIONS[kind],
        "__module__": __name__,
        "__annotations__": {"type": Literal[kind.value], "data": DATA_OF[kind]},
        "model_config": ConfigDict(json_schema_extra={"examples": [example]}),
    }
    return type(name, (Event,), namespace)


ENVELOPES: dict[EventType, type[Event]] = {kind: _envelope(kind) for kind in EventType}


EscalationAction = Literal["notify", "reassign", "auto_approve", "auto_reject"]


class SignoffAlertRequest(BaseModel):
    """Asks the commitments service to send the sign-off reminders and overdue alerts that
    are due now (the gateway asks periodically; the SLA is its policy's)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"sla_hours": 48, "reminder_fractions": [0.5, 0.9]}]},
    )

    sla_hours: int = Field(ge=1, le=8760)
    reminder_fractions: Annotated[
        list[Annotated[float, Field(gt=0, lt=1)]], Field(max_length=5)
    ] = Field(
        default_factory=lambda: [0.5, 0.9],
        description="When reminders go out, as fractions of the SLA; overdue goes at 1.",
    )
    limit: int = Field(500, ge=1, le=1000, description="At most this many alerts per call.")
    overdue_action: EscalationAction = Field(
        "notify",
        description="What the policy does when a sign-off is overdue, besides telling the "
        "reviewers and their escalation contacts: nothing more (`notify`), hand the step to "
        "the first escalation contact (`reassign`), or decide it as the system "
        "(`auto_approve` every remaining step, `auto_reject`).",
    )


class ConditionExpiryRequest(BaseModel):
    """Asks the commitments service to lapse the approvals whose conditions have expired
    (the gateway asks periodically, with the sign-off alerts)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"limit": 500}]})

    limit: int = Field(500, ge=1, le=1000, description="At most this many commitments per call.")


class ConditionExpiryAnswer(BaseModel):
    moved: int = Field(
        description="Commitments whose standing approval lapsed: reopened, or a step of "
        "their chain asked again."
    )


class SignoffAlertAnswer(BaseModel):
    sent: int = Field(description="Alerts written (each an event), reminders and overdue.")
