"""Reading commitments and deals back as API records, and locking one for a write.

Lists load a page and its current conflicts in one statement (the commitment joined to its
current evaluation); one commitment adds its deal, evaluations and decisions.
"""

from collections.abc import Sequence

from sqlalchemy import Row, Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import (
    CommentRead,
    CommitmentListed,
    CommitmentRead,
    DealRead,
    DecisionRead,
    EvaluationRead,
)
from kit.problems import not_found
from services.commitments import approvals
from services.commitments.tables import (
    commitment_comments,
    commitments,
    deals,
    decision_lapses,
    decisions,
    evaluations,
)

COMMITMENT_FIELDS = (
    "id", "deal_id", "external_id", "kind", "summary", "roadmap_item_key", "link_source",
    "promised_by", "tags", "review_status", "reopen_reason", "crm_problem", "status_changed_at",
    "version",
)  # fmt: skip


async def lock_commitment(connection: AsyncConnection, commitment_id: str) -> Row:
    """The commitment's row, locked until commit, after its deal's: a write that does not
    change them takes the row locks on PostgreSQL and the write lock on SQLite, so concurrent
    writers to one commitment queue and each reads what the one before it committed. The
    deal first, as intake locks them: writes to one deal announce their events in commit
    order (outbox.py), and the two orders never deadlock."""
    await connection.execute(
        update(deals)
        .where(
            deals.c.id
            == select(commitments.c.deal_id)
            .where(commitments.c.id == commitment_id)
            .scalar_subquery()
        )
        .values(updated_at=deals.c.updated_at)
    )
    row = (
        await connection.execute(
            update(commitments)
            .where(commitments.c.id == commitment_id)
            .values(version=commitments.c.version)
            .returning(*commitments.c)
        )
    ).one_or_none()
    if row is None:
        raise not_found("commitment", commitment_id)
    return row


def listed_query() -> Select:
    """Commitments with the conflicts of their current evaluation."""
    return select(
        *(commitments.c[name] for name in COMMITMENT_FIELDS),
        evaluations.c.conflicts,
    ).outerjoin(evaluations, evaluations.c.id == commitments.c.current_evaluation_id)


def chained_query() -> Select:
    """`listed_query` with what a commitment's approval chain reads of it
    (approvals.state_of, approvals.turns)."""
    return listed_query().add_columns(
        commitments.c.current_evaluation_id,
        commitments.c.assigned_to,
        commitments.c.assigned_step,
    )


def as_listed(row: Row) -> CommitmentListed:
    values = row._mapping
    return CommitmentListed(
        **{name: values[name] for name in COMMITMENT_FIELDS}, conflicts=values["conflicts"] or []
    )


async def load_listed(connection: AsyncConnection, query: Select) -> list[CommitmentListed]:
    return [as_listed(row) for row in await connection.execute(query)]


async def get_deal(connection: AsyncConnection, deal_id: str) -> DealRead:
    row = (await connection.execute(select(deals).where(deals.c.id == deal_id))).one_or_none()
    if row is None:
        raise not_found("deal", deal_id)
    return DealRead.model_validate(row._mapping)


def as_evaluation(row: Row) -> EvaluationRead:
    return EvaluationRead.model_validate(row._mapping)


async def get_commitment(connection: AsyncConnection, commitment_id: str) -> CommitmentRead:
    row = (
        await connection.execute(chained_query().where(commitments.c.id == commitment_id))
    ).one_or_none()
    if row is None:
        raise not_found("commitment", commitment_id)
    listed, current_id = as_listed(row), row.current_evaluation_id
    history = [
        as_evaluation(row)
        for row in await connection.execute(
            select(evaluations)
            .where(evaluations.c.commitment_id == commitment_id)
            .order_by(evaluations.c.evaluated_at, evaluations.c.id)
        )
    ]
    decided = [
        DecisionRead.model_validate(row._mapping)
        for row in await connection.execute(
            decisions_query()
            .where(decisions.c.commitment_id == commitment_id)
            .order_by(decisions.c.decided_at, decisions.c.id)
        )
    ]
    thread = [
        CommentRead.model_validate(row._mapping)
        for row in await connection.execute(
            select(commitment_comments)
            .where(commitment_comments.c.commitment_id == commitment_id)
            .order_by(commitment_comments.c.created_at, commitment_comments.c.id)
        )
    ]
    chain = await approvals.state_of(connection, row)
    return CommitmentRead(
        **listed.model_dump(),
        deal=await get_deal(connection, listed.deal_id),
        evaluation=next((e for e in history if e.id == current_id), None),
        evaluations=history,
        decisions=decided,
        comments=thread,
        approval=await approvals.read(connection, chain, listed.review_status),
    )


def decisions_query() -> Select:
    """Decisions with when and why each lapsed (null: it stands)."""
    return select(
        *decisions.c, decision_lapses.c.lapsed_at, decision_lapses.c.cause.label("lapse_cause")
    ).outerjoin(decision_lapses, decision_lapses.c.decision_id == decisions.c.id)


async def latest_decision(connection: AsyncConnection, commitment_id: str) -> DecisionRead | None:
    row = (
        await connection.execute(
            decisions_query()
            .where(decisions.c.commitment_id == commitment_id)
            .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else DecisionRead.model_validate(row._mapping)


async def latest_comment(connection: AsyncConnection, commitment_id: str) -> CommentRead | None:
    row = (
        await connection.execute(
            select(commitment_comments)
            .where(commitment_comments.c.commitment_id == commitment_id)
            .order_by(commitment_comments.c.created_at.desc(), commitment_comments.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else CommentRead.model_validate(row._mapping)


async def states_of_deal(connection: AsyncConnection, deal_id: str) -> Sequence[Row]:
    """(id, external_id, review_status) of every commitment of the deal, by external id."""
    return (
        await connection.execute(
            select(commitments.c.id, commitments.c.external_id, commitments.c.review_status)
            .where(commitments.c.deal_id == deal_id)
            .order_by(commitments.c.external_id)
        )
    ).all()
