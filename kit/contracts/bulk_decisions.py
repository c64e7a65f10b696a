"""Deciding a queue at once: up to 100 decisions in one request, each taken or refused on
its own (one item's refusal never undoes another's), answered in the order asked.

Each item is what `POST /v1/commitments/{id}/decision` takes, with the commitment's id and
optionally the If-Match it would carry. Its answer is the status that single decision would
have had (200, 403, 404, 409, 412, 422) with the commitment or the problem. The request's
schema holds each item's shape (its id, its fields, their lengths); a decision the single
endpoint would refuse as invalid (say, a rejection with no comment, or a decision that is
neither approve nor reject) is that item's 422, not the request's.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kit.contracts import examples
from kit.contracts.commitments import (
    REJECTION_NEEDS_A_COMMENT,
    CommitmentId,
    CommitmentRead,
    DecisionCreate,
)
from kit.problems import Problem

MOST_DECISIONS = 100
EXAMPLE_ID = "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10"


class BulkDecisionItem(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"commitment_id": EXAMPLE_ID, "if_match": '"3"', "decision": "approve",
                 "comment": "Fine: the pilot starts after GA.", "conditions": "Pilot only."}
            ]
        },
    )  # fmt: skip

    commitment_id: CommitmentId
    if_match: str | None = Field(
        None, max_length=200, description="The commitment's ETag as read; a stale one is 412."
    )
    # Checked per item (a bad one is that item's 422), so typed loosely here.
    decision: str = Field(max_length=100, description="`approve` or `reject`.")
    comment: str | None = Field(None, max_length=5000, description="A rejection needs one.")
    conditions: str | None = Field(None, max_length=5000)
    conditions_expire_on: str | None = Field(
        None, max_length=100, description="A day (YYYY-MM-DD), with an approval's conditions."
    )


class BulkDecisionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"items": [
                    {"commitment_id": EXAMPLE_ID, "decision": "approve", "comment": "Pilot only"},
                    {"commitment_id": "5d2b1c7e-9f10-4c55-9a53-0b8e8c1e2d4f",
                     "decision": "reject", "comment": "We do not fork the product."},
                ]}
            ]
        },
    )  # fmt: skip

    items: Annotated[list[BulkDecisionItem], Field(min_length=1, max_length=MOST_DECISIONS)]


class DecisionBatchItem(DecisionCreate):
    """One decision of a batch as the gateway hands it to the commitments service: checked,
    with who decided."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **REJECTION_NEEDS_A_COMMENT,
            "examples": [
                {"commitment_id": EXAMPLE_ID, "if_match": '"3"', "decision": "approve",
                 "comment": "ok", "conditions": "", "decided_by": "ana@example.com",
                 "role": "pm"}
            ],
        },
    )  # fmt: skip

    commitment_id: CommitmentId
    if_match: str | None = Field(None, max_length=200)


class DecisionBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"items": [
                    {"commitment_id": EXAMPLE_ID, "decision": "approve", "comment": "ok",
                     "decided_by": "ana@example.com", "role": "pm"}
                ]}
            ]
        },
    )  # fmt: skip

    items: Annotated[list[DecisionBatchItem], Field(min_length=1, max_length=MOST_DECISIONS)]


class BulkDecisionOutcome(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [
            {"commitment_id": examples.COMMITMENT_ID, "status": 200,
             "commitment": examples.COMMITMENT_READ, "problem": None},
            {"commitment_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "status": 409,
             "commitment": None,
             "problem": {"type": "urn:dealgate:problem:conflict", "title": "Conflict",
                         "status": 409,
                         "detail": "cannot approve a commitment in approved: it is not "
                                   "awaiting sign-off"}},
        ]}
    )  # fmt: skip

    commitment_id: str
    status: Literal[200, 403, 404, 409, 412, 422] = Field(
        description="What the single decision would have answered."
    )
    commitment: CommitmentRead | None = Field(
        None, description="On 200: the commitment as GET shows it, after the decision."
    )
    problem: Problem | None = Field(None, description="Otherwise: why it was refused.")


class BulkDecisionAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[BulkDecisionOutcome] = Field(description="In the order of the request.")
