"""A commitment's thread: a reviewer asks the rep a question instead of deciding, the rep
answers, a reviewer recalls their own decision, a reviewer hands the step whose turn it is
to another (reassignment: recorded on the commitment, told as `commitment.reassigned`).
Each moves the review through `lifecycle.apply`, is kept in the thread
(`commitment_comments`), and is announced.

Who may: a question, as a rejection (approvals.may_act: an approver of a step not yet
approved, their delegate, an admin); an answer, whoever may answer for the rep (crm, pm,
admin); a recall, only the person who took the latest decision, within the window; a
reassignment, as a question, to someone in the reviewers directory (or the policy's
escalation, as `system`). Saying the same again (same person, same words) once it took
effect changes nothing: a retry is safe.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Row, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.approvals import AREA_STEP
from kit.contracts.commitments import CommentCreate, CommentRead, DecisionRead
from kit.contracts.events import EventType
from kit.db import utcnow
from kit.etags import require_if_match, strong_etag
from kit.problems import ProblemError, field_problem
from services.commitments import approvals, lifecycle, reviewers
from services.commitments.lifecycle import Event, ReviewStatus, TransitionRefused
from services.commitments.outbox import announce, write_review_event
from services.commitments.records import latest_comment, latest_decision, lock_commitment
from services.commitments.reviews import evaluation_interrupted
from services.commitments.tables import commitment_comments, commitments, decision_lapses

EVENTS = {
    "question": Event.asked,
    "answer": Event.answered,
    "recall": Event.recalled,
    "reassignment": Event.reassigned,
}
# Where each leaves the commitment: what a retry finds when it took effect already.
LEADS_TO = {
    "question": {ReviewStatus.info_requested},
    "answer": {ReviewStatus.needs_signoff},
    # A step's approval recalled while a question stands leaves the question standing.
    "recall": lifecycle.AWAITING,
    "reassignment": lifecycle.AWAITING,
}


async def add(
    connection: AsyncConnection, commitment_id: str, data: CommentCreate, if_match: str | None
) -> None:
    row = await lock_commitment(connection, commitment_id)
    if await _repeats_latest(connection, row, data):
        return
    now = utcnow()
    acts_on_chain = data.kind in ("question", "reassignment")
    state = await approvals.state_of(connection, row) if acts_on_chain else None
    if acts_on_chain and data.role != "system":
        await approvals.may_act(
            connection,
            state,
            person=data.author,
            role=data.role,
            now=now,
            approving=False,
            # Only an approver of the step whose turn it is hands that step over.
            at_turn_only=data.kind == "reassignment",
        )
    if (
        data.kind == "reassignment"
        and data.role != "system"  # an escalation contact need not review anything
        and not await reviewers.exists(connection, data.assignee or "")
    ):
        raise field_problem(
            "assignee", f"{data.assignee} is not in the reviewers directory: put them there first."
        )
    require_if_match(if_match, strong_etag(row.version), "The commitment")
    status = ReviewStatus(row.review_status)
    try:
        transition = lifecycle.apply(status, EVENTS[data.kind])
    except TransitionRefused as error:
        raise ProblemError(
            409, f"The commitment cannot take this: {error.reason}.", kind="conflict"
        ) from None
    values: dict[str, object] = {
        "review_status": transition.status.value,
        "status_changed_at": now,
        "version": row.version + 1,
        "updated_at": now,
    }
    if data.kind == "recall":
        recalled = await _require_own_recent_decision(connection, row, data, now)
        await connection.execute(
            decision_lapses.insert().values(
                decision_id=recalled.id, lapsed_at=now, cause="recalled"
            )
        )
        values.update(
            approved_evaluation_id=None,
            reopen_reason=f"{data.author} recalled their decision"
            + (f" at the step '{recalled.step}'" if recalled.step not in (None, AREA_STEP) else "")
            + (f": {data.body}" if data.body else "."),
            work_cause={"kind": "recall"},
        )
    if data.kind == "reassignment":
        values.update(assigned_to=data.assignee, assigned_step=_handed_over(state))
    values.update(evaluation_interrupted(row, now, cause=None))
    comment = CommentRead(
        id=str(uuid.uuid4()),
        kind=data.kind,
        body=data.body,
        author=data.author,
        role=data.role,
        assignee=data.assignee,
        created_at=now,
    )
    await connection.execute(
        commitment_comments.insert().values(commitment_id=row.id, **comment.model_dump())
    )
    await connection.execute(update(commitments).where(commitments.c.id == row.id).values(values))
    await announce(connection, row.deal_id, now, commitment_ids=[row.id])
    if data.kind == "reassignment":
        await write_review_event(
            connection, EventType.commitment_reassigned, row.id, now, comment=comment
        )


def _handed_over(state: approvals.ChainState | None) -> str:
    """The step a reassignment hands over: the one whose turn it is. A step that needs each
    of its named approvers cannot go to one person (409)."""
    turn = None if state is None else state.progress.next_index
    if state is None or turn is None:
        raise ProblemError(
            409, "The commitment cannot take this: no step awaits approval.", kind="conflict"
        )
    step = state.chain[turn]
    if step.require == "all":
        raise ProblemError(
            409,
            f"The step '{step.name}' needs each of its approvers ({', '.join(step.approvers)}); "
            "it cannot be handed to one person.",
            kind="conflict",
        )
    return step.name


async def _repeats_latest(connection: AsyncConnection, row: Row, data: CommentCreate) -> bool:
    if ReviewStatus(row.review_status) not in LEADS_TO[data.kind]:
        return False
    if data.kind == "recall":
        # Repeated only while the latest decision is the one this author recalled: once
        # they decided again, the same words recall that decision.
        decided = await latest_decision(connection, row.id)
        if (
            decided is None
            or decided.lapse_cause != "recalled"
            or decided.decided_by != data.author
        ):
            return False
    latest = await latest_comment(connection, row.id)
    return latest is not None and (latest.kind, latest.author, latest.body, latest.assignee) == (
        data.kind,
        data.author,
        data.body,
        data.assignee,
    )


async def _require_own_recent_decision(
    connection: AsyncConnection, row: Row, data: CommentCreate, now: datetime
) -> DecisionRead:
    """The latest decision, if it stands, is the author's and recent: it is recalled."""
    latest = await latest_decision(connection, row.id)
    if latest is None or latest.lapsed_at is not None:
        # Awaiting sign-off with no step approved since: nothing of it to recall.
        raise ProblemError(
            409, "The commitment cannot take this: it has no decision to recall.", kind="conflict"
        )
    if latest.decided_by != data.author:
        raise ProblemError(403, f"Only {latest.decided_by}, who took the decision, may recall it.")
    window = timedelta(seconds=data.recall_window_seconds)
    if now - latest.decided_at > window:
        minutes = round(window / timedelta(minutes=1))
        raise ProblemError(
            409,
            f"The decision was taken at {latest.decided_at.isoformat()}; it could be "
            f"recalled for {minutes} minutes after.",
            kind="conflict",
        )
    return latest
