"""Approvals whose conditions ran out (`conditions_expire_on`, a UTC day): each lapses
(`decision_lapses`, cause `conditions_expired`) and the commitment moves through
`lifecycle.apply` (Event.conditions_expired): an approved one awaits sign-off again,
reopened with that reason and told as `commitment.reopened`; one still awaiting sign-off
(a step of its chain approved with conditions) has that step asked again.

Only an approval that still completes a step, and without which the chain is no longer
complete, moves anything; an expired one that no longer counts (rejected since,
recalled, no longer covering what is found, or beside another approval of its step)
just lapses, so it is not found again. Called periodically by the gateway (every replica
may: each commitment is locked, and a lapse is recorded once).
"""

import logging
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.db import dialect_insert
from services.commitments import approvals, chains, lifecycle
from services.commitments.lifecycle import Event, ReviewStatus, TransitionRefused
from services.commitments.outbox import announce
from services.commitments.records import lock_commitment
from services.commitments.reviews import evaluation_interrupted
from services.commitments.tables import commitments, decision_lapses, decisions

d = decisions.c
logger = logging.getLogger(__name__)
HELD = {ReviewStatus.approved, *lifecycle.AWAITING}  # where an approval may stand


async def lapse_expired(connection: AsyncConnection, today: date, now: datetime, limit: int) -> int:
    """Lapses the approvals expired by `today`; answers how many commitments it moved."""
    due = (
        (
            await connection.execute(
                select(d.commitment_id)
                .join(commitments, commitments.c.id == d.commitment_id)
                .outerjoin(decision_lapses, decision_lapses.c.decision_id == d.id)
                .where(
                    decision_lapses.c.decision_id.is_(None),
                    d.decision == "approve",
                    d.conditions_expire_on <= today,
                    commitments.c.review_status.in_(sorted(HELD)),
                )
                .group_by(d.commitment_id, commitments.c.deal_id)
                .order_by(commitments.c.deal_id, d.commitment_id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    moved = 0
    for commitment_id in due:
        # Each on its own: one that fails is logged and undone alone, the round goes on.
        savepoint = await connection.begin_nested()
        try:
            moved += await _lapse(connection, commitment_id, today, now)
        except Exception:
            await savepoint.rollback()
            logger.exception("expiry failed", extra={"commitment_id": commitment_id})
            continue
        await savepoint.commit()
    return moved


async def _lapse(
    connection: AsyncConnection, commitment_id: str, today: date, now: datetime
) -> int:
    row = await lock_commitment(connection, commitment_id)
    state = await approvals.state_of(connection, row)
    if state is None:
        return 0
    expired = [
        decision
        for decision in state.decisions
        if decision.decision == "approve"
        and not decision.lapsed
        and decision.conditions_expire_on is not None
        and decision.conditions_expire_on <= today
    ]
    if not expired:
        return 0  # lapsed meanwhile by another caller
    for decision in expired:
        await connection.execute(
            dialect_insert(connection, decision_lapses)
            .values(decision_id=decision.id, lapsed_at=now, cause="conditions_expired")
            .on_conflict_do_nothing(index_elements=["decision_id"])
        )
    # Only an approval that completes a step now moves anything, and only when the chain is
    # no longer complete without it (another approval may complete that step as well).
    counting = {id(a) for step in state.progress.steps for a in step.approvals}
    counted = [decision for decision in expired if id(decision) in counting]
    if not counted:
        return 0
    lapsed = {id(decision) for decision in expired}
    rest = [decision for decision in state.decisions if id(decision) not in lapsed]
    if chains.progress(state.chain, rest, state.needing).complete:
        return 0
    try:
        transition = lifecycle.apply(ReviewStatus(row.review_status), Event.conditions_expired)
    except TransitionRefused:
        return 0
    first = counted[0]
    values: dict[str, object] = {"version": row.version + 1, "updated_at": now}
    if transition.status is not ReviewStatus(row.review_status):
        values.update(
            review_status=transition.status.value,
            status_changed_at=now,
            approved_evaluation_id=None,
            reopen_reason=(
                f"The conditions of {first.decided_by}'s approval expired on "
                f"{first.conditions_expire_on.isoformat()}: {first.conditions}"
            ),
            work_cause={"kind": "conditions_expired"},
        )
    values.update(evaluation_interrupted(row, now, cause=None))
    await connection.execute(update(commitments).where(commitments.c.id == row.id).values(values))
    await announce(connection, row.deal_id, now, commitment_ids=[row.id])
    return 1
