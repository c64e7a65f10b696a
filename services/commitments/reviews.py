"""The writes on commitments: evaluations recorded, a PM's decision, a PM's roadmap link.

Each locks the commitment's row first (`records.lock_commitment`; a batch of evaluations
locks all of its rows at once, `lock_commitments`), so concurrent writes to one commitment
queue on both databases, then moves it through `lifecycle.apply`.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.approvals import default_chain
from kit.contracts.bulk_decisions import BulkDecisionAnswer, BulkDecisionOutcome, DecisionBatch
from kit.contracts.commitments import (
    Conflict,
    DecisionCreate,
    EvaluationBatch,
    EvaluationBatchAnswer,
    EvaluationCreate,
    EvaluationRecorded,
)
from kit.contracts.events import EventType
from kit.db import utcnow
from kit.etags import require_if_match, strong_etag
from kit.problems import ProblemError, not_found
from services.commitments import approvals, chains, lifecycle
from services.commitments.approvals import needing_signoff
from services.commitments.conflict_rows import clear_conflict_tallies, set_conflict_tallies
from services.commitments.lifecycle import (
    Event,
    ReviewStatus,
    SignoffConflict,
    TransitionRefused,
    evaluation_event,
    uncovered,
)
from services.commitments.outbox import announce, write_review_event
from services.commitments.records import get_commitment, latest_decision, lock_commitment
from services.commitments.tables import commitments, deals, decisions, evaluations

EVALUATED = {
    ReviewStatus.cleared,
    ReviewStatus.needs_signoff,
    ReviewStatus.approved,
    ReviewStatus.rejected,
}
# Where a decision leaves a commitment (an approval that leaves steps to go: awaiting still).
AFTER_DECISION = {
    "approve": {ReviewStatus.approved, *lifecycle.AWAITING},
    "reject": {ReviewStatus.rejected},
}
# A pause after a failed attempt keeps one commitment whose evaluation keeps failing from
# spinning the queue; the roadmap's return ends every pause at once (work.py).
RETRY_BASE_SECONDS = 1
RETRY_MAX_SECONDS = 30


def refused(error: TransitionRefused) -> ProblemError:
    return ProblemError(409, f"The commitment cannot take this: {error.reason}.", kind="conflict")


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
    """Applies one evaluation and announces what it changed; its refusal (404, 409) is
    raised."""
    _, refusals = await _record_all(connection, [(commitment_id, data)])
    if refusals:
        raise refusals[0]


async def record_evaluations(
    connection: AsyncConnection, batch: EvaluationBatch
) -> EvaluationBatchAnswer:
    """Several evaluations in one transaction; one whose claim no longer holds is skipped,
    not the batch."""
    answer, _ = await _record_all(connection, [(item.commitment_id, item) for item in batch.items])
    return answer


class _Written:
    """What one batch of evaluations writes, gathered to be written in a few statements."""

    def __init__(self) -> None:
        self.evaluations: list[dict] = []
        self.updates: list[dict] = []
        self.tallies: dict[str, tuple[str | None, list[Conflict]]] = {}


async def _record_all(
    connection: AsyncConnection, items: list[tuple[str, EvaluationCreate]]
) -> tuple[EvaluationBatchAnswer, dict[int, ProblemError]]:
    """The commitments locked by deal, then by commitment id (the order every multi-row
    write locks in), read, decided on in memory, and written in a few statements whatever
    the batch's size. Each deal's changes are announced once, after all of its
    evaluations. Answers each item's outcome, and the refusals by item index."""
    rows = await lock_commitments(connection, {commitment_id for commitment_id, _ in items})
    in_lock_order = sorted(
        enumerate(items),
        key=lambda pair: (rows[pair[1][0]].deal_id if pair[1][0] in rows else "", pair[1][0]),
    )
    kept = await _evaluations_kept(connection, rows.values())
    reasons: dict[int, str] = {}
    refusals: dict[int, ProblemError] = {}
    taken: set[str] = set()
    recorded: dict[str, list[str]] = {}
    statuses = {row.id: ReviewStatus(row.review_status) for row in rows.values()}
    written, now = _Written(), utcnow()
    for index, (commitment_id, data) in in_lock_order:
        if commitment_id in taken:
            reasons[index] = "It was named earlier in this batch."
            continue
        taken.add(commitment_id)
        row = rows.get(commitment_id)
        try:
            if row is None:
                raise not_found("commitment", commitment_id)
            _require_claim(row, data)
        except ProblemError as refusal:  # refused before it wrote anything
            reasons[index], refusals[index] = refusal.detail, refusal
            continue
        statuses[row.id] = _decide(row, data, kept, written, now)
        recorded.setdefault(row.deal_id, []).append(row.id)
    await _write(connection, written)
    for deal_id, commitment_ids in recorded.items():
        await announce(connection, deal_id, now, commitment_ids=commitment_ids)
    answer = EvaluationBatchAnswer(
        items=[
            EvaluationRecorded(
                commitment_id=commitment_id,
                recorded=index not in reasons,
                review_status=statuses.get(commitment_id),
                reason=reasons.get(index),
            )
            for index, (commitment_id, _) in enumerate(items)
        ]
    )
    return answer, refusals


# What recording an evaluation reads of a commitment (not its JSON: decoding costs).
_DECIDED_ON = (
    "id", "deal_id", "deal_owner", "review_status", "version", "current_evaluation_id",
    "approved_evaluation_id", "claim_token", "work_generation", "work_attempts",
)  # fmt: skip


async def lock_commitments(connection: AsyncConnection, ids: set[str]) -> dict[str, Row]:
    """The commitments' rows by id, locked until commit after their deals', in the order
    every multi-row write locks in (`records.lock_commitment` for one). On SQLite the
    transaction holds the write lock already (kit.db)."""
    if not ids:
        return {}
    deal_ids = (
        (
            await connection.execute(
                select(commitments.c.deal_id).where(commitments.c.id.in_(ids)).distinct()
            )
        )
        .scalars()
        .all()
    )
    await connection.execute(
        select(deals.c.id)
        .where(deals.c.id.in_(deal_ids))
        .order_by(deals.c.id)
        # FOR NO KEY UPDATE (SQLAlchemy's key_share): the lock lock_commitment's UPDATE takes,
        # so a decision on another of the deal's commitments waits and reads this batch's
        # outcome before it tells the gate.
        .with_for_update(key_share=True)
    )
    locked = await connection.execute(
        select(*(commitments.c[name] for name in _DECIDED_ON))
        .where(commitments.c.id.in_(ids))
        .order_by(commitments.c.deal_id, commitments.c.id)
        .with_for_update()
    )
    return {row.id: row for row in locked}


class _Kept:
    """What a batch compares against: each commitment's current evaluation's fingerprint,
    and its decisions with the conflicts each decided (the chain, the standing approval)."""

    def __init__(
        self, fingerprints: dict[str, str], decided: dict[str, list[chains.Decision]]
    ) -> None:
        self.fingerprints, self.decided = fingerprints, decided

    def approved_conflicts(self, row: Row) -> list[SignoffConflict] | None:
        """What the standing approval (`approved_evaluation_id`) decided: an approval of it
        is among the commitment's decisions, with its conflicts decoded already."""
        if row.approved_evaluation_id is None:
            return None
        return next(
            list(decision.conflicts)
            for decision in reversed(self.decided.get(row.id, []))
            if decision.evaluation_id == row.approved_evaluation_id
        )


async def _evaluations_kept(connection: AsyncConnection, rows: Iterable[Row]) -> _Kept:
    rows = list(rows)
    current = {row.current_evaluation_id for row in rows} - {None}
    fingerprints: dict[str, str] = {}
    if current:
        found = await connection.execute(
            select(evaluations.c.id, evaluations.c.fingerprint).where(evaluations.c.id.in_(current))
        )
        fingerprints = dict(found.all())
    decided = await approvals.decisions_of(connection, (row.id for row in rows))
    return _Kept(fingerprints, decided)


def _decide(
    row: Row, data: EvaluationCreate, kept: _Kept, written: _Written, now: datetime
) -> ReviewStatus:
    """What recording `data` on `row` writes (added to `written`); answers the status."""
    status = ReviewStatus(row.review_status)
    if data.outcome == "roadmap_unreachable":
        values, status = _unreachable_values(row, status, now)
        written.updates.append({"id": row.id, **values})
        return status
    needing = needing_signoff(data.conflicts)
    found_print = lifecycle.fingerprint(needing)
    if (
        status in EVALUATED
        and row.current_evaluation_id is not None
        and kept.fingerprints.get(row.current_evaluation_id) == found_print
    ):
        written.updates.append({"id": row.id, **_work_settled(row, data.work_generation)})
        return status
    approved = kept.approved_conflicts(row)
    chain = data.approval_chain or default_chain()
    progress = chains.progress(chain, kept.decided.get(row.id, []), needing)
    event = evaluation_event(needing, progress.complete)
    transition = lifecycle.apply(status, event, standing_approval=approved is not None)
    evaluation_id = str(uuid.uuid4())
    written.evaluations.append(
        {
            "id": evaluation_id,
            "commitment_id": row.id,
            "commitment_version": row.version,
            "conflicts": [conflict.model_dump(mode="json") for conflict in data.conflicts],
            "roadmap_item_versions": data.roadmap_item_versions,
            "policy_version": data.policy_version,
            "fingerprint": found_print,
            "review_status": transition.status.value,
            "reopened": transition.reopened,
            "item_owner": data.roadmap_item_owner,
            "item_area": data.roadmap_item_area,
            "review_area": data.review_area,
            "approval_rule": data.approval_rule,
            "approval_chain": (
                None
                if data.approval_chain is None
                else [step.model_dump(mode="json") for step in data.approval_chain]
            ),
            "evaluated_at": now,
        }
    )
    values = {
        **_work_settled(row, data.work_generation),
        "current_evaluation_id": evaluation_id,
        "version": row.version + 1,
        "updated_at": now,
        # A new evaluation, a new chain to go through: no earlier turn stays handed over.
        "assigned_to": None,
        "assigned_step": None,
    }
    if transition.reopened:
        reasons = uncovered(approved or [], needing)
        values["reopen_reason"] = _reopen_reason(reasons)
    elif transition.status is not ReviewStatus.needs_signoff:
        values["reopen_reason"] = None
    if transition.status is not status:
        values.update(review_status=transition.status.value, status_changed_at=now)
    written.updates.append({"id": row.id, **values})
    written.tallies[row.id] = (row.deal_owner, data.conflicts)
    return transition.status


def _unreachable_values(
    row: Row, status: ReviewStatus, now: datetime
) -> tuple[dict[str, object], ReviewStatus]:
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
    return values, transition.status


async def _write(connection: AsyncConnection, written: _Written) -> None:
    if written.evaluations:
        await connection.execute(evaluations.insert(), written.evaluations)
    # One executemany per shape of change (the columns it sets).
    shapes: dict[tuple[str, ...], list[dict]] = {}
    for values in written.updates:
        shapes.setdefault(tuple(sorted(values)), []).append(values)
    for columns, rows in shapes.items():
        setting = [column for column in columns if column != "id"]
        statement = (
            update(commitments)
            .where(commitments.c.id == bindparam("w_id"))
            .values({column: bindparam(f"w_{column}") for column in setting})
        )
        await connection.execute(
            statement, [{f"w_{column}": values[column] for column in columns} for values in rows]
        )
    await set_conflict_tallies(connection, written.tallies)


async def _update(connection: AsyncConnection, commitment_id: str, values: dict) -> None:
    await connection.execute(
        update(commitments).where(commitments.c.id == commitment_id).values(values)
    )


def evaluation_interrupted(row: Row, now: datetime, cause: dict | None) -> dict[str, object]:
    """For a write that moves a commitment while an evaluation of it may be under way: that
    evaluation saw it before and is refused (409), and the work comes due again at once, not
    when the claim's lease ends. `cause`: why, for the events (None: leave it as it is)."""
    if row.claim_token is None:
        return {}
    values: dict[str, object] = {"claim_token": None, "claimed_until": None, "work_due_at": now}
    if cause is not None:
        values["work_cause"] = cause
    return values


async def decide(
    connection: AsyncConnection, commitment_id: str, data: DecisionCreate, if_match: str | None
) -> None:
    row = await lock_commitment(connection, commitment_id)
    if await _repeats_latest_decision(connection, row, data):
        return  # a retry of the decision that was taken: the same state as one
    now = utcnow()
    state = await approvals.state_of(connection, row)
    acting = await approvals.may_act(
        connection,
        state,
        person=data.decided_by,
        role=data.role,
        now=now,
        approving=data.decision == "approve",
    )
    require_if_match(if_match, strong_etag(row.version), "The commitment")
    event = Event.reject
    if data.decision == "approve":
        complete = state is None or acting is None or _completes(state, data, acting)
        event = Event.approve if complete else Event.step_approved
    try:
        transition = lifecycle.apply(ReviewStatus(row.review_status), event)
    except TransitionRefused as error:
        raise refused(error) from None
    await connection.execute(
        decisions.insert().values(
            id=str(uuid.uuid4()),
            commitment_id=row.id,
            evaluation_id=row.current_evaluation_id,
            decided_at=now,
            step=acting.step if acting else None,
            on_behalf_of=acting.on_behalf_of if acting else None,
            **data.model_dump(),
        )
    )
    values: dict[str, object] = {
        "review_status": transition.status.value,
        "status_changed_at": now,
        "version": row.version + 1,
        "updated_at": now,
        # A reassignment hands over one turn: whatever the decision, that turn is over.
        "assigned_to": None,
        "assigned_step": None,
    }
    if event is not Event.step_approved:  # the standing approval: this one, or none
        values["reopen_reason"] = None
        values["approved_evaluation_id"] = (
            row.current_evaluation_id if event is Event.approve else None
        )
    values.update(evaluation_interrupted(row, now, cause={"kind": "decision"}))
    await _update(connection, row.id, values)
    await announce(connection, row.deal_id, now, commitment_ids=[row.id])
    if event is Event.step_approved:  # no status to tell: the next step is asked
        await write_review_event(
            connection,
            EventType.commitment_step_approved,
            row.id,
            now,
            decision=await latest_decision(connection, row.id),
        )


def _completes(state: approvals.ChainState, data: DecisionCreate, acting: approvals.Acting) -> bool:
    approval = chains.Decision(
        decision="approve",
        step=acting.step,
        decided_by=data.decided_by,
        on_behalf_of=acting.on_behalf_of,
        role=data.role,
        lapsed=False,
        conflicts=tuple(state.needing),
    )
    return state.with_approval(approval).complete


async def decide_all(connection: AsyncConnection, batch: DecisionBatch) -> BulkDecisionAnswer:
    """Each decision as `decide` takes it, in a savepoint of its own: a refused one (its
    problem answered) undoes only itself. Taken in the order every multi-row write locks in
    (deal, then commitment), answered in the order asked."""
    ids = {item.commitment_id for item in batch.items}
    found = await connection.execute(
        select(commitments.c.id, commitments.c.deal_id).where(commitments.c.id.in_(ids))
    )
    deal_of: dict[str, str] = {row.id: row.deal_id for row in found}
    order = sorted(
        range(len(batch.items)),
        key=lambda i: (
            deal_of.get(batch.items[i].commitment_id, ""),
            batch.items[i].commitment_id,
            i,
        ),
    )
    outcomes: dict[int, BulkDecisionOutcome] = {}
    for index in order:
        item = batch.items[index]
        data = DecisionCreate.model_validate(item.model_dump(exclude={"commitment_id", "if_match"}))
        savepoint = await connection.begin_nested()
        try:
            await decide(connection, item.commitment_id, data, item.if_match)
        except ProblemError as error:
            await savepoint.rollback()
            outcomes[index] = BulkDecisionOutcome(
                commitment_id=item.commitment_id, status=error.status, problem=error.problem()
            )
            continue
        await savepoint.commit()
        outcomes[index] = BulkDecisionOutcome(
            commitment_id=item.commitment_id,
            status=200,
            commitment=await get_commitment(connection, item.commitment_id),
        )
    return BulkDecisionAnswer(items=[outcomes[index] for index in range(len(batch.items))])


async def _repeats_latest_decision(
    connection: AsyncConnection, row: Row, data: DecisionCreate
) -> bool:
    """The latest decision, standing, is this one on the evaluation it is judged by now, and
    left the commitment where it is: a final approval or a rejection, or a step's approval."""
    latest = await latest_decision(connection, row.id)
    if latest is None or latest.lapsed_at is not None:
        return False
    left = AFTER_DECISION[latest.decision]
    return (
        ReviewStatus(row.review_status) in left
        and latest.evaluation_id == row.current_evaluation_id
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
