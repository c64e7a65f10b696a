"""Approval chains: the steps a flagged promise's approval goes through, chosen by the
policy's approval rules when it is evaluated (the evaluation records its chain), and how far
a commitment has come along it."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from kit.contracts.reviewers import Email
from kit.types import text

AREA_STEP = "area reviewer"
StepName = text(64, min_length=1, strip=True)


class ChainStep(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # `all` names its approvers (published: the document calls valid what it takes).
            "if": {"required": ["require"], "properties": {"require": {"const": "all"}}},
            "then": {"required": ["approvers"], "properties": {"approvers": {"minItems": 1}}},
            "examples": [
                {"name": "area reviewer"},
                {"name": "product leads", "approvers": ["lead@example.com", "cpo@example.com"],
                 "require": "all"},
            ]
        },
    )  # fmt: skip

    name: StepName = Field(description="Unique in its chain; decisions record it.")  # type: ignore[valid-type]
    approvers: Annotated[
        list[Email], Field(max_length=20, json_schema_extra={"uniqueItems": True})
    ] = Field(
        default_factory=list,
        description="Who approves at this step. Empty: the reviewers of the promise's area "
        "(the reviewers directory), or whoever it was reassigned to.",
    )
    require: Literal["any", "all"] = Field(
        "any",
        description="`any`: one approval completes the step; `all`: each approver named "
        "approves, in any order (parallel).",
    )

    @model_validator(mode="after")
    def _all_names_its_approvers(self) -> "ChainStep":
        if self.require == "all" and not self.approvers:
            raise ValueError("a step requiring `all` must name its approvers")
        if len(set(self.approvers)) != len(self.approvers):
            raise ValueError("a step names each approver once")
        return self


def _unique_step_names(steps: list[ChainStep]) -> list[ChainStep]:
    names = [step.name.casefold() for step in steps]
    if len(set(names)) != len(names):
        raise ValueError("the steps of a chain have different names")
    return steps


Steps = Annotated[list[ChainStep], Field(min_length=1, max_length=10)]
# As an admin writes it (the policy's rules): its steps named apart, whatever their case.
Chain = Annotated[Steps, AfterValidator(_unique_step_names)]


def default_chain() -> list[ChainStep]:
    """One step: a reviewer of the promise's area (what no approval rule changes)."""
    return [ChainStep(name=AREA_STEP)]


class StepApproval(BaseModel):
    decided_by: str
    on_behalf_of: str | None = Field(description="The absent approver a delegate stood in for.")
    role: str
    decided_at: datetime
    evaluation_id: str = Field(description="The evaluation approved.")


class StepRead(BaseModel):
    name: str
    require: Literal["any", "all"]
    approvers: list[str] = Field(
        description="Who approves at this step: those named, or for an area step the area's "
        "reviewers in the directory now (and an assignee)."
    )
    status: Literal["approved", "awaiting", "pending", "rejected"] = Field(
        description="`approved`: its approvals cover the conflicts found now; `awaiting`: its "
        "turn (the first step not approved); `pending`: a later step; `rejected`: rejected "
        "here."
    )
    approvals: list[StepApproval] = Field(
        description="The approvals that complete it (a stale one, given before the conflicts "
        "changed, no longer counts and is not listed)."
    )
    awaiting: list[str] = Field(
        description="For a step requiring `all`: the approvers yet to approve."
    )


class ChainRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"rule": "large-deals", "complete": False, "next_step": "product leads",
                 "next_approvers": ["cpo@example.com"], "assigned_to": None,
                 "steps": [
                     {"name": "area reviewer", "require": "any",
                      "approvers": ["ana@example.com"], "status": "approved", "awaiting": [],
                      "approvals": [{"decided_by": "ana@example.com", "on_behalf_of": None,
                                     "role": "pm", "decided_at": "2026-12-01T10:00:00Z",
                                     "evaluation_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}]},
                     {"name": "product leads", "require": "all",
                      "approvers": ["lead@example.com", "cpo@example.com"],
                      "status": "awaiting", "awaiting": ["cpo@example.com"],
                      "approvals": [{"decided_by": "lead@example.com", "on_behalf_of": None,
                                     "role": "pm", "decided_at": "2026-12-01T11:00:00Z",
                                     "evaluation_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}]},
                 ]}
            ]
        }
    )  # fmt: skip

    rule: str | None = Field(description="The approval rule that chose the chain (null: none).")
    steps: list[StepRead] = Field(description="In the order they approve.")
    complete: bool = Field(description="Every step approved: the promise is approved.")
    next_step: str | None = Field(description="The step whose turn it is (null: complete).")
    next_approvers: list[str] = Field(
        description="Who may approve now: whoever the step was reassigned to first, then its "
        "approvers (an admin may too)."
    )
    assigned_to: str | None = Field(
        None, description="Whom the step whose turn it is was reassigned to (null: nobody)."
    )
