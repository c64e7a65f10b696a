"""The path and query parameters of the contracts, shared by each service and the gateway
that exposes its routes: the same patterns, limits and examples on both sides.

Only well-formed ids, item keys and slugs route to one-resource endpoints (anything else is
a 404), so `/items/search` can never be read as an item key: the URL convertors registered
here make the paths `{…:uuid_text}`, `{…:item_key}` and `{…:tag_slug}` mean that.
"""

from typing import Annotated

from fastapi import Path, Query
from starlette.convertors import register_url_convertor

from kit.contracts.commitments import (
    AGING_CURSOR_PATTERN,
    EXTERNAL_ID,
    EXTERNAL_ID_MAX_LENGTH,
    ID_PATTERN,
    MAX_PAGE,
)
from kit.routing import PatternConvertor
from kit.types import EMAIL_PATTERN, ITEM_KEY_PATTERN, TAG_SLUG_PATTERN, Timestamp

register_url_convertor("uuid_text", PatternConvertor(ID_PATTERN))
register_url_convertor("item_key", PatternConvertor(ITEM_KEY_PATTERN))
register_url_convertor("tag_slug", PatternConvertor(TAG_SLUG_PATTERN))
# An email in a path: as a token's `sub` is, but with no "/" (it would end the segment) and
# no "%" (a client that sends it unescaped has it read as an escape).
EMAIL_PATH_PATTERN = EMAIL_PATTERN.replace("[^@", "[^@/%")
register_url_convertor("email", PatternConvertor(EMAIL_PATH_PATTERN))

EXAMPLE_ID = "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10"
IdPath = Annotated[str, Path(pattern=ID_PATTERN, examples=[EXAMPLE_ID])]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"At most {MAX_PAGE}.")]
# Lists ordered by a time, then an id (kit.cursors).
TimeCursor = Annotated[
    str | None,
    Query(pattern=AGING_CURSOR_PATTERN, description="`next_cursor` of the previous page."),
]
Owner = Annotated[str | None, Query(pattern=EMAIL_PATTERN, max_length=254)]
RequiredExternalId = Annotated[
    str,
    Query(
        pattern=EXTERNAL_ID,
        max_length=EXTERNAL_ID_MAX_LENGTH,
        description="The deal's id in its CRM.",
        examples=["D-1001"],
    ),
]
ItemKeyPath = Annotated[str, Path(pattern=ITEM_KEY_PATTERN, examples=["RM-12"])]
TagSlugPath = Annotated[str, Path(pattern=TAG_SLUG_PATTERN, max_length=64, examples=["on-prem"])]
EmailPath = Annotated[
    str, Path(pattern=EMAIL_PATH_PATTERN, max_length=254, examples=["ana@example.com"])
]
AreaQuery = Annotated[
    str | None, Query(min_length=1, max_length=64, description="Only those who review this area.")
]
TimestampQuery = Annotated[
    Timestamp | None,
    Query(description="An RFC 3339 time with its offset.", examples=["2026-12-01T00:00:00Z"]),
]
