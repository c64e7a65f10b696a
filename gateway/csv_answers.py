"""Answering a list as CSV when the caller asks for it (`Accept: text/csv`): one row per
item, the columns named in the header row, nested values as JSON text. The page's next
cursor goes in a `Link` header (rel="next"), as the JSON answer's `next_cursor`."""

import csv
import io
import json
from collections.abc import Iterable, Sequence

from fastapi import Request, Response

CSV_MEDIA_TYPE = "text/csv"


def wants_csv(request: Request) -> bool:
    """CSV only when asked for before JSON: a browser's `*/*` still gets JSON."""
    accepted = [part.split(";")[0].strip() for part in request.headers.get("accept", "").split(",")]
    for media_type in accepted:
        if media_type == CSV_MEDIA_TYPE:
            return True
        if media_type in ("application/json", "application/*", "*/*"):
            return False
    return False


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A spreadsheet runs a cell starting with these as a formula (CSV injection, OWASP).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(
    rows: Iterable[dict], columns: Sequence[str], *, request: Request, next_cursor: str | None
) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    headers = {}
    if next_cursor is not None:
        following = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return Response(out.getvalue(), media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8", headers=headers)


def csv_content(example: str) -> dict:
    """The OpenAPI `content` entry of a CSV answer beside the JSON one."""
    return {CSV_MEDIA_TYPE: {"schema": {"type": "string"}, "example": example}}
