"""The admin and directory lists the gateway relays as the commitments service answers
them, each declared once (kit.contracts.relayed); apart from their models' modules, which
the approval chains import, so declaring them here closes no import cycle."""

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from kit.contracts.api_keys import ApiKeyPage
from kit.contracts.commitments import PageCursor, PageLimit, PageQuery
from kit.contracts.events import SubscriptionPage
from kit.contracts.parameters import EMAIL_PATH_PATTERN
from kit.contracts.relayed import Relayed
from kit.contracts.reviewers import Area, ReviewerPage

API_KEYS = Relayed(
    path="/api-keys",
    name="list_api_keys",
    tag="api keys",
    summary="API keys, by id (never the keys themselves)",
    description="Admins only. Keyset-paged by id (`next_cursor`); revoked keys stay listed "
    "with `revoked_at`, and `last_used_at` says whether a key is still in use before "
    "revoking it.",
    answer=ApiKeyPage,
    query=PageQuery,
)


class ReviewerQuery(BaseModel):
    limit: int = PageLimit
    cursor: Annotated[str, StringConstraints(pattern=EMAIL_PATH_PATTERN, max_length=254)] | None = (
        PageCursor
    )
    area: Area | None = Field(  # type: ignore[valid-type]
        None, description="Only those who review this area (any case)."
    )


REVIEWERS = Relayed(
    path="/reviewers",
    name="list_reviewers",
    tag="reviewers",
    summary="The reviewers directory, by email; filter by the area they review",
    description="Who decides which promises: each reviewer's areas, escalation contact and "
    "out-of-office delegate. Keyset-paged by email (`next_cursor`); `area` matches in any "
    "case.",
    answer=ReviewerPage,
    query=ReviewerQuery,
)


SUBSCRIPTIONS = Relayed(
    path="/webhook-subscriptions",
    name="list_webhook_subscriptions",
    tag="webhook subscriptions",
    summary="Webhook subscriptions, by id",
    description="Admins only. Each with its event types, its status (`active`, `failing`, "
    "`disabled`) and why; never its secret. Keyset-paged by id (`next_cursor`).",
    answer=SubscriptionPage,
    query=PageQuery,
)
