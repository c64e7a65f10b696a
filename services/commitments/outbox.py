"""The transactional outbox: events written in the transaction of the change that caused
them, so an event exists exactly when its change committed.

Every write that can change what a receiver knows ends by announcing the deal it touched
(`announce`). What goes out is the difference between the state now and what was last
told: each commitment remembers the status its last event told (`announced_status`),
each deal the readiness its last `deal.gate_changed` told (`announced_ready`). So a
retried write, a re-evaluation that finds the same, or a commitment passing through
`received` on its way back to where it was, sends nothing; and the reason a commitment
reopened is the one its row carries (`reopen_reason`, `work_cause`).

Order: a deal's events are written while its row is locked (intake locks it; every other
write locks it before the commitment, `records.lock_commitment`), so their sequence is
their commit order. Within one announcement: the commitments' events by external id, then
a breach, then the gate.

A deal from a CRM that takes the write-back is owed its gate there too (crm/writebacks.py),
whenever its readiness or the number of commitments blocking it changes.

The gate follows the commitments' statuses and the re-checks owed, as /v1 readiness does,
but it is announced only when an evaluation, a decision, a link or the CRM changed the
deal: a roadmap change marking re-checks sends nothing until those re-checks decide.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import DecisionRead, ReviewStatus
from kit.contracts.events import (
    ENVELOPES,
    Breach,
    BreachEventData,
    Cause,
    CommitmentEventData,
    EventData,
    EventType,
    Gate,
    GateEventData,
    Reason,
    SignoffEventData,
)
from services.commitments.crm import writebacks
from services.commitments.event_rules import commitment_event
from services.commitments.reads import readiness
from services.commitments.records import as_listed, get_deal, listed_query
from services.commitments.tables import (
    commitments,
    deals,
    decisions,
    evaluations,
    outbox_events,
    subscription_event_types,
    webhook_deliveries,
    webhook_subscriptions,
)


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


async def write_event(
    connection: AsyncConnection,
    kind: EventType,
    data: EventData,
    *,
    deal_id: str,
    commitment_id: str | None,
    now: datetime,
) -> None:
    """The event, and a delivery owed to every active subscription that takes its type."""
    event = ENVELOPES[kind](id=new_event_id(), type=kind.value, occurred_at=now, data=data)
    sequence = (
        await connection.execute(
            outbox_events.insert()
            .values(
                id=event.id,
                type=kind.value,
                deal_id=deal_id,
                commitment_id=commitment_id,
                occurred_at=now,
                payload=event.model_dump(mode="json"),
            )
            .returning(outbox_events.c.sequence)
        )
    ).scalar_one()
    await queue_deliveries(connection, sequence, kind, deal_id, now)


async def queue_deliveries(
    connection: AsyncConnection, sequence: int, kind: EventType, deal_id: str, now: datetime
) -> None:
    takers = await connection.execute(
        select(subscription_event_types.c.subscription_id)
        .join(
            webhook_subscriptions,
            webhook_subscriptions.c.id == subscription_event_types.c.subscription_id,
        )
        .where(
            subscription_event_types.c.event_type == kind.value,
            webhook_subscriptions.c.status == "active",
        )
        # A subscription being deleted is waited for, then skipped (subscriptions.remove).
        .with_for_update(read=True, of=webhook_subscriptions)
    )
    rows = [
        {
            "subscription_id": subscription_id,
            "event_sequence": sequence,
            "deal_id": deal_id,
            "replay": False,
            "attempts": 0,
            "queued_at": now,
        }
        for (subscription_id,) in takers
    ]
    if rows:
        await connection.execute(webhook_deliveries.insert(), rows)


async def announce(
    connection: AsyncConnection,
    deal_id: str,
    now: datetime,
    *,
    commitment_ids: Iterable[str] | None = None,
    breach: Breach | None = None,
) -> None:
    """Writes the events the deal's changes call for. `commitment_ids`: the commitments that
    may have changed (None: all of the deal's). The deal's row must be locked."""
    deal = await get_deal(connection, deal_id)
    gate_now = await readiness(connection, deal_id)
    gate = Gate(ready=gate_now.ready, blocking_count=len(gate_now.blocking))
    query = (
        listed_query()
        .add_columns(
            commitments.c.announced_status,
            commitments.c.work_cause,
            evaluations.c.item_owner,
            evaluations.c.item_area,
        )
        .where(commitments.c.deal_id == deal_id)
        .order_by(commitments.c.external_id)
    )
    if commitment_ids is not None:
        query = query.where(commitments.c.id.in_(sorted(set(commitment_ids))))
    for row in (await connection.execute(query)).all():
        listed = as_listed(row)
        announced = ReviewStatus(row.announced_status) if row.announced_status else None
        kind = commitment_event(
            listed.review_status, announced, reopened=listed.reopen_reason is not None
        )
        if kind is None:
            continue
        data = CommitmentEventData(
            deal=deal,
            commitment=listed,
            gate=gate,
            item_owner=row.item_owner,
            item_area=row.item_area,
        )
        if kind is EventType.commitment_reopened:
            cause = Cause.model_validate(row.work_cause) if row.work_cause else None
            data.reason = Reason(summary=listed.reopen_reason or "", cause=cause)
        if kind in (EventType.commitment_approved, EventType.commitment_rejected):
            data.decision = await _latest_decision(connection, listed.id)
        await write_event(connection, kind, data, deal_id=deal_id, commitment_id=listed.id, now=now)
        await connection.execute(
            update(commitments)
            .where(commitments.c.id == listed.id)
            .values(announced_status=listed.review_status.value)
        )
    if breach is not None:
        await write_event(
            connection,
            EventType.deal_breach_recorded,
            BreachEventData(deal=deal, breach=breach),
            deal_id=deal_id,
            commitment_id=None,
            now=now,
        )
    await writebacks.owe(
        connection,
        deal_id=deal_id,
        source=deal.source.value,
        external_id=deal.external_id,
        ready=gate.ready,
        blocking_count=gate.blocking_count,
        now=now,
    )
    previous = (
        await connection.execute(select(deals.c.announced_ready).where(deals.c.id == deal_id))
    ).scalar_one()
    if previous is None or previous != gate.ready:
        await write_event(
            connection,
            EventType.deal_gate_changed,
            GateEventData(deal=deal, readiness=gate_now, previous_ready=previous),
            deal_id=deal_id,
            commitment_id=None,
            now=now,
        )
        await connection.execute(
            update(deals).where(deals.c.id == deal_id).values(announced_ready=gate.ready)
        )


async def _latest_decision(connection: AsyncConnection, commitment_id: str) -> DecisionRead | None:
    row = (
        await connection.execute(
            select(decisions)
            .where(decisions.c.commitment_id == commitment_id)
            .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else DecisionRead.model_validate(row._mapping)


async def write_signoff_event(
    connection: AsyncConnection,
    commitment_id: str,
    *,
    overdue: bool,
    awaiting_since: datetime,
    sla: timedelta,
    fraction: float,
    now: datetime,
) -> None:
    """A sign-off reminder or overdue alert (alerts.py); the deal's row must be locked."""
    row = (
        await connection.execute(
            listed_query()
            .add_columns(evaluations.c.item_owner, evaluations.c.item_area)
            .where(commitments.c.id == commitment_id)
        )
    ).one()
    listed = as_listed(row)
    gate_now = await readiness(connection, listed.deal_id)
    data = SignoffEventData(
        deal=await get_deal(connection, listed.deal_id),
        commitment=listed,
        gate=Gate(ready=gate_now.ready, blocking_count=len(gate_now.blocking)),
        item_owner=row.item_owner,
        item_area=row.item_area,
        awaiting_since=awaiting_since,
        due_at=awaiting_since + sla,
        sla_hours=round(sla / timedelta(hours=1)),
        fraction=fraction,
    )
    kind = EventType.signoff_overdue if overdue else EventType.signoff_reminder
    await write_event(
        connection, kind, data, deal_id=listed.deal_id, commitment_id=commitment_id, now=now
    )
