"""Keyset cursors for lists ordered by a time, then an id: `<microseconds since the epoch>_<id>`
(the shape AGING_CURSOR_PATTERN publishes)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def time_cursor(when: datetime, identifier: str) -> str:
    return f"{(when - _EPOCH) // _MICROSECOND}_{identifier}"


def parse_time_cursor(cursor: str) -> tuple[datetime, str]:
    """Where to resume, from a cursor that matches the pattern."""
    microseconds, _, identifier = cursor.partition("_")
    return _EPOCH + int(microseconds) * _MICROSECOND, identifier


def beyond_time_cursor(
    time_column: ColumnElement, id_column: ColumnElement, cursor: str, *, descending: bool = False
) -> ColumnElement[bool]:
    """The rows a list ordered by (time, id) shows after `cursor`'s row."""
    when, identifier = parse_time_cursor(cursor)
    if descending:
        return or_(time_column < when, and_(time_column == when, id_column < identifier))
    return or_(time_column > when, and_(time_column == when, id_column > identifier))
