"""Roadmap items: create, read (one, a page, a batch), partial update, delete.

Every write takes the roadmap write lock first (see changes.py), then reads, checks and
writes: concurrent writers are serialized, and a repeated request finds the state the
first one left and changes nothing more.
"""

from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.roadmap import (
    ItemStatus,
    RoadmapItemCreate,
    RoadmapItemPage,
    RoadmapItemRead,
    RoadmapItemUpdate,
)
from kit.db import utcnow
from kit.etags import require_if_match, strong_etag
from kit.problems import ProblemError, field_problem
from services.roadmap.changes import append_change, lock_for_write, next_version
from services.roadmap.tables import roadmap_item_tags, roadmap_items
from services.roadmap.tags import unknown_slugs, unknown_tags_problem

ITEM_FIELDS = (
    "title",
    "description",
    "status",
    "planned_start",
    "planned_end",
    "confidence",
    "vision_tags",
    "owner",
    "area",
)


async def _select_items(connection: AsyncConnection, keys_query: Select) -> list[RoadmapItemRead]:
    """The items whose keys `keys_query` selects (it may filter and limit), with their tags,
    in key order: one statement, whatever the count."""
    page = keys_query.subquery()
    rows = await connection.execute(
        select(roadmap_items, roadmap_item_tags.c.tag_slug)
        .join(page, page.c.key == roadmap_items.c.key)
        .outerjoin(roadmap_item_tags, roadmap_item_tags.c.item_key == roadmap_items.c.key)
        .order_by(roadmap_items.c.key)
    )
    found: dict[str, RoadmapItemRead] = {}
    for row in rows:
        item = found.get(row.key)
        if item is None:
            values = {name: value for name, value in row._mapping.items() if name != "tag_slug"}
            item = found[row.key] = RoadmapItemRead(**values, vision_tags=[])
        if row.tag_slug is not None:
            item.vision_tags.append(row.tag_slug)
    for item in found.values():
        item.vision_tags.sort()  # code-point order whatever the database's collation
    return list(found.values())


async def load_items(connection: AsyncConnection, keys: Sequence[str]) -> list[RoadmapItemRead]:
    """The items with these keys, in key order."""
    if not keys:
        return []
    return await _select_items(
        connection, select(roadmap_items.c.key).where(roadmap_items.c.key.in_(keys))
    )


async def get_item(connection: AsyncConnection, key: str) -> RoadmapItemRead | None:
    found = await load_items(connection, [key])
    return found[0] if found else None


async def require_item(connection: AsyncConnection, key: str) -> RoadmapItemRead:
    item = await get_item(connection, key)
    if item is None:
        raise ProblemError(404, f"No roadmap item {key}.", kind="not-found")
    return item


async def list_items(
    connection: AsyncConnection,
    *,
    limit: int,
    cursor: str | None = None,
    statuses: Sequence[ItemStatus] = (),
    tag: str | None = None,
    area: str | None = None,
    owner: str | None = None,
    changed_since: datetime | None = None,
) -> RoadmapItemPage:
    query = select(roadmap_items.c.key).order_by(roadmap_items.c.key).limit(limit + 1)
    if cursor:
        query = query.where(roadmap_items.c.key > cursor)
    if statuses:
        query = query.where(roadmap_items.c.status.in_([status.value for status in statuses]))
    if tag:
        tagged = select(roadmap_item_tags.c.item_key).where(roadmap_item_tags.c.tag_slug == tag)
        query = query.where(roadmap_items.c.key.in_(tagged))
    if area:
        query = query.where(roadmap_items.c.area == area)
    if owner:
        query = query.where(roadmap_items.c.owner == owner)
    if changed_since:
        query = query.where(roadmap_items.c.updated_at >= changed_since)
    found = await _select_items(connection, query)
    page, more = found[:limit], len(found) > limit
    return RoadmapItemPage(items=page, next_cursor=page[-1].key if more else None)


def _same_content(item: RoadmapItemRead, data: RoadmapItemCreate) -> bool:
    return all(
        sorted(getattr(item, name)) == sorted(getattr(data, name))
        if name == "vision_tags"
        else getattr(item, name) == getattr(data, name)
        for name in ITEM_FIELDS
    )


async def _check_tags(connection: AsyncConnection, slugs: list[str]) -> None:
    unknown = await unknown_slugs(connection, slugs)
    if unknown:
        raise unknown_tags_problem(unknown)


def _column_values(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.value if isinstance(value, Enum) else value
        for name, value in values.items()
        if name != "vision_tags"
    }


async def _replace_tags(connection: AsyncConnection, key: str, slugs: list[str]) -> None:
    await connection.execute(roadmap_item_tags.delete().where(roadmap_item_tags.c.item_key == key))
    if slugs:
        await connection.execute(
            roadmap_item_tags.insert(), [{"item_key": key, "tag_slug": slug} for slug in slugs]
        )


async def create_item(
    connection: AsyncConnection, data: RoadmapItemCreate
) -> tuple[RoadmapItemRead, bool]:
    """Creates the item; an identical repeat answers the stored one (created=False)."""
    await lock_for_write(connection)
    existing = await get_item(connection, data.key)
    if existing is not None:
        if _same_content(existing, data):
            return existing, False
        raise ProblemError(
            409, f"Roadmap item {data.key} already exists with other values.", kind="conflict"
        )
    await _check_tags(connection, data.vision_tags)
    now = utcnow()
    version = await next_version(connection, "roadmap_item", data.key)
    values = data.model_dump(include=set(ITEM_FIELDS))
    await connection.execute(
        roadmap_items.insert().values(
            key=data.key, **_column_values(values), version=version, created_at=now, updated_at=now
        )
    )
    await _replace_tags(connection, data.key, data.vision_tags)
    await append_change(
        connection,
        entity="roadmap_item",
        key=data.key,
        operation="created",
        old_version=None,
        new_version=version,
        fields=ITEM_FIELDS,
        at=now,
    )
    return await require_item(connection, data.key), True


def _check_precondition(item: RoadmapItemRead, if_match: str | None) -> None:
    require_if_match(if_match, strong_etag(item.version), f"Roadmap item {item.key}")


def _check_planned_order(start: date | None, end: date | None, patched: set[str]) -> None:
    if start is not None and end is not None and start > end:
        field = "planned_end" if "planned_end" in patched else "planned_start"
        raise field_problem(f"body.{field}", "planned_start must not be after planned_end")


async def update_item(
    connection: AsyncConnection, key: str, patch: RoadmapItemUpdate, if_match: str | None
) -> RoadmapItemRead:
    """Applies the fields given; a patch that changes nothing leaves the version as it is."""
    await lock_for_write(connection)
    current = await require_item(connection, key)
    _check_precondition(current, if_match)
    wanted = patch.changes()
    merged = current.model_copy(update=wanted)
    _check_planned_order(merged.planned_start, merged.planned_end, set(wanted))
    changed = {
        name: value
        for name, value in wanted.items()
        if (
            sorted(value) != sorted(current.vision_tags)
            if name == "vision_tags"
            else getattr(current, name) != value
        )
    }
    if not changed:
        return current
    if "vision_tags" in changed:
        await _check_tags(connection, changed["vision_tags"])
        await _replace_tags(connection, key, changed["vision_tags"])
    now = utcnow()
    await connection.execute(
        roadmap_items.update()
        .where(roadmap_items.c.key == key)
        .values(**_column_values(changed), version=current.version + 1, updated_at=now)
    )
    await append_change(
        connection,
        entity="roadmap_item",
        key=key,
        operation="updated",
        old_version=current.version,
        new_version=current.version + 1,
        fields=changed,
        at=now,
    )
    return await require_item(connection, key)


async def delete_item(connection: AsyncConnection, key: str, if_match: str | None) -> None:
    await lock_for_write(connection)
    current = await require_item(connection, key)
    _check_precondition(current, if_match)
    await connection.execute(roadmap_items.delete().where(roadmap_items.c.key == key))
    await append_change(
        connection,
        entity="roadmap_item",
        key=key,
        operation="deleted",
        old_version=current.version,
        new_version=None,
        fields=(),
        at=utcnow(),
    )
