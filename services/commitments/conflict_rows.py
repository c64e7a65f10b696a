"""The narrow, indexed rows the reports and filters read: a commitment's conflict tallies
and its tags. Kept in step with the commitment in the same transaction as every change."""

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy import delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import Conflict
from services.commitments.tables import commitment_tags, commitments, conflict_tallies


async def clear_conflict_tallies(connection: AsyncConnection, commitment_id: str) -> None:
    await connection.execute(
        delete(conflict_tallies).where(conflict_tallies.c.commitment_id == commitment_id)
    )


def _tallies(deal_owner: str | None, conflicts: list[Conflict]) -> dict[tuple[str, str], list[int]]:
    """(dimension, key) -> [conflicts, blockers]."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for conflict in conflicts:
        keys = [("code", conflict.code.value)]
        if conflict.evidence.item_key:
            keys.append(("item", conflict.evidence.item_key))
        keys += [("tag", tag) for tag in set(conflict.evidence.tags)]
        if deal_owner:
            keys.append(("owner", deal_owner))
        for key in keys:
            counts[key][0] += 1
            counts[key][1] += conflict.severity.value == "blocker"
    return counts


async def set_conflict_tallies(
    connection: AsyncConnection,
    tallies: Mapping[str, tuple[str | None, list[Conflict]]],
) -> None:
    """Each commitment's tallies from its conflicts: {commitment id: (deal owner, conflicts)}."""
    if not tallies:
        return
    await connection.execute(
        delete(conflict_tallies).where(conflict_tallies.c.commitment_id.in_(sorted(tallies)))
    )
    rows = [
        {
            "commitment_id": commitment_id,
            "dimension": dimension,
            "key": key,
            "conflicts": found,
            "blockers": blockers,
        }
        for commitment_id, (deal_owner, conflicts) in sorted(tallies.items())
        for (dimension, key), (found, blockers) in sorted(_tallies(deal_owner, conflicts).items())
    ]
    if rows:
        await connection.execute(conflict_tallies.insert(), rows)


async def move_owner_tallies(
    connection: AsyncConnection, deal_id: str, deal_owner: str | None
) -> None:
    """The deal changed hands: its commitments' conflicts count for the new owner (a
    commitment's owner tally is the sum of its code tallies: each conflict has one code)."""
    tally = conflict_tallies.c
    of_deal = select(commitments.c.id).where(commitments.c.deal_id == deal_id)
    await connection.execute(
        delete(conflict_tallies).where(tally.dimension == "owner", tally.commitment_id.in_(of_deal))
    )
    if deal_owner is None:
        return
    await connection.execute(
        conflict_tallies.insert().from_select(
            ["commitment_id", "dimension", "key", "conflicts", "blockers"],
            select(
                tally.commitment_id,
                literal("owner"),
                literal(deal_owner),
                func.sum(tally.conflicts),
                func.sum(tally.blockers),
            )
            .where(tally.dimension == "code", tally.commitment_id.in_(of_deal))
            .group_by(tally.commitment_id),
        )
    )


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
