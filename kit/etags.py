"""Strong ETags and the If-Match / If-None-Match comparisons (RFC 9110 §13.1)."""


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
