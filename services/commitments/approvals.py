"""A commitment's approval chain as the database holds it: its current evaluation's chain,
the decisions taken on it (chains.progress says how far they go), who may act at which step
(OWASP API1: checked where the decision is written), and the chain as the API reads it.

Who may act on a flagged promise: an admin, at the step whose turn it is (completing it);
else an approver of that step (one named, or for an area step a reviewer of the promise's
area, or the delegate of either while they are out of office). One person approves one
step of a chain: a chain of two steps needs two people. A rejection or a question may come
from an approver of any step not yet approved (a reject at any step rejects); an approval
only at the step whose turn it is (an approver of a later step is answered 409: not yet).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.approvals import ChainRead, ChainStep, StepApproval, StepRead, default_chain
from kit.contracts.commitments import Conflict
from kit.contracts.reviewers import same_area
from kit.problems import ProblemError
from services.commitments import chains, reviewers
from services.commitments.lifecycle import AWAITING, SignoffConflict
from services.commitments.tables import decision_lapses, decisions, evaluations
from services.commitments.tables import reviewers as directory

d = decisions.c


def needing_signoff(conflicts: Iterable[Conflict]) -> list[SignoffConflict]:
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


def stored_needing_signoff(conflicts: list[dict]) -> list[SignoffConflict]:
    return needing_signoff(Conflict.model_validate(conflict) for conflict in conflicts)


def chain_of(stored: list[dict] | None) -> list[ChainStep]:
    if not stored:
        return default_chain()
    return [ChainStep.model_validate(step) for step in stored]


async def decisions_of(
    connection: AsyncConnection, commitment_ids: Iterable[str]
) -> dict[str, list[chains.Decision]]:
    """Each commitment's decisions, oldest first, with the conflicts each decided."""
    ids = set(commitment_ids)
    if not ids:
        return {}
    found = await connection.execute(
        select(
            d.commitment_id,
            d.decision,
            d.step,
            d.decided_by,
            d.on_behalf_of,
            d.role,
            decision_lapses.c.lapsed_at,
            d.decided_at,
            d.evaluation_id,
            d.id,
            d.conditions,
            d.conditions_expire_on,
            evaluations.c.conflicts,
        )
        .join(evaluations, evaluations.c.id == d.evaluation_id)
        .outerjoin(decision_lapses, decision_lapses.c.decision_id == d.id)
        .where(d.commitment_id.in_(ids))
        .order_by(d.commitment_id, d.decided_at, d.id)
    )
    decoded: dict[str, tuple[SignoffConflict, ...]] = {}  # one evaluation, decided often
    by_commitment: dict[str, list[chains.Decision]] = {}
    for row in found:
        key = row.evaluation_id
        if key not in decoded:
            decoded[key] = tuple(stored_needing_signoff(row.conflicts))
        by_commitment.setdefault(row.commitment_id, []).append(
            chains.Decision(
                decision=row.decision,
                step=row.step,
                decided_by=row.decided_by,
                on_behalf_of=row.on_behalf_of,
                role=row.role,
                lapsed=row.lapsed_at is not None,
                conflicts=decoded[key],
                decided_at=row.decided_at,
                evaluation_id=row.evaluation_id,
                id=row.id,
                conditions=row.conditions,
                conditions_expire_on=row.conditions_expire_on,
            )
        )
    return by_commitment


@dataclass(frozen=True)
class ChainState:
    """A commitment's chain against its current evaluation."""

    rule: str | None
    chain: list[ChainStep]
    area: str | None
    needing: list[SignoffConflict]
    decisions: list[chains.Decision]
    progress: chains.Progress
    assigned_to: str | None = None  # whom the step `assigned_step` was handed to
    assigned_step: str | None = None
    status: str | None = None  # the commitment's review status

    def with_approval(self, approval: chains.Decision) -> chains.Progress:
        return chains.progress(self.chain, [*self.decisions, approval], self.needing)

    @property
    def assignee(self) -> str | None:
        """Whom the step whose turn it is was reassigned to, if it was."""
        turn = self.progress.next_index
        if turn is None or self.assigned_step is None:
            return None
        return self.assigned_to if self.chain[turn].name == self.assigned_step else None


_CURRENT = (
    evaluations.c.id,
    evaluations.c.review_area,
    evaluations.c.approval_rule,
    evaluations.c.approval_chain,
    evaluations.c.conflicts,
)


def _state(row: Row, current: Row, taken: list[chains.Decision]) -> ChainState:
    chain = chain_of(current.approval_chain)
    needing = stored_needing_signoff(current.conflicts)
    return ChainState(
        rule=current.approval_rule,
        chain=chain,
        area=current.review_area,
        needing=needing,
        decisions=taken,
        progress=chains.progress(chain, taken, needing),
        assigned_to=getattr(row, "assigned_to", None),
        assigned_step=getattr(row, "assigned_step", None),
        status=getattr(row, "review_status", None),
    )


async def state_of(connection: AsyncConnection, row: Row) -> ChainState | None:
    """The chain of the commitment `row`; None when it has no evaluation (nothing to decide)."""
    if row.current_evaluation_id is None:
        return None
    current = (
        await connection.execute(
            select(*_CURRENT).where(evaluations.c.id == row.current_evaluation_id)
        )
    ).one()
    return _state(row, current, (await decisions_of(connection, [row.id])).get(row.id, []))


@dataclass(frozen=True)
class Turn:
    """Who may decide a commitment now, and whom to escalate to (the notifications')."""

    reviewers: list[str]
    escalation_contacts: list[str]


async def turns(connection: AsyncConnection, rows: Sequence[Row]) -> dict[str, Turn]:
    """The turn of each commitment `rows` names (id, current_evaluation_id, assigned_to,
    assigned_step), in three reads whatever their number."""
    evaluated = [row for row in rows if row.current_evaluation_id is not None]
    if not evaluated:
        return {}
    found = await connection.execute(
        select(*_CURRENT).where(evaluations.c.id.in_({r.current_evaluation_id for r in evaluated}))
    )
    current = {row.id: row for row in found}
    decided = await decisions_of(connection, (row.id for row in evaluated))
    entries = await _directory(connection)
    return {
        row.id: _turn(
            _state(row, current[row.current_evaluation_id], decided.get(row.id, [])), entries
        )
        for row in evaluated
    }


async def turn_of(connection: AsyncConnection, state: ChainState) -> Turn:
    """The turn of a chain already read (`state_of`)."""
    return _turn(state, await _directory(connection))


def _turn(state: ChainState, entries: Sequence[Row]) -> Turn:
    people = approvers_now(state, entries)
    contacts = {entry.escalation_contact for entry in entries if entry.email in people}
    return Turn(reviewers=people, escalation_contacts=sorted(contacts - {None}))


def approvers_now(state: ChainState, entries: Sequence[Row]) -> list[str]:
    """Who may approve the step whose turn it is: whoever it was reassigned to, then its
    named approvers yet to approve, or the reviewers of the promise's area."""
    turn = state.progress.next_index
    if turn is None:
        return []
    progress = state.progress.steps[turn]
    named = progress.awaiting if progress.step.require == "all" else progress.step.approvers
    people = list(named) or _area_reviewers(state.area, entries)
    if state.assignee is not None:
        people = [state.assignee, *(person for person in people if person != state.assignee)]
    return people


def _area_reviewers(area: str | None, entries: Sequence[Row]) -> list[str]:
    if area is None:
        return []
    return [entry.email for entry in entries if any(same_area(area, mine) for mine in entry.areas)]


async def _directory(connection: AsyncConnection) -> list[Row]:
    found = await connection.execute(
        select(directory.c.email, directory.c.areas, directory.c.escalation_contact).order_by(
            directory.c.email
        )
    )
    return list(found)


@dataclass(frozen=True)
class Acting:
    """Who acts at which step: the step's name, and the approver stood in for, if any."""

    step: str
    on_behalf_of: str | None


async def may_act(
    connection: AsyncConnection,
    state: ChainState | None,
    *,
    person: str,
    role: str,
    now: datetime,
    approving: bool,
    at_turn_only: bool = False,
) -> Acting | None:
    """At which step `person` approves (`approving`), or rejects, asks or (`at_turn_only`:
    only at the step whose turn it is) reassigns; refused with 403 (not theirs) or 409 (an
    approval before its step's turn). None: nothing to decide (no evaluation, or the chain
    complete with an admin deciding): the lifecycle answers that."""
    if state is None:
        return None
    turn = state.progress.next_index
    if turn is None:
        if role in chains.OVERRIDING_ROLES or state.status not in AWAITING:
            return None
        # Awaiting sign-off with every step approved (a recalled rejection revived them):
        # nobody's turn, so only an admin decides it.
        raise ProblemError(
            409,
            "Every step of this promise's approval chain stands approved; only an admin "
            "decides it now.",
            kind="conflict",
        )
    if role in chains.OVERRIDING_ROLES:
        return Acting(step=state.chain[turn].name, on_behalf_of=None)
    if approving:
        approved = state.progress.approved_by(person)
        if approved is not None:
            raise ProblemError(
                403,
                f"{person} approved the step '{approved}' of this promise's chain already; "
                "each step needs an approver of its own.",
            )
    if person == state.assignee:
        return Acting(step=state.chain[turn].name, on_behalf_of=None)
    refusals: list[str] = []
    last = turn if at_turn_only else len(state.chain) - 1
    for index in range(turn, last + 1):
        progress = state.progress.steps[index]
        if progress.done:
            continue
        acting, reason = await _approver_of(connection, progress, state.area, person, now)
        if acting is not None:
            if approving and index != turn:
                raise ProblemError(
                    409,
                    f"The step '{progress.step.name}' comes after '{state.chain[turn].name}', "
                    "which awaits its approval first.",
                    kind="conflict",
                )
            if approving and acting.on_behalf_of is not None:
                stood_for = state.progress.approved_by(acting.on_behalf_of)
                if stood_for is not None:
                    raise ProblemError(
                        403,
                        f"{acting.on_behalf_of}, whom {person} stands in for, approved the "
                        f"step '{stood_for}' already; each step needs an approver of its own.",
                    )
            return acting
        refusals.append(reason)
    raise ProblemError(403, refusals[0])


async def _approver_of(
    connection: AsyncConnection,
    progress: chains.StepProgress,
    area: str | None,
    person: str,
    now: datetime,
) -> tuple[Acting | None, str]:
    step = progress.step
    if not step.approvers:
        try:
            on_behalf_of = await reviewers.decider_for(
                connection, person=person, role="pm", area=area, now=now
            )
        except ProblemError as refusal:
            return None, refusal.detail
        return Acting(step=step.name, on_behalf_of=on_behalf_of), ""
    open_to = progress.awaiting if step.require == "all" else tuple(step.approvers)
    if person in open_to:
        return Acting(step=step.name, on_behalf_of=None), ""
    away = await _absent_delegating_to(connection, person, open_to, now)
    if away is not None:
        return Acting(step=step.name, on_behalf_of=away), ""
    if person in step.approvers:
        return None, f"{person} approved the step '{step.name}' already."
    return None, (
        f"{person} may not decide this promise at the step '{step.name}': its approvers are "
        f"{', '.join(step.approvers)}, and none who is out of office delegated to them."
    )


async def _absent_delegating_to(
    connection: AsyncConnection, person: str, approvers: Sequence[str], now: datetime
) -> str | None:
    if not approvers:
        return None
    found = await connection.execute(
        select(directory)
        .where(directory.c.email.in_(approvers), directory.c.delegate == person)
        .order_by(directory.c.email)
    )
    return next((row.email for row in found if reviewers.stands_in(row, person, now)), None)


async def read(
    connection: AsyncConnection, state: ChainState | None, status: str
) -> ChainRead | None:
    """The chain as the commitment read shows it; a rejected one shows the step rejected."""
    if state is None:
        return None
    turn = state.progress.next_index
    shown = state.progress
    rejected_at = None
    rejection = _standing_rejection(state) if status == "rejected" else None
    if rejection is not None:  # the chain as the rejection found it
        rejected_at = state.decisions[rejection].step or state.chain[0].name
        shown = chains.progress(state.chain, state.decisions[:rejection], state.needing)
    entries = await _directory(connection)
    area_reviewers = _area_reviewers(state.area, entries)
    steps: list[StepRead] = []
    for index, progress in enumerate(shown.steps):
        step = progress.step
        if rejected_at is not None and step.name.casefold() == rejected_at.casefold():
            status_here = "rejected"
        elif progress.done:
            status_here = "approved"
        elif index == turn and rejected_at is None:
            status_here = "awaiting"
        else:
            status_here = "pending"
        steps.append(
            StepRead(
                name=step.name,
                require=step.require,
                approvers=list(step.approvers) or area_reviewers,
                status=status_here,
                approvals=[_as_approval(approval) for approval in progress.approvals],
                awaiting=list(progress.awaiting),
            )
        )
    awaiting = steps[turn] if turn is not None and rejected_at is None else None
    return ChainRead(
        rule=state.rule,
        steps=steps,
        complete=shown.complete and rejected_at is None,
        next_step=awaiting.name if awaiting else None,
        next_approvers=approvers_now(state, entries) if awaiting else [],
        assigned_to=state.assignee if awaiting else None,
    )


def _standing_rejection(state: ChainState) -> int | None:
    """Where the latest decision still standing is, when it is a rejection."""
    for index in range(len(state.decisions) - 1, -1, -1):
        if not state.decisions[index].lapsed:
            return index if state.decisions[index].decision == "reject" else None
    return None


def _as_approval(approval: chains.Decision) -> StepApproval:
    assert approval.decided_at is not None
    assert approval.evaluation_id is not None
    return StepApproval(
        decided_by=approval.decided_by,
        on_behalf_of=approval.on_behalf_of,
        role=approval.role,
        decided_at=approval.decided_at,
        evaluation_id=approval.evaluation_id,
    )
