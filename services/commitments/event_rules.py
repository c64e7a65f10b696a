"""Which event a change calls for, and when a sign-off alert is due. Pure: no I/O, no
clock (outbox.py and alerts.py do the writing)."""

from datetime import timedelta

from kit.contracts.commitments import ReviewStatus
from kit.contracts.events import EventType

S = ReviewStatus
SETTLED_EVENTS = {
    S.cleared: EventType.commitment_cleared,
    S.approved: EventType.commitment_approved,
    S.rejected: EventType.commitment_rejected,
    S.withdrawn: EventType.commitment_withdrawn,
    S.needs_attention: EventType.commitment_needs_attention,
    S.info_requested: EventType.commitment_info_requested,
}


def commitment_event(
    status: ReviewStatus, announced: ReviewStatus | None, *, reopened: bool, answered: bool = False
) -> EventType | None:
    """The event a commitment's status now calls for, given the status last announced;
    `reopened`: it needs sign-off again because an approval or a clearance stopped holding;
    `answered`: the latest of its thread is the rep's answer."""
    if status in (S.received, S.evaluation_pending) or status is announced:
        return None  # not decided yet, or nothing new to tell
    if status is S.needs_signoff and announced is S.info_requested and answered:
        return EventType.commitment_answered
    if status is S.needs_signoff:
        return EventType.commitment_reopened if reopened else EventType.commitment_flagged
    return SETTLED_EVENTS[status]


PERMILLE = 1000
OVERDUE = PERMILLE


def thresholds(fractions: list[float]) -> list[int]:
    """The thresholds in permille of the SLA, ascending, overdue last."""
    reminders = {round(fraction * PERMILLE) for fraction in fractions} - {0, OVERDUE}
    return [*sorted(reminders), OVERDUE]


def due_threshold(waited: timedelta, sla: timedelta, steps: list[int], told: int) -> int | None:
    """The latest threshold `waited` has passed, if it is later than the one `told`."""
    passed = [step for step in steps if waited >= sla * step / PERMILLE]
    if not passed or passed[-1] <= told:
        return None
    return passed[-1]
