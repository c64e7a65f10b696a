"""Taking a CRM event: one transaction from the inbox row to the answer.

Order inside the transaction, and why:
1. The inbox row (source, event id) is inserted first. A duplicate finds the row (after
   waiting for a concurrent first delivery to commit) and answers with the stored answer;
   nothing else is written.
2. The deal row is created if new, then locked: events for one deal apply one at a time.
   Its commitments are locked too, in id order (the order every multi-row write locks
   in), so a PM's decision or an evaluation on one of them waits or is waited for.
3. An event older than the deal's stored CRM modification time (ties broken by the event's
   own time) is stale: nothing changes.
4. Otherwise the deal is updated and `intake.plan_intake` says what happens to each
   commitment; every status change goes through `lifecycle.apply`. A changed commitment
   loses its current evaluation and any claim on it: it is evaluated afresh.
5. A deal entering closed_won is checked *after* its commitments are applied: a promise
   first sent or changed in the closing event was never signed off, so it blocks, and
   the close is recorded as a breach.
"""

import hashlib
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import (
    CommitmentIn,
    CommitmentState,
    CrmEvent,
    DealStage,
    IntakeAnswer,
    UnreadableCommitment,
)
from kit.contracts.events import Breach
from kit.db import dialect_insert, utcnow
from services.commitments import lifecycle
from services.commitments.conflict_rows import (
    clear_conflict_tallies,
    move_owner_tallies,
    set_commitment_tags,
)
from services.commitments.crm import answers
from services.commitments.intake import (
    CommitmentContent,
    IncomingCommitment,
    PlannedChange,
    StoredCommitment,
    plan_intake,
)
from services.commitments.lifecycle import Event, ReviewStatus
from services.commitments.outbox import announce
from services.commitments.reads import blocking
from services.commitments.records import states_of_deal
from services.commitments.tables import breaches, commitment_tags, commitments, deals, inbox

DEAL_COPIES = {
    "owner": "deal_owner",
    "currency": "deal_currency",
    "amount_cents": "deal_amount_cents",
}
logger = logging.getLogger(__name__)


def payload_digest(event: CrmEvent) -> str:
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


async def take_event(
    connection: AsyncConnection,
    source: str,
    event_id: str,
    event: CrmEvent,
    handoff: timedelta = timedelta(0),
) -> IntakeAnswer:
    """`handoff`: how long the commitments it changes stay the caller's to evaluate before
    the sweep may take them (work.py)."""
    now, digest = utcnow(), payload_digest(event)
    first = await connection.execute(
        dialect_insert(connection, inbox)
        .values(
            source=source,
            event_id=event_id,
            payload_sha256=digest,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(inbox.c.event_id)
    )
    if first.one_or_none() is None:
        stored = (
            await connection.execute(
                select(inbox.c.answer, inbox.c.payload_sha256).where(
                    inbox.c.source == source, inbox.c.event_id == event_id
                )
            )
        ).one()
        if stored.payload_sha256 != digest:
            # Still the same event by its id (a CRM may re-send it re-signed or reformatted);
            # worth knowing when a sender reuses ids for different content.
            logger.warning(
                "event id reused with other content",
                extra={"source": source, "event_id": event_id},
            )
        return await _duplicate_answer(connection, stored.answer)

    deal, previous_stage = await _lock_deal(connection, event, now)
    incoming_time = (event.deal.updated_at, event.occurred_at)
    if previous_stage is not None and incoming_time < (deal.crm_updated_at, deal.crm_occurred_at):
        outcome = "stale"
    else:
        outcome = "accepted"
        cause = {"kind": "crm_changed", "source": source, "event_id": event_id}
        await _apply(connection, deal, event, now, now + handoff, cause)
        closing = (
            event.deal.stage is DealStage.closed_won and previous_stage != DealStage.closed_won
        )
        breach = None
        if closing:
            breach = await _record_breach_if_not_ready(connection, deal.id, source, event_id, now)
        await announce(connection, deal.id, now, breach=breach)
    states = await states_of_deal(connection, deal.id)
    answer = IntakeAnswer(
        status=outcome,
        deal_id=deal.id,
        commitments=[
            CommitmentState(id=row.id, external_id=row.external_id, review_status=row.review_status)
            for row in states
        ],
    )
    await connection.execute(
        update(inbox)
        .where(inbox.c.source == source, inbox.c.event_id == event_id)
        .values(deal_id=deal.id, outcome=outcome, answer=answer.model_dump(mode="json"))
    )
    return answer


async def _duplicate_answer(connection: AsyncConnection, first: dict) -> IntakeAnswer:
    """The first answer's deal and commitments, each with its review status as it is now:
    the CRM re-sending an event learns where its promises stand, not where they stood."""
    answer = IntakeAnswer.model_validate({**first, "status": "duplicate"})
    states = await states_of_deal(connection, answer.deal_id)
    now_status = {row.id: ReviewStatus(row.review_status) for row in states}
    for commitment in answer.commitments:
        commitment.review_status = now_status.get(commitment.id, commitment.review_status)
    return answer


async def _lock_deal(
    connection: AsyncConnection, event: CrmEvent, now: datetime
) -> tuple[Row, DealStage | None]:
    """The deal's row, locked; and its stage before this event (None: the event created it)."""
    incoming = event.deal
    created = await connection.execute(
        dialect_insert(connection, deals)
        .values(
            id=str(uuid.uuid4()),
            **_deal_values(event),
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(*deals.c)
    )
    row = created.one_or_none()
    if row is not None:
        return row, None
    row = (
        await connection.execute(
            update(deals)
            .where(deals.c.source == incoming.source.value)
            .where(deals.c.external_id == incoming.external_id)
            .values(updated_at=deals.c.updated_at)
            .returning(*deals.c)
        )
    ).one()
    return row, DealStage(row.stage)


def _deal_values(event: CrmEvent) -> dict[str, object]:
    deal = event.deal
    return {
        "source": deal.source.value,
        "external_id": deal.external_id,
        "name": deal.name,
        "account": deal.account,
        "amount_cents": int(deal.amount * 100),
        "currency": deal.currency,
        "stage": deal.stage.value,
        "expected_close": deal.expected_close,
        "owner": deal.owner,
        "crm_updated_at": deal.updated_at,
        "crm_occurred_at": event.occurred_at,
    }


async def _apply(
    connection: AsyncConnection,
    deal: Row,
    event: CrmEvent,
    now: datetime,
    due: datetime,
    cause: dict[str, str],
) -> None:
    values = _deal_values(event)
    await connection.execute(
        update(deals).where(deals.c.id == deal.id).values(**values, updated_at=now)
    )
    rows = {
        row.external_id: row
        for row in await connection.execute(
            select(commitments)
            .where(commitments.c.deal_id == deal.id)
            .order_by(commitments.c.id)
            .with_for_update()
        )
    }
    await _copy_deal_fields(connection, deal, values)
    stored = {
        external_id: StoredCommitment(
            external_id, _content(row), ReviewStatus(row.review_status), row.crm_problem
        )
        for external_id, row in rows.items()
    }
    plan = plan_intake(
        stored,
        [incoming(commitment) for commitment in event.commitments]
        + [unreadable(commitment) for commitment in event.unreadable],
        snapshot=event.snapshot,
        deal_stage=event.deal.stage,
    )
    created = [
        _created(deal.id, values, change, now, due, cause)
        for change in plan
        if change.action == "create"
    ]
    if created:
        await connection.execute(commitments.insert(), created)
        tags = [
            {"commitment_id": row["id"], "tag": tag}
            for row in created
            for tag in sorted(set(row["tags"]))
        ]
        if tags:
            await connection.execute(commitment_tags.insert(), tags)
    for change in plan:
        if change.action != "create":
            await _update(connection, rows[change.external_id], change, now, due, cause)
    await answers.take(connection, deal.id, cause["source"], event, now)


async def _copy_deal_fields(connection: AsyncConnection, deal: Row, values: dict) -> None:
    """Keeps the copies of the deal's owner, currency and amount in step."""
    changed = {
        copy: values[field]
        for field, copy in DEAL_COPIES.items()
        if values[field] != deal._mapping[field]
    }
    if not changed:
        return
    await connection.execute(
        update(commitments).where(commitments.c.deal_id == deal.id).values(changed)
    )
    if "deal_owner" in changed:
        await move_owner_tallies(connection, deal.id, changed["deal_owner"])


def _content(row: Row) -> CommitmentContent:
    return CommitmentContent(
        kind=row.kind,
        summary=row.summary,
        promised_by=row.promised_by,
        tags=tuple(row.tags),
        roadmap_item_key=row.roadmap_item_key,
        link_source=row.link_source,
        crm_roadmap_item_key=row.crm_roadmap_item_key,
    )


def _content_values(content: CommitmentContent) -> dict[str, object]:
    return {
        "kind": content.kind,
        "summary": content.summary,
        "promised_by": content.promised_by,
        "tags": list(content.tags),
        "roadmap_item_key": content.roadmap_item_key,
        "link_source": content.link_source,
        "crm_roadmap_item_key": content.crm_roadmap_item_key,
    }


def _status_after(status: ReviewStatus, events: tuple[Event, ...]) -> ReviewStatus:
    for event in events:
        status = lifecycle.apply(status, event).status
    return status


def _created(
    deal_id: str,
    deal: dict,
    change: PlannedChange,
    now: datetime,
    due: datetime,
    cause: dict[str, str],
) -> dict[str, object]:
    """The row of a commitment the event creates."""
    assert change.content is not None
    status = _status_after(ReviewStatus.received, change.events)
    return {
        "id": str(uuid.uuid4()),
        "deal_id": deal_id,
        **{copy: deal[field] for field, copy in DEAL_COPIES.items()},
        "external_id": change.external_id,
        **_content_values(change.content),
        "review_status": status.value,
        "crm_problem": change.problem,
        "status_changed_at": now,
        "version": 1,
        "work_due_at": due if status is ReviewStatus.received else None,
        "work_generation": 1,
        "work_attempts": 0,
        "work_cause": cause,
        "created_at": now,
        "updated_at": now,
    }


async def _update(
    connection: AsyncConnection,
    row: Row,
    change: PlannedChange,
    now: datetime,
    due: datetime,
    cause: dict[str, str],
) -> None:
    previous = ReviewStatus(row.review_status)
    status = _status_after(previous, change.events)
    values: dict[str, object] = {"version": commitments.c.version + 1, "updated_at": now}
    if change.content is not None:
        values.update(_content_values(change.content))
    if status is not previous:
        values.update(review_status=status.value, status_changed_at=now, reopen_reason=None)
    values["crm_problem"] = change.problem
    fresh = Event.crm_changed in change.events
    unreadable_now = Event.crm_unreadable in change.events
    if fresh:
        # Evaluated afresh: the old evaluation no longer describes it, and an evaluation
        # already under way (its claim) is of the old content.
        values.update(
            current_evaluation_id=None,
            work_due_at=due,
            work_generation=commitments.c.work_generation + 1,
            work_attempts=0,
            work_cause=cause,
        )
    if unreadable_now:
        # Its evaluation judged content the CRM no longer vouches for; nothing is evaluated
        # until the record is readable again.
        values.update(current_evaluation_id=None)
    stops = fresh or unreadable_now or status is ReviewStatus.withdrawn
    if stops:
        values.update(claim_token=None, claimed_until=None)
    if unreadable_now or status is ReviewStatus.withdrawn:
        values.update(work_due_at=None)
    await connection.execute(update(commitments).where(commitments.c.id == row.id).values(values))
    if stops:
        await clear_conflict_tallies(connection, row.id)
    if change.content is not None and change.content.tags != tuple(row.tags):
        await set_commitment_tags(connection, row.id, change.content.tags)


async def _record_breach_if_not_ready(
    connection: AsyncConnection, deal_id: str, source: str, event_id: str, now: datetime
) -> Breach | None:
    """The deal's readiness, as `reads.readiness` judges it, at the close."""
    blocked = await connection.execute(
        select(commitments.c.id, commitments.c.external_id, commitments.c.review_status)
        .where(commitments.c.deal_id == deal_id, blocking())
        .order_by(commitments.c.external_id)
    )
    blocking_now = [
        {
            "commitment_id": row.id,
            "external_id": row.external_id,
            "review_status": row.review_status,
        }
        for row in blocked
    ]
    if not blocking_now:
        return None
    breach = Breach(
        id=str(uuid.uuid4()),
        kind="closed_without_signoff",
        source=source,
        event_id=event_id,
        blocking=blocking_now,
        detected_at=now,
    )
    await connection.execute(breaches.insert().values(deal_id=deal_id, **breach.model_dump()))
    return breach


def incoming(commitment: CommitmentIn) -> IncomingCommitment:
    """The planner's view of a commitment as the CRM sent it: an empty key is no key."""
    return IncomingCommitment(
        external_id=commitment.external_id,
        kind=commitment.kind.value,
        summary=commitment.summary,
        roadmap_item_key=commitment.roadmap_item_key or None,
        promised_by=commitment.promised_by,
        tags=tuple(commitment.tags),
        withdrawn=commitment.withdrawn,
    )


def unreadable(commitment: UnreadableCommitment) -> IncomingCommitment:
    """The planner's view of a record the CRM sent that cannot be read as a promise."""
    return IncomingCommitment(
        external_id=commitment.external_id, kind="", summary="", problem=commitment.problem
    )
