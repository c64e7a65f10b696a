"""Strong ETags and the If-Match / If-None-Match comparisons (RFC 9110 §13.1)."""

from kit.problems import ProblemError


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
