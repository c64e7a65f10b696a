"""What the commitments service's API reads and writes, shared with the gateway that
calls it: the canonical CRM event, commitments, reviews, the work queue and the reports.

The gateway turns every CRM's webhook (generic JSON, HubSpot, Salesforce) into this one
shape (DESIGN.md "Shapes outside clients rely on"); stages are already mapped. Closed:
unknown fields are refused.
"""

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kit.contracts import examples
from kit.contracts.approvals import ChainRead, ChainStep, Steps, default_chain
from kit.contracts.relayed import Relayed
from kit.types import (
    EMAIL_PATTERN,
    ITEM_KEY_PATTERN,
    NOT_BLANK_PATTERN,
    TAG_SLUG_PATTERN,
    WHITESPACE,
    Day,
    Timestamp,
    WholeNumber,
    text,
    whole_number,
)

# A CRM's own id: no leading White_Space. Its bound is a length, not a counted repetition,
# since ECMA-262 read without the `u` flag would count an astral character twice.
EXTERNAL_ID = rf"^[^\x00{WHITESPACE}][^\x00]*$"
EXTERNAL_ID_MAX_LENGTH = 200
# A deal amount: a decimal string, at most 16 digits before the point and 2 after it.
AMOUNT_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"
# A CRM event id (e.g. a Standard Webhooks `webhook-id`).
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~@=+-]{0,199}$"

# An amount as the API answers it: two decimals, as text. One schema for reading and
# writing (a client generated from the document gets one model, not an input and an output).
AmountText = Annotated[
    Decimal,
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["250000.00"]}),
]
ExternalId = Annotated[
    str, StringConstraints(pattern=EXTERNAL_ID, max_length=EXTERNAL_ID_MAX_LENGTH)
]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]  # ISO 4217
ItemKey = Annotated[str, StringConstraints(pattern=ITEM_KEY_PATTERN)]


class Source(StrEnum):
    salesforce = "salesforce"
    hubspot = "hubspot"
    generic = "generic"


class DealStage(StrEnum):
    open = "open"
    closed_won = "closed_won"
    closed_lost = "closed_lost"


class ReviewStatus(StrEnum):
    received = "received"
    evaluation_pending = "evaluation_pending"
    cleared = "cleared"
    needs_signoff = "needs_signoff"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"
    needs_attention = "needs_attention"  # the CRM's record cannot be read as a promise
    info_requested = "info_requested"  # a reviewer asked the rep a question; still blocking


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
    amount: Annotated[
        Decimal,
        Field(ge=0, max_digits=18, decimal_places=2),
        WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["250000.00"]}),
    ] = Decimal("0")
    currency: Currency = "USD"
    stage: DealStage
    expected_close: Day | None = None
    owner: Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)] | None = None
    updated_at: Timestamp = Field(description="The CRM's own last-modified time of the deal.")

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_as_text(cls, value: object) -> object:
        # Amounts are decimal strings: a JSON float has already lost cents. Only the plain
        # form is taken (not "1e3", "1_000" or " 12 ", which Decimal would read), so that the
        # published pattern is the whole rule. A Decimal comes from Python, never from JSON.
        if isinstance(value, Decimal):
            return value
        if not isinstance(value, str) or re.fullmatch(AMOUNT_PATTERN, value) is None:
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
    withdrawn: StrictBool = Field(
        False,
        description="The CRM marks this promise taken back (a Withdrawn status kept instead "
        "of deleting the record): it is withdrawn, in a partial event as in a snapshot.",
    )
    answer: text(5000, strip=True) | None = Field(  # type: ignore[valid-type]
        None,
        description="The rep's answer to a reviewer's question, as the CRM's record holds "
        "it: a new one answers the question standing (the promise goes back in the queue).",
    )


class UnreadableCommitment(BaseModel):
    """A CRM record that is a promise but cannot be read as one (a kind or a date Dealgate
    does not take): kept as `needs_attention`, blocking its deal until the CRM sends it
    readable, never dropped."""

    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId
    problem: text(1000, min_length=1, strip=True) = Field(  # type: ignore[valid-type]
        description="What is wrong with the record, for the rep who fixes it."
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
    unreadable: Annotated[list[UnreadableCommitment], Field(max_length=500)] = Field(
        default_factory=list,
        description="Records the CRM holds as promises that cannot be read as one; part of "
        "the deal's set (a snapshot does not withdraw them).",
    )

    @model_validator(mode="after")
    def _external_ids_unique(self) -> "CrmEvent":
        seen: set[str] = set()
        for commitment in [*self.commitments, *self.unreadable]:
            if commitment.external_id in seen:
                raise ValueError(f"commitment {commitment.external_id!r} is listed twice")
            seen.add(commitment.external_id)
        return self


# What the internal API answers and the gateway writes back ------------------------------

MAX_PAGE = 200
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CommitmentId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class ConflictCode(StrEnum):
    unknown_item = "unknown_item"
    unlinked = "unlinked"
    item_declined = "item_declined"
    non_goal = "non_goal"
    custom_work = "custom_work"
    unscheduled = "unscheduled"
    date_before_plan = "date_before_plan"
    date_at_risk = "date_at_risk"
    off_vision = "off_vision"


class Severity(StrEnum):
    blocker = "blocker"
    warning = "warning"


TagSlug = Annotated[str, StringConstraints(pattern=TAG_SLUG_PATTERN, max_length=64)]


MAX_EVIDENCE_NESTING = 8


class Evidence(BaseModel):
    """What a conflict rests on. The named fields are what coverage and the reports read;
    anything else the evaluator adds (say, the best search matches) is kept as given."""

    model_config = ConfigDict(extra="allow")

    item_key: ItemKey | None = None
    planned_end: Day | None = None
    promised_by: Day | None = None
    tags: Annotated[list[TagSlug], Field(max_length=40)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kept_as_given_stays_shallow(self) -> "Evidence":
        """What is kept as given must be answered again inside every read of the commitment:
        nested past what the JSON encoder follows, it would be taken and then fail."""
        if self.model_extra and _nests_deeper_than(self.model_extra, MAX_EVIDENCE_NESTING):
            raise ValueError(f"evidence nests more than {MAX_EVIDENCE_NESTING} levels deep")
        return self


def _nests_deeper_than(value: object, levels: int) -> bool:
    # Iterative, so no depth of input can exhaust the stack that checks it.
    waiting: list[tuple[object, int]] = [(value, 1)]
    while waiting:
        current, depth = waiting.pop()
        if isinstance(current, dict):
            children: Iterable[object] = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > levels:
            return True
        waiting.extend((child, depth + 1) for child in children)
    return False


class Conflict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: ConflictCode
    severity: Severity
    message: text(2000)  # type: ignore[valid-type]
    needs_signoff: StrictBool = Field(description="Whether the policy asks a PM to sign it off.")
    evidence: Evidence = Field(default_factory=Evidence)


# Cross-field rules the models check, published as JSON Schema `if`/`then`, so that the
# document does not call valid what the server refuses.
_UNREACHABLE_HAS_NO_CONFLICTS = {
    "if": {"required": ["outcome"], "properties": {"outcome": {"const": "roadmap_unreachable"}}},
    "then": {"properties": {"conflicts": {"maxItems": 0}}},
}
# What a decision's schema cannot say field by field, published: a rejection needs a
# comment; only an approval's conditions (present) can expire.
REJECTION_NEEDS_A_COMMENT = {
    "allOf": [
        {
            "if": {"properties": {"decision": {"const": "reject"}}},
            "then": {
                "required": ["comment"],
                "properties": {"comment": {"pattern": NOT_BLANK_PATTERN}},
            },
        },
        {
            "if": {
                "required": ["conditions_expire_on"],
                "properties": {"conditions_expire_on": {"type": "string"}},
            },
            "then": {
                "required": ["conditions"],
                "properties": {
                    "decision": {"const": "approve"},
                    "conditions": {"pattern": NOT_BLANK_PATTERN},
                },
            },
        },
    ]
}


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **_UNREACHABLE_HAS_NO_CONFLICTS,
            "examples": [
                {
                    "claim_token": "9f1c2b7e4d3a4c8e9b0a1f2e3d4c5b6a",
                    "evaluated_version": 1,
                    "work_generation": 1,
                    "outcome": "evaluated",
                    "conflicts": [
                        {"code": "date_before_plan", "severity": "blocker",
                         "message": "Promised by 2027-03-01; RM-12 is planned for 2027-04-15.",
                         "needs_signoff": True,
                         "evidence": {"item_key": "RM-12", "planned_end": "2027-04-15",
                                      "promised_by": "2027-03-01"}},
                    ],
                    "roadmap_item_versions": {"RM-12": 3},
                    "policy_version": "default-1",
                }
            ]
        },
    )  # fmt: skip

    claim_token: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] = Field(
        description="The claim the commitment was taken with (POST /work/claims); only its "
        "holder records (else 409)."
    )
    evaluated_version: WholeNumber = Field(
        ge=1, description="The commitment version evaluated; another is refused with 409."
    )
    work_generation: WholeNumber = Field(
        ge=0,
        description="The work generation claimed. Only an evaluation of the latest "
        "generation settles the work owed; after an older one the work is due again.",
    )
    outcome: Literal["evaluated", "roadmap_unreachable"] = "evaluated"
    conflicts: Annotated[list[Conflict], Field(max_length=50)] = Field(default_factory=list)
    roadmap_item_versions: dict[ItemKey, whole_number(0)] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        max_length=50,
        # pydantic publishes the key pattern as `patternProperties`, which leaves any other
        # key valid in the document; the server refuses it.
        json_schema_extra={"additionalProperties": False},
    )
    policy_version: text(64, min_length=1) = "default"  # type: ignore[valid-type]
    roadmap_item_owner: Email | None = Field(
        None, description="The linked roadmap item's PM, as the roadmap read (who is told)."
    )
    roadmap_item_area: text(64, min_length=1) | None = Field(  # type: ignore[valid-type]
        None, description="The linked roadmap item's area, as the roadmap read."
    )
    review_area: text(64, min_length=1) | None = Field(  # type: ignore[valid-type]
        None,
        description="The area whose reviewers decide it: the item's, or the policy's triage "
        "area. None: only an admin may decide it.",
    )
    approval_rule: text(64, min_length=1) | None = Field(  # type: ignore[valid-type]
        None, description="The policy's approval rule that chose the chain (None: no rule)."
    )
    approval_chain: Steps | None = Field(
        None,
        description="The steps its approval goes through. None: one step, a reviewer of "
        "`review_area`.",
    )

    @model_validator(mode="after")
    def _unreachable_has_no_conflicts(self) -> "EvaluationCreate":
        if self.outcome == "roadmap_unreachable" and self.conflicts:
            raise ValueError("a roadmap_unreachable outcome carries no conflicts")
        return self


class EvaluationRecord(EvaluationCreate):
    """One evaluation of a batch: the commitment it is of, and the evaluation."""

    commitment_id: CommitmentId


class EvaluationBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "commitment_id": "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10",
                            "claim_token": "9f1c2b7e4d3a4c8e9b0a1f2e3d4c5b6a",
                            "evaluated_version": 1,
                            "work_generation": 1,
                            "outcome": "evaluated",
                            "conflicts": [],
                            "roadmap_item_versions": {"RM-12": 3},
                            "policy_version": "default-1",
                        }
                    ]
                }
            ]
        },
    )

    items: Annotated[list[EvaluationRecord], Field(min_length=1, max_length=100)] = Field(
        description="A commitment named again after its first evaluation here is not "
        "recorded again."
    )


class EvaluationRecorded(BaseModel):
    commitment_id: str
    recorded: bool = Field(
        description="False when the claim no longer held (the commitment changed or was "
        "claimed again: it is due again already) or the commitment does not exist."
    )
    review_status: ReviewStatus | None = Field(
        description="Its status now (null: no such commitment)."
    )
    reason: str | None = Field(None, description="Why it was not recorded.")


class EvaluationBatchAnswer(BaseModel):
    items: list[EvaluationRecorded] = Field(description="In the order of the request.")


class EvaluationRead(BaseModel):
    id: str
    commitment_version: int
    conflicts: list[Conflict]
    roadmap_item_versions: dict[str, int]
    policy_version: str
    review_area: str | None = Field(
        None, description="The area whose reviewers decide it (the reviewers directory)."
    )
    approval_rule: str | None = Field(None, description="The approval rule that chose its chain.")
    approval_chain: list[ChainStep] = Field(
        default_factory=default_chain, description="The steps its approval goes through."
    )

    @field_validator("approval_chain", mode="before")
    @classmethod
    def _no_chain_is_the_default(cls, value: object) -> object:
        return default_chain() if value is None else value

    fingerprint: str = Field(description="Identifies the conflicts that need sign-off.")
    review_status: ReviewStatus = Field(description="Where it moved the commitment.")
    reopened: bool
    evaluated_at: datetime


class DecisionRequest(BaseModel):
    """A PM's decision as the public API takes it; who decided comes from the token."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **REJECTION_NEEDS_A_COMMENT,
            "examples": [
                {"decision": "approve", "comment": "Fine: the pilot starts after GA.",
                 "conditions": "Pilot only."}
            ]
        },
    )  # fmt: skip

    decision: Literal["approve", "reject"]
    comment: text(5000, strip=True) = ""  # type: ignore[valid-type]
    conditions: text(5000, strip=True) = ""  # type: ignore[valid-type]
    conditions_expire_on: Day | None = Field(
        None,
        description="An approval's conditions hold until this day (UTC); from it on, the "
        "approval lapses and the commitment awaits sign-off again. Needs `conditions`.",
    )

    @model_validator(mode="after")
    def _reject_needs_a_comment(self) -> "DecisionRequest":
        if self.decision == "reject" and not self.comment:
            raise PydanticCustomError("comment_required", "a rejection needs a comment")
        if self.conditions_expire_on is not None and not (
            self.decision == "approve" and self.conditions
        ):
            raise PydanticCustomError(
                "expiry_without_conditions", "only an approval's conditions can expire"
            )
        return self


class DecisionCreate(DecisionRequest):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **REJECTION_NEEDS_A_COMMENT,
            "examples": [
                {"decision": "approve", "comment": "Fine: the pilot starts after GA.",
                 "conditions": "Pilot only.", "decided_by": "ana@example.com", "role": "pm"}
            ]
        },
    )  # fmt: skip

    decided_by: text(254, min_length=1, strip=True) = Field(  # type: ignore[valid-type]
        description="Who decided (the `sub` of the person's token; `dealgate` for the "
        "policy's escalation)."
    )
    role: Literal["pm", "admin", "system"]


class DecisionRead(BaseModel):
    id: str
    evaluation_id: str
    decision: Literal["approve", "reject"]
    comment: str
    conditions: str
    decided_by: str
    role: str
    on_behalf_of: str | None = Field(
        None, description="The out-of-office reviewer the decider stood in for, if any."
    )
    decided_at: datetime
    step: str | None = Field(
        None, description="The approval chain's step it was taken at (null: before chains)."
    )
    lapsed_at: datetime | None = Field(
        None, description="When it stopped counting (null: it stands)."
    )
    lapse_cause: Literal["recalled", "conditions_expired"] | None = Field(
        None, description="Why: its author recalled it, or its conditions expired."
    )
    conditions_expire_on: date | None = Field(
        None, description="The day an approval's conditions run out (the commitment reopens)."
    )


class RoadmapLink(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"roadmap_item_key": "RM-12"}]}
    )

    roadmap_item_key: ItemKey


def amount_of_cents(cents: int) -> Decimal:
    """A stored amount (whole cents) as the decimal the API shows."""
    return Decimal(cents) / 100


class DealRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.DEAL]})

    id: str
    source: Source
    external_id: str
    name: str
    account: str
    amount: AmountText = Field(description="A decimal string.")
    currency: str
    stage: DealStage
    expected_close: date | None
    owner: str | None
    crm_updated_at: datetime
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _amount_from_cents(cls, values: object) -> object:
        if isinstance(values, Mapping) and "amount_cents" in values:
            values = dict(values)
            values["amount"] = amount_of_cents(values.pop("amount_cents"))
        return values


class DealPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[DealRead]
    next_cursor: str | None


class CommitmentFields(BaseModel):
    id: str
    deal_id: str
    external_id: str
    kind: CommitmentKind
    summary: str
    roadmap_item_key: str | None
    link_source: Literal["crm", "pm"] | None
    promised_by: date | None
    tags: list[str]
    review_status: ReviewStatus
    reopen_reason: str | None = Field(description="Why it needs sign-off again, if reopened.")
    crm_problem: str | None = Field(
        None,
        description="Why the CRM's record cannot be read as a promise (needs_attention): what "
        "the rep fixes in the CRM.",
    )
    status_changed_at: datetime
    version: int


class CommitmentListed(CommitmentFields):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.COMMITMENT_LISTED]})

    conflicts: list[Conflict] = Field(description="Those of its current evaluation.")


class CommitmentPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[CommitmentListed]
    next_cursor: str | None


class CommitmentRead(CommitmentListed):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.COMMITMENT_READ]})

    deal: DealRead
    evaluation: EvaluationRead | None = Field(description="The current evaluation.")
    evaluations: list[EvaluationRead] = Field(description="Every evaluation, oldest first.")
    decisions: list[DecisionRead] = Field(description="Every decision, oldest first.")
    approval: ChainRead | None = Field(
        None,
        description="Its approval chain as its current evaluation chose it: each step, who "
        "approved it, whose turn it is (null: not evaluated yet).",
    )
    comments: list["CommentRead"] = Field(
        default_factory=list,
        description="Its thread, oldest first: reviewers' questions, the answers, recalled "
        "decisions, reassignments.",
    )


class CommentRead(BaseModel):
    id: str
    kind: Literal["question", "answer", "recall", "reassignment"]
    body: str
    author: str = Field(
        description="Who wrote it (the token's `sub`; `dealgate` for the policy's escalation)."
    )
    role: str
    assignee: str | None = Field(None, description="A reassignment's: to whom.")
    created_at: datetime


_TEXT = text(5000, min_length=1, strip=True)


class QuestionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"question": "Would a pilot on the current SSO beta be enough?"}]
        },
    )

    question: _TEXT  # type: ignore[valid-type]


class AnswerRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"answer": "Yes: the pilot starts in March."}]},
    )

    answer: _TEXT  # type: ignore[valid-type]


class RecallRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "Approved the wrong promise."}]},
    )

    reason: text(5000, strip=True) = ""  # type: ignore[valid-type]


class ReassignmentRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"assignee": "ben@example.com", "reason": "Ben owns SSO this quarter."}]
        },
    )

    assignee: Email = Field(description="A reviewer in the directory.")
    reason: text(5000, strip=True) = ""  # type: ignore[valid-type]


class CommentCreate(BaseModel):
    """A question, an answer or a recall as the gateway hands it to the commitments
    service: with who wrote it, and for a recall the window it may come within."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # A question or an answer says something; a recall's reason may be empty; a
            # reassignment, and only one, names its assignee.
            "allOf": [
                {"if": {"properties": {"kind": {"enum": ["question", "answer"]}}},
                 "then": {"required": ["body"],
                          "properties": {"body": {"pattern": NOT_BLANK_PATTERN}}}},
                {"if": {"properties": {"kind": {"const": "reassignment"}}},
                 "then": {"required": ["assignee"], "properties": {"assignee": {"type": "string"}}},
                 "else": {"properties": {"assignee": {"type": "null"}}}},
            ],
            "examples": [
                {"kind": "question", "body": "Would a pilot be enough?",
                 "author": "ana@example.com", "role": "pm"}
            ],
        },
    )  # fmt: skip

    kind: Literal["question", "answer", "recall", "reassignment"]
    body: text(5000, strip=True) = ""  # type: ignore[valid-type]
    author: text(254, min_length=1, strip=True)  # type: ignore[valid-type]
    role: Literal["crm", "pm", "admin", "system"]
    assignee: Email | None = Field(None, description="reassignment: to whom (required).")
    recall_window_seconds: int = Field(
        900, ge=0, le=30 * 86_400, description="recall: how long after the decision."
    )

    @model_validator(mode="after")
    def _questions_and_answers_say_something(self) -> "CommentCreate":
        if self.kind in ("question", "answer") and not self.body:
            raise ValueError(f"a {self.kind} needs a body")
        if (self.kind == "reassignment") != (self.assignee is not None):
            raise ValueError("a reassignment, and only one, names its assignee")
        return self


class CommitmentState(BaseModel):
    id: str
    external_id: str
    review_status: ReviewStatus


class IntakeAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "status": "accepted", "deal_id": examples.DEAL_ID,
            "commitments": [{"id": examples.COMMITMENT_ID, "external_id": "C-1",
                             "review_status": "needs_signoff"}],
        }]}
    )  # fmt: skip

    status: Literal["accepted", "duplicate", "stale"]
    deal_id: str
    commitments: list[CommitmentState] = Field(description="Every commitment of the deal.")


class Blocking(BaseModel):
    commitment_id: str
    review_status: ReviewStatus
    conflicts: list[Conflict]
    recheck_pending: bool = Field(
        False,
        description="It owes an evaluation after a change (the roadmap's or the CRM's) and "
        "blocks until it has one, whatever its status says now.",
    )


class DealReadiness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.READINESS]})

    deal_id: str
    ready: bool
    blocking: list[Blocking]


class ClaimRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"limit": 20, "lease_seconds": 60}]}
    )

    limit: int = Field(20, ge=1, le=500)
    lease_seconds: int = Field(60, ge=1, le=3600)
    commitment_ids: Annotated[list[CommitmentId], Field(max_length=500)] | None = Field(
        None,
        description="Only these, owed work whether due yet or not (what a gateway evaluates "
        "at once: the commitments of the event it handed over, a PM's link).",
    )
    roadmap_item_keys: Annotated[list[ItemKey], Field(max_length=500)] | None = Field(
        None, description="Only those linked to these items."
    )
    retry_waiting: StrictBool = Field(
        False,
        description="Also work pausing after a failed attempt, before its pause ends (what "
        "the roadmap's return makes worth evaluating at once). Never fresh work still in "
        "its hand-off grace.",
    )


class ClaimedCommitment(CommitmentFields):
    work_generation: int
    claim_token: str
    claimed_until: datetime
    # What the policy's approval rules read of the deal (the chain is chosen at evaluation).
    deal_source: Source
    deal_currency: str
    deal_amount: AmountText


class ClaimedWork(BaseModel):
    items: list[ClaimedCommitment]


class IntakeClaimed(IntakeAnswer):
    """The commitments service's answer to an event: the intake answer, and what it claimed
    for the caller to evaluate."""

    claimed: list[ClaimedCommitment] = Field(
        default_factory=list,
        description="With `claim_lease_seconds`: the event's commitments owed an evaluation, "
        "claimed in the event's own transaction as `POST /work/claims` by id would claim them "
        "(one call less for the gateway that evaluates them at once).",
    )


class RoadmapChangeMark(BaseModel):
    """One roadmap change a re-check is owed for, with the commitments it concerns."""

    model_config = ConfigDict(
        extra="forbid",
        # What _key_fits_entity checks, published: the document calls valid only what it takes.
        json_schema_extra={
            "if": {"properties": {"entity": {"const": "roadmap_item"}}},
            "then": {
                "properties": {"key": {"pattern": ITEM_KEY_PATTERN}, "item_keys": {"maxItems": 0}}
            },
            "else": {"properties": {"key": {"pattern": TAG_SLUG_PATTERN}}},
        },
    )

    entity: Literal["roadmap_item", "vision_tag"]
    key: str = Field(
        # One pair of anchors around both: a `$` before the `|` is Python's, which also
        # matches before a final newline, wherever schemathesis draws from the pattern.
        pattern=f"^({ITEM_KEY_PATTERN[1:-1]}|{TAG_SLUG_PATTERN[1:-1]})$",
        max_length=64,
        description="The item key, or the tag slug (its carriers are owed the re-check).",
    )
    version: whole_number(1) | None = Field(  # type: ignore[valid-type]
        None,
        description="The version the change made. If a re-check was marked for this "
        "version or a later one already, nothing is marked again. Null (a delete): always.",
    )
    item_keys: Annotated[list[ItemKey], Field(max_length=1000)] = Field(
        default_factory=list,
        description="For a vision tag: the items carrying it (their commitments too).",
    )

    @model_validator(mode="after")
    def _key_fits_entity(self) -> "RoadmapChangeMark":
        pattern = ITEM_KEY_PATTERN if self.entity == "roadmap_item" else TAG_SLUG_PATTERN
        if not re.match(pattern, self.key):
            raise ValueError(f"not a key of a {self.entity}")
        if self.entity == "roadmap_item" and self.item_keys:
            raise ValueError("item_keys belong to a vision tag's change")
        return self


class RecheckRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"changes": [{"entity": "roadmap_item", "key": "RM-12", "version": 4}]},
                {"changes": [{"entity": "vision_tag", "key": "on-prem", "item_keys": ["RM-7"]}]},
            ]
        },
    )

    commitment_ids: Annotated[list[CommitmentId], Field(max_length=1000)] = Field(
        default_factory=list, description="These commitments."
    )
    changes: Annotated[list[RoadmapChangeMark], Field(max_length=100)] = Field(
        default_factory=list,
        description="Roadmap changes: the commitments linked to the item, or carrying the tag "
        "or linked to an item carrying it. One with a version is marked once however often "
        "it comes; one without (a delete, or a caller that knows none) always.",
    )


class RecheckAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"marked": 3}]})

    marked: int = Field(description="Commitments now owed a re-check.")


# The aging report's cursor: the last item's awaiting_since (microseconds since the Unix
# epoch) and its id. Every value the pattern admits is a place the report can resume from, so
# the pattern is the whole rule.
AGING_CURSOR_PATTERN = "^[0-9]{1,17}_" + ID_PATTERN.removeprefix("^")


# Lists -----------------------------------------------------------------------------------

PageLimit = Field(50, ge=1, le=MAX_PAGE, description=f"At most {MAX_PAGE}.")
PageCursor = Field(None, description="`next_cursor` of the previous page.")


class PageQuery(BaseModel):
    """A list keyset-paged by id."""

    limit: int = PageLimit
    cursor: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = PageCursor


class DealQuery(PageQuery):
    source: Source | None = None
    external_id: ExternalId | None = Field(None, description="The deal's id in its CRM.")
    stage: DealStage | None = None
    owner: Email | None = None
    ready: bool | None = Field(
        None,
        description="Only deals that may close now (true) or that something blocks (false), "
        "as their readiness says.",
    )


class CommitmentQuery(PageQuery):
    review_status: list[ReviewStatus] | None = Field(None, description="Any of these statuses.")
    deal_id: CommitmentId | None = None
    roadmap_item_key: ItemKey | None = None
    conflict_code: ConflictCode | None = Field(
        None, description="Its current evaluation has such a conflict."
    )
    owner: Email | None = Field(None, description="The deal's owner.")


class CommitmentServiceQuery(CommitmentQuery):
    """What the gateway's CRM connectors also ask by: a commitment by its CRM's ids."""

    source: Source | None = Field(
        None, description="With `external_id`: the CRM the commitment came from."
    )
    external_id: ExternalId | None = None


DEALS = Relayed(
    path="/deals",
    name="list_deals",
    tag="deals",
    summary="Deals, filtered by source and external id, stage, owner or readiness; by id",
    description="Keyset-paged by id (`next_cursor`). `ready=false` lists the deals something "
    "blocks from closing (their readiness lists what); the CRM role may ask.",
    answer=DealPage,
    query=DealQuery,
)
COMMITMENTS = Relayed(
    path="/commitments",
    name="list_commitments",
    tag="commitments",
    summary="Commitments, filtered by status, deal, roadmap item, conflict code or owner",
    description="Keyset-paged by id (`next_cursor`), each with its current conflicts. "
    "`review_status` may be given more than once (any of them).",
    answer=CommitmentPage,
    query=CommitmentQuery,
)
