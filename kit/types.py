"""Value types the apps' schemas share."""

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, StringConstraints

# The identifiers every app shares (DESIGN.md "The words").
ITEM_KEY_PATTERN = r"^[A-Z][A-Z0-9]{0,9}-[1-9][0-9]{0,8}$"  # a roadmap item key: RM-42
TAG_SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"  # a vision tag slug: on-prem
EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"

_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_text_only(value: Any) -> Any:
    # Lax parsing would read a bare number as a Unix timestamp.
    if isinstance(value, str) and not _RFC3339_START.match(value):
        raise ValueError("expected an RFC 3339 date-time with a time zone")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text_only)]


def _date_text_only(value: Any) -> Any:
    # Lax parsing would read a bare number as a Unix timestamp's day.
    if isinstance(value, int | float):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_date_text_only)]


# PostgreSQL text cannot hold NUL; refusing it in the schema keeps both databases alike.
NO_NUL_PATTERN = r"^[^\x00]*$"


def text(max_length: int, *, min_length: int = 0, strip: bool = False) -> Any:
    """A free-text string type: bounded, NUL-free, optionally stripped of outer spaces."""
    return Annotated[
        str,
        StringConstraints(
            strip_whitespace=strip,
            min_length=min_length,
            max_length=max_length,
            pattern=NO_NUL_PATTERN,
        ),
    ]
