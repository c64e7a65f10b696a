"""API keys for machine clients (a CRM's own gate check, a dashboard's backend): named,
long-lived, revocable, created by an admin, sent as `Authorization: Bearer dgk_…` like a
JWT. The commitments service keeps only each key's SHA-256 (a key is 256 random bits, so
a plain hash is as strong as a password hash would be); the gateway asks it who a key is."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kit.contracts import examples
from kit.types import text

KEY_PREFIX = "dgk_"
KEY_HASH_PATTERN = r"^[0-9a-f]{64}$"
Role = Literal["crm", "viewer", "pm", "admin"]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Salesforce gate check", "roles": ["crm"]}]},
    )

    name: text(100, min_length=1, strip=True)  # type: ignore[valid-type]
    roles: Annotated[list[Role], Field(min_length=1, max_length=4)] = Field(
        description="What the key may do, as a person's token roles (crm: deals and readiness)."
    )


HASH_EXAMPLE = "9f2c4e" + "0" * 58


class ApiKeyRecord(ApiKeyCreate):
    """What the gateway asks the service to keep: the key's hash, never the key."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Salesforce gate check",
                    "roles": ["crm"],
                    "key_hash": HASH_EXAMPLE,
                    "prefix": "dgk_Xq3f9a",
                    "created_by": "root@example.com",
                }
            ]
        },
    )

    key_hash: Annotated[str, StringConstraints(pattern=KEY_HASH_PATTERN)]
    prefix: Annotated[str, StringConstraints(min_length=8, max_length=12)]
    created_by: text(254, min_length=1)  # type: ignore[valid-type]


API_KEY_EXAMPLE = {
    "id": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f", "name": "revenue-board", "roles": ["viewer"],
    "prefix": "dgk_Xq3", "created_by": "admin@example.com",
    "created_at": "2026-12-01T09:00:00Z", "last_used_at": "2026-12-03T16:42:00Z",
    "revoked_at": None,
}  # fmt: skip


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [API_KEY_EXAMPLE]})

    id: str
    name: str
    roles: list[Role]
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_by: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="To the minute.")
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            **API_KEY_EXAMPLE, "last_used_at": None,
            "key": "dgk_Xq3vR8mT2kL9pW4nB7cY1dF6hJ0sA5eG3iK8oU2zQ4x",
        }]}
    )  # fmt: skip

    key: str = Field(description="The key itself (`dgk_…`): shown once, never again.")


class ApiKeyPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.page_examples)

    items: list[ApiKeyRead]
    next_cursor: str | None


class ApiKeyLookup(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"key_hash": HASH_EXAMPLE}]}
    )

    key_hash: Annotated[str, StringConstraints(pattern=KEY_HASH_PATTERN)]
