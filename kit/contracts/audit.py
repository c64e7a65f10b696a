"""The decisions audit: every decision across commitments, with the roadmap it decided on
(the evaluation's item versions, and each conflict's evidence with its dates)."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kit.contracts import examples
from kit.contracts.commitments import Conflict

EXAMPLE_ID = "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10"


class DecisionRecord(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": "4e0f9b1c-7d2a-4c3b-8e5f-6a7b8c9d0e1f", "commitment_id": EXAMPLE_ID,
                 "deal_id": "5d2b1c7e-9f10-4c55-9a53-0b8e8c1e2d4f", "decision": "approve",
                 "comment": "Fine for the pilot.", "conditions": "Pilot only.",
                 "decided_by": "ben@example.com", "role": "pm",
                 "on_behalf_of": "ana@example.com", "decided_at": "2026-12-01T10:00:00Z",
                 "step": "area reviewer", "lapsed_at": None, "lapse_cause": None,
                 "conditions_expire_on": None,
                 "review_area": "identity", "evaluation_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                 "policy_version": "default-1", "roadmap_item_versions": {"RM-12": 3},
                 "conflicts": [
                     {"code": "date_before_plan", "severity": "blocker",
                      "message": "Promised by 2027-03-01; RM-12 is planned for 2027-04-15.",
                      "needs_signoff": True,
                      "evidence": {"item_key": "RM-12", "planned_end": "2027-04-15",
                                   "promised_by": "2027-03-01"}}
                 ]}
            ]
        }
    )  # fmt: skip

    id: str
    commitment_id: str
    deal_id: str
    decision: Literal["approve", "reject"]
    comment: str
    conditions: str
    decided_by: str
    role: str
    on_behalf_of: str | None = Field(description="The absent reviewer a delegate stood in for.")
    decided_at: datetime
    step: str | None = Field(
        description="The approval chain's step it was taken at (null: taken before chains)."
    )
    lapsed_at: datetime | None = Field(description="When it stopped counting (null: it stands).")
    lapse_cause: Literal["recalled", "conditions_expired"] | None = Field(
        description="Why: its author recalled it, or its conditions expired."
    )
    conditions_expire_on: date | None = Field(description="When an approval's conditions end.")

    review_area: str | None = Field(description="The area whose reviewers decide it.")
    evaluation_id: str = Field(description="The evaluation decided.")
    policy_version: str
    roadmap_item_versions: dict[str, int] = Field(
        description="The roadmap as it was decided on: each item read, at its version."
    )
    conflicts: list[Conflict] = Field(
        description="What was decided: the conflicts with their evidence (item, dates, tags)."
    )


class DecisionRecordPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[DecisionRecord]
    next_cursor: str | None = Field(description="Null on the last page.")


DecisionOutcome = Literal["approve", "reject"]
