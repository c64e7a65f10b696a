"""Strong ETags and the If-Match / If-None-Match comparisons (RFC 9110 §13.1)."""

from typing import Annotated, Any

from fastapi import Header

from kit.problems import ProblemError

IfMatch = Annotated[
    str | None,
    Header(description="Apply only if the resource still has this ETag (else 412)."),
]
IfNoneMatch = Annotated[
    str | None, Header(description="Answer 304 if the resource still has one of these ETags.")
]
ETAG_HEADER = {
    "ETag": {"description": "Strong ETag of the resource.", "schema": {"type": "string"}}
}
CREATED_HEADERS = {
    **ETAG_HEADER,
    "Location": {"description": "Where the resource lives.", "schema": {"type": "string"}},
}


def with_etag(
    extra: dict[int | str, dict[str, Any]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: 200 carries an ETag header, plus `extra`."""
    return {200: {"headers": ETAG_HEADER}, **(extra or {})}


def strong_etag(version: int | str) -> str:
    return f'"{version}"'


def _listed(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def if_match_allows(header: str | None, current_etag: str) -> bool:
    """If-Match uses the strong comparison: a weak tag never matches."""
    if header is None:
        return True
    tags = _listed(header)
    return "*" in tags or current_etag in tags


def if_none_match_hits(header: str | None, current_etag: str) -> bool:
    """If-None-Match uses the weak comparison: `W/"x"` matches `"x"`."""
    if header is None:
        return False
    tags = [tag.removeprefix("W/") for tag in _listed(header)]
    return "*" in tags or current_etag in tags


def require_if_match(header: str | None, current_etag: str, what: str) -> None:
    """412 unless an If-Match header (if any) names the current ETag."""
    if not if_match_allows(header, current_etag):
        raise ProblemError(
            412,
            f"{what} changed since it was read; its ETag is now {current_etag}.",
            kind="precondition-failed",
        )
