"""Vision tags: what the product is for (pillars) and what it will not do (non-goals)."""

import hashlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.roadmap import VisionTagCreate, VisionTagRead, VisionTagUpdate
from kit.db import utcnow
from kit.etags import require_if_match, strong_etag
from kit.problems import ProblemError, field_problem
from services.roadmap.changes import append_change, lock_for_write, next_version
from services.roadmap.tables import vision_tags

TAG_FIELDS = ("name", "description", "kind")


def _read(row) -> VisionTagRead:
    return VisionTagRead.model_validate(row, from_attributes=True)


async def get_tag(connection: AsyncConnection, slug: str) -> VisionTagRead | None:
    row = (await connection.execute(select(vision_tags).where(vision_tags.c.slug == slug))).first()
    return _read(row) if row else None


async def require_tag(connection: AsyncConnection, slug: str) -> VisionTagRead:
    tag = await get_tag(connection, slug)
    if tag is None:
        raise ProblemError(404, f"No vision tag {slug!r}.", kind="not-found")
    return tag


async def list_tags(connection: AsyncConnection) -> list[VisionTagRead]:
    rows = await connection.execute(select(vision_tags).order_by(vision_tags.c.slug))
    return [_read(row) for row in rows]


def tags_etag(tags: list[VisionTagRead]) -> str:
    """One ETag for the whole set: it changes whenever any tag is added or changed."""
    digest = hashlib.sha256(
        ";".join(f"{tag.slug}:{tag.version}" for tag in tags).encode()
    ).hexdigest()
    return strong_etag(digest[:32])


async def unknown_slugs(connection: AsyncConnection, slugs: list[str]) -> list[str]:
    if not slugs:
        return []
    known = set(
        (
            await connection.execute(
                select(vision_tags.c.slug).where(vision_tags.c.slug.in_(slugs))
            )
        ).scalars()
    )
    return [slug for slug in slugs if slug not in known]


async def create_tag(
    connection: AsyncConnection, data: VisionTagCreate
) -> tuple[VisionTagRead, bool]:
    """Creates the tag; an identical repeat answers the stored one (created=False)."""
    await lock_for_write(connection)
    existing = await get_tag(connection, data.slug)
    if existing is not None:
        if all(getattr(existing, name) == getattr(data, name) for name in TAG_FIELDS):
            return existing, False
        raise ProblemError(
            409, f"Vision tag {data.slug!r} already exists with other values.", kind="conflict"
        )
    now = utcnow()
    version = await next_version(connection, "vision_tag", data.slug)
    await connection.execute(
        vision_tags.insert().values(
            **data.model_dump(mode="json"), version=version, created_at=now, updated_at=now
        )
    )
    await append_change(
        connection,
        entity="vision_tag",
        key=data.slug,
        operation="created",
        old_version=None,
        new_version=version,
        fields=TAG_FIELDS,
        at=now,
    )
    created = await get_tag(connection, data.slug)
    assert created is not None
    return created, True


async def update_tag(
    connection: AsyncConnection, slug: str, patch: VisionTagUpdate, if_match: str | None
) -> VisionTagRead:
    await lock_for_write(connection)
    current = await require_tag(connection, slug)
    require_if_match(if_match, strong_etag(current.version), f"Vision tag {slug!r}")
    changed = {
        name: value for name, value in patch.changes().items() if getattr(current, name) != value
    }
    if not changed:
        return current
    now = utcnow()
    await connection.execute(
        vision_tags.update()
        .where(vision_tags.c.slug == slug)
        .values(
            **{name: str(value) for name, value in changed.items()},
            version=current.version + 1,
            updated_at=now,
        )
    )
    await append_change(
        connection,
        entity="vision_tag",
        key=slug,
        operation="updated",
        old_version=current.version,
        new_version=current.version + 1,
        fields=changed,
        at=now,
    )
    updated = await get_tag(connection, slug)
    assert updated is not None
    return updated


def unknown_tags_problem(unknown: list[str]) -> ProblemError:
    return field_problem(
        "body.vision_tags", f"Unknown vision tags: {', '.join(unknown)}. Create them first."
    )
