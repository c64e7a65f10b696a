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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import CommentRead, DecisionRead, ReviewStatus
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
from services.commitments import approvals
from services.commitments.crm import writebacks
from services.commitments.event_rules import commitment_event
from services.commitments.lifecycle import AWAITING
from services.commitments.reads import blocking_count, readiness
from services.commitments.records import (
    as_listed,
    chained_query,
    get_deal,
    latest_comment,
    latest_decision,
)
from services.commitments.tables import (
    commitments,
    deals,
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
    await write_events(connection, [(kind, data, commitment_id)], deal_id=deal_id, now=now)


async def write_events(
    connection: AsyncConnection,
    events: list[tuple[EventType, EventData, str | None]],
    *,
    deal_id: str,
    now: datetime,
) -> None:
    """The deal's events (kind, data, commitment id), in this order, in one statement, and a
    delivery of each owed to every active subscription that takes its type."""
    if not events:
        return
    rows = []
    for kind, data, commitment_id in events:
        event = ENVELOPES[kind](id=new_event_id(), type=kind.value, occurred_at=now, data=data)
        rows.append(
            {
                "id": event.id,
                "type": kind.value,
                "deal_id": deal_id,
                "commitment_id": commitment_id,
                "occurred_at": now,
                "payload": event.model_dump(mode="json"),
            }
        )
    sequences = (
        (
            await connection.execute(
                outbox_events.insert().returning(
                    outbox_events.c.sequence, sort_by_parameter_order=True
                ),
                rows,
            )
        )
        .scalars()
        .all()
    )
    takers = await _takers(connection, {kind for kind, _, _ in events})
    deliveries = [
        {
            "subscription_id": subscription_id,
            "event_sequence": sequence,
            "deal_id": deal_id,
            "replay": False,
            "attempts": 0,
            "queued_at": now,
        }
        for sequence, (kind, _, _) in zip(sequences, events, strict=True)
        for subscription_id in takers[kind]
    ]
    if deliveries:
        await connection.execute(webhook_deliveries.insert(), deliveries)


async def _takers(connection: AsyncConnection, kinds: set[EventType]) -> dict[EventType, list]:
    """The active subscriptions taking each kind of event."""
    found = await connection.execute(
        select(subscription_event_types.c.event_type, subscription_event_types.c.subscription_id)
        .join(
            webhook_subscriptions,
            webhook_subscriptions.c.id == subscription_event_types.c.subscription_id,
        )
        .where(
            subscription_event_types.c.event_type.in_(sorted(kind.value for kind in kinds)),
            webhook_subscriptions.c.status == "active",
        )
        .order_by(subscription_event_types.c.subscription_id)
        # A subscription being deleted is waited for, then skipped (subscriptions.remove).
        .with_for_update(read=True, of=webhook_subscriptions)
    )
    takers: dict[EventType, list] = {kind: [] for kind in kinds}
    for event_type, subscription_id in found:
        takers[EventType(event_type)].append(subscription_id)
    return takers


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
    blocked = await blocking_count(connection, deal_id)
    gate = Gate(ready=blocked == 0, blocking_count=blocked)
    query = (
        chained_query()
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
    events: list[tuple[EventType, EventData, str | None]] = []
    announced: list[dict[str, str]] = []
    rows = (await connection.execute(query)).all()
    awaiting = [row for row in rows if row.review_status in AWAITING]
    turns = await approvals.turns(connection, awaiting) if awaiting else {}
    for row in rows:
        listed = as_listed(row)
        told = ReviewStatus(row.announced_status) if row.announced_status else None
        latest = None
        if (
            told is ReviewStatus.info_requested
            or listed.review_status is ReviewStatus.info_requested
        ):
            latest = await latest_comment(connection, listed.id)
        kind = commitment_event(
            listed.review_status,
            told,
            reopened=listed.reopen_reason is not None,
            answered=latest is not None and latest.kind == "answer",
        )
        if kind is None:
            continue
        turn = turns.get(listed.id)
        data = CommitmentEventData(
            deal=deal,
            commitment=listed,
            gate=gate,
            item_owner=row.item_owner,
            item_area=row.item_area,
            reviewers=turn.reviewers if turn else [],
        )
        if kind is EventType.commitment_reopened:
            cause = Cause.model_validate(row.work_cause) if row.work_cause else None
            data.reason = Reason(summary=listed.reopen_reason or "", cause=cause)
        if kind in (EventType.commitment_approved, EventType.commitment_rejected):
            data.decision = await latest_decision(connection, listed.id)
        if kind in (EventType.commitment_info_requested, EventType.commitment_answered):
            data.comment = latest
        events.append((kind, data, listed.id))
        announced.append({"a_id": listed.id, "a_status": listed.review_status.value})
    if announced:
        await connection.execute(
            update(commitments)
            .where(commitments.c.id == bindparam("a_id"))
            .values(announced_status=bindparam("a_status")),
            announced,
        )
    if breach is not None:
        events.append(
            (EventType.deal_breach_recorded, BreachEventData(deal=deal, breach=breach), None)
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
        # What blocks it, in full, only for the event that tells the gate changed.
        gate_now = await readiness(connection, deal_id)
        events.append(
            (
                EventType.deal_gate_changed,
                GateEventData(deal=deal, readiness=gate_now, previous_ready=previous),
                None,
            )
        )
        await connection.execute(
            update(deals).where(deals.c.id == deal_id).values(announced_ready=gate.ready)
        )
    await write_events(connection, events, deal_id=deal_id, now=now)


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
    told = await _one_commitment(connection, commitment_id)
    data = SignoffEventData(
        **told.fields,
        escalation_contacts=told.escalation_contacts,
        awaiting_since=awaiting_since,
        due_at=awaiting_since + sla,
        sla_hours=round(sla / timedelta(hours=1)),
        fraction=fraction,
    )
    kind = EventType.signoff_overdue if overdue else EventType.signoff_reminder
    await write_event(
        connection, kind, data, deal_id=told.deal_id, commitment_id=commitment_id, now=now
    )


async def write_review_event(
    connection: AsyncConnection,
    kind: EventType,
    commitment_id: str,
    now: datetime,
    *,
    comment: CommentRead | None = None,
    decision: DecisionRead | None = None,
) -> None:
    """An event of the review that no change of status calls for: commitment.reassigned
    (questions.py), commitment.step_approved (reviews.py). The deal's row must be locked."""
    told = await _one_commitment(connection, commitment_id)
    data = CommitmentEventData(**told.fields, comment=comment, decision=decision)
    await write_event(
        connection, kind, data, deal_id=told.deal_id, commitment_id=commitment_id, now=now
    )


@dataclass(frozen=True)
class _Told:
    deal_id: str
    fields: dict  # what every commitment event's data carries
    escalation_contacts: list[str]


async def _one_commitment(connection: AsyncConnection, commitment_id: str) -> _Told:
    """What an event about one commitment carries, outside `announce`: the commitment as
    /v1 lists it, its deal and gate, and whom it routes to."""
    row = (
        await connection.execute(
            chained_query()
            .add_columns(evaluations.c.item_owner, evaluations.c.item_area)
            .where(commitments.c.id == commitment_id)
        )
    ).one()
    listed = as_listed(row)
    turn = (await approvals.turns(connection, [row])).get(commitment_id)
    blocked = await blocking_count(connection, listed.deal_id)
    fields = {
        "deal": await get_deal(connection, listed.deal_id),
        "commitment": listed,
        "gate": Gate(ready=blocked == 0, blocking_count=blocked),
        "item_owner": row.item_owner,
        "item_area": row.item_area,
        "reviewers": turn.reviewers if turn else [],
    }
    contacts = turn.escalation_contacts if turn else []
    return _Told(deal_id=listed.deal_id, fields=fields, escalation_contacts=contacts)
