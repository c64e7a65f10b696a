"""What the roadmap API reads and writes. Write schemas are closed (unknown fields: 422)."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ValidationInfo

from kit.contracts import examples
from kit.types import EMAIL_PATTERN, ITEM_KEY_PATTERN, TAG_SLUG_PATTERN, Day, text

ItemKey = Annotated[
    str, StringConstraints(pattern=ITEM_KEY_PATTERN, max_length=20), Field(examples=["RM-12"])
]
TagSlug = Annotated[
    str,
    StringConstraints(pattern=TAG_SLUG_PATTERN, max_length=64),
    Field(examples=["enterprise-security"]),
]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]
Title = text(200, min_length=1, strip=True)
Description = text(10_000)
Area = text(64, min_length=1, strip=True)
TagList = Annotated[list[TagSlug], Field(max_length=20)]


class ItemStatus(StrEnum):
    idea = "idea"
    planned = "planned"
    in_progress = "in_progress"
    shipped = "shipped"
    declined = "declined"


class Confidence(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class TagKind(StrEnum):
    pillar = "pillar"
    non_goal = "non_goal"


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _planned_order(planned_end: date | None, info: ValidationInfo) -> date | None:
    start = info.data.get("planned_start")
    if start is not None and planned_end is not None and start > planned_end:
        raise PydanticCustomError("date_order", "planned_start must not be after planned_end")
    return planned_end


ITEM_EXAMPLE = {
    "key": "RM-12",
    "title": "SSO with Okta and Azure AD",
    "description": "SAML and OIDC single sign-on for enterprise workspaces.",
    "status": "in_progress",
    "planned_start": "2026-10-01",
    "planned_end": "2027-02-15",
    "confidence": "medium",
    "vision_tags": ["enterprise-security"],
    "owner": "pm@example.com",
    "area": "identity",
}


class RoadmapItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ITEM_EXAMPLE]})

    key: ItemKey
    title: Title
    description: Description = ""
    status: ItemStatus = ItemStatus.idea
    planned_start: Day | None = None
    planned_end: Day | None = Field(
        None, description="When it is expected to be generally available."
    )
    confidence: Confidence = Confidence.medium
    vision_tags: TagList = Field(default_factory=list)
    owner: Email | None = Field(None, description="The owning product manager's email.")
    area: Area | None = None

    _unique_tags = field_validator("vision_tags")(_unique)
    _dates_in_order = field_validator("planned_end")(_planned_order)


class PartialUpdate(BaseModel):
    """A partial update: absent fields stay; `null` clears the nullable ones."""

    def changes(self) -> dict[str, object]:
        """The fields the client sent, with their values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class RoadmapItemUpdate(PartialUpdate):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"planned_end": "2027-04-30", "confidence": "low"}]},
    )

    # Not nullable, only omissible: a default of None marks "absent".
    title: Title = None  # type: ignore[assignment]
    description: Description = None  # type: ignore[assignment]
    status: ItemStatus = None  # type: ignore[assignment]
    planned_start: Day | None = None
    planned_end: Day | None = None
    confidence: Confidence = None  # type: ignore[assignment]
    vision_tags: TagList = None  # type: ignore[assignment]
    owner: Email | None = None
    area: Area | None = None

    _unique_tags = field_validator("vision_tags")(_unique)
    _dates_in_order = field_validator("planned_end")(_planned_order)


class RoadmapItemRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **ITEM_EXAMPLE,
                    "version": 3,
                    "created_at": "2026-09-01T08:00:00Z",
                    "updated_at": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )

    key: str
    title: str
    description: str
    status: ItemStatus
    planned_start: date | None
    planned_end: date | None
    confidence: Confidence
    vision_tags: list[str]
    owner: str | None
    area: str | None
    version: int = Field(description="Grows on every change; the ETag carries it.")
    created_at: datetime
    updated_at: datetime


class RoadmapItemPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[RoadmapItemRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class RoadmapItemBatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"keys": ["RM-12", "RM-40"]}]}
    )

    keys: Annotated[list[ItemKey], Field(min_length=1, max_length=500)]


class RoadmapItemBatch(BaseModel):
    items: list[RoadmapItemRead]
    missing: list[str] = Field(description="Requested keys that name no item.")


class SearchHit(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "item": RoadmapItemRead.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
            "score": 0.61,
        }]}
    )  # fmt: skip

    item: RoadmapItemRead
    score: float = Field(description="Higher is a better match; comparable within one answer.")


class SearchResults(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[SearchHit]


TAG_EXAMPLE = {
    "slug": "enterprise-security",
    "name": "Enterprise security",
    "description": "What large customers' security teams need to say yes.",
    "kind": "pillar",
}


class VisionTagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TAG_EXAMPLE]})

    slug: TagSlug
    name: Title
    description: Description = ""
    kind: TagKind


class VisionTagUpdate(PartialUpdate):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"kind": "non_goal"}]}
    )

    name: Title = None  # type: ignore[assignment]
    description: Description = None  # type: ignore[assignment]
    kind: TagKind = None  # type: ignore[assignment]


class VisionTagRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **TAG_EXAMPLE,
                    "version": 1,
                    "created_at": "2026-09-01T08:00:00Z",
                    "updated_at": "2026-09-01T08:00:00Z",
                }
            ]
        }
    )

    slug: str
    name: str
    description: str
    kind: TagKind
    version: int
    created_at: datetime
    updated_at: datetime


class VisionTagList(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[VisionTagRead]


CHANGE_EXAMPLE = {
    "id": 42,
    "entity": "roadmap_item",
    "key": "RM-12",
    "operation": "updated",
    "old_version": 2,
    "new_version": 3,
    "fields": ["planned_end"],
    "occurred_at": "2026-11-20T10:00:00Z",
}


class ChangeRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CHANGE_EXAMPLE]})

    id: int
    entity: Literal["roadmap_item", "vision_tag"]
    key: str = Field(description="The item key or the tag slug.")
    operation: Literal["created", "updated", "deleted"]
    old_version: int | None
    new_version: int | None
    fields: list[str] = Field(description="Which fields changed (all of them on create).")
    occurred_at: datetime


class ChangePage(BaseModel):
    changes: list[ChangeRead]
    last_id: int = Field(
        description="The last id in this page (or `after` when empty): the next `after`."
    )


class ChangeDelivery(BaseModel):
    """What the roadmap service pushes to its subscriber: the next changes, in order."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"changes": [CHANGE_EXAMPLE]}]}
    )

    changes: Annotated[list[ChangeRead], Field(max_length=1000)]
