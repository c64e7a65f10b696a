"""Value types the apps' schemas share."""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

# Every pattern is read by three engines: ECMA-262 where the OpenAPI documents publish it,
# Rust `regex` where pydantic-core enforces it, Python `re` where the router matches a path
# and where schemathesis draws values from it. They disagree on the shorthands (`\s`, `\d`,
# `\w`, `\b`) and on `.`, so the patterns spell out their characters, with `\xHH` and
# `\uHHHH` escapes, which all three read alike (tests/test_published_patterns.py holds them
# to that).

# Unicode's White_Space: what the server strips from text (pydantic's strip_whitespace), and
# what `\s` meant to the server before the patterns spelled it out.
WHITESPACE = r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# The identifiers every app shares (DESIGN.md "The words").
ITEM_KEY_PATTERN = r"^[A-Z][A-Z0-9]{0,9}-[1-9][0-9]{0,8}$"  # a roadmap item key: RM-42
TAG_SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"  # a vision tag slug: on-prem
_EMAIL_PART = rf"[^@\x00{WHITESPACE}]+"
EMAIL_PATTERN = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"

_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_text_only(value: Any) -> Any:
    # Lax parsing would read a bare number as a Unix timestamp.
    if isinstance(value, str) and not _RFC3339_START.match(value):
        raise ValueError("expected an RFC 3339 date-time with a time zone")
    if isinstance(value, int | float):
        raise ValueError("expected an RFC 3339 date-time with a time zone, not a number")
    return value


def _representable_in_utc(value: datetime) -> datetime:
    # Every timestamp is stored and compared in UTC; near year 1 or 9999 an offset can push
    # it past what a datetime holds.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text_only),
    AfterValidator(_representable_in_utc),
]


def _date_text_only(value: Any) -> Any:
    # Lax parsing would read a bare number as a Unix timestamp's day.
    if isinstance(value, int | float):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_date_text_only)]

_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day_text(value: Any) -> Any:
    # In a query string every value is text: "0" would be read as a Unix timestamp's day.
    # (Bodies keep `Day`: a CRM may send a midnight date-time for a date.)
    if not isinstance(value, str) or not _DATE_TEXT.match(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


QueryDay = Annotated[date, BeforeValidator(_day_text)]


# PostgreSQL text cannot hold NUL; refusing it in the schema keeps both databases alike.
NO_NUL_PATTERN = r"^[^\x00]*$"
# Text that stripping leaves non-empty: NUL-free, with at least one character not White_Space.
NOT_BLANK_PATTERN = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"


def text(max_length: int, *, min_length: int = 0, strip: bool = False) -> Any:
    """A free-text string type: bounded, NUL-free, optionally stripped of outer spaces.

    Stripped text that must not be empty says so in its pattern: `minLength` alone would
    publish " " as valid, which stripping turns into "" and the server refuses."""
    if strip and min_length > 1:
        raise ValueError("a stripped text can demand only that it is not blank")
    return Annotated[
        str,
        StringConstraints(
            strip_whitespace=strip,
            min_length=min_length,
            max_length=max_length,
            pattern=NOT_BLANK_PATTERN if strip and min_length else NO_NUL_PATTERN,
        ),
    ]


def _json_integer_only(value: Any) -> Any:
    # JSON Schema's integer is a number with no fraction (3 and 3.0, never "3" or true);
    # lax parsing would also read a numeric string or a boolean as one.
    if isinstance(value, bool | str):
        raise ValueError("expected an integer")
    return value


WholeNumber = Annotated[int, BeforeValidator(_json_integer_only)]


def _json_number_only(value: Any) -> Any:
    # Lax parsing would read a numeric string or a boolean as a number too.
    if isinstance(value, bool | str):
        raise ValueError("expected a number")
    return value


JsonNumber = Annotated[float, BeforeValidator(_json_number_only)]


def whole_number(minimum: int, maximum: int | None = None) -> Any:
    """A WholeNumber of at least `minimum`, where no field carries the bound (a dict's
    values, one side of a union). The bound goes first: after the validator, pydantic would
    publish it as an unknown "ge" rather than "minimum"."""
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_json_integer_only)]
