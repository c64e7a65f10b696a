"""The reviewers directory: who may decide the promises of which areas, whom to escalate to,
and who stands in while a reviewer is out of office. A reviewer is named by the email in
their token's `sub`."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from kit.contracts import examples
from kit.types import EMAIL_PATTERN, Timestamp, text

Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]
Area = text(64, min_length=1, strip=True)


def same_area(first: str, second: str) -> bool:
    """Areas match whatever their case: "Identity" on an item is the "identity" reviewers
    cover."""
    return first.casefold() == second.casefold()


class OutOfOffice(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        # "from" is a Python keyword: the field is `starts`, the wire name "from", always.
        serialize_by_alias=True,
        json_schema_extra={
            "examples": [
                {"from": "2026-12-20T00:00:00Z", "until": "2027-01-04T00:00:00Z",
                 "delegate": "ben@example.com"}
            ]
        },
    )  # fmt: skip

    starts: Timestamp = Field(alias="from", description="When the absence begins.")
    until: Timestamp = Field(description="When it ends (not included).")
    delegate: Email = Field(
        description="Who decides the reviewer's promises meanwhile; the decision records "
        "that it was taken on the reviewer's behalf."
    )

    @model_validator(mode="after")
    def _ends_after_it_begins(self) -> "OutOfOffice":
        if self.until <= self.starts:
            raise ValueError("`until` must be later than `from`")
        return self

    def covers(self, moment: datetime) -> bool:
        return self.starts <= moment < self.until


class ReviewerWrite(BaseModel):
    """A reviewer's entry as an admin writes it (PUT replaces it whole)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"areas": ["identity", "security"], "escalation_contact": "lead@example.com",
                 "out_of_office": {"from": "2026-12-20T00:00:00Z",
                                   "until": "2027-01-04T00:00:00Z",
                                   "delegate": "ben@example.com"}}
            ]
        },
    )  # fmt: skip

    areas: Annotated[list[Area], Field(min_length=1, max_length=50)] = Field(  # type: ignore[valid-type]
        description="The areas whose promises this reviewer decides: a roadmap item's "
        "`area`, or the policy's triage area for promises with no item. Matched in any "
        "case; one named twice is kept once."
    )
    escalation_contact: Email | None = Field(
        None, description="Who hears when this reviewer's sign-offs are overdue."
    )
    out_of_office: OutOfOffice | None = Field(
        None, description="While it lasts, the delegate may decide this reviewer's promises."
    )

    @model_validator(mode="after")
    def _areas_once_each(self) -> "ReviewerWrite":
        """An area named twice (in any case) is kept once, as first named."""
        kept: dict[str, str] = {}
        for area in self.areas:
            kept.setdefault(area.casefold(), area)
        self.areas = list(kept.values())
        return self


class ReviewerRead(ReviewerWrite):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "ana@example.com", "areas": ["identity"],
                 "escalation_contact": "lead@example.com", "out_of_office": None,
                 "version": 1, "created_at": "2026-12-01T09:00:00Z",
                 "updated_at": "2026-12-01T09:00:00Z"}
            ]
        },
    )  # fmt: skip

    email: str
    version: int
    created_at: datetime
    updated_at: datetime


class ReviewerPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[ReviewerRead]
    next_cursor: str | None = Field(description="The email to go on after; null on the last page.")
