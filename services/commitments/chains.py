"""How far a commitment has come along its approval chain. Pure: no I/O, no clock.

A chain is ordered steps (kit.contracts.approvals); each step completes with one approval
(`any`) or one from each approver it names (`all`, in any order). An admin's approval, or
the system's (an escalation's auto-approval), completes the step it was given at.

Which approvals count: those since the latest rejection not recalled (a rejection ends the
chain; what the CRM changes afterwards starts a new one), not recalled themselves, and
whose evaluation's conflicts still cover the conflicts found now (DESIGN.md's coverage
rule, per step): when a commitment reopens, only the steps whose approvals no longer cover
are asked again. An approval names its step; one recorded before chains existed (no step)
counts for the first step. Steps are matched by name, so a chain re-chosen by a later
evaluation keeps the approvals of the steps it still has.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from kit.contracts.approvals import ChainStep
from services.commitments.lifecycle import SignoffConflict, uncovered

OVERRIDING_ROLES = frozenset({"admin", "system"})


@dataclass(frozen=True)
class Decision:
    """A decision on the commitment, as the chain reads it."""

    decision: str  # approve | reject
    step: str | None
    decided_by: str
    on_behalf_of: str | None
    role: str
    lapsed: bool
    conflicts: tuple[SignoffConflict, ...]  # those needing sign-off in the evaluation decided
    # Not read by the chain: what the commitment read shows of an approval, and its expiry.
    decided_at: datetime | None = None
    evaluation_id: str | None = None
    id: str | None = None
    conditions: str = ""
    conditions_expire_on: date | None = None

    def acts_for(self, approver: str) -> bool:
        return approver in (self.decided_by, self.on_behalf_of)


@dataclass(frozen=True)
class StepProgress:
    step: ChainStep
    approvals: tuple[Decision, ...]  # standing and covering
    done: bool
    awaiting: tuple[str, ...]  # `all`: the named approvers yet to approve


@dataclass(frozen=True)
class Progress:
    steps: tuple[StepProgress, ...]

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def next_index(self) -> int | None:
        """The first step not done: its turn (steps go in order)."""
        return next((i for i, step in enumerate(self.steps) if not step.done), None)

    def approved_by(self, person: str) -> str | None:
        """The step `person` approved in this chain, themselves or through a delegate."""
        for progress in self.steps:
            if any(approval.acts_for(person) for approval in progress.approvals):
                return progress.step.name
        return None


def standing(decisions: Sequence[Decision]) -> list[Decision]:
    """The approvals of the chain under way: after the latest rejection not recalled, not
    recalled themselves. `decisions` oldest first."""
    kept: list[Decision] = []
    for decision in decisions:
        if decision.lapsed:
            continue
        if decision.decision == "reject":
            kept = []
        else:
            kept.append(decision)
    return kept


def _of_step(approval: Decision, step: ChainStep, first: bool) -> bool:
    if approval.step is None:
        return first
    return approval.step.casefold() == step.name.casefold()


def progress(
    chain: Sequence[ChainStep],
    decisions: Sequence[Decision],
    needing_signoff: Sequence[SignoffConflict],
) -> Progress:
    """Each step of `chain` with the standing approvals that cover `needing_signoff`."""
    approvals = standing(decisions)
    steps: list[StepProgress] = []
    for index, step in enumerate(chain):
        covering = tuple(
            approval
            for approval in approvals
            if _of_step(approval, step, index == 0)
            and not uncovered(list(approval.conflicts), list(needing_signoff))
        )
        overridden = any(approval.role in OVERRIDING_ROLES for approval in covering)
        if step.require == "all" and not overridden:
            awaiting = tuple(
                name for name in step.approvers if not any(a.acts_for(name) for a in covering)
            )
            done = not awaiting
        else:
            awaiting, done = (), bool(covering)
        steps.append(StepProgress(step=step, approvals=covering, done=done, awaiting=awaiting))
    return Progress(steps=tuple(steps))
