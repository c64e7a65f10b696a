"""Sign-off reminders and overdue alerts: the SLA of the policy, told as events.

A commitment awaiting sign-off (since it entered needs_signoff, as the aging report counts)
gets `signoff.reminder` when the reminder fractions of the SLA have passed and
`signoff.overdue` when all of it has; each once per commitment and per evaluation (a
re-evaluation that changes what needs sign-off starts its reminders afresh). One that is
found past several thresholds at once (the service was down) is told only the latest.

An overdue one then gets the policy's escalation (escalation.py).

`signoff_alerts` records each threshold told, so of two callers at once one writes it.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.events import SignoffAlertRequest
from kit.db import dialect_insert
from kit.problems import ProblemError
from services.commitments import escalation
from services.commitments.event_rules import OVERDUE, PERMILLE, due_threshold, thresholds
from services.commitments.outbox import write_signoff_event
from services.commitments.tables import commitments, deals, signoff_alerts

logger = logging.getLogger(__name__)


async def send_due_alerts(
    connection: AsyncConnection, request: SignoffAlertRequest, now: datetime
) -> int:
    sla = timedelta(hours=request.sla_hours)
    steps = thresholds(request.reminder_fractions)
    told = (
        select(
            signoff_alerts.c.commitment_id,
            signoff_alerts.c.evaluation_id,
            func.max(signoff_alerts.c.permille).label("permille"),
        )
        .group_by(signoff_alerts.c.commitment_id, signoff_alerts.c.evaluation_id)
        .subquery()
    )
    candidates = (
        await connection.execute(
            select(
                commitments.c.id,
                commitments.c.deal_id,
                commitments.c.current_evaluation_id,
                commitments.c.status_changed_at,
                func.coalesce(told.c.permille, 0).label("told"),
            )
            .outerjoin(
                told,
                and_(
                    told.c.commitment_id == commitments.c.id,
                    told.c.evaluation_id == commitments.c.current_evaluation_id,
                ),
            )
            .where(
                commitments.c.review_status == "needs_signoff",
                commitments.c.current_evaluation_id.is_not(None),
                # Due: a threshold passed that was not told yet (so the limit counts only
                # what is due, and those told already never crowd the others out).
                or_(
                    *(
                        and_(
                            func.coalesce(told.c.permille, 0) < step,
                            commitments.c.status_changed_at <= now - sla * step / PERMILLE,
                        )
                        for step in steps
                    )
                ),
            )
            .order_by(commitments.c.deal_id, commitments.c.id)
            .limit(request.limit)
        )
    ).all()
    sent = 0
    for row in candidates:
        # The deal first, as every write to its commitments: its events keep their order.
        await connection.execute(
            update(deals).where(deals.c.id == row.deal_id).values(updated_at=deals.c.updated_at)
        )
        # Read again under the lock: a decision or an evaluation may have come meanwhile.
        current = (
            await connection.execute(
                select(
                    commitments.c.review_status,
                    commitments.c.current_evaluation_id,
                    commitments.c.status_changed_at,
                ).where(commitments.c.id == row.id)
            )
        ).one()
        if (
            current.review_status != "needs_signoff"
            or current.current_evaluation_id != row.current_evaluation_id
            or current.status_changed_at != row.status_changed_at
        ):
            continue
        step = due_threshold(now - row.status_changed_at, sla, steps, row.told)
        if step is None:
            continue
        recorded = await connection.execute(
            dialect_insert(connection, signoff_alerts)
            .values(
                commitment_id=row.id,
                evaluation_id=row.current_evaluation_id,
                permille=step,
                sent_at=now,
            )
            .on_conflict_do_nothing(index_elements=["commitment_id", "evaluation_id", "permille"])
            .returning(signoff_alerts.c.permille)
        )
        if recorded.one_or_none() is None:
            continue  # another caller told it
        await write_signoff_event(
            connection,
            row.id,
            overdue=step == OVERDUE,
            awaiting_since=row.status_changed_at,
            sla=sla,
            fraction=step / PERMILLE,
            now=now,
        )
        if step == OVERDUE:
            await _escalate(connection, row.id, request, sla)
        sent += 1
    return sent


async def _escalate(
    connection: AsyncConnection, commitment_id: str, request: SignoffAlertRequest, sla: timedelta
) -> None:
    """The policy's escalation, in a savepoint: one it cannot take (the commitment moved
    under it, or anything failing) is logged and undone alone; the alert stands, and the
    round goes on."""
    savepoint = await connection.begin_nested()
    try:
        await escalation.escalate(connection, commitment_id, request.overdue_action, sla)
    except ProblemError as refusal:
        await savepoint.rollback()
        logger.warning(
            "escalation not taken",
            extra={"commitment_id": commitment_id, "reason": refusal.detail},
        )
        return
    except Exception:
        await savepoint.rollback()
        logger.exception("escalation failed", extra={"commitment_id": commitment_id})
        return
    await savepoint.commit()
