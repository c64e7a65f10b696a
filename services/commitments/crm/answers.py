"""A rep's answer to a reviewer's question, typed in the CRM (a field on the promise's
record, `answer` in the canonical event) rather than sent through the API.

An answer comes with every event that carries the record, so only a new one is taken: a
text no earlier answer in the thread has. It answers the question standing (the promise
`info_requested`), as `POST /v1/commitments/{id}/answers` would: the answer joins the
thread, by the deal's owner (else `crm:<source>`), and the promise awaits sign-off again
(the intake's announce tells the reviewers, `commitment.answered`). With no question
standing, or the record changed in the same event (it is evaluated afresh), it waits: the
field keeps it, and the next question's answer must differ.
"""

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import CrmEvent
from services.commitments import lifecycle
from services.commitments.lifecycle import Event, ReviewStatus
from services.commitments.reviews import evaluation_interrupted
from services.commitments.tables import commitment_comments, commitments

c = commitments.c


async def take(
    connection: AsyncConnection, deal_id: str, source: str, event: CrmEvent, now: datetime
) -> None:
    """The deal's commitments are locked (the intake holds them)."""
    given = {item.external_id: item.answer for item in event.commitments if item.answer}
    if not given:
        return
    rows = await connection.execute(
        select(c.id, c.external_id, c.review_status, c.version, c.claim_token).where(
            c.deal_id == deal_id,
            c.external_id.in_(given),
            c.review_status == ReviewStatus.info_requested.value,
        )
    )
    for row in rows.all():
        answer = given[row.external_id]
        if await _answered_before(connection, row.id, answer):
            continue
        transition = lifecycle.apply(ReviewStatus(row.review_status), Event.answered)
        await connection.execute(
            commitment_comments.insert().values(
                id=str(uuid.uuid4()),
                commitment_id=row.id,
                kind="answer",
                body=answer,
                author=event.deal.owner or f"crm:{source}",
                role="crm",
                created_at=now,
            )
        )
        await connection.execute(
            update(commitments)
            .where(c.id == row.id)
            .values(
                review_status=transition.status.value,
                status_changed_at=now,
                version=row.version + 1,
                updated_at=now,
                **evaluation_interrupted(row, now, cause=None),
            )
        )


async def _answered_before(connection: AsyncConnection, commitment_id: str, answer: str) -> bool:
    found = await connection.execute(
        select(func.count()).where(
            commitment_comments.c.commitment_id == commitment_id,
            commitment_comments.c.kind == "answer",
            commitment_comments.c.body == answer,
        )
    )
    return found.scalar_one() > 0
