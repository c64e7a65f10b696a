"""The review lifecycle of a commitment: the one transition table every write goes through.

DESIGN.md draws the lifecycle; this module is it, as data. An event either moves a
commitment to a status (possibly the one it has) or is refused with a reason: the API
answers a refused PM decision with 409. Pure: no I/O, no clock.

Where DESIGN.md is silent, the table says what we chose:
- A re-check that cannot reach the roadmap leaves an evaluated commitment as it is (an
  outage must not make a ready deal unready); only a first evaluation parks as pending.
- An approval with nothing left to sign off becomes `cleared`; an evaluation whose
  conflicts are all covered by the standing approval is `approved` (again).
- A rejected commitment ignores evaluations and refuses PM re-links: it waits for the CRM.
- A withdrawn commitment comes back only if the CRM sends it again.
- A record the CRM sends that cannot be read as a promise puts it in `needs_attention`,
  whatever it was: the content Dealgate held no longer says what was promised. It blocks
  the deal, takes no decision, and waits for the CRM to send it readable (then `received`).
- A question (`info_requested`) still blocks the deal and may still be decided; an answer
  puts it back in the queue (`needs_signoff`); an evaluation that finds nothing to sign off
  (or all covered) settles it as from needs_signoff, else the question stands.
- A recalled approval or rejection awaits sign-off again; only one is recalled, never a
  clearance. An approval at a step of a chain that is not yet complete may be recalled as
  well: the commitment still awaits sign-off (or its answer), that step asked again.
- An approval that leaves steps of the chain to go (`step_approved`) keeps it awaiting
  sign-off; a question asked meanwhile still stands.
- An approval whose conditions expire lapses: an approved commitment awaits sign-off again
  (reopened, with that reason); one still awaiting (a step of its chain approved with
  conditions) stays so, that step asked again. Only a standing approval expires.
- Reassigning hands the turn to another reviewer: only while it awaits sign-off (or an
  answer), and it stays there.
- Coverage: date codes on one item cover one another by their dates (DESIGN's "same code"
  would let a pull-in that turns date_before_plan into date_at_risk reopen, which its "a
  pull-in does not reopen" forbids); other codes need the same code and item.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kit.contracts.commitments import ReviewStatus
from kit.fingerprint import DATE_CODES, conflict_fingerprint


class Event(StrEnum):
    evaluated_clear = "evaluated_clear"  # nothing needs sign-off
    evaluated_covered = "evaluated_covered"  # all that needs sign-off is covered by the approval
    evaluated_uncovered = "evaluated_uncovered"  # something needing sign-off is not covered
    roadmap_unreachable = "roadmap_unreachable"
    approve = "approve"  # a PM's decision (that completes the approval chain)
    step_approved = "step_approved"  # a PM's approval that leaves steps of the chain to go
    reject = "reject"  # a PM's decision
    crm_changed = "crm_changed"  # the CRM sent new content for it, or sent it again
    relinked = "relinked"  # a PM linked it to a roadmap item
    withdrawn = "withdrawn"  # the CRM removed it, or the deal was lost
    crm_unreadable = "crm_unreadable"  # the CRM sent its record in a form Dealgate cannot read
    asked = "asked"  # a reviewer asked the rep a question instead of deciding
    answered = "answered"  # the rep answered it
    recalled = "recalled"  # a reviewer withdrew their own decision, within the window
    conditions_expired = "conditions_expired"  # a standing approval's conditions ran out
    reassigned = "reassigned"  # the step whose turn it is was handed to another reviewer


S, E = ReviewStatus, Event
# A review under way: awaiting sign-off, or an answer to a reviewer's question.
AWAITING = frozenset({S.needs_signoff, S.info_requested})
_EVALUATED = {
    E.evaluated_clear: S.cleared,
    E.evaluated_covered: S.approved,
    E.evaluated_uncovered: S.needs_signoff,
}
_NOT_AWAITING = "it is not awaiting sign-off"
_UNREADABLE = "its CRM record cannot be read; it waits for the CRM to send it fixed"
_NO_QUESTION = "no question awaits an answer"
_NO_DECISION = "it has no decision to recall"
_NO_APPROVAL = "no approval of it stands"
# Asking, answering and recalling belong to a review under way: elsewhere they are refused.
_NOT_IN_REVIEW = {E.asked: _NOT_AWAITING, E.answered: _NO_QUESTION, E.recalled: _NO_DECISION}

# status -> event -> the status it moves to, or the reason it is refused.
TRANSITIONS: dict[ReviewStatus, dict[Event, ReviewStatus | str]] = {
    S.received: {
        **_EVALUATED,
        E.roadmap_unreachable: S.evaluation_pending,
        E.approve: _NOT_AWAITING,
        E.step_approved: _NOT_AWAITING,
        E.reject: _NOT_AWAITING,
        E.crm_changed: S.received,
        E.relinked: S.received,
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        **_NOT_IN_REVIEW,
        E.conditions_expired: _NO_APPROVAL,
        E.reassigned: _NOT_AWAITING,
    },
    S.evaluation_pending: {
        **_EVALUATED,
        E.roadmap_unreachable: S.evaluation_pending,
        E.approve: _NOT_AWAITING,
        E.step_approved: _NOT_AWAITING,
        E.reject: _NOT_AWAITING,
        E.crm_changed: S.received,
        E.relinked: S.received,
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        **_NOT_IN_REVIEW,
        E.conditions_expired: _NO_APPROVAL,
        E.reassigned: _NOT_AWAITING,
    },
    S.cleared: {
        **_EVALUATED,
        E.roadmap_unreachable: S.cleared,
        E.approve: _NOT_AWAITING,
        E.step_approved: _NOT_AWAITING,
        E.reject: _NOT_AWAITING,
        E.crm_changed: S.received,
        E.relinked: S.received,
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        **_NOT_IN_REVIEW,
        E.conditions_expired: _NO_APPROVAL,
        E.reassigned: _NOT_AWAITING,
    },
    S.needs_signoff: {
        **_EVALUATED,
        E.roadmap_unreachable: S.needs_signoff,
        E.approve: S.approved,
        E.step_approved: S.needs_signoff,
        E.reject: S.rejected,
        E.crm_changed: S.received,
        E.relinked: S.received,
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        E.asked: S.info_requested,
        E.answered: _NO_QUESTION,
        E.recalled: S.needs_signoff,  # a step's approval (the service finds one, or 409)
        E.conditions_expired: S.needs_signoff,
        E.reassigned: S.needs_signoff,
    },
    S.info_requested: {
        E.evaluated_clear: S.cleared,
        E.evaluated_covered: S.approved,
        E.evaluated_uncovered: S.info_requested,  # the question stands
        E.roadmap_unreachable: S.info_requested,
        E.approve: S.approved,
        E.step_approved: S.info_requested,
        E.reject: S.rejected,
        E.crm_changed: S.received,
        E.relinked: S.received,
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        E.asked: S.info_requested,
        E.answered: S.needs_signoff,
        E.recalled: S.info_requested,  # a step's approval; the question stands
        E.conditions_expired: S.info_requested,
        E.reassigned: S.info_requested,
    },
    S.approved: {
        **_EVALUATED,
        E.roadmap_unreachable: S.approved,
        E.approve: _NOT_AWAITING,
        E.step_approved: _NOT_AWAITING,
        E.reject: _NOT_AWAITING,
        E.crm_changed: S.received,
        E.relinked: S.received,
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        E.asked: _NOT_AWAITING,
        E.answered: _NO_QUESTION,
        E.recalled: S.needs_signoff,
        E.conditions_expired: S.needs_signoff,
        E.reassigned: _NOT_AWAITING,
    },
    S.rejected: {
        E.evaluated_clear: S.rejected,
        E.evaluated_covered: S.rejected,
        E.evaluated_uncovered: S.rejected,
        E.roadmap_unreachable: S.rejected,
        E.approve: _NOT_AWAITING,
        E.step_approved: _NOT_AWAITING,
        E.reject: _NOT_AWAITING,
        E.crm_changed: S.received,
        E.relinked: "it was rejected; it waits for the CRM to change it",
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        E.asked: _NOT_AWAITING,
        E.answered: _NO_QUESTION,
        E.recalled: S.needs_signoff,
        E.conditions_expired: _NO_APPROVAL,
        E.reassigned: _NOT_AWAITING,
    },
    S.needs_attention: {
        E.evaluated_clear: S.needs_attention,
        E.evaluated_covered: S.needs_attention,
        E.evaluated_uncovered: S.needs_attention,
        E.roadmap_unreachable: S.needs_attention,
        E.approve: _UNREADABLE,
        E.step_approved: _UNREADABLE,
        E.reject: _UNREADABLE,
        E.crm_changed: S.received,
        E.relinked: _UNREADABLE,
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        **_NOT_IN_REVIEW,
        E.conditions_expired: _NO_APPROVAL,
        E.reassigned: _NOT_AWAITING,
    },
    S.withdrawn: {
        E.evaluated_clear: S.withdrawn,
        E.evaluated_covered: S.withdrawn,
        E.evaluated_uncovered: S.withdrawn,
        E.roadmap_unreachable: S.withdrawn,
        E.approve: "it has been withdrawn",
        E.step_approved: "it has been withdrawn",
        E.reject: "it has been withdrawn",
        E.crm_changed: S.received,
        E.relinked: "it has been withdrawn",
        E.withdrawn: S.withdrawn,
        E.crm_unreadable: S.needs_attention,
        **_NOT_IN_REVIEW,
        E.conditions_expired: _NO_APPROVAL,
        E.reassigned: _NOT_AWAITING,
    },
}


class TransitionRefused(Exception):
    def __init__(self, status: ReviewStatus, event: Event, reason: str) -> None:
        super().__init__(f"cannot {event.value} a commitment in {status.value}: {reason}")
        self.status, self.event, self.reason = status, event, reason


@dataclass(frozen=True)
class Transition:
    status: ReviewStatus
    reopened: bool  # it was settled (cleared, approved, or under an approval): not any more


def apply(status: ReviewStatus, event: Event, *, standing_approval: bool = False) -> Transition:
    """Where `event` takes a commitment in `status`; raises TransitionRefused if it may not.

    `standing_approval`: the latest decision on it is an approval. Then needing sign-off
    again is a reopening even when the CRM's edit passed it through `received` first.
    """
    target = TRANSITIONS[status][event]
    if not isinstance(target, ReviewStatus):  # a status is a str too: test for the status
        raise TransitionRefused(status, event, target)
    settled = status in (S.cleared, S.approved) or standing_approval
    reopened = target is S.needs_signoff and status is not S.needs_signoff and settled
    return Transition(status=target, reopened=reopened)


# Coverage: does a standing approval still cover what an evaluation found? ----------------


@dataclass(frozen=True)
class SignoffConflict:
    """What of a conflict needing sign-off the fingerprint and coverage look at."""

    code: str
    severity: str
    item_key: str | None
    planned_end: date | None = None  # date codes only
    promised_by: date | None = None  # date codes only


def _covers(approved: SignoffConflict, found: SignoffConflict) -> bool:
    if approved.item_key != found.item_key:
        return False
    if found.code not in DATE_CODES:
        return approved.code == found.code
    if approved.code not in DATE_CODES:
        return False
    # Date codes on the same item cover one another by their dates: which date code applies
    # follows from the dates, and a pull-in or a later promise must not reopen (say a
    # date_before_plan becoming date_at_risk). A further slip or an earlier promise does.
    slipped = _later(found.planned_end, approved.planned_end)
    promised_earlier = _later(approved.promised_by, found.promised_by)
    return not slipped and not promised_earlier


def _later(first: date | None, second: date | None) -> bool:
    """`first` is later than `second`; no date is later than any date (unscheduled)."""
    if first == second:
        return False
    if first is None:
        return True
    return second is not None and first > second


def uncovered(
    approved: list[SignoffConflict], found: list[SignoffConflict]
) -> list[SignoffConflict]:
    """The conflicts found that no approved conflict covers: the reason to reopen."""
    return [conflict for conflict in found if not any(_covers(a, conflict) for a in approved)]


def evaluation_event(needing_signoff: list[SignoffConflict], chain_complete: bool) -> Event:
    """The lifecycle event an evaluation is. `chain_complete`: the standing approvals of
    every step of its approval chain cover what needs sign-off (chains.progress)."""
    if not needing_signoff:
        return E.evaluated_clear
    return E.evaluated_covered if chain_complete else E.evaluated_uncovered


def fingerprint(needing_signoff: list[SignoffConflict]) -> str:
    """DESIGN.md's fingerprint of the conflicts needing sign-off (kit.fingerprint)."""
    return conflict_fingerprint(
        (c.code, c.severity, c.item_key, c.planned_end, c.promised_by) for c in needing_signoff
    )
