"""What the policy does when a sign-off is overdue (`signoff.overdue` was just written, once
per commitment and evaluation), besides telling the reviewers and their escalation contacts
(notifications):
- `reassign`: the step whose turn it is goes to the first escalation contact of its
  approvers in the reviewers directory (none set: it stays as it is);
- `auto_approve`, opted into only: the system approves every step left, each a decision by
  `dealgate` (role `system`) saying why;
- `auto_reject`, likewise: the system rejects it.
Each goes through the same writes a person's would (questions.add, reviews.decide), so the
lifecycle, the history and the events are the same.
"""

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.commitments import CommentCreate, DecisionCreate
from kit.contracts.events import EscalationAction
from services.commitments import approvals, questions, reviews
from services.commitments.lifecycle import AWAITING
from services.commitments.records import lock_commitment

SYSTEM = "dealgate"


async def escalate(
    connection: AsyncConnection, commitment_id: str, action: EscalationAction, sla: timedelta
) -> None:
    if action == "notify":
        return
    hours = round(sla / timedelta(hours=1))
    why = f"Sign-off overdue past its SLA of {hours} hours"
    row = await lock_commitment(connection, commitment_id)
    state = await approvals.state_of(connection, row)
    if state is None:
        return
    if action == "reassign":
        turn = await approvals.turn_of(connection, state)
        contact = next((c for c in turn.escalation_contacts if c != state.assignee), None)
        if contact is not None:
            await questions.add(
                connection,
                row.id,
                CommentCreate(
                    kind="reassignment",
                    body=f"{why}: reassigned to the escalation contact.",
                    author=SYSTEM,
                    role="system",
                    assignee=contact,
                ),
                None,
            )
        return
    if action == "auto_reject":
        await reviews.decide(connection, row.id, _system("reject", f"{why}: rejected."), None)
        return
    for _ in state.chain:  # one step a time, each read afresh: at most the chain's length
        row = await lock_commitment(connection, commitment_id)
        state = await approvals.state_of(connection, row)
        turn = None if state is None else state.progress.next_index
        if state is None or turn is None or row.review_status not in AWAITING:
            return
        comment = f"{why}: approved at the step '{state.chain[turn].name}' by the policy."
        await reviews.decide(connection, row.id, _system("approve", comment), None)


def _system(decision: str, comment: str) -> DecisionCreate:
    return DecisionCreate(decision=decision, comment=comment, decided_by=SYSTEM, role="system")
