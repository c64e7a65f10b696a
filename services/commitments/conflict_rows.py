"""The narrow, indexed rows the reports aggregate: a commitment's current conflicts and its
tags. Kept in step with the commitment in the same transaction as every change to it."""

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from services.commitments.schemas import Conflict
from services.commitments.tables import commitment_tags, current_conflict_tags, current_conflicts


async def clear_current_conflicts(connection: AsyncConnection, commitment_id: str) -> None:
    for table in (current_conflict_tags, current_conflicts):
        await connection.execute(delete(table).where(table.c.commitment_id == commitment_id))


async def set_current_conflicts(
    connection: AsyncConnection,
    commitment_id: str,
    deal_owner: str | None,
    conflicts: list[Conflict],
) -> None:
    await clear_current_conflicts(connection, commitment_id)
    if not conflicts:
        return
    await connection.execute(
        current_conflicts.insert(),
        [
            {
                "commitment_id": commitment_id,
                "position": position,
                "code": conflict.code.value,
                "severity": conflict.severity.value,
                "needs_signoff": conflict.needs_signoff,
                "roadmap_item_key": conflict.evidence.item_key,
                "deal_owner": deal_owner,
            }
            for position, conflict in enumerate(conflicts)
        ],
    )
    tagged = [
        {
            "commitment_id": commitment_id,
            "position": position,
            "tag": tag,
            "severity": conflict.severity.value,
        }
        for position, conflict in enumerate(conflicts)
        for tag in sorted(set(conflict.evidence.tags))
    ]
    if tagged:
        await connection.execute(current_conflict_tags.insert(), tagged)


async def set_commitment_tags(
    connection: AsyncConnection, commitment_id: str, tags: tuple[str, ...]
) -> None:
    await connection.execute(
        delete(commitment_tags).where(commitment_tags.c.commitment_id == commitment_id)
    )
    if tags:
        await connection.execute(
            commitment_tags.insert(),
            [{"commitment_id": commitment_id, "tag": tag} for tag in sorted(set(tags))],
        )
