"""The writes on one commitment: an evaluation recorded, a PM's decision, a PM's roadmap link.

Each locks the commitment's row first (`records.lock_commitment`), so concurrent writes
to one commitment queue on both databases, then moves it through `lifecycle.apply`.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import (
    Conflict,
    DecisionCreate,
    EvaluationBatch,
    EvaluationBatchAnswer,
    EvaluationCreate,
    EvaluationRecorded,
)
from kit.db import utcnow
from kit.etags import require_if_match, strong_etag
from kit.problems import ProblemError
from services.commitments import lifecycle
from services.commitments.conflict_rows import clear_conflict_tallies, set_conflict_tallies
from services.commitments.lifecycle import (
    Event,
    ReviewStatus,
    SignoffConflict,
    TransitionRefused,
    evaluation_event,
    uncovered,
)
from services.commitments.outbox import announce
from services.commitments.records import lock_commitment
from services.commitments.tables import commitments, decisions, evaluations

EVALUATED = {
    ReviewStatus.cleared,
    ReviewStatus.needs_signoff,
    ReviewStatus.approved,
    ReviewStatus.rejected,
}
DECIDED = {"approve": ReviewStatus.approved, "reject": ReviewStatus.rejected}
# A pause after a failed attempt keeps one commitment whose evaluation keeps failing from
# spinning the queue; the roadmap's return ends every pause at once (work.py).
RETRY_BASE_SECONDS = 1
RETRY_MAX_SECONDS = 30


def refused(error: TransitionRefused) -> ProblemError:
    return ProblemError(409, f"The commitment cannot take this: {error.reason}.", kind="conflict")


def _signoff(conflicts: list[Conflict]) -> list[SignoffConflict]:
    return [
        SignoffConflict(
            code=conflict.code.value,
            severity=conflict.severity.value,
            item_key=conflict.evidence.item_key,
            planned_end=conflict.evidence.planned_end,
            promised_by=conflict.evidence.promised_by,
        )
        for conflict in conflicts
        if conflict.needs_signoff
    ]


def _reopen_reason(reasons: list[SignoffConflict]) -> str:
    def describe(conflict: SignoffConflict) -> str:
        where = f" on {conflict.item_key}" if conflict.item_key else ""
        dates = ""
        if conflict.code in lifecycle.DATE_CODES:
            dates = f" (planned_end {conflict.planned_end}, promised_by {conflict.promised_by})"
        return f"{conflict.code}{where}{dates}"

    return "Not covered by the approval: " + "; ".join(describe(c) for c in reasons) + "."


def _work_settled(row: Row, generation: int) -> dict[str, object]:
    """Releases the claim. The work owed is settled, unless a newer reason to evaluate came
    meanwhile (a re-check marked during the evaluation, which made it due again)."""
    values: dict[str, object] = {"claim_token": None, "claimed_until": None}
    if generation >= row.work_generation:
        values.update(work_due_at=None, work_attempts=0)
    return values


def _require_claim(row: Row, data: EvaluationCreate) -> None:
    """Only the holder of the claim records, and only for the version it was given."""
    if row.claim_token is None or row.claim_token != data.claim_token:
        raise ProblemError(
            409,
            "This evaluation no longer holds the commitment's claim (it was released, taken "
            "over after the lease ran out, or the commitment changed); claim it again.",
            kind="conflict",
        )
    if data.evaluated_version != row.version:
        raise ProblemError(
            409,
            f"The commitment is at version {row.version}, not the version "
            f"{data.evaluated_version} evaluated; evaluate it again.",
            kind="conflict",
        )


async def record_evaluation(
    connection: AsyncConnection, commitment_id: str, data: EvaluationCreate
) -> None:
    """Applies an evaluation and announces what it changed."""
    deal_id = await _record(connection, commitment_id, data)
    await announce(connection, deal_id, utcnow(), commitment_ids=[commitment_id])


async def _record(connection: AsyncConnection, commitment_id: str, data: EvaluationCreate) -> str:
    """Applies an evaluation; answers the commitment's deal."""
    row = await lock_commitment(connection, commitment_id)
    _require_claim(row, data)
    status, now = ReviewStatus(row.review_status), utcnow()
    if data.outcome == "roadmap_unreachable":
        await _record_unreachable(connection, row, status, now)
        return row.deal_id
    needing = _signoff(data.conflicts)
    found_print = lifecycle.fingerprint(needing)
    if status in EVALUATED and row.current_evaluation_id is not None:
        current = await connection.execute(
            select(evaluations.c.fingerprint).where(evaluations.c.id == row.current_evaluation_id)
        )
        if current.scalar_one() == found_print:
            await _update(connection, row.id, _work_settled(row, data.work_generation))
            return row.deal_id
    approved = await _approved_conflicts(connection, row.approved_evaluation_id)
    event = evaluation_event(needing, approved)
    transition = lifecycle.apply(status, event, standing_approval=approved is not None)
    evaluation_id = str(uuid.uuid4())
    await connection.execute(
        evaluations.insert().values(
            id=evaluation_id,
            commitment_id=row.id,
            commitment_version=row.version,
            conflicts=[conflict.model_dump(mode="json") for conflict in data.conflicts],
            roadmap_item_versions=data.roadmap_item_versions,
            policy_version=data.policy_version,
            fingerprint=found_print,
            review_status=transition.status.value,
            reopened=transition.reopened,
            item_owner=data.roadmap_item_owner,
            item_area=data.roadmap_item_area,
            evaluated_at=now,
        )
    )
    values = {
        **_work_settled(row, data.work_generation),
        "current_evaluation_id": evaluation_id,
        "version": row.version + 1,
        "updated_at": now,
    }
    if transition.reopened:
        reasons = uncovered(approved or [], needing)
        values["reopen_reason"] = _reopen_reason(reasons)
    elif transition.status is not ReviewStatus.needs_signoff:
        values["reopen_reason"] = None
    if transition.status is not status:
        values.update(review_status=transition.status.value, status_changed_at=now)
    await _update(connection, row.id, values)
    await set_conflict_tallies(connection, row.id, row.deal_owner, data.conflicts)
    return row.deal_id


async def record_evaluations(
    connection: AsyncConnection, batch: EvaluationBatch
) -> EvaluationBatchAnswer:
    """Several evaluations in one transaction, taken by deal, then by commitment id (the
    order every multi-row write locks in); one whose claim no longer holds is skipped, not
    the batch. Each deal's changes are announced once, after all of its evaluations."""
    reasons: dict[int, str] = {}
    taken: set[str] = set()
    deal_of = dict(
        (
            await connection.execute(
                select(commitments.c.id, commitments.c.deal_id).where(
                    commitments.c.id.in_({item.commitment_id for item in batch.items})
                )
            )
        ).all()
    )
    in_lock_order = sorted(
        enumerate(batch.items),
        key=lambda pair: (deal_of.get(pair[1].commitment_id, ""), pair[1].commitment_id),
    )
    recorded: dict[str, list[str]] = {}
    for index, item in in_lock_order:
        if item.commitment_id in taken:
            reasons[index] = "It was named earlier in this batch."
            continue
        taken.add(item.commitment_id)
        try:
            deal_id = await _record(connection, item.commitment_id, item)
        except ProblemError as refusal:  # refused before it wrote anything
            reasons[index] = refusal.detail
        else:
            recorded.setdefault(deal_id, []).append(item.commitment_id)
    now = utcnow()
    for deal_id, commitment_ids in recorded.items():
        await announce(connection, deal_id, now, commitment_ids=commitment_ids)
    statuses = dict(
        (
            await connection.execute(
                select(commitments.c.id, commitments.c.review_status).where(
                    commitments.c.id.in_(taken)
                )
            )
        ).all()
    )
    return EvaluationBatchAnswer(
        items=[
            EvaluationRecorded(
                commitment_id=item.commitment_id,
                recorded=index not in reasons,
                review_status=statuses.get(item.commitment_id),
                reason=reasons.get(index),
            )
            for index, item in enumerate(batch.items)
        ]
    )


async def _record_unreachable(
    connection: AsyncConnection, row: Row, status: ReviewStatus, now: datetime
) -> None:
    """The work stays owed, retried after a growing pause; only a first evaluation parks
    the commitment as evaluation_pending."""
    transition = lifecycle.apply(status, Event.roadmap_unreachable)
    attempts = max(row.work_attempts, 1)  # counted by the claims
    pause = min(RETRY_BASE_SECONDS * 2 ** (attempts - 1), RETRY_MAX_SECONDS)
    values: dict[str, object] = {
        "claim_token": None,
        "claimed_until": None,
        "work_due_at": now + timedelta(seconds=pause),
    }
    if transition.status is not status:
        values.update(
            review_status=transition.status.value,
            status_changed_at=now,
            version=row.version + 1,
            updated_at=now,
        )
    await _update(connection, row.id, values)


async def _approved_conflicts(
    connection: AsyncConnection, evaluation_id: str | None
) -> list[SignoffConflict] | None:
    if evaluation_id is None:
        return None
    conflicts = (
        await connection.execute(
            select(evaluations.c.conflicts).where(evaluations.c.id == evaluation_id)
        )
    ).scalar_one()
    return _signoff([Conflict.model_validate(conflict) for conflict in conflicts])


async def _update(connection: AsyncConnection, commitment_id: str, values: dict) -> None:
    await connection.execute(
        update(commitments).where(commitments.c.id == commitment_id).values(values)
    )


async def decide(
    connection: AsyncConnection, commitment_id: str, data: DecisionCreate, if_match: str | None
) -> None:
    row = await lock_commitment(connection, commitment_id)
    if await _repeats_latest_decision(connection, row, data):
        return  # a retry of the decision that was taken: the same state as one
    require_if_match(if_match, strong_etag(row.version), "The commitment")
    try:
        transition = lifecycle.apply(ReviewStatus(row.review_status), Event(data.decision))
    except TransitionRefused as error:
        raise refused(error) from None
    now = utcnow()
    await connection.execute(
        decisions.insert().values(
            id=str(uuid.uuid4()),
            commitment_id=row.id,
            evaluation_id=row.current_evaluation_id,
            decided_at=now,
            **data.model_dump(),
        )
    )
    approved = row.current_evaluation_id if data.decision == "approve" else None
    values: dict[str, object] = {
        "review_status": transition.status.value,
        "status_changed_at": now,
        "reopen_reason": None,
        "approved_evaluation_id": approved,
        "version": row.version + 1,
        "updated_at": now,
    }
    if row.claim_token is not None:
        # An evaluation under way saw the commitment before this decision: it is refused
        # (409), and the work comes due again at once, not when that claim's lease ends.
        values.update(
            claim_token=None, claimed_until=None, work_due_at=now, work_cause={"kind": "decision"}
        )
    await _update(connection, row.id, values)
    await announce(connection, row.deal_id, now, commitment_ids=[row.id])


async def _repeats_latest_decision(
    connection: AsyncConnection, row: Row, data: DecisionCreate
) -> bool:
    if row.review_status not in (ReviewStatus.approved, ReviewStatus.rejected):
        return False
    latest = (
        await connection.execute(
            select(decisions)
            .where(decisions.c.commitment_id == row.id)
            .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return (
        latest is not None
        and latest.evaluation_id == row.current_evaluation_id
        and DECIDED[latest.decision] is ReviewStatus(row.review_status)
        and all(getattr(latest, name) == value for name, value in data.model_dump().items())
    )


async def relink(
    connection: AsyncConnection,
    commitment_id: str,
    roadmap_item_key: str,
    if_match: str | None,
    handoff: timedelta = timedelta(0),
) -> None:
    """A PM's link; it stands until the CRM sends a different, non-empty key. `handoff`: how
    long it stays the caller's to evaluate before the sweep may take it (work.py)."""
    row = await lock_commitment(connection, commitment_id)
    if row.roadmap_item_key == roadmap_item_key and row.link_source == "pm":
        return  # already so: a retry changes nothing
    require_if_match(if_match, strong_etag(row.version), "The commitment")
    status = ReviewStatus(row.review_status)
    try:
        transition = lifecycle.apply(status, Event.relinked)
    except TransitionRefused as error:
        raise refused(error) from None
    now = utcnow()
    values: dict[str, object] = {
        "roadmap_item_key": roadmap_item_key,
        "link_source": "pm",
        "version": row.version + 1,
        "updated_at": now,
        # Evaluated afresh, as for a CRM change (see events.py).
        "current_evaluation_id": None,
        "work_due_at": now + handoff,
        "work_generation": row.work_generation + 1,
        "work_attempts": 0,
        "work_cause": {"kind": "roadmap_link", "roadmap_item_key": roadmap_item_key},
        "claim_token": None,
        "claimed_until": None,
    }
    if transition.status is not status:
        values.update(
            review_status=transition.status.value, status_changed_at=now, reopen_reason=None
        )
    await _update(connection, row.id, values)
    await clear_conflict_tallies(connection, row.id)
    await announce(connection, row.deal_id, now, commitment_ids=[row.id])
