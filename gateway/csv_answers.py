"""Answering a list or a report as CSV when the caller asks for it (`Accept: text/csv`):
one row per item, the columns named in the header row. The page's next cursor goes in a
`Link` header (rel="next"), as the JSON answer's `next_cursor`.

The audit keeps nested values as JSON text (`csv_response` with its columns). Other lists
and the reports are flattened (`tabulated`): a nested object's fields become `outer.inner`
columns, money per currency one column per currency (`at_stake.EUR.amount`, never summed),
a list of plain values one cell (`a; b`); a report made of several lists has one row per
entry of each, named in a `section` column.
"""

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

CSV_MEDIA_TYPE = "text/csv"


# The media ranges that take each answer, the most specific first (RFC 9110 12.5.1).
_RANGES = {
    "csv": ("text/csv", "text/*", "*/*"),
    "json": ("application/json", "application/*", "*/*"),
}


def wants_csv(request: Request) -> bool:
    """CSV when the caller prefers it to JSON: its q-value is higher, or as high and named
    first. A browser's `*/*` (or no Accept at all) still gets JSON."""
    given: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(request.headers.get("accept", "").split(",")):
        media_type, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        given.setdefault(media_type.lower(), (quality, position))

    def preference(kind: str) -> tuple[float, int]:
        matched = next((given[r] for r in _RANGES[kind] if r in given), (0.0, len(given)))
        return matched[0], -matched[1]

    csv_quality, json_quality = preference("csv"), preference("json")
    named = any(r in given for r in _RANGES["csv"][:2])
    return named and csv_quality[0] > 0 and csv_quality > json_quality


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
    headers = {}
    if next_cursor is not None:
        following = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return Response(
        _csv_text(rows, columns), media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8", headers=headers
    )


def csv_content(example: str) -> dict:
    """The OpenAPI `content` entry of a CSV answer beside the JSON one."""
    return {CSV_MEDIA_TYPE: {"schema": {"type": "string"}, "example": example}}


def _flat(value: Any, prefix: str = "", per_currency: frozenset[str] = frozenset()) -> dict:
    """`per_currency`: the fields holding money per currency, which an empty list leaves out
    (no bare column beside `field.EUR.amount`)."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flat(inner, f"{prefix}{key}.", per_currency))
        return flat
    name = prefix.removesuffix(".")
    if name in per_currency and value == []:
        return {}
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(entry, dict) and isinstance(entry.get("currency"), str) for entry in value
        )
    ):
        flat = {}
        for entry in value:
            rest = {key: inner for key, inner in entry.items() if key != "currency"}
            flat.update(_flat(rest, f"{prefix}{entry['currency']}."))
        return flat
    if isinstance(value, list) and all(not isinstance(entry, dict | list) for entry in value):
        return {name: "; ".join(str(entry) for entry in value)}
    return {name: value}


def tabulated(answer: BaseModel) -> tuple[list[dict[str, Any]], list[str], str | None]:
    """Rows, columns and the next cursor of a page (its `items`) or of a report (its lists)."""
    data = answer.model_dump(mode="json")
    lists = [name for name, value in data.items() if isinstance(value, list)]
    if "items" in data:
        entry = type(answer).model_fields["items"].annotation
        pivots = _per_currency(entry)
        rows = [_flat(item, per_currency=pivots) for item in data["items"]]
        next_cursor, order = data.get("next_cursor"), _field_order(entry)
    else:
        several = len(lists) > 1
        rows = [
            ({"section": name} if several else {}) | _flat(entry)
            for name in lists
            for entry in data[name]
        ]
        next_cursor, order = None, ["section"] if several else []
        for name in lists:
            order += _field_order(type(answer).model_fields[name].annotation)
    seen = list(dict.fromkeys(key for row in rows for key in row))

    def place(column: str) -> tuple[int, int]:
        top = column.split(".", 1)[0]
        return (order.index(top) if top in order else len(order), seen.index(column))

    columns = sorted(seen, key=place) if rows else list(dict.fromkeys(order))
    return rows, columns, next_cursor


def _per_currency(annotation: Any) -> frozenset[str]:
    """The fields of a list's entries that hold entries with a currency (money per currency)."""
    entry = getattr(annotation, "__args__", (annotation,))[0]
    if not (isinstance(entry, type) and issubclass(entry, BaseModel)):
        return frozenset()
    return frozenset(
        name
        for name, field in entry.model_fields.items()
        if "currency" in _field_order(field.annotation)
    )


def _field_order(annotation: Any) -> list[str]:
    """The field names of a list's entries, in the order the model declares them."""
    entry = getattr(annotation, "__args__", (annotation,))[0]
    return (
        list(entry.model_fields) if isinstance(entry, type) and issubclass(entry, BaseModel) else []
    )


def tabulated_response(answer: BaseModel, request: Request) -> Response:
    rows, columns, next_cursor = tabulated(answer)
    return csv_response(rows, columns, request=request, next_cursor=next_cursor)


def csv_example(model: type[BaseModel]) -> str:
    """The CSV of the model's first documented example (its header alone when it has none)."""
    examples = model.model_json_schema().get("examples")
    if examples:
        rows, columns, _ = tabulated(model.model_validate(examples[0]))
    else:
        rows, columns, _ = tabulated(model.model_construct(items=[], next_cursor=None))
    return _csv_text(rows, columns)


def _csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()
