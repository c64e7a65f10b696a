"""The reviewers directory, and who may decide a promise (OWASP API1: object-level
authorization, checked where the decision is written).

A PM decides a promise when its area (the current evaluation's `review_area`: the linked
item's area, or the policy's triage area) is one of theirs, or when they are the delegate
of a reviewer of that area who is out of office now; the decision then records on whose
behalf. Admins decide anything, for themselves.
"""

from datetime import datetime

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.reviewers import (
    OutOfOffice,
    ReviewerPage,
    ReviewerRead,
    ReviewerWrite,
    same_area,
)
from kit.db import dialect_insert, utcnow
from kit.etags import require_if_match, strong_etag
from kit.problems import ProblemError, field_problem, not_found
from services.commitments.tables import reviewers

r = reviewers.c


def as_read(row: Row) -> ReviewerRead:
    away = None
    if row.away_from is not None:
        away = OutOfOffice.model_validate(
            {"from": row.away_from, "until": row.away_until, "delegate": row.delegate}
        )
    return ReviewerRead.model_construct(
        email=row.email,
        areas=list(row.areas),
        escalation_contact=row.escalation_contact,
        out_of_office=away,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _columns(data: ReviewerWrite) -> dict[str, object]:
    away = data.out_of_office
    return {
        "areas": data.areas,
        "escalation_contact": data.escalation_contact,
        "away_from": away.starts if away else None,
        "away_until": away.until if away else None,
        "delegate": away.delegate if away else None,
    }


async def put(
    connection: AsyncConnection, email: str, data: ReviewerWrite, if_match: str | None
) -> tuple[ReviewerRead, bool]:
    """Creates or replaces the entry; answers it and whether it was created. Writing what
    is there already changes nothing (not even the version): a retry is safe."""
    away = data.out_of_office
    if away is not None and away.delegate.casefold() == email.casefold():
        raise field_problem("out_of_office.delegate", "a reviewer cannot delegate to themselves")
    now, values = utcnow(), _columns(data)
    row = (
        await connection.execute(select(reviewers).where(r.email == email).with_for_update())
    ).one_or_none()
    if row is None:
        if if_match is not None and if_match != "*":
            raise ProblemError(
                412, f"{email} is not in the directory: no ETag can match.",
                kind="precondition-failed",
            )  # fmt: skip
        created = (
            await connection.execute(
                dialect_insert(connection, reviewers)
                .values(email=email, version=1, created_at=now, updated_at=now, **values)
                # A concurrent first PUT of the same reviewer: the one that lost answers
                # what the winner wrote, as a retry would.
                .on_conflict_do_nothing(index_elements=["email"])
                .returning(*reviewers.c)
            )
        ).one_or_none()
        if created is not None:
            return as_read(created), True
        row = (await connection.execute(select(reviewers).where(r.email == email))).one()
    require_if_match(if_match, strong_etag(row.version), "The reviewer")
    if all(getattr(row, name) == value for name, value in values.items()):
        return as_read(row), False
    row = (
        await connection.execute(
            update(reviewers)
            .where(r.email == email)
            .values(**values, version=r.version + 1, updated_at=now)
            .returning(*reviewers.c)
        )
    ).one()
    return as_read(row), False


async def exists(connection: AsyncConnection, email: str) -> bool:
    found = await connection.execute(select(r.email).where(r.email == email))
    return found.one_or_none() is not None


async def get(connection: AsyncConnection, email: str) -> ReviewerRead:
    row = (await connection.execute(select(reviewers).where(r.email == email))).one_or_none()
    if row is None:
        raise not_found("reviewer", email)
    return as_read(row)


async def list_page(
    connection: AsyncConnection, *, limit: int, cursor: str | None, area: str | None
) -> ReviewerPage:
    """By email. `area`: only those who decide it (matched in Python: areas are a short
    JSON list per reviewer, and the directory is small)."""
    query = select(reviewers).order_by(r.email)
    if cursor:
        query = query.where(r.email > cursor)
    found: list[ReviewerRead] = []
    for row in await connection.execute(query):
        if area is None or any(same_area(area, mine) for mine in row.areas):
            found.append(as_read(row))
            if len(found) > limit:
                break
    page = found[:limit]
    return ReviewerPage(items=page, next_cursor=page[-1].email if len(found) > limit else None)


async def remove(connection: AsyncConnection, email: str, if_match: str | None) -> None:
    """Removed once; removing one not there changes nothing (a retry is safe)."""
    row = (
        await connection.execute(select(reviewers).where(r.email == email).with_for_update())
    ).one_or_none()
    if row is None:
        return
    require_if_match(if_match, strong_etag(row.version), "The reviewer")
    await connection.execute(delete(reviewers).where(r.email == email))


def stands_in(row: Row, person: str, now: datetime) -> bool:
    """`person` stands in for the reviewer `row` now: named their delegate, while they are
    out of office."""
    away = as_read(row).out_of_office
    return row.email != person and away is not None and away.delegate == person and away.covers(now)


async def decider_for(
    connection: AsyncConnection, *, person: str, role: str, area: str | None, now: datetime
) -> str | None:
    """Whom `person` decides a promise of `area` for: None for themselves, or the email of
    the out-of-office reviewer they stand in for. Refused with 403 and the reason."""
    if role == "admin":
        return None
    if area is None:
        raise ProblemError(
            403,
            "This promise's evaluation names no area to review it; only an admin may decide it.",
        )
    rows = (
        await connection.execute(
            select(reviewers).where((r.email == person) | (r.delegate == person)).order_by(r.email)
        )
    ).all()
    own = next((row for row in rows if row.email == person), None)
    if own is not None and any(same_area(area, mine) for mine in own.areas):
        return None
    for row in rows:
        if stands_in(row, person, now) and any(same_area(area, theirs) for theirs in row.areas):
            return row.email
    mine = ", ".join(own.areas) if own is not None else None
    held = f"they review {mine}" if mine else "they are not in the reviewers directory"
    raise ProblemError(
        403,
        f"{person} may not decide this promise: it is in the area '{area}', {held}, and "
        "no reviewer of that area who is out of office has delegated to them.",
    )
